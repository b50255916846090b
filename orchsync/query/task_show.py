"""`task show`: one task as a person (or an agent) wants to see it before changing it.

The task itself is read from its file (the truth, with its current content hash, which a
later `task edit --expect-hash` can name); what needs the other tasks (the state of its
dependencies, the tasks waiting on it) and its history (the last commit) comes from the
index, which `query.reader` brings up to date with git first.
"""

from __future__ import annotations

from typing import Any

from orchsync.model import Task, TaskAgentConfig
from orchsync.parse.resolve import task_target
from orchsync.parse.worktree import read_parsed
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
    status = entity.status if entity is not None else None
    agent_path = path.rsplit("/", 1)[0] + "/AGENT.yml"
    agent_file = read_parsed(repo.root, agent_path)
    with query.reader(repo) as con:
        ready = query.readiness(status, deps, query.tasks_by_code(con, deps), valid=parsed.valid)
        dependents = query.dependents(con, code)
        history = query.events(con, entity=f"T:{code}", limit=20, newest_first=True)
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
        "dependencies": ready["dependencies"],
        "dependents": dependents,
        "ready": ready["ready"],
        "waiting_on": ready["waiting_on"],
        "last_commit": _last_commit([e for e in history if e["commit"]]),
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


def _last_commit(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest commit among the task's events (newest first), with every event it carried."""
    if not events:
        return None
    newest = events[0]
    same = [e for e in events if e["commit"] == newest["commit"]]
    return {
        "commit": newest["commit"],
        "time": newest["emitted_at"],
        "agent": newest["agent"],
        "session": newest["session_key"],
        "events": [e["event_type"].removeprefix("orchestration.") for e in reversed(same)],
    }
