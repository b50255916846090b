"""Session memory: what an agent did on a task, and the handoff to whoever comes next.

A session is one file, `delegation/sessions/<key>.md`: front matter (task, sprint, agent,
status open | handed_off | ended, started_at, ended_at, handoffs) and a body of notes.
Every change writes the file atomically (refusing to overwrite a concurrent save; it is
re-read and re-applied instead) and syncs that one path with the session as attribution,
so the commit carries `Orchsync-Session: <key>` and the events land in that session.
`orchsync agent init T:x --session KEY` reads it all back.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from orchsync.errors import UnknownEntity, UsageError
from orchsync.model import Kind
from orchsync.parse.layout import DELEGATION, check_code, session_path, slugify
from orchsync.pm import PmResult
from orchsync.pm.common import claimed
from orchsync.pm.writes import ConcurrentEdit, atomic_write, read_for_edit, replace_if_unchanged
from orchsync.repo import Repo

if TYPE_CHECKING:
    from orchsync.watch.client import Claim

__all__ = ["end", "handoff", "list_sessions", "new_key", "note", "show", "start"]

log = logging.getLogger(__name__)

MAX_KEY = 100
_RETRIES = 5


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _actor(repo: Repo, agent: str | None) -> str | None:
    if agent:
        return agent
    env = os.environ.get("ORCHSYNC_ACTOR", "").strip()
    if env:
        return env
    from orchsync.config import load_config

    return load_config(repo.root).actor


def new_key(task: str, agent: str, when: datetime) -> str:
    """`<task>-<agent>-<yyyymmdd-hhmm>`, readable and sortable; the caller adds `-2`... if taken."""
    stamp = when.strftime("%Y%m%d-%H%M")
    who = slugify(agent, 40)
    room = MAX_KEY - len(who) - len(stamp) - 2 - 4  # 4: room for a `-NNN` suffix
    return f"{slugify(task, max(8, room))}-{who}-{stamp}"


def _target(repo: Repo, target: str) -> tuple[str | None, str | None]:
    """(task code, sprint code) of `T:x` or `S:x` (or a bare task code)."""
    from orchsync.parse.resolve import resolve

    found = resolve(repo, target)
    if found.kind is Kind.TASK:
        return found.code, found.path.split("/")[2]
    if found.kind is Kind.SPRINT:
        return None, found.code
    raise UsageError(f"a session belongs to a task (T:x) or a sprint (S:x), not {target!r}")


def _render(repo: Repo, variables: dict[str, Any]) -> str:
    from orchsync.pm.templates import find_template, render

    texts = render(find_template(repo, "session", "default"), variables)
    return texts["SESSION.md"]


def start(
    repo: Repo,
    target: str,
    agent: str | None = None,
    *,
    title: str | None = None,
    note_text: str | None = None,
    now: datetime | None = None,
) -> PmResult:
    """Open a session on a task or sprint for `agent`; its key is new and unique."""
    from orchsync.parse import parse_file

    agent = _actor(repo, agent)
    if not agent:
        raise UsageError("who is working? pass --agent NAME (or set ORCHSYNC_ACTOR)")
    check_code(agent, "agent")
    task, sprint = _target(repo, target)
    when = now or _now()
    base = new_key(task or sprint or "session", agent, when)
    check_code(base, "session key")
    title = " ".join((title or "").split()) or f"{task or sprint} - {agent}"
    text = _render(
        repo,
        {
            "title": title,
            "task": task,
            "sprint": sprint,
            "agent": agent,
            "now": _iso(when),
            "today": when.date().isoformat(),
            "actor": agent,
            "session": base,
            "key": base,
        },
    )
    with claimed(repo, [f"{DELEGATION}/sessions"]) as claim:  # the key is found by trying names
        for n in range(1, 1000):
            key = base if n == 1 else f"{base}-{n}"
            path = session_path(key)
            data = text.encode("utf-8")
            if note_text:
                data = _add_note(data, note_text, agent, when, path)
            parsed = parse_file(path, data)
            if not parsed.valid:
                problems = "; ".join(str(d) for d in parsed.diagnostics if d.severity == "error")
                raise UsageError(
                    f"the session template renders an invalid file: {problems}; nothing written"
                )
            try:
                atomic_write(repo.root / path, data, exclusive=True, root=repo.root)
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - a thousand sessions in one minute
            raise UsageError(f"too many sessions named {base}-*; try again in a minute")
        result = PmResult(
            "session.start",
            f"SESSION:{key}",
            f"started session {key}",
            paths=[path],
            details={"key": key, "task": task, "sprint": sprint, "agent": agent, "status": "open"},
        )
        return _sync(repo, result, path, agent, key, claim)


def note(
    repo: Repo, key: str, text: str, *, agent: str | None = None, now: datetime | None = None
) -> PmResult:
    """Append a timestamped note (`- <time> [agent] text`) under the body's `## Notes`."""
    if not text.strip():
        raise UsageError("the note is empty")

    def change(raw: bytes, fields: dict[str, Any], path: str) -> tuple[bytes, str]:
        who = agent or fields.get("agent") or "unknown"
        return _add_note(raw, text, who, now or _now(), path), who

    return _edit(repo, key, "session.note", change, f"noted in session {_key(key)}", agent)


def handoff(
    repo: Repo,
    key: str,
    to: str,
    *,
    note_text: str | None = None,
    agent: str | None = None,
    now: datetime | None = None,
) -> PmResult:
    """Hand the session to agent `to`: a handoff entry, status handed_off, `to` its agent now."""
    from orchsync.pm.frontmatter_edit import set_field

    check_code(to, "agent")
    when = now or _now()

    def change(raw: bytes, fields: dict[str, Any], path: str) -> tuple[bytes, str]:
        if fields.get("status") == "ended":
            raise UsageError(
                f"session {_key(key)} has ended; start a new one with `orchsync session start`"
            )
        frm = agent or fields.get("agent")
        entry = {
            "from": frm,
            "to": to,
            "at": _iso(when),
            "note": " ".join((note_text or "").split()) or None,
        }
        raw = _append_handoff(raw, entry, path)
        raw = set_field(raw, "status", "handed_off", path=path)
        raw = set_field(raw, "agent", to, path=path, after="sprint")
        return raw, frm or to

    return _edit(
        repo,
        key,
        "session.handoff",
        change,
        f"handed session {_key(key)} to {to}",
        agent,
        details={"to": to},
    )


def end(
    repo: Repo,
    key: str,
    *,
    note_text: str | None = None,
    agent: str | None = None,
    now: datetime | None = None,
) -> PmResult:
    """Close the session: status ended, ended_at now, with an optional last note."""
    from orchsync.pm.frontmatter_edit import set_field

    when = now or _now()

    def change(raw: bytes, fields: dict[str, Any], path: str) -> tuple[bytes, str]:
        if fields.get("status") == "ended":
            raise UsageError(f"session {_key(key)} has already ended")
        who = agent or fields.get("agent") or "unknown"
        if note_text and note_text.strip():
            raw = _add_note(raw, note_text, who, when, path)
        raw = set_field(raw, "status", "ended", path=path)
        raw = set_field(raw, "ended_at", _iso(when), path=path, after="started_at")
        return raw, who

    return _edit(repo, key, "session.end", change, f"ended session {_key(key)}", agent)


def show(repo: Repo, key: str) -> dict[str, Any]:
    """One session as its file says now (not the index): fields, handoffs, notes, hash.

    Read like every session edit reads (`read_for_edit`: never through a link), so what an
    agent resumes from is what is on disk, synced or not. `handoffs` keep their order; the
    last one is the note to resume from.
    """
    from orchsync.model import content_hash
    from orchsync.parse import parse_file

    key = _key(key)
    path = session_path(key)
    try:
        raw = read_for_edit(repo.root, path)
    except FileNotFoundError:
        raise UnknownEntity(
            f"unknown session {key!r} (no {path}); `orchsync session list` shows them"
        ) from None
    entity = parse_file(path, raw).entity
    task = getattr(entity, "task", None)
    handoffs = [h for h in getattr(entity, "handoffs", None) or [] if isinstance(h, dict)]
    return {
        "key": key,
        "path": path,
        "hash": content_hash(raw),
        "title": getattr(entity, "title", "") or "",
        "status": getattr(entity, "status", None),
        "task": str(task).removeprefix("T:").removeprefix("t:") if task else None,
        "sprint": getattr(entity, "sprint", None),
        "agent": getattr(entity, "agent", None),
        "started_at": getattr(entity, "started_at", None),
        "ended_at": getattr(entity, "ended_at", None),
        "handoffs": handoffs,
        "notes": getattr(entity, "body", "") or "",
    }


def list_sessions(
    repo: Repo, *, task: str | None = None, open_only: bool = False
) -> list[dict[str, Any]]:
    """Sessions from the index, newest first; `open_only`: open or handed_off (not ended)."""
    from orchsync import query

    where, params = [], []
    if task:
        where.append("task_code = ?")
        params.append(task.removeprefix("T:").removeprefix("t:"))
    if open_only:
        where.append("status IN ('open', 'handed_off')")
    sql = (
        "SELECT key, status, task_code AS task, sprint_code AS sprint, agent, started_at, ended_at, "
        "json_array_length(coalesce(handoffs, '[]'::JSON)) AS handoffs, title, file_path AS path, valid "
        "FROM sessions"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY started_at DESC NULLS LAST, key DESC"
    )
    with query.reader(repo, journal=False) as con:
        cur = con.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


# --- shared ------------------------------------------------------------------------------------


def _key(key: str) -> str:
    key = key.strip()
    for prefix in ("SESSION:", "session:"):
        key = key.removeprefix(prefix)
    if key.endswith(".md") and "/" in key:
        key = key.rsplit("/", 1)[1][:-3]
    return check_code(key, "session key")


def _fields(raw: bytes, path: str) -> dict[str, Any]:
    """The front matter as data (only to read the status and agent; writes keep the bytes)."""
    from orchsync.parse import parse_file

    entity = parse_file(path, raw).entity
    if entity is None:
        return {}
    return {
        "status": entity.status,
        "agent": getattr(entity, "agent", None),
        "task": getattr(entity, "task", None),
    }


def _edit(
    repo: Repo,
    key: str,
    action: str,
    change: Callable[[bytes, dict[str, Any], str], tuple[bytes, str]],
    message: str,
    agent: str | None,
    details: dict[str, Any] | None = None,
) -> PmResult:
    from orchsync.model import content_hash

    key = _key(key)
    path = session_path(key)
    full = repo.root / path
    with claimed(repo, [path]) as claim:
        for _attempt in range(_RETRIES):
            try:
                raw = read_for_edit(repo.root, path)
            except FileNotFoundError:
                raise UnknownEntity(
                    f"unknown session {key!r} (no {path}); `orchsync session list` shows them"
                ) from None
            fields = _fields(raw, path)
            new, actor = change(raw, fields, path)
            try:
                replace_if_unchanged(full, content_hash(raw), new, root=repo.root)
            except ConcurrentEdit:
                continue  # someone saved meanwhile: apply the change to their bytes
            break
        else:
            raise ConcurrentEdit(
                f"{path} kept changing while orchsync tried to edit it; nothing written"
            )
        after = _fields(new, path)
        result = PmResult(
            action,
            f"SESSION:{key}",
            message,
            paths=[path],
            details={
                "key": key,
                "task": after.get("task"),
                "agent": after.get("agent"),
                "status": after.get("status"),
                **(details or {}),
            },
        )
        return _sync(repo, result, path, actor, key, claim)


def _sync(
    repo: Repo,
    result: PmResult,
    path: str,
    actor: str | None,
    key: str,
    claim: Claim | None,
) -> PmResult:
    from orchsync.pm.uncommitted import after_write, how_committed
    from orchsync.watch.client import sync_anywhere  # the running daemon's sync, else this one

    with after_write(repo, [path], result.message):
        done = sync_anywhere(repo, [path], claim=claim, actor=actor, session=key)
    result.commit, result.subject, result.events = done.commit, done.subject, done.events
    if done.blocked:
        result.blocked = f"{done.blocked}; the edit is on disk: {how_committed(repo)}"
    return result


def _add_note(raw: bytes, text: str, agent: str, when: datetime, path: str) -> bytes:
    from orchsync.pm.frontmatter_edit import append_note

    return append_note(raw, f"{_iso(when)} [{agent}] {text}", path=path)


# --- handoffs: append one item to a YAML list, keeping every other byte --------------------------


def _scalar(value: Any) -> str:
    return "null" if value is None else json.dumps(str(value), ensure_ascii=False)


def _item(entry: dict[str, Any], indent: int, eol: str) -> str:
    pad = " " * indent
    lines = [
        f"{pad}{'- ' if i == 0 else '  '}{k}: {_scalar(v)}"
        for i, (k, v) in enumerate(entry.items())
    ]
    return eol.join(lines) + eol


def _append_handoff(raw: bytes, entry: dict[str, Any], path: str) -> bytes:
    """Add `entry` to the front matter's `handoffs` list (created when missing)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not valid UTF-8; fix it first (orchsync check)") from exc
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text[len(bom) :]
    eol = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != "---":
        raise UsageError(f"{path} has no front matter; fix it first (orchsync check)")
    start = len(lines[0])
    pos, end = start, None
    for line in lines[1:]:
        if line.rstrip() in ("---", "..."):
            end = pos
            break
        pos += len(line)
    if end is None:
        raise UsageError(f"{path}: front matter opened with '---' but never closed; fix it first")
    region = text[start:end]
    try:
        root = yaml.compose(region, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: front matter is not valid YAML; fix it first: {exc}") from exc
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise UsageError(f"{path}: front matter is not a mapping of keys; fix it first")
    node = next(
        (
            v
            for k, v in (root.value if root else [])
            if isinstance(k, yaml.ScalarNode) and k.value == "handoffs"
        ),
        None,
    )
    if node is None:
        tail = "" if not region or region.endswith("\n") else eol
        new_region = region + tail + "handoffs:" + eol + _item(entry, 2, eol)
    elif isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        indent = node.start_mark.column
        at = node.end_mark.index
        if at > 0 and region[at - 1] != "\n":
            nl = region.find("\n", at)
            at = len(region) if nl < 0 else nl + 1
        lead = "" if at == 0 or region[at - 1] == "\n" else eol
        new_region = region[:at] + lead + _item(entry, indent, eol) + region[at:]
    else:  # `handoffs: []`, `handoffs:` or a flow list: rewrite the value as a block list
        existing = (
            yaml.safe_load(region[node.start_mark.index : node.end_mark.index] or "null") or []
        )
        if not isinstance(existing, list):
            raise UsageError(f"{path}: 'handoffs' must be a list; fix it first")
        items = "".join(
            _item(e if isinstance(e, dict) else {"note": e}, 2, eol) for e in [*existing, entry]
        )
        before = region[: node.start_mark.index].rstrip(" \t\r\n")
        after = region[node.end_mark.index :]
        if after.startswith("\r\n"):
            after = after[2:]
        elif after.startswith("\n"):
            after = after[1:]
        new_region = before + eol + items + after
    return (bom + text[:start] + new_region + text[end:]).encode("utf-8")
