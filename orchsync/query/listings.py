"""Listings over a read-only connection: tasks, sprints, events, stats.

Each takes a connection from `query.reader` and returns plain rows (dicts of JSON-ready
values), the one shape the CLI, the MCP server and the board all render.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchsync.errors import UnknownEntity, UsageError
from orchsync.query.freshness import parse_since

if TYPE_CHECKING:
    from orchsync.index.duck import duckdb


__all__ = [
    "agents",
    "dependents",
    "event_types",
    "events",
    "readiness",
    "sprint",
    "sprints",
    "stats",
    "task_cards",
    "tasks",
    "tasks_by_code",
]


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, (_plain(v) for v in row), strict=True)) for row in cur.fetchall()]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if hasattr(value, "hex") and type(value).__name__ == "UUID":
        return str(value)
    return value


_READY_CTE = """
WITH deps AS (SELECT code, unnest(depends_on) AS dep FROM tasks),
     waiting AS (SELECT DISTINCT d.code FROM deps d LEFT JOIN tasks x ON x.code = d.dep
                 WHERE x.status IS DISTINCT FROM 'completed')
"""


def tasks(
    con: duckdb.DuckDBPyConnection,
    *,
    sprint: str | None = None,
    status: str | None = None,
    priority: str | None = None,
    agent: str | None = None,
    ready: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Tasks with filters; `ready` = valid pending tasks whose dependencies are all completed.

    A status or priority outside the schema's is a UsageError; a sprint or agent that no task
    and no file names is an UnknownEntity listing the ones there are (checked only when no
    task matched, so a filter that works costs nothing more).
    """
    from orchsync.model import PRIORITIES, TASK_STATUSES

    _check_choice("status", status, TASK_STATUSES)
    _check_choice("priority", priority, PRIORITIES)
    where, params = [], []
    for column, value in (
        ("sprint_code", sprint),
        ("status", status),
        ("priority", priority),
        ("agent", agent),
    ):
        if value:
            where.append(f"t.{column} = ?")
            params.append(value)
    if ready:
        where.append(
            "t.valid AND t.status = 'pending' AND t.code NOT IN (SELECT code FROM waiting)"
        )
    sql = (
        (_READY_CTE if ready else "")
        + """
        SELECT t.code AS task, t.sprint_code AS sprint, t.title, t.status, t.priority, t.agent,
               t.depends_on, t.valid, t.file_path AS path, t.updated_at
        FROM tasks t"""
        + (" WHERE " + " AND ".join(where) if where else "")
        + """
        ORDER BY t.sprint_code, t.priority NULLS LAST, t.code"""
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = _rows(con, sql, params)
    if not rows:  # nothing found: say so when a filter names something that does not exist
        _known(con, "sprint", sprint, "SELECT code FROM sprints")
        _known(
            con,
            "agent",
            agent,
            "SELECT agent FROM tasks WHERE agent IS NOT NULL UNION SELECT name FROM agents",
        )
    return rows


def _check_choice(what: str, value: str | None, valid: tuple[str, ...]) -> None:
    if value and value not in valid:
        raise UsageError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


def _known(con: duckdb.DuckDBPyConnection, what: str, value: str | None, sql: str) -> None:
    """Raise UnknownEntity naming the values there are, when `value` is none of them."""
    if not value:
        return
    known = [r[0] for r in con.execute(f"SELECT * FROM ({sql}) ORDER BY 1").fetchall() if r[0]]
    if value not in known:
        shown = ", ".join(known[:20]) + (f" ... ({len(known)} in all)" if len(known) > 20 else "")
        raise UnknownEntity(f"unknown {what} {value!r}; {what}s: {shown or '(none yet)'}")


def sprints(con: duckdb.DuckDBPyConnection, *, status: str | None = None) -> list[dict[str, Any]]:
    """Sprints with their task counts. The counts are grouped per sprint before the join (a
    GROUP BY ALL over the joined rows costs ~4x as much at 10,000 tasks)."""
    sql = """
        SELECT s.code AS sprint, s.title, s.status, s.owner, s.start_date, s.end_date,
               coalesce(c.tasks, 0) AS tasks, coalesce(c.completed, 0) AS completed,
               coalesce(c.in_progress, 0) AS in_progress, coalesce(c.blocked, 0) AS blocked,
               s.valid, s.file_path AS path
        FROM sprints s LEFT JOIN (
            SELECT sprint_code, count(*) AS tasks,
                   count(*) FILTER (WHERE status = 'completed') AS completed,
                   count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
                   count(*) FILTER (WHERE status = 'blocked') AS blocked
            FROM tasks GROUP BY 1) c ON c.sprint_code = s.code"""
    params = []
    if status:
        sql += " WHERE s.status = ?"
        params.append(status)
    sql += " ORDER BY s.code"
    return _rows(con, sql, params)


def sprint(con: duckdb.DuckDBPyConnection, code: str) -> dict[str, Any]:
    """One sprint: its row of `sprints` plus goal and body."""
    rows = [r for r in sprints(con) if r["sprint"] == code]
    if not rows:
        raise UnknownEntity(f"unknown sprint {code!r}")
    detail = _rows(con, "SELECT goal, body FROM sprints WHERE code = ?", [code])[0]
    return rows[0] | detail


# --- dependencies and readiness ----------------------------------------------------------------


def tasks_by_code(
    con: duckdb.DuckDBPyConnection, codes: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """code -> {code, title, status, sprint, hash} of the named tasks that exist."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = _rows(
        con,
        "SELECT code, title, status, sprint_code AS sprint, hash FROM tasks "
        "WHERE code IN (SELECT unnest(?::VARCHAR[]))",
        [wanted],
    )
    return {r["code"]: r for r in rows}


def readiness(
    status: str | None,
    depends_on: Iterable[str],
    known: Mapping[str, Mapping[str, Any]],
    *,
    valid: bool = True,
) -> dict[str, Any]:
    """Whether a task is ready: valid, pending, and every dependency a known, completed task.

    An invalid file (a refused code, a bad field, a link) is never offered as work: an agent
    would start from what the file does not say right.

    The one rule, in Python (`known` from `tasks_by_code`); `tasks(ready=True)` says the same
    in SQL (`_READY_CTE`), and a test holds the two equal. Returns the dependencies (code,
    title, status, sprint, done, missing), the codes it is waiting on, and `ready`.
    """
    deps = []
    for code in depends_on:
        row = known.get(code)
        deps.append(
            {
                "code": code,
                "title": row.get("title") if row else None,
                "status": row.get("status") if row else None,
                "sprint": row.get("sprint") if row else None,
                "done": row is not None and row.get("status") == "completed",
                "missing": row is None,
            }
        )
    waiting = [d["code"] for d in deps if not d["done"]]
    return {
        "dependencies": deps,
        "waiting_on": waiting,
        "ready": valid and status == "pending" and not waiting,
    }


def dependents(con: duckdb.DuckDBPyConnection, code: str) -> list[dict[str, Any]]:
    """The tasks that name `code` in their `depends_on`."""
    return _rows(
        con,
        "SELECT code, title, status, sprint_code AS sprint FROM tasks "
        "WHERE list_contains(depends_on, ?) ORDER BY code",
        [code],
    )


def task_cards(con: duckdb.DuckDBPyConnection, sprint: str) -> list[dict[str, Any]]:
    """A sprint's tasks as a board shows them: labels, content hash, the diagnostics of
    invalid files, and each task's dependencies and readiness."""
    rows = _rows(
        con,
        """SELECT code, sprint_code AS sprint, title, status, priority, agent, depends_on,
                  valid, hash, file_path AS path, metadata->'labels' AS labels, updated_at
           FROM tasks WHERE sprint_code = ? ORDER BY priority NULLS LAST, code""",
        [sprint],
    )
    invalid = [r["path"] for r in rows if not r["valid"]]
    found: dict[str, Any] = {}
    if invalid:
        found = dict(
            con.execute(
                "SELECT path, diagnostics FROM files WHERE path IN (SELECT unnest(?::VARCHAR[]))",
                [invalid],
            ).fetchall()
        )
    known = tasks_by_code(con, (d for r in rows for d in r["depends_on"] or []))
    for r in rows:
        r["depends_on"] = list(r["depends_on"] or [])
        r["labels"] = _json_list(r["labels"])
        r["diagnostics"] = _json_list(found.get(r["path"]))
        r |= readiness(r["status"], r["depends_on"], known, valid=bool(r["valid"]))
    return rows


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return value if isinstance(value, list) else ([] if value is None else [value])


EVENT_COLUMNS = (
    "id, emitted_at, event_type, level, entity_type, entity_code, agent, session_key, "
    'correlation_id, "commit", seq, path, hash, payload'
)


def events(
    con: duckdb.DuckDBPyConnection,
    *,
    type: str | None = None,
    entity: str | None = None,
    session: str | None = None,
    agent: str | None = None,
    commit: str | None = None,
    since: str | None = None,
    exclude: Iterable[str] = (),
    limit: int | None = 100,
    archived: bool = False,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """Events, oldest first (`newest_first` turns that round); with `limit`, the newest ones.

    `entity` is a key (`T:x`, `ADR:1`) or a path; `type` may omit the `orchestration.`
    prefix and end in `*`; `exclude` drops whole event types (e.g. `file.synced`).
    """
    where: list[str] = []
    params: list[Any] = []
    if type:
        full = _full_type(type)
        where.append("(event_type = ? OR event_type LIKE ?)")
        params += [full, full.rstrip("*") + "%" if full.endswith("*") else full]
    if exclude:
        where.append("event_type NOT IN (SELECT unnest(?::VARCHAR[]))")
        params.append([_full_type(t) for t in exclude])
    if entity:
        where.append(_entity_clause(entity, params))
    for column, value in (("session_key", session), ("agent", agent), ('"commit"', commit)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("emitted_at >= ?::TIMESTAMP")
        params.append(parse_since(since))
    table = "orchestration_events_all" if archived else "events"
    filters = " WHERE " + " AND ".join(where) if where else ""
    newest = 'ORDER BY emitted_at DESC, "commit" DESC, seq DESC'
    oldest = 'ORDER BY emitted_at, "commit", seq'
    if limit:
        # the newest ids first, then their rows: sorting with the JSON payload carried along
        # costs ~4x as much at 25,000 events
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM {table} WHERE id IN "
            f"(SELECT id FROM {table}{filters} {newest} LIMIT {int(limit)}) "
            f"{newest if newest_first else oldest}"
        )
    else:
        sql = f"SELECT {EVENT_COLUMNS} FROM {table}{filters} {newest if newest_first else oldest}"
    rows = _rows(con, sql, params)
    for row in rows:
        if isinstance(row.get("payload"), str):
            row["payload"] = json.loads(row["payload"])
    return rows


def event_types(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every event type the index holds, without the `orchestration.` prefix."""
    return [
        r[0].removeprefix("orchestration.")
        for r in con.execute("SELECT DISTINCT event_type FROM events ORDER BY 1").fetchall()
    ]


def _full_type(name: str) -> str:
    return name if name.startswith("orchestration.") else f"orchestration.{name}"


def _entity_clause(entity: str, params: list[Any]) -> str:
    """`T:x`, `S:x`, `ADR:1`, `BUG-0001`, a bare task code, or a path."""
    from orchsync.model import Kind
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


# --- who works on what --------------------------------------------------------------------------


def agents(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Each agent (a profile, or a name tasks are assigned to): its task counts by status, the
    tasks it is on (in progress or blocked), and its last event; and the other actors
    (people, the board) that have events but no tasks or profile."""
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
        seen = last.get(name) or {}
        out.append(
            {
                "name": name,
                "title": p.get("title"),
                "role": p.get("role"),
                "model": p.get("model"),
                "profile": p.get("path"),
                "tasks": counts.get(name, {}),
                "working_on": [w for w in working if w["agent"] == name],
                "last_event": seen.get("last_event"),
                "events": seen.get("events", 0),
            }
        )
    return {
        "agents": out,
        "other_actors": [
            {"name": n, "last_event": last[n]["last_event"], "events": last[n]["events"]}
            for n in sorted(set(last) - set(names))
        ],
    }


def stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Counts by status, and per sprint the throughput and cycle time from status events."""
    by_status = dict(
        con.execute("SELECT status, count(*) FROM tasks GROUP BY 1 ORDER BY 1").fetchall()
    )
    per_sprint = _rows(
        con,
        """
        WITH life AS (
            SELECT entity_code AS code,
                   min(emitted_at) FILTER (WHERE event_type = 'orchestration.task.started') AS started,
                   max(emitted_at) FILTER (WHERE event_type = 'orchestration.task.completed') AS completed
            FROM events WHERE entity_type = 'task' GROUP BY 1)
        SELECT t.sprint_code AS sprint, count(*) AS tasks,
               count(*) FILTER (WHERE t.status = 'pending') AS pending,
               count(*) FILTER (WHERE t.status = 'in_progress') AS in_progress,
               count(*) FILTER (WHERE t.status = 'blocked') AS blocked,
               count(*) FILTER (WHERE t.status = 'completed') AS completed,
               count(l.completed) AS completions_recorded,
               round(count(l.completed) / greatest(1, date_diff('day', min(l.completed), max(l.completed)) / 7.0), 2)
                   AS completed_per_week,
               round(median(epoch(l.completed - l.started)) FILTER (WHERE l.completed > l.started) / 3600.0, 2)
                   AS median_cycle_hours
        FROM tasks t LEFT JOIN life l ON l.code = t.code
        GROUP BY 1 ORDER BY 1""",
    )
    totals = con.execute("SELECT count(*) FROM events").fetchone()
    return {
        "tasks_by_status": by_status,
        "sprints": per_sprint,
        "events": totals[0] if totals else 0,
    }
