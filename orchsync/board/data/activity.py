"""The activity page (events newest first, filtered) and a commit's page."""

from __future__ import annotations

from typing import Any

from orchsync.board.data.rows import (
    ACTIVITY_LIMIT,
    BOOKKEEPING,
    MAX_ACTIVITY_LIMIT,
    commit_id,
    event_row,
    fetch,
)
from orchsync.errors import UnknownEntity
from orchsync.model import Kind
from orchsync.repo import Repo


def activity(
    con: Any,
    *,
    agent: str | None = None,
    session: str | None = None,
    type: str | None = None,
    entity: str | None = None,
    everything: bool = False,
    limit: int = ACTIVITY_LIMIT,
) -> dict[str, Any]:
    """The event stream, newest first, with the filters that produced it.

    `file.synced` (one per changed file, beside the entity's own events) is left out unless
    `everything` or a type filter asks for it.
    """
    limit = max(1, min(int(limit), MAX_ACTIVITY_LIMIT))
    where: list[str] = []
    params: list[Any] = []
    if type:
        full = type if type.startswith("orchestration.") else f"orchestration.{type}"
        where.append("event_type = ?")
        params.append(full)
    elif not everything:
        where.append("event_type NOT IN (SELECT unnest(?::VARCHAR[]))")
        params.append(list(BOOKKEEPING))
    if entity:
        where.append(_entity_clause(entity, params))
    for column, value in (("agent", agent), ("session_key", session)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    # the newest ids first, then their rows: sorting with the JSON payload column carried
    # along costs ~4x as much at 25,000 events
    newest = con.execute(
        "SELECT id FROM events"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f' ORDER BY emitted_at DESC, "commit" DESC, seq DESC LIMIT {limit}',
        params,
    ).fetchall()
    order = {r[0]: i for i, r in enumerate(newest)}
    rows = sorted(
        fetch(
            con,
            "SELECT id, emitted_at, event_type, entity_type, entity_code, agent, session_key,"
            ' "commit", path, hash, payload FROM events WHERE id IN (SELECT unnest(?::BIGINT[]))',
            [list(order)],
        ),
        key=lambda r: order[r["id"]],
    )
    types = [
        r[0].removeprefix("orchestration.")
        for r in con.execute("SELECT DISTINCT event_type FROM events ORDER BY 1").fetchall()
    ]
    return {
        "page": "activity",
        "filters": {
            "agent": agent or "",
            "session": session or "",
            "type": type or "",
            "entity": entity or "",
        },
        "everything": everything,
        "limit": limit,
        "types": types,
        "events": [event_row(e) for e in rows],
    }


def _entity_clause(entity: str, params: list[Any]) -> str:
    """`T:x`, `S:x`, `ADR:1`, `BUG-0001`, a bare task code, or a path."""
    from orchsync.parse.resolve import parse_key

    kind, code = parse_key(entity)
    if kind is None and ("/" in entity or entity.endswith((".md", ".yml", ".yaml"))):
        params.append(entity)
        return "path = ?"
    kind = kind or Kind.TASK
    etype = "task" if kind is Kind.TASK_AGENT else kind.value
    if kind in (Kind.ADR, Kind.BUG) and code.isdigit():
        code = f"{int(code):0{3 if kind is Kind.ADR else 4}d}"
    params += [etype, code]
    return "entity_type = ? AND entity_code = ?"


def commit(repo: Repo, con: Any, rev: str) -> dict[str, Any]:
    """A snapshot commit: its message, trailers and the events derived from it."""
    from orchsync.git.store import GitStore, commit_time_iso

    rev = commit_id(rev)
    try:
        c = GitStore(repo).resolve(rev)
    except Exception as exc:  # pygit2 raises several kinds for a bad or unknown revision
        raise UnknownEntity(f"unknown commit {rev}") from exc
    sha = str(c.id)
    events = [event_row(e) for e in fetch(con, _EVENTS_OF_COMMIT, [sha])]
    subject, _, rest = c.message.partition("\n")
    return {
        "page": "commit",
        "commit": sha,
        "subject": subject,
        "message": rest.strip(),
        "author": c.author.name,
        "time": commit_time_iso(c),
        "parents": [str(p) for p in c.parent_ids],
        "events": events,
    }


_EVENTS_OF_COMMIT = """
    SELECT id, emitted_at, event_type, entity_type, entity_code, agent, session_key, "commit",
           path, hash, payload
    FROM events WHERE "commit" = ? ORDER BY seq"""
