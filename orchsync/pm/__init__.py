"""Project-management moves as library calls: create sprints, tasks, ADRs and bugs, change a
task's status, move a task; sessions, templates, rollback and fix-ids. The CLI, the MCP server
and the board all call these.

Every call validates everything first (a refused call writes nothing), writes its files
atomically, then syncs exactly those paths with the caller's actor and session: the commit,
its trailers and the events (`sprint.created`, `task.status_updated`, `bug.reported`, ...)
all come from the one sync function, never from here.

One module per kind of write: `sprints`, `tasks`, `adrs`, `bugs` (+ `numbered`, what the two
share), `sessions`; `common` holds the rules they share. This package re-exports the calls,
each imported on first use: `orchsync show` imports `pm.timeline`, and must not pay for the
templates and every other kind of write (~50 ms) on the way.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchsync.pm.adrs import create_adr, list_adrs
    from orchsync.pm.bugs import list_bugs, report_bug
    from orchsync.pm.common import PmResult, default_actor, parse_assignments
    from orchsync.pm.sprints import create_sprint
    from orchsync.pm.tasks import create_task, move_task, update_task_status

_WHERE = {
    "create_adr": "adrs",
    "list_adrs": "adrs",
    "list_bugs": "bugs",
    "report_bug": "bugs",
    "PmResult": "common",
    "default_actor": "common",
    "parse_assignments": "common",
    "create_sprint": "sprints",
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
    "create_sprint",
    "create_task",
    "default_actor",
    "list_adrs",
    "list_bugs",
    "move_task",
    "parse_assignments",
    "report_bug",
    "update_task_status",
]
