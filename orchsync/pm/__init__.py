"""Project-management moves as library calls: create sprints, tasks, ADRs and bugs, change a
task's status, move a task; sessions, templates, rollback and fix-ids. The CLI, the MCP server
and the board all call these.

Every call validates everything first (a refused call writes nothing), writes its files
atomically, then syncs exactly those paths with the caller's actor and session: the commit,
its trailers and the events (`sprint.created`, `task.status_updated`, `bug.reported`, ...)
all come from the one sync function, never from here.

One module per kind of write: `sprints`, `tasks` (+ `edits`), `adrs`, `bugs` (+ `numbered`,
what the two share), `agents`, `sessions`; `common` holds the rules they share and
`fieldedit` the byte-preserving change of front-matter values. This package re-exports the
calls, each imported on first use: `orchsync show` imports `pm.timeline`, and must not pay
for the templates and every other kind of write (~50 ms) on the way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchsync.pm.adrs import create_adr, list_adrs, set_adr_status
    from orchsync.pm.agents import create_agent
    from orchsync.pm.bugs import list_bugs, report_bug, set_bug_status
    from orchsync.pm.common import PmResult, default_actor, parse_assignments, parse_fields
    from orchsync.pm.edits import edit_task
    from orchsync.pm.sprints import create_sprint, set_sprint_status
    from orchsync.pm.tasks import create_task, move_task, update_task_status

_WHERE = {
    "create_adr": "adrs",
    "list_adrs": "adrs",
    "set_adr_status": "adrs",
    "create_agent": "agents",
    "list_bugs": "bugs",
    "report_bug": "bugs",
    "set_bug_status": "bugs",
    "PmResult": "common",
    "default_actor": "common",
    "parse_assignments": "common",
    "parse_fields": "common",
    "edit_task": "edits",
    "create_sprint": "sprints",
    "set_sprint_status": "sprints",
    "create_task": "tasks",
    "move_task": "tasks",
    "update_task_status": "tasks",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "PmResult",
    "create_adr",
    "create_agent",
    "create_sprint",
    "create_task",
    "default_actor",
    "edit_task",
    "list_adrs",
    "list_bugs",
    "move_task",
    "parse_assignments",
    "parse_fields",
    "report_bug",
    "set_adr_status",
    "set_bug_status",
    "set_sprint_status",
    "update_task_status",
]
