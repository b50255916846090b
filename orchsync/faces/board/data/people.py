"""Agents (who works on what) and sessions (notes, handoffs, events)."""

from __future__ import annotations

from typing import Any

from orchsync import query
from orchsync.errors import InvalidId, UnknownEntity
from orchsync.faces.board.data.rows import disk, event_row, plain
from orchsync.parse.layout import check_segment, session_path
from orchsync.repo import Repo


def agents(con: Any, open_sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Who works on what (`query.agents`), with each agent's open sessions."""
    overview = query.agents(con)
    for a in overview["agents"]:
        a["sessions"] = [s for s in open_sessions if s.get("agent") == a["name"]]
    return {"page": "agents", **overview}


def sessions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "page": "sessions",
        "sessions": [{k: plain(v) for k, v in r.items()} for r in rows],
    }


def session(repo: Repo, con: Any, key: str) -> dict[str, Any]:
    """A session file: its notes (the body) and handoffs, and the events in that session."""
    from orchsync.faces.board.html import markdown_html
    from orchsync.parse import parse_file

    try:
        check_segment(key, "session key")
    except InvalidId as exc:
        raise UnknownEntity(str(exc)) from exc
    path = session_path(key)
    raw = disk(repo, path)
    if raw is None:
        raise UnknownEntity(f"unknown session {key!r}")
    parsed = parse_file(path, raw)
    e = parsed.entity
    f = e.fields() if e is not None else {}
    events = list(reversed(query.events(con, session=key, limit=200)))
    return {
        "page": "session",
        "key": key,
        "path": path,
        "hash": parsed.hash,
        "title": f.get("title") or key,
        "status": f.get("status"),
        "task": f.get("task"),
        "sprint": f.get("sprint"),
        "agent": f.get("agent"),
        "started_at": f.get("started_at"),
        "ended_at": f.get("ended_at"),
        "handoffs": [{str(k): plain(v) for k, v in h.items()} for h in f.get("handoffs") or []],
        "notes_html": markdown_html(f.get("body") or ""),
        "events": [event_row(e) for e in events],
    }
