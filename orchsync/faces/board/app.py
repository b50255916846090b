"""The board's Starlette application: its routes behind its guard.

Pages (`pages.PAGES`) answer through `responses.page`; writes are `actions.ROUTES`.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from orchsync.errors import (
    UnknownEntity,
)
from orchsync.faces.board.responses import Board, error_response, page
from orchsync.faces.board.security import Guard, GuardSettings
from orchsync.repo import Repo

__all__ = ["create_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


def create_app(
    repo: Repo,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    actor: str | None = None,
    csrf: str | None = None,
) -> Any:
    """The ASGI app of one repository's board, behind its guard (see `security.py`)."""
    from orchsync.faces.board import actions, pages

    settings = GuardSettings(
        host=host, port=port, token=token, csrf=csrf or secrets.token_urlsafe(32)
    )
    board = Board(repo=repo, actor=actor, guard=settings)
    routes: list[Any] = []
    for path, template, build in pages.PAGES:
        endpoint = page(template, build)
        if path == "/":
            routes += [Route("/", endpoint), Route("/board.json", endpoint)]
            continue
        routes += [Route(f"{path}.json", endpoint), Route(path, endpoint)]
    routes += [
        Route("/live", pages.live),
        Route("/task/{code}/agent-init.json", pages.agent_init),
        *actions.ROUTES,
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.board = board

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(request, UnknownEntity(f"no page at {request.url.path}"))

    app.add_exception_handler(404, not_found)
    return Guard(app, settings)
