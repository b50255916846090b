"""Listings over a read-only connection: tasks, sprints, events, stats.

Each takes a connection from `query.reader` and returns plain rows (dicts of JSON-ready
values), the one shape the CLI, the MCP server and the board all render.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchsync.errors import UnknownEntity, UsageError
from orchsync.index.duck import duckdb
from orchsync.query.freshness import parse_since

if TYPE_CHECKING:
    pass


__all__ = ["events", "sprints", "stats", "tasks"]


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
    """Tasks with filters; `ready` = pending tasks whose dependencies are all completed.

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
        where.append("t.status = 'pending' AND t.code NOT IN (SELECT code FROM waiting)")
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
    sql = """
        SELECT s.code AS sprint, s.title, s.status, s.owner, s.start_date, s.end_date,
               count(t.code) AS tasks,
               count(t.code) FILTER (WHERE t.status = 'completed') AS completed,
               count(t.code) FILTER (WHERE t.status = 'in_progress') AS in_progress,
               count(t.code) FILTER (WHERE t.status = 'blocked') AS blocked,
               s.valid, s.file_path AS path
        FROM sprints s LEFT JOIN tasks t ON t.sprint_code = s.code"""
    params = []
    if status:
        sql += " WHERE s.status = ?"
        params.append(status)
    sql += " GROUP BY ALL ORDER BY s.code"
    return _rows(con, sql, params)


def events(
    con: duckdb.DuckDBPyConnection,
    *,
    type: str | None = None,
    entity: str | None = None,
    session: str | None = None,
    since: str | None = None,
    limit: int | None = 100,
    archived: bool = False,
) -> list[dict[str, Any]]:
    """Events newest last. `entity` is a key (`T:x`) or a path; `type` may omit the prefix."""
    from orchsync.parse.resolve import parse_key

    where, params = [], []
    if type:
        full = type if type.startswith("orchestration.") else f"orchestration.{type}"
        where.append("(event_type = ? OR event_type LIKE ?)")
        params += [full, full.rstrip("*") + "%" if full.endswith("*") else full]
    if entity:
        kind, code = parse_key(entity)
        if kind is None and ("/" in entity or "." in entity):
            where.append("path = ?")
            params.append(entity)
        else:
            from orchsync.model import Kind

            kind = kind or Kind.TASK
            etype = "task" if kind is Kind.TASK_AGENT else kind.value
            if kind.value in ("adr", "bug") and code.isdigit():
                code = f"{int(code):0{3 if kind.value == 'adr' else 4}d}"
            where.append("entity_type = ? AND entity_code = ?")
            params += [etype, code]
    if session:
        where.append("session_key = ?")
        params.append(session)
    if since:
        where.append("emitted_at >= ?::TIMESTAMP")
        params.append(parse_since(since))
    table = "orchestration_events_all" if archived else "events"
    sql = f"""SELECT id, emitted_at, event_type, level, entity_type, entity_code, agent, session_key,
                     correlation_id, "commit", seq, path, hash, payload
              FROM {table}""" + (" WHERE " + " AND ".join(where) if where else "")
    if limit:
        sql = f'SELECT * FROM ({sql} ORDER BY emitted_at DESC, "commit" DESC, seq DESC LIMIT {int(limit)}) ORDER BY emitted_at, "commit", seq'
    else:
        sql += ' ORDER BY emitted_at, "commit", seq'
    rows = _rows(con, sql, params)
    import json

    for row in rows:
        if isinstance(row.get("payload"), str):
            row["payload"] = json.loads(row["payload"])
    return rows


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
