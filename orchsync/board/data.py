"""What each board page shows, as one plain dict built from library calls.

A page is a view of these dicts: the HTML template renders one, and the same dict is the
page's JSON twin (`/x.json`), so a script (or a test) reads exactly what a person sees.
Nothing here knows about HTTP. Reads go through `orchsync.query.reader` (an index that
reflects git); a task's own file is read from disk, because a write is checked against the
bytes on disk: a card carries the hash of its file as it is now, and a file edited on disk
but not synced yet is shown as it is on disk, marked `synced: false`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from orchsync import query
from orchsync.errors import InvalidId, OrchsyncError, UnknownEntity
from orchsync.layout import DELEGATION, check_segment, session_path
from orchsync.model import PRIORITIES, TASK_STATUSES, Kind, content_hash
from orchsync.repo import Repo

__all__ = [
    "STATUS_LABELS",
    "activity",
    "agents",
    "board",
    "commit",
    "document",
    "documents",
    "session",
    "sessions",
    "sprint",
    "task",
    "task_version",
]

log = logging.getLogger(__name__)

# Board columns, in the order work moves through them.
COLUMNS = ("pending", "in_progress", "blocked", "completed")
STATUS_LABELS = {
    "pending": "Pending",
    "in_progress": "In progress",
    "blocked": "Blocked",
    "completed": "Completed",
}
ACTIVITY_LIMIT = 200
BOOKKEEPING = ("orchestration.file.synced",)  # one per changed file: hidden unless asked
MAX_ACTIVITY_LIMIT = 1000


# --- cards -----------------------------------------------------------------------------------------


def _labels(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    return [] if value is None else [str(value)]


def _diagnostics(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    out = []
    for d in value or []:
        if isinstance(d, dict):
            if d.get("severity", "error") != "error":
                continue
            where = f"line {d['line']}: " if d.get("line") else ""
            what = f"{d['field']}: " if d.get("field") else ""
            out.append(f"{where}{what}{d.get('message', '')}")
        else:
            out.append(str(d))
    return out


def _disk(repo: Repo, path: str) -> bytes | None:
    try:
        return (repo.root / path).read_bytes()
    except OSError:
        return None


def _card(row: dict[str, Any], repo: Repo) -> dict[str, Any]:
    """A task row of the index, checked against its file on disk (hash, unsynced edits)."""
    raw = _disk(repo, row["path"])
    card = {
        "code": row["code"],
        "title": row["title"] or row["code"],
        "status": row["status"],
        "priority": row["priority"],
        "agent": row["agent"],
        "labels": _labels(row.get("labels")),
        "depends_on": list(row.get("depends_on") or []),
        "valid": bool(row["valid"]),
        "diagnostics": _diagnostics(row.get("diagnostics")) if not row["valid"] else [],
        "path": row["path"],
        "hash": None if raw is None else content_hash(raw),
        "synced": raw is not None and content_hash(raw) == row["hash"],
        "on_disk": raw is not None,
        "updated_at": row.get("updated_at"),
    }
    if raw is not None and not card["synced"]:
        _overlay(card, row["path"], raw)
    return card


def _overlay(card: dict[str, Any], path: str, raw: bytes) -> None:
    """Show a file edited on disk (not synced yet) as it is on disk."""
    from orchsync.parse import parse_file

    parsed = parse_file(path, raw)
    e = parsed.entity
    card["valid"] = parsed.valid
    card["diagnostics"] = [
        str(d).removeprefix(f"{path}:").lstrip(": ")
        for d in parsed.diagnostics
        if d.severity == "error"
    ]
    if e is not None:
        card |= {
            "title": e.title or card["code"],
            "status": e.status,
            "priority": getattr(e, "priority", None),
            "agent": getattr(e, "agent", None),
            "labels": _labels(e.metadata.get("labels")),
            "depends_on": list(getattr(e, "depends_on", []) or []),
        }


_TASK_COLUMNS = """
    SELECT t.code, t.sprint_code AS sprint, t.title, t.status, t.priority, t.agent, t.depends_on,
           t.valid, t.hash, t.file_path AS path, t.metadata->'labels' AS labels, t.updated_at
    FROM tasks t"""


def _task_rows(con: Any, where: str, params: list[Any], order: str) -> list[dict[str, Any]]:
    """Task rows, with the diagnostics of the invalid ones (a second, rare query)."""
    rows = _rows(con, f"{_TASK_COLUMNS} WHERE {where} ORDER BY {order}", params)
    invalid = [r["path"] for r in rows if not r["valid"]]
    if invalid:
        found = dict(
            con.execute(
                "SELECT path, diagnostics FROM files WHERE path IN (SELECT unnest(?::VARCHAR[]))",
                [invalid],
            ).fetchall()
        )
        for r in rows:
            r["diagnostics"] = found.get(r["path"])
    return rows


def plain(value: Any) -> Any:
    """A DuckDB value as JSON can hold it (timestamps as ISO text, UUIDs as text)."""
    if isinstance(value, (datetime, date)):
        return (
            value.isoformat(timespec="seconds")
            if isinstance(value, datetime)
            else value.isoformat()
        )
    if isinstance(value, UUID):
        return str(value)
    return value


def _rows(con: Any, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cur = con.execute(sql, list(params))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, (plain(v) for v in r), strict=True)) for r in cur.fetchall()]


def _dependency_states(con: Any, cards: list[dict[str, Any]]) -> dict[str, str | None]:
    wanted = sorted({d for c in cards for d in c["depends_on"]})
    if not wanted:
        return {}
    found = dict(
        con.execute(
            "SELECT code, status FROM tasks WHERE code IN (SELECT unnest(?::VARCHAR[]))", [wanted]
        ).fetchall()
    )
    return {d: found.get(d) for d in wanted}


def _badges(cards: list[dict[str, Any]], states: dict[str, str | None]) -> None:
    """Dependency badges, and `ready`: pending with every dependency completed (an unknown
    dependency is not), the rule of `query.tasks(ready=True)`; a test holds them equal. The
    board computes it from the dependencies it shows rather than asking that query, which
    unnests every task of the repository (~15 ms at 10,000 tasks)."""
    for c in cards:
        c["dependencies"] = [
            {"code": d, "status": states.get(d), "done": states.get(d) == "completed"}
            for d in c["depends_on"]
        ]
        c["waiting_on"] = [d["code"] for d in c["dependencies"] if not d["done"]]
        c["ready"] = c["status"] == "pending" and not c["waiting_on"]


# --- board -----------------------------------------------------------------------------------------


def _pick_sprint(sprints: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    if wanted:
        return next((s for s in sprints if s["sprint"] == wanted), None)
    for status in ("active", "planning"):
        for s in sprints:
            if s["status"] == status:
                return s
    return sprints[-1] if sprints else None


# query.sprints with only what the board shows (its GROUP BY ALL over the join costs ~13 ms
# at 10,000 tasks; this ~3 ms)
_SPRINTS = """
    SELECT s.code AS sprint, s.title, s.status, s.owner, s.start_date, s.end_date,
           coalesce(c.tasks, 0) AS tasks, coalesce(c.completed, 0) AS completed,
           coalesce(c.in_progress, 0) AS in_progress, coalesce(c.blocked, 0) AS blocked,
           s.valid, s.file_path AS path
    FROM sprints s LEFT JOIN (
        SELECT sprint_code, count(*) AS tasks,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
               count(*) FILTER (WHERE status = 'blocked') AS blocked
        FROM tasks GROUP BY 1) c ON c.sprint_code = s.code
    ORDER BY s.code"""


def board(
    repo: Repo,
    con: Any,
    *,
    sprint: str | None = None,
    agent: str | None = None,
    priority: str | None = None,
    q: str | None = None,
) -> dict[str, Any]:
    """The board of one sprint: a column per status, a card per task (filters applied)."""
    sprints = _rows(con, _SPRINTS)
    chosen = _pick_sprint(sprints, sprint)
    if sprint and chosen is None:
        raise UnknownEntity(f"unknown sprint {sprint!r}")
    cards: list[dict[str, Any]] = []
    if chosen is not None:
        rows = _task_rows(
            con, "t.sprint_code = ?", [chosen["sprint"]], "t.priority NULLS LAST, t.code"
        )
        cards = [_card(r, repo) for r in rows]
        _badges(cards, _dependency_states(con, cards))
    agents = sorted({c["agent"] for c in cards if c["agent"]})
    needle = (q or "").strip().lower()
    shown = [
        c
        for c in cards
        if (not agent or c["agent"] == agent)
        and (not priority or c["priority"] == priority)
        and (
            not needle
            or needle in c["code"].lower()
            or needle in (c["title"] or "").lower()
            or any(needle in label.lower() for label in c["labels"])
        )
    ]
    columns: list[dict[str, Any]] = [
        {
            "status": status,
            "label": STATUS_LABELS[status],
            "cards": [c for c in shown if c["status"] == status],
        }
        for status in COLUMNS
    ]
    other = [c for c in shown if c["status"] not in COLUMNS]
    if other:  # a status no column has (a typo in a file): shown, never hidden
        columns.append({"status": "other", "label": "Other status", "cards": other})
    for col in columns:
        col["count"] = len(col["cards"])
    return {
        "page": "board",
        "sprint": chosen,
        "sprints": [
            {k: s[k] for k in ("sprint", "title", "status", "tasks", "completed")} for s in sprints
        ],
        "filters": {"agent": agent or "", "priority": priority or "", "q": q or ""},
        "agents": agents,
        "priorities": list(PRIORITIES),
        "statuses": list(COLUMNS),
        "total": len(cards),
        "shown": len(shown),
        "columns": columns,
    }


# --- task ------------------------------------------------------------------------------------------

CHECKLIST_LABELS = {
    "objectives": "Objectives",
    "deliverables": "Deliverables",
    "acceptance_criteria": "Acceptance criteria",
}


def _resolve_task(repo: Repo, code: str) -> tuple[str, str]:
    from orchsync.resolve import resolve

    try:
        check_segment(code, "task code")
    except InvalidId as exc:
        raise UnknownEntity(str(exc)) from exc
    target = resolve(repo, f"T:{code}", prefix_ok=False)
    return target.code, target.path


def task(repo: Repo, code: str) -> dict[str, Any]:
    """A task as it is on disk, with its AGENT.yml, history from git and events."""
    from orchsync.board.render import markdown_html
    from orchsync.parse import parse_file
    from orchsync.timeline import entity_versions

    code, path = _resolve_task(repo, code)
    raw = (repo.root / path).read_bytes()
    parsed = parse_file(path, raw)
    e = parsed.entity
    fields = e.fields() if e is not None else {}
    checklists: list[dict[str, Any]] = [
        {
            "name": name,
            "label": label,
            "items": [
                {"index": i, "text": item["text"], "done": item["done"]}
                for i, item in enumerate(fields.get(name) or [])
            ],
        }
        for name, label in CHECKLIST_LABELS.items()
    ]
    for cl in checklists:
        cl["done"] = sum(1 for i in cl["items"] if i["done"])
        cl["total"] = len(cl["items"])
    agent_path = path.rsplit("/", 1)[0] + "/AGENT.yml"
    agent_raw = _disk(repo, agent_path)
    with query.reader(repo) as con:
        indexed = con.execute("SELECT hash FROM tasks WHERE code = ?", [code]).fetchone()
        events = [
            _event_row(r)
            for r in reversed(query.events(con, entity=f"T:{code}", limit=200))
            if r["event_type"] not in BOOKKEEPING
        ]
        dependents = [
            r[0]
            for r in con.execute(
                "SELECT code FROM tasks WHERE list_contains(depends_on, ?) ORDER BY code", [code]
            ).fetchall()
        ]
        deps = list(getattr(e, "depends_on", []) or [])
        states = _dependency_states(con, [{"depends_on": deps}])
        profiles = [r[0] for r in con.execute("SELECT name FROM agents ORDER BY name").fetchall()]
    history = [v.to_dict() for v in reversed(entity_versions(repo, f"T:{code}"))]
    metadata = fields.get("metadata") or {}
    return {
        "page": "task",
        "code": code,
        "key": f"T:{code}",
        "sprint": path.split("/")[2],
        "path": path,
        "hash": parsed.hash,
        "synced": indexed is not None and indexed[0] == parsed.hash,
        "valid": parsed.valid,
        "diagnostics": [str(d) for d in parsed.diagnostics],
        "title": fields.get("title") or code,
        "status": fields.get("status"),
        "priority": fields.get("priority"),
        "agent": fields.get("agent"),
        "labels": _labels(metadata.get("labels")),
        "dependencies": [
            {"code": d, "status": states.get(d), "done": states.get(d) == "completed"} for d in deps
        ],
        "dependents": dependents,
        "metadata": {k: v for k, v in metadata.items() if k != "labels"},
        "context": fields.get("context") or [],
        "body": fields.get("body") or "",
        "body_html": markdown_html(fields.get("body") or "", skip_checklists=True),
        "checklists": checklists,
        "agent_yml": None
        if agent_raw is None
        else {"path": agent_path, "text": agent_raw.decode("utf-8", errors="replace")},
        "history": history,
        "events": events,
        "statuses": list(TASK_STATUSES),
        "priorities": list(PRIORITIES),
        "profiles": profiles,
    }


def task_version(repo: Repo, code: str, rev: str) -> dict[str, Any]:
    """One version of a task from git, and the diff from the version before it."""
    import difflib

    from orchsync.timeline import entity_versions, show

    code, _path = _resolve_task(repo, code)
    rev = _commit_id(rev)
    versions = entity_versions(repo, f"T:{code}")
    index = next((i for i, v in enumerate(versions) if v.commit.startswith(rev)), None)
    if index is None:
        raise UnknownEntity(f"{rev} is not a version of task {code}")
    version = versions[index]
    this = show(repo, f"T:{code}", at=version.commit)
    try:  # what this commit changed: the version at its parent (ordering by time can tie)
        before = show(repo, f"T:{code}", at=f"{version.commit}^")
    except OrchsyncError:
        before = None
    old_text = before["text"] if before else ""
    diff = list(
        difflib.unified_diff(
            old_text.splitlines(),
            this["text"].splitlines(),
            fromfile=before["path"] if before else "/dev/null",
            tofile=this["path"],
            lineterm="",
        )
    )
    return {
        "page": "version",
        "code": code,
        "key": f"T:{code}",
        "version": version.to_dict(),
        "previous": before["commit"] if before else None,
        "path": this["path"],
        "hash": this["hash"],
        "text": this["text"],
        "diff": [{"kind": _diff_kind(line), "text": line} for line in diff],
    }


def _diff_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "ctx")


def _commit_id(rev: str) -> str:
    rev = rev.strip().lower()
    if not (4 <= len(rev) <= 64) or any(ch not in "0123456789abcdef" for ch in rev):
        raise UnknownEntity(f"{rev[:70]!r} is not a commit id")
    return rev


# --- sprint ----------------------------------------------------------------------------------------


def sprint(repo: Repo, con: Any, code: str) -> dict[str, Any]:
    """A sprint's progress, counts, throughput and cycle time, and its dependency graph."""
    from orchsync.board.graph import layout

    row = next((s for s in _rows(con, _SPRINTS) if s["sprint"] == code), None)
    if row is None:
        raise UnknownEntity(f"unknown sprint {code!r}")
    detail = _rows(
        con,
        "SELECT goal, body, owner, start_date, end_date, file_path AS path FROM sprints WHERE code = ?",
        [code],
    )[0]
    tasks = _task_rows(con, "t.sprint_code = ?", [code], "t.code")
    stats = next((s for s in query.stats(con)["sprints"] if s["sprint"] == code), None)
    counts = {s: 0 for s in COLUMNS}
    for t in tasks:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    nodes = [
        {
            "code": t["code"],
            "title": t["title"],
            "status": t["status"],
            "depends_on": t["depends_on"] or [],
        }
        for t in tasks
    ]
    total = len(tasks)
    return {
        "page": "sprint",
        "sprint": row,
        "goal": detail["goal"],
        "path": detail["path"],
        "counts": counts,
        "total": total,
        "progress": round(100 * counts.get("completed", 0) / total) if total else 0,
        "stats": stats,
        "graph": layout(nodes),
    }


# --- activity --------------------------------------------------------------------------------------


def _event_row(e: dict[str, Any]) -> dict[str, Any]:
    etype = (e.get("event_type") or "").removeprefix("orchestration.")
    payload = e.get("payload") or {}
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = {"raw": payload}
    summary = ""
    if "from" in payload and "to" in payload:
        summary = f"{payload['from']} → {payload['to']}"
    elif isinstance(payload.get("changes"), dict):
        summary = "changed " + ", ".join(sorted(payload["changes"]))
    elif payload.get("title"):
        summary = str(payload["title"])
    elif payload.get("to_sprint"):
        summary = f"{payload.get('from_sprint')} → {payload.get('to_sprint')}"
    kind, code = e.get("entity_type"), e.get("entity_code")
    return {
        "id": str(e["id"]),
        "time": e.get("emitted_at"),
        "type": etype,
        "entity_type": kind,
        "entity_code": code,
        "entity_key": _key(kind, code),
        "entity_url": entity_url(kind, code),
        "agent": e.get("agent"),
        "session": e.get("session_key"),
        "commit": e.get("commit"),
        "path": e.get("path"),
        "hash": e.get("hash"),
        "summary": summary,
        "payload": payload,
    }


_PREFIX = {
    "task": "T",
    "sprint": "S",
    "adr": "ADR",
    "bug": "BUG",
    "agent": "A",
    "session": "SESSION",
}


def _key(kind: str | None, code: str | None) -> str | None:
    if not kind or not code:
        return None
    return f"{_PREFIX.get(kind, kind)}:{code}"


def entity_url(kind: str | None, code: str | None) -> str | None:
    """The board page of an entity (None for plain files and config)."""
    if not kind or not code:
        return None
    from urllib.parse import quote

    c = quote(str(code), safe="")
    return {
        "task": f"/task/{c}",
        "sprint": f"/sprint/{c}",
        "adr": f"/adr/{c}",
        "bug": f"/bug/{c}",
        "session": f"/session/{c}",
        "agent": "/agents",
    }.get(kind)


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
        _rows(
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
        "events": [_event_row(e) for e in rows],
    }


def _entity_clause(entity: str, params: list[Any]) -> str:
    """`T:x`, `S:x`, `ADR:1`, `BUG-0001`, a bare task code, or a path."""
    from orchsync.resolve import parse_key

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
    from orchsync.gitstore import GitStore, commit_time_iso

    rev = _commit_id(rev)
    try:
        c = GitStore(repo).resolve(rev)
    except Exception as exc:  # pygit2 raises several kinds for a bad or unknown revision
        raise UnknownEntity(f"unknown commit {rev}") from exc
    sha = str(c.id)
    events = [_event_row(e) for e in _rows(con, _EVENTS_OF_COMMIT, [sha])]
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


# --- agents and sessions ---------------------------------------------------------------------------


def agents(con: Any, open_sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Who works on what: each agent's profile, current tasks, open sessions, last activity."""
    profiles = {
        r["name"]: r
        for r in _rows(
            con,
            "SELECT name, title, role, model, valid, file_path AS path FROM agents ORDER BY name",
        )
    }
    counts: dict[str, dict[str, int]] = {}
    for name, status, n in con.execute(
        "SELECT agent, status, count(*) FROM tasks WHERE agent IS NOT NULL GROUP BY ALL"
    ).fetchall():
        counts.setdefault(name, {})[status] = n
    working = _rows(
        con,
        """SELECT agent, code, title, status, sprint_code AS sprint FROM tasks
           WHERE agent IS NOT NULL AND status IN ('in_progress', 'blocked')
           ORDER BY status DESC, code""",
    )
    last = {
        r["agent"]: r
        for r in _rows(
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
    from orchsync.board.render import markdown_html
    from orchsync.parse import parse_file

    try:
        check_segment(key, "session key")
    except InvalidId as exc:
        raise UnknownEntity(str(exc)) from exc
    path = session_path(key)
    raw = _disk(repo, path)
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
        "events": [_event_row(e) for e in events],
    }


# --- ADRs and bugs ---------------------------------------------------------------------------------


def documents(repo: Repo, kind: str) -> dict[str, Any]:
    """ADRs or bugs, read from the tree by number (pm.list_adrs / pm.list_bugs)."""
    from orchsync import pm

    rows = pm.list_adrs(repo) if kind == "adr" else pm.list_bugs(repo)
    for r in rows:
        r["number"] = int(r["id"].split("-")[1])
    return {"page": f"{kind}s", "kind": kind, "items": rows}


def document(repo: Repo, kind: str, number: str) -> dict[str, Any]:
    """One ADR or bug: its fields, rendered body and history."""
    from orchsync.board.render import markdown_html
    from orchsync.parse import parse_file
    from orchsync.resolve import resolve
    from orchsync.timeline import entity_versions

    if not number.isdigit() or len(number) > 6:
        raise UnknownEntity(f"{kind} number {number[:20]!r} is not a number")
    prefix = "ADR" if kind == "adr" else "BUG"
    target = resolve(repo, f"{prefix}:{int(number)}")
    if target.kind is not (Kind.ADR if kind == "adr" else Kind.BUG):  # pragma: no cover
        raise UnknownEntity(f"unknown {kind} {number}")
    raw = (repo.root / target.path).read_bytes()
    parsed = parse_file(target.path, raw)
    f = parsed.entity.fields() if parsed.entity is not None else {}
    width = 3 if kind == "adr" else 4
    return {
        "page": kind,
        "kind": kind,
        "id": f"{prefix}-{int(number):0{width}d}",
        "key": target.key,
        "path": target.path,
        "hash": parsed.hash,
        "valid": parsed.valid,
        "diagnostics": [str(d) for d in parsed.diagnostics],
        "title": f.get("title"),
        "status": f.get("status"),
        "fields": {
            k: v
            for k, v in f.items()
            if k in ("priority", "sprint", "reported_by", "date") and v is not None
        },
        "body_html": markdown_html(f.get("body") or ""),
        "history": [v.to_dict() for v in reversed(entity_versions(repo, target.key))],
    }


def agent_names(repo: Repo) -> list[str]:
    """Profiles on disk (for the new-task form), without an index read."""
    base = repo.root / DELEGATION / "agents"
    try:
        return sorted(
            n.rsplit(".", 1)[0] for n in os.listdir(base) if n.endswith((".yml", ".yaml"))
        )
    except OSError:
        return []
