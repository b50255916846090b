"""Agents (who works on what) and sessions (notes, handoffs, events)."""

from __future__ import annotations

from typing import Any

from orchsync import query
from orchsync.board.data.rows import disk, event_row, fetch, plain
from orchsync.errors import InvalidId, UnknownEntity
from orchsync.parse.layout import check_segment, session_path
from orchsync.repo import Repo


def agents(con: Any, open_sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Who works on what: each agent's profile, current tasks, open sessions, last activity."""
    profiles = {
        r["name"]: r
        for r in fetch(
            con,
            "SELECT name, title, role, model, valid, file_path AS path FROM agents ORDER BY name",
        )
    }
    counts: dict[str, dict[str, int]] = {}
    for name, status, n in con.execute(
        "SELECT agent, status, count(*) FROM tasks WHERE agent IS NOT NULL GROUP BY ALL"
    ).fetchall():
        counts.setdefault(name, {})[status] = n
    working = fetch(
        con,
        """SELECT agent, code, title, status, sprint_code AS sprint FROM tasks
           WHERE agent IS NOT NULL AND status IN ('in_progress', 'blocked')
           ORDER BY status DESC, code""",
    )
    last = {
        r["agent"]: r
        for r in fetch(
            con,
            """SELECT agent, max(emitted_at) AS last_event, count(*) AS events FROM events
               WHERE agent IS NOT NULL GROUP BY 1""",
        )
    }
    names = sorted(set(profiles) | set(counts))
    out = []
    for name in names:
        p = profiles.get(name) or {}
        out.append(
            {
                "name": name,
                "title": p.get("title"),
                "role": p.get("role"),
                "model": p.get("model"),
                "profile": p.get("path"),
                "tasks": counts.get(name, {}),
                "working_on": [w for w in working if w["agent"] == name],
                "sessions": [s for s in open_sessions if s.get("agent") == name],
                "last_event": (last.get(name) or {}).get("last_event"),
                "events": (last.get(name) or {}).get("events", 0),
            }
        )
    others = sorted(set(last) - set(names))  # actors (people, the board) with events only
    return {
        "page": "agents",
        "agents": out,
        "other_actors": [
            {"name": n, "last_event": last[n]["last_event"], "events": last[n]["events"]}
            for n in others
        ],
    }


def sessions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "page": "sessions",
        "sessions": [{k: plain(v) for k, v in r.items()} for r in rows],
    }


def session(repo: Repo, con: Any, key: str) -> dict[str, Any]:
    """A session file: its notes (the body) and handoffs, and the events in that session."""
    from orchsync.board.html import markdown_html
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
