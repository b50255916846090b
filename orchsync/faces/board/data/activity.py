"""The activity page (events newest first, filtered) and a commit's page."""

from __future__ import annotations

from typing import Any

from orchsync.errors import UnknownEntity
from orchsync.faces.board.data.rows import (
    ACTIVITY_LIMIT,
    BOOKKEEPING,
    MAX_ACTIVITY_LIMIT,
    commit_id,
    event_row,
)
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
    from orchsync import query

    limit = max(1, min(int(limit), MAX_ACTIVITY_LIMIT))
    rows = query.events(
        con,
        type=type,
        entity=entity,
        agent=agent,
        session=session,
        exclude=() if type or everything else BOOKKEEPING,
        limit=limit,
        newest_first=True,
    )
    types = query.event_types(con)
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


def commit(repo: Repo, con: Any, rev: str) -> dict[str, Any]:
    """A snapshot commit: its message, trailers and the events derived from it."""
    from orchsync import query
    from orchsync.git.store import GitStore, commit_time_iso

    rev = commit_id(rev)
    try:
        c = GitStore(repo).resolve(rev)
    except Exception as exc:  # pygit2 raises several kinds for a bad or unknown revision
        raise UnknownEntity(f"unknown commit {rev}") from exc
    sha = str(c.id)
    events = [event_row(e) for e in query.events(con, commit=sha, limit=None)]
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
