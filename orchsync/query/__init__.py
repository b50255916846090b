"""The read side: fresh, read-only answers from the index, for the CLI, MCP and the board.

- `reader`    `reader(repo)`: a read-only connection to an index that reflects git
- `listings`  tasks, sprints, events, stats over that connection
- `sql`       user SQL, sandboxed and bounded
- `search`    ranked text search; `answers`: memoized answers of read commands
"""

from __future__ import annotations

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
from orchsync.query.reader import archive, reader, refresh
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
