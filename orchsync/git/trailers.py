"""Snapshot commit messages: a human subject, the files, and `Orchsync-*` git trailers.

Trailers are how a commit is found from a content hash (`git log --grep`) and how a rebuild
recovers who made a change (agent, session); `git interpret-trailers --parse` reads them back.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchsync.model import correlation_id
from orchsync.parse.events import PREFIX, Event, FilePair

__all__ = ["Trailers", "compose_message", "parse_trailers"]

MAX_LISTED = 500  # per-event/entity trailer lines; hashes are always listed in full


@dataclass(slots=True)
class Trailers:
    agent: str | None = None
    session: str | None = None
    correlation: str | None = None
    hashes: dict[str, str] = field(default_factory=dict)  # path -> sha256
    events: list[str] = field(default_factory=list)
    rollback: dict[str, str] = field(default_factory=dict)  # path -> the revision or hash restored
    imported: str | None = None  # `<system> <project>` of an `orchsync import` snapshot
    time: str | None = None  # when the snapshot was made, to the microsecond (naive UTC ISO)
    is_snapshot: bool = False


def compose_message(
    pairs: list[FilePair],
    events: list[Event],
    *,
    agent: str | None,
    session: str | None,
    subject: str | None = None,
    rollback: dict[str, str] | None = None,
    time: datetime | None = None,
    imported: str | None = None,
) -> str:
    """The whole commit message for one snapshot.

    `time` goes in `Orchsync-Time` with microseconds: git keeps whole seconds only, and
    events must stay in order when several snapshots land within one second.
    """
    subject = subject or _subject(pairs, events)
    paths = [_quoted(p.path) for p in pairs]
    body = "\n".join(paths[:50])
    if len(paths) > 50:
        body += f"\n... and {len(paths) - 50} more files"
    notable = [e for e in events if not e.event_type.startswith(PREFIX + "file.")]
    trailers = [f"Orchsync-Event: {e.event_type} {_key(e)}" for e in notable[:MAX_LISTED]]
    if len(notable) > MAX_LISTED:
        trailers.append(f"Orchsync-Event-More: {len(notable) - MAX_LISTED}")
    entities = list(dict.fromkeys(_key(e) for e in notable if e.entity_code))
    trailers += [f"Orchsync-Entity: {k}" for k in entities[:MAX_LISTED]]
    hashes = [(p.new.hash, p.new.path) for p in pairs if p.new is not None]
    trailers += [f"Orchsync-Hash: {h} {_quoted(path)}" for h, path in hashes]
    trailers += [
        f"Orchsync-Rollback: {_one_line(target)} {_quoted(path)}"
        for path, target in (rollback or {}).items()
    ]
    if imported:
        trailers.append(f"Orchsync-Import: {_one_line(imported)}")
    trailers.append(f"Orchsync-Correlation: {_correlation(pairs)}")
    if time is not None:
        utc = time.astimezone(UTC).replace(tzinfo=None)
        trailers.append(f"Orchsync-Time: {utc.isoformat(timespec='microseconds')}Z")
    if agent:
        trailers.append(f"Orchsync-Agent: {_one_line(agent)}")
    if session:
        trailers.append(f"Orchsync-Session: {_one_line(session)}")
    return f"{subject}\n\n{body}\n\n" + "\n".join(trailers) + "\n"


def parse_trailers(message: str) -> Trailers:
    """Read our trailers from the last paragraph of a commit message."""
    out = Trailers()
    last = message.rstrip("\n").rsplit("\n\n", 1)[-1]
    for line in last.split("\n"):
        key, sep, value = line.partition(": ")
        if not sep or not key.startswith("Orchsync-"):
            continue
        out.is_snapshot = True
        if key == "Orchsync-Agent":
            out.agent = value
        elif key == "Orchsync-Session":
            out.session = value
        elif key == "Orchsync-Correlation":
            out.correlation = value
        elif key == "Orchsync-Hash":
            digest, _, path = value.partition(" ")
            out.hashes[_unquoted(path)] = digest
        elif key == "Orchsync-Event":
            out.events.append(value)
        elif key == "Orchsync-Rollback":
            target, _, path = value.partition(" ")
            out.rollback[_unquoted(path)] = target
        elif key == "Orchsync-Import":
            out.imported = value
        elif key == "Orchsync-Time":
            out.time = _naive_utc(value)
    return out


def _naive_utc(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="microseconds")


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _quoted(text: str) -> str:
    """A path or code as it goes in a message line: JSON-quoted when it holds a line break
    or any other control character, so a file named `x\nOrchsync-Agent: evil` cannot add a
    trailer (or a line) of its own; as it is otherwise, which is nearly always."""
    if text.isprintable() and not text.startswith('"'):
        return text
    return json.dumps(text, ensure_ascii=False)


def _unquoted(text: str) -> str:
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        return value if isinstance(value, str) else text
    return text


def _key(e: Event) -> str:
    prefix = {
        "sprint": "S",
        "task": "T",
        "agent": "A",
        "adr": "ADR",
        "bug": "BUG",
        "session": "SESSION",
    }
    return _quoted(
        f"{prefix.get(e.entity_type, e.entity_type)}:{e.entity_code}"
        if e.entity_code
        else (e.path or "")
    )


def _correlation(pairs: list[FilePair]) -> str:
    hashes = sorted(p.new.hash if p.new else f"{p.old.hash}:deleted" for p in pairs)  # type: ignore[union-attr]
    return correlation_id(hashes[0] if len(hashes) == 1 else ",".join(hashes))


def _subject(pairs: list[FilePair], events: list[Event]) -> str:
    notable = [e for e in events if not e.event_type.startswith(PREFIX + "file.")]
    if len(pairs) == 1:
        e_status = next((e for e in notable if e.event_type.endswith(".status_updated")), None)
        first = notable[0] if notable else None
        if e_status is not None:
            moved = " -> ".join(_quoted(str(e_status.payload[k])) for k in ("from", "to"))
            return f"{e_status.entity_type} {_quoted(e_status.entity_code or '')}: {moved}"
        if first is not None:
            verb = first.event_type.removeprefix(PREFIX).split(".", 1)[1].replace("_", " ")
            changed = sorted(first.payload.get("changes", {}))
            if first.event_type.endswith(".updated") and changed:
                verb += f" ({', '.join(changed)})"
            if first.event_type.endswith(".moved"):
                verb = f"moved to {_quoted(first.payload['to_path'].rsplit('/', 2)[0])}"
            # an entity without a code (the config) is named by its file
            name = _quoted(first.entity_code or pairs[0].path)
            return f"{first.entity_type} {name}: {verb}"
        pair = pairs[0]
        return f"file {_quoted(pair.path)}: {'deleted' if pair.new is None else 'synced'}"
    counts = Counter(e.event_type.removeprefix(PREFIX) for e in notable)
    summary = ", ".join(
        f"{n} {name}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    )
    return f"orchsync: {len(pairs)} files" + (f" ({summary})" if summary else "")
