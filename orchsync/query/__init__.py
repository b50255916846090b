"""The read side: fresh, read-only answers from the index, for the CLI, MCP and the board.

- `fresh`     `reader(repo)`: a read-only connection to an index that reflects git
- `listings`  tasks, sprints, events, stats over that connection
- `sql`       user SQL, sandboxed and bounded
- `search`    ranked text search; `answers`: memoized answers of read commands
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchsync.query.fresh import archive, reader, refresh
    from orchsync.query.listings import (
        agents,
        dependents,
        event_types,
        events,
        readiness,
        sprint,
        sprints,
        stats,
        task_cards,
        tasks,
        tasks_by_code,
    )
    from orchsync.query.sql import SqlTarget, run_sql, sql_target

__all__ = [
    "SqlTarget",
    "agents",
    "archive",
    "dependents",
    "event_types",
    "events",
    "readiness",
    "sprint",
    "task_cards",
    "reader",
    "refresh",
    "run_sql",
    "sprints",
    "sql_target",
    "stats",
    "tasks",
    "tasks_by_code",
]

# Loaded on first use: a command answered from a stored answer (`answers`), or by the
# daemon (`orchsync search`), pays for none of the listings, the sandbox or the model.
_HOMES = {
    **dict.fromkeys(("archive", "reader", "refresh"), "fresh"),
    **dict.fromkeys(("SqlTarget", "run_sql", "sql_target"), "sql"),
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{_HOMES.get(name, 'listings')}"), name)
