"""How a board page answers: the `Board` every request shares, and one way to respond.

Every page is `view(request) -> dict` (built by `orchsync.faces.board.data` from library calls)
and answers in one of three forms from that same dict: the HTML page, the JSON twin (the
URL with `.json`, or `?format=json`), or only the page's `main` block (header
`X-Board-Partial: 1`, what the live update fetches). Library calls run one at a time
(`Board.lock`): DuckDB refuses a second handle on one file in another mode in one process,
and a write's sync must not race a read of the index in the same process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from orchsync import __version__
from orchsync.errors import (
    LockTimeout,
    OrchsyncError,
    SnapshotBlocked,
    StaleWrite,
    UnknownEntity,
)
from orchsync.faces.board.html import environment
from orchsync.faces.board.security import GuardSettings
from orchsync.repo import Repo

__all__ = ["JSON", "NAV", "Board", "error_response", "page", "respond", "wants_json"]

NAV = [
    ("board", "/", "Board"),
    ("activity", "/activity", "Activity"),
    ("agents", "/agents", "Agents"),
    ("sessions", "/sessions", "Sessions"),
    ("adrs", "/adrs", "Decisions"),
    ("bugs", "/bugs", "Bugs"),
]


@dataclass
class Board:
    """What every request needs: the repository, who writes, the guard's secrets, the lock."""

    repo: Repo
    actor: str | None
    guard: GuardSettings
    lock: threading.Lock = field(default_factory=threading.Lock)
    env: Any = field(default_factory=environment)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return fn(*args, **kwargs)


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=str, separators=(",", ":")).encode(
            "utf-8"
        )


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json") or request.query_params.get("format") == "json"


def respond(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
    """The page, its JSON twin, or its main block: all three from the same dict."""
    if wants_json(request):
        return JSON(data, status_code=status)
    board: Board = request.app.state.board
    tmpl = board.env.get_template(template)
    context = {"page": data, "ui": _ui(request, data)}
    if request.headers.get("x-board-partial") == "1":
        ctx = tmpl.new_context(context)
        html = "".join(tmpl.blocks["main"](ctx))
    else:
        html = tmpl.render(context)
    return HTMLResponse(html, status_code=status)


def _ui(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    board: Board = request.app.state.board
    return {
        "csrf": board.guard.csrf,
        "nav": NAV,
        "current": data.get("page"),
        "repo": board.repo.root.name,
        "actor": board.actor,
        "version": __version__,
        "path": request.url.path,
    }


def error_response(request: Request, exc: Exception) -> Response:
    """A library error as a page or JSON: 404 unknown, 409 stale, 503 busy, 400 the rest."""
    status = 400
    extra: dict[str, Any] = {}
    if isinstance(exc, UnknownEntity):
        status = 404
    elif isinstance(exc, StaleWrite):
        status = 409
        extra = {"stale": True, "current_hash": exc.current_hash, "path": exc.path}
    elif isinstance(exc, (SnapshotBlocked, LockTimeout)):
        status = 503
    data = {"page": "error", "error": str(exc), "status": status, **extra}
    if request.method != "GET" or wants_json(request):
        return JSON(data, status_code=status)
    return respond(request, "error.html", data, status)


def page(
    template: str, build: Callable[[Request, Board], dict[str, Any]]
) -> Callable[[Request], Any]:
    """A GET route: build the dict under the lock (on a worker thread), then answer."""
    from starlette.concurrency import run_in_threadpool

    async def endpoint(request: Request) -> Response:
        board: Board = request.app.state.board
        try:
            data = await run_in_threadpool(board.call, build, request, board)
        except OrchsyncError as exc:
            return error_response(request, exc)
        return respond(request, template, data)

    return endpoint
