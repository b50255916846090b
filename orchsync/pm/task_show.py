"""`task show`: one task as a person (or an agent) wants to see it before changing it.

The task itself is read from its file (the truth, with its current content hash, which a
later `task edit --expect-hash` can name); what needs the other tasks (the state of its
dependencies, the tasks waiting on it) and its history (the last commit) comes from the
index, which `query.reader` brings up to date with git first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchsync.model import Task, TaskAgentConfig
from orchsync.parse.worktree import read_parsed
from orchsync.pm.tasks import task_target
from orchsync.repo import Repo

__all__ = ["show_task"]


def show_task(repo: Repo, task: str) -> dict[str, Any]:
    """The task (fields, checklists, body), its AGENT.yml, dependencies and dependents with
    their status, whether it is ready (pending, every dependency completed), whether its file
    is valid (with the diagnostics), its content hash and the last commit that touched it."""
    from orchsync import query

    code, path = task_target(repo, task)
    parsed = read_parsed(repo.root, path)
    if parsed is None:  # pragma: no cover - task_target found it a moment ago
        from orchsync.errors import UnknownEntity

        raise UnknownEntity(f"unknown task {code!r} (no {path})")
    entity = parsed.entity if isinstance(parsed.entity, Task) else None
    deps = list(entity.depends_on) if entity is not None else []
    agent_path = path.rsplit("/", 1)[0] + "/AGENT.yml"
    agent_file = read_parsed(repo.root, agent_path)
    with query.reader(repo) as con:
        known = _rows(
            con,
            "SELECT code, title, status, sprint_code AS sprint FROM tasks WHERE list_contains(?, code)",
            [deps],
        )
        dependents = _rows(
            con,
            "SELECT code, title, status, sprint_code AS sprint FROM tasks "
            "WHERE list_contains(depends_on, ?) ORDER BY code",
            [code],
        )
        last = _rows(
            con,
            'SELECT "commit", emitted_at AS time, agent, session_key AS session, event_type '
            "FROM events WHERE entity_type = 'task' AND entity_code = ? AND \"commit\" IS NOT NULL "
            "ORDER BY emitted_at DESC, seq DESC LIMIT 20",
            [code],
        )
    by_code = {r["code"]: r for r in known}
    dependencies = [
        {**by_code[d], "missing": False}
        if d in by_code
        else {"code": d, "title": None, "status": None, "sprint": None, "missing": True}
        for d in deps
    ]
    waiting = [d["code"] for d in dependencies if d["status"] != "completed"]
    status = entity.status if entity is not None else None
    fields = entity.fields() if entity is not None else {}
    return {
        "task": code,
        "key": f"T:{code}",
        "path": path,
        "sprint": path.split("/")[2],
        "hash": parsed.hash,
        "valid": parsed.valid,
        "diagnostics": [d.to_dict() for d in parsed.diagnostics],
        **{k: v for k, v in fields.items() if k not in ("code", "sprint", "valid")},
        "agent_config": _agent_config(agent_path, agent_file),
        "dependencies": dependencies,
        "dependents": dependents,
        "ready": status == "pending" and not waiting,
        "waiting_for": waiting,
        "last_commit": _last_commit(last),
    }


def _agent_config(path: str, parsed: Any) -> dict[str, Any] | None:
    if parsed is None:
        return None
    e = parsed.entity
    return {
        "path": path,
        "hash": parsed.hash,
        "valid": parsed.valid,
        "agent": e.agent if isinstance(e, TaskAgentConfig) else None,
        "config": e.config if isinstance(e, TaskAgentConfig) else {},
    }


def _last_commit(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest commit among the task's events, with every event it carried."""
    if not rows:
        return None
    newest = rows[0]
    same = [r for r in rows if r["commit"] == newest["commit"]]
    return {
        "commit": newest["commit"],
        "time": newest["time"],
        "agent": newest["agent"],
        "session": newest["session"],
        "events": [r["event_type"].removeprefix("orchestration.") for r in reversed(same)],
    }


def _rows(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, (_plain(v) for v in row), strict=True)) for row in cur.fetchall()]


def _plain(value: Any) -> Any:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
