"""Events are derived, never recorded by hand: one pure function of (old file, new file).

Live sync and replay from git history both call `derive_events`, which is why a rebuilt
index holds exactly the events the live one did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchsync.config import EventPolicy
from orchsync.model import ChecklistItem, Entity, Kind, ParsedFile, correlation_id, entity_id

__all__ = ["Event", "FilePair", "derive_events", "event_key", "pair_moves", "stamp"]

PREFIX = "orchestration."

# What a new entity of each kind is called when it appears.
_CREATED = {Kind.BUG: "bug.reported", Kind.SESSION: "session.started"}
# Status targets that are events in their own right.
_TASK_STATUS_EVENTS = {
    "in_progress": "task.started",
    "completed": "task.completed",
    "blocked": "task.blocked",
}


@dataclass(slots=True)
class Event:
    """One event. Derivation fills the first fields; `stamp` adds where and when it happened."""

    event_type: str
    entity_type: str
    entity_id: int | None
    entity_code: str | None
    payload: dict[str, Any]
    correlation_id: str
    path: str | None = None
    hash: str | None = None
    level: str = "info"
    session_key: str | None = None
    agent: str | None = None
    emitted_at: str | None = None  # ISO-8601 UTC, the commit time
    commit: str | None = None
    seq: int = 0
    id: int = 0
    source: str = "git"

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_type": self.event_type,
            "level": self.level,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "entity_code": self.entity_code,
            "correlation_id": self.correlation_id,
            "session_key": self.session_key,
            "agent": self.agent,
            "agent_id": entity_id("agent", self.agent) if self.agent else None,
            "payload": self.payload,
            "emitted_at": self.emitted_at,
            "commit": self.commit,
            "seq": self.seq,
            "path": self.path,
            "hash": self.hash,
            "source": self.source,
        }


@dataclass(slots=True)
class FilePair:
    """A file before and after one change; both set and paths differing means a move."""

    old: ParsedFile | None
    new: ParsedFile | None

    @property
    def path(self) -> str:
        return (self.new or self.old).path  # type: ignore[union-attr]


def event_key(commit: str, seq: int) -> int:
    """Event ids derived from (commit, position), so every rebuild numbers them the same."""
    digest = hashlib.sha256(f"{commit}:{seq}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


def pair_moves(pairs: list[FilePair]) -> list[FilePair]:
    """Join a deletion and an addition into one move when the bytes or the entity key match."""
    deleted = [p for p in pairs if p.new is None and p.old is not None]
    added = [p for p in pairs if p.old is None and p.new is not None]
    if not deleted or not added:
        return pairs
    used: set[int] = set()
    joined: dict[int, FilePair] = {}
    for strategy in (_same_hash, _same_entity, _same_bytes):
        for a in added:
            if id(a) in joined:
                continue
            for d in deleted:
                if id(d) not in used and strategy(d.old, a.new):  # type: ignore[arg-type]
                    used.add(id(d))
                    joined[id(a)] = FilePair(d.old, a.new)
                    break
    out = []
    for p in pairs:
        if id(p) in used:
            continue
        out.append(joined.get(id(p), p))
    return out


def _same_hash(old: ParsedFile, new: ParsedFile) -> bool:
    return (
        old.hash == new.hash
        and old.kind == new.kind
        and old.path.rsplit("/", 1)[-1] == new.path.rsplit("/", 1)[-1]
    )


def _same_bytes(old: ParsedFile, new: ParsedFile) -> bool:
    """A rename (ADR-002 -> ADR-003): same kind, same bytes, another name."""
    return old.hash == new.hash and old.kind == new.kind and old.kind is not Kind.FILE


def _same_entity(old: ParsedFile, new: ParsedFile) -> bool:
    return (
        old.kind == new.kind
        and old.kind is not Kind.FILE
        and old.entity is not None
        and new.entity is not None
        and old.entity.code == new.entity.code
    )


def derive_events(pair: FilePair) -> list[Event]:
    """The events one change implies. Pure: same inputs, same events, in the same order."""
    old, new = pair.old, pair.new
    events: list[Event] = []
    current = new or old
    assert current is not None
    kind = current.kind
    corr = correlation_id(new.hash if new else f"{old.hash}:deleted")  # type: ignore[union-attr]
    etype, eid, ecode = _entity_ref(current)

    def add(name: str, payload: dict[str, Any]) -> None:
        events.append(
            Event(PREFIX + name, etype, eid, ecode, payload, corr, current.path, current.hash)
        )

    if kind not in (Kind.FILE, Kind.CONFIG):
        old_e = old.entity if old else None
        new_e = new.entity if new else None
        if new_e is not None and old_e is None:
            assert new is not None
            add(
                _created_name(kind),
                {"path": new.path, "title": new_e.title, "status": new_e.status},
            )
        elif new_e is None and old_e is not None:
            add(_name(kind, "deleted"), {"path": old.path, "title": old_e.title})  # type: ignore[union-attr]
        elif new_e is not None and old_e is not None:
            if old.path != new.path:  # type: ignore[union-attr]
                add(_name(kind, "moved"), _move_payload(old, new))  # type: ignore[arg-type]
            _updates(kind, old_e, new_e, add)
    elif kind is Kind.CONFIG and new is not None and old is not None and old.hash != new.hash:
        add("config.updated", {"path": new.path})
    if new is not None:
        add("file.synced", {"path": new.path, "hash": new.hash, "size": new.size})
        if not new.valid:
            add(
                "file.invalid",
                {"path": new.path, "diagnostics": [d.to_dict() for d in new.diagnostics]},
            )
    else:
        add("file.deleted", {"path": old.path, "hash": old.hash})  # type: ignore[union-attr]
    return events


def _entity_ref(f: ParsedFile) -> tuple[str, int | None, str | None]:
    """AGENT.yml events belong to their task; plain files have no entity."""
    if f.entity is None:
        return (Kind.FILE.value if f.kind is not Kind.CONFIG else "config", None, None)
    if f.kind is Kind.TASK_AGENT:
        return Kind.TASK.value, entity_id(Kind.TASK.value, f.entity.code), f.entity.code
    return f.kind.value, f.entity.id, f.entity.code


def _name(kind: Kind, what: str) -> str:
    if kind is Kind.TASK_AGENT:
        return f"task.agent_config_{what}"
    return f"{kind.value}.{what}"


def _created_name(kind: Kind) -> str:
    return _CREATED.get(kind) or _name(kind, "created")


def _move_payload(old: ParsedFile, new: ParsedFile) -> dict[str, Any]:
    payload: dict[str, Any] = {"from_path": old.path, "to_path": new.path}
    o, n = old.entity, new.entity
    if (
        o is not None
        and n is not None
        and hasattr(o, "sprint")
        and getattr(o, "sprint", None) != getattr(n, "sprint", None)
    ):
        payload["from_sprint"] = getattr(o, "sprint", None)
        payload["to_sprint"] = getattr(n, "sprint", None)
    return payload


def _updates(
    kind: Kind, old: Entity, new: Entity, add: Callable[[str, dict[str, Any]], None]
) -> None:
    before, after = old.fields(), new.fields()
    if kind is Kind.TASK:  # a task's sprint changes only by a move, which has its own event
        before.pop("sprint", None)
        after.pop("sprint", None)
    changes: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        if key in ("status",):
            continue
        b, a = before.get(key), after.get(key)
        if b != a:
            changes[key] = (
                {"changed": True} if key == "body" else {"old": _plain(b), "new": _plain(a)}
            )
    if changes:
        add(_name(kind, "updated"), {"changes": changes})
    if old.status != new.status and kind not in (Kind.TASK_AGENT, Kind.AGENT):
        add(f"{kind.value}.status_updated", {"from": old.status, "to": new.status})
        if kind is Kind.TASK and new.status in _TASK_STATUS_EVENTS:
            add(_TASK_STATUS_EVENTS[new.status], {"from": old.status})


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [v.to_dict() if isinstance(v, ChecklistItem) else v for v in value]
    return value


def stamp(
    events: list[Event],
    *,
    commit: str,
    emitted_at: str,
    agent: str | None,
    session: str | None,
    policy: EventPolicy,
    start_seq: int = 0,
) -> list[Event]:
    """Give events their commit, time, attribution and ids; drop what the policy filters out.

    Sequence numbers count every derived event, kept or not, so changing a sampling rate never
    renumbers the events that remain.
    """
    kept = []
    for offset, ev in enumerate(events):
        ev.level = policy.level_of(ev.event_type)
        seq = start_seq + offset
        if not policy.keeps(ev.event_type, ev.hash or ev.correlation_id):
            continue
        ev.commit, ev.emitted_at, ev.agent, ev.session_key = commit, emitted_at, agent, session
        ev.seq, ev.id = seq, event_key(commit, seq)
        kept.append(ev)
    return kept
