"""What each board page shows, as one plain dict built from library calls.

A page is a view of these dicts: the HTML template renders one, and the same dict is the
page's JSON twin (`/x.json`), so a script (or a test) reads exactly what a person sees.
Nothing here knows about HTTP. Reads go through `orchsync.query.fresh` (an index that
reflects git); files a page shows whole (a task, a session) are read from disk.
"""

from orchsync.faces.board.data.activity import activity, commit
from orchsync.faces.board.data.cards import COLUMNS, STATUS_LABELS, board, sprint
from orchsync.faces.board.data.documents import agent_names, document, documents
from orchsync.faces.board.data.people import agents, session, sessions
from orchsync.faces.board.data.rows import (
    ACTIVITY_LIMIT,
    BOOKKEEPING,
    commit_id,
    entity_url,
    plain,
    resolve_task,
)
from orchsync.faces.board.data.task_page import task, task_version

__all__ = [
    "ACTIVITY_LIMIT",
    "BOOKKEEPING",
    "COLUMNS",
    "STATUS_LABELS",
    "activity",
    "agent_names",
    "agents",
    "board",
    "commit",
    "commit_id",
    "document",
    "documents",
    "entity_url",
    "plain",
    "resolve_task",
    "session",
    "sessions",
    "sprint",
    "task",
    "task_version",
]
