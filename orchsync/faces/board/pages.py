"""The pages: each one reads its parameters and builds its dict from `orchsync.faces.board.data`.

`PAGES` lists (path, template, build). A build runs on a worker thread under the board's
lock and returns the dict the template renders and the JSON twin returns.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from orchsync import query
from orchsync.errors import UnknownEntity, UsageError
from orchsync.faces.board import data

__all__ = ["PAGES", "agent_init", "live"]

MAX_PARAM = 200  # characters of any filter value taken from a URL


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    if len(value) > MAX_PARAM:
        raise UsageError(f"parameter {name!r} is longer than {MAX_PARAM} characters")
    return value or None


def _path(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if len(value) > MAX_PARAM:
        raise UnknownEntity(f"{name} is longer than {MAX_PARAM} characters")
    return value


def board_page(request: Request, board: Any) -> dict[str, Any]:
    with query.reader(board.repo) as con:
        out = data.board(
            board.repo,
            con,
            sprint=_param(request, "sprint"),
            agent=_param(request, "agent"),
            priority=_param(request, "priority"),
            q=_param(request, "q"),
        )
    out["profiles"] = data.agent_names(board.repo)
    return out


def task_page(request: Request, board: Any) -> dict[str, Any]:
    return data.task(board.repo, _path(request, "code"))


def version_page(request: Request, board: Any) -> dict[str, Any]:
    return data.task_version(board.repo, _path(request, "code"), _path(request, "rev"))


def sprint_page(request: Request, board: Any) -> dict[str, Any]:
    with query.reader(board.repo) as con:
        return data.sprint(board.repo, con, _path(request, "code"))


def activity_page(request: Request, board: Any) -> dict[str, Any]:
    limit = _param(request, "limit") or str(data.ACTIVITY_LIMIT)
    if not limit.isdigit():
        raise UsageError("limit must be a number")
    with query.reader(board.repo) as con:
        return data.activity(
            con,
            agent=_param(request, "agent"),
            session=_param(request, "session"),
            type=_param(request, "type"),
            entity=_param(request, "entity"),
            everything=_param(request, "all") == "1",
            limit=int(limit),
        )


def commit_page(request: Request, board: Any) -> dict[str, Any]:
    with query.reader(board.repo) as con:
        return data.commit(board.repo, con, _path(request, "rev"))


def agents_page(request: Request, board: Any) -> dict[str, Any]:
    from orchsync.pm.sessions import list_sessions

    open_sessions = [
        {k: data.plain(v) for k, v in s.items()} for s in list_sessions(board.repo, open_only=True)
    ]
    with query.reader(board.repo) as con:
        return data.agents(con, open_sessions)


def sessions_page(request: Request, board: Any) -> dict[str, Any]:
    from orchsync.pm.sessions import list_sessions

    return data.sessions(list_sessions(board.repo))


def session_page(request: Request, board: Any) -> dict[str, Any]:
    with query.reader(board.repo) as con:
        return data.session(board.repo, con, _path(request, "key"))


def adrs_page(request: Request, board: Any) -> dict[str, Any]:
    return data.documents(board.repo, "adr")


def bugs_page(request: Request, board: Any) -> dict[str, Any]:
    return data.documents(board.repo, "bug")


def adr_page(request: Request, board: Any) -> dict[str, Any]:
    return data.document(board.repo, "adr", _path(request, "number"))


def bug_page(request: Request, board: Any) -> dict[str, Any]:
    return data.document(board.repo, "bug", _path(request, "number"))


SEARCH_KINDS = ("task", "sprint", "adr", "bug", "session")


def search_page(request: Request, board: Any) -> dict[str, Any]:
    """Ranked search over every kind, through `orchsync.query.search` (as `orchsync search`)."""
    text = _param(request, "q") or ""
    kind = _param(request, "kind")
    status = _param(request, "status")
    if kind and kind not in SEARCH_KINDS:
        raise UsageError(f"unknown kind {kind!r}; valid: {', '.join(SEARCH_KINDS)}")
    out: dict[str, Any] = {
        "page": "search",
        "q": text,
        "kind": kind or "",
        "status": status or "",
        "kinds": list(SEARCH_KINDS),
        "hits": [],
    }
    from orchsync.query.search import search

    if text:
        hits = search(board.repo, text, kind=kind, status=status, limit=50)
        out["hits"] = [_hit(h) for h in hits]
    return out


def _hit(hit: Any) -> dict[str, Any]:
    if hasattr(hit, "to_dict"):
        row = dict(hit.to_dict())
    elif isinstance(hit, dict):
        row = dict(hit)
    else:
        from dataclasses import asdict

        row = asdict(hit)
    kind, code = row.get("kind"), row.get("code")
    if kind == "adr" or kind == "bug":
        digits = "".join(ch for ch in str(code or "") if ch.isdigit())
        code = str(int(digits)) if digits else code
    row["url"] = data.entity_url(kind, code)
    return row


PAGES = [
    ("/", "board.html", board_page),
    ("/task/{code}/version/{rev}", "version.html", version_page),
    ("/task/{code}", "task.html", task_page),
    ("/sprint/{code}", "sprint.html", sprint_page),
    ("/activity", "activity.html", activity_page),
    ("/commit/{rev}", "commit.html", commit_page),
    ("/agents", "agents.html", agents_page),
    ("/sessions", "sessions.html", sessions_page),
    ("/session/{key}", "session.html", session_page),
    ("/adrs", "documents.html", adrs_page),
    ("/adr/{number}", "document.html", adr_page),
    ("/bugs", "documents.html", bugs_page),
    ("/bug/{number}", "document.html", bug_page),
    ("/search", "search.html", search_page),
]


async def live(request: Request) -> Response:
    """The SSE stream each open page listens to (see `live.py`)."""
    from sse_starlette import EventSourceResponse

    from orchsync.faces.board.live import changes

    board = request.app.state.board
    return EventSourceResponse(
        changes(board.repo, request.is_disconnected),
        ping=15,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def agent_init(request: Request) -> Response:
    """The AGENT INIT an agent would get for this task (not recorded as an agent's init)."""
    from starlette.concurrency import run_in_threadpool

    from orchsync.context.service import assemble
    from orchsync.errors import OrchsyncError
    from orchsync.faces.board.responses import JSON, error_response

    board = request.app.state.board

    def build() -> dict[str, Any]:
        code, _path_ = data.resolve_task(board.repo, _path(request, "code"))
        ctx = assemble(board.repo, f"T:{code}", record=False)
        return {"page": "agent-init", "key": f"T:{code}", "markdown": ctx.to_markdown()}

    try:
        out = await run_in_threadpool(board.call, build)
    except OrchsyncError as exc:
        return error_response(request, exc)
    return JSON(out)
