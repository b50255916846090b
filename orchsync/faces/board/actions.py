"""The board's writes: each one a library call, as the CLI and MCP make it.

Moving a card is `pm.update_task_status`, editing fields and ticking checklist items is
`pm.edits.edit_task`, creating is `pm.create_task` / `pm.report_bug`, rollback is
`timeline.rollback`. Each writes atomically and syncs through the same path as the CLI (the
daemon's sync when one runs), attributed to the board's actor. A write that changes an
existing task carries the content hash the page showed (`hash`); if the file changed since,
the library refuses with `StaleWrite` and the answer is 409 with the current version, which
the page then shows. The guard (security.py) has already checked origin and CSRF token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orchsync.errors import OrchsyncError, StaleWrite, UsageError

__all__ = ["ROUTES"]

MAX_TEXT = 10_000


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object, or a urlencoded form (the page's forms work without script too)."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise UsageError(f"the request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise UsageError("the request body must be a JSON object")
        return body
    form = await request.form()
    return {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise UsageError(f"{name} is required")
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise UsageError(f"{name} must be text of at most {MAX_TEXT} characters")
    return value


def _hash(body: dict[str, Any]) -> str:
    value = _text(body, "hash", required=True)
    assert value is not None
    return value


def _current(board: Any, code: str) -> dict[str, Any]:
    """The task as it is now on disk (sent back with a 409, so the page can show it)."""
    from orchsync.faces.board.data import resolve_task
    from orchsync.model import content_hash
    from orchsync.parse import parse_file

    code, path = resolve_task(board.repo, code)
    raw = (board.repo.root / path).read_bytes()
    e = parse_file(path, raw).entity
    return {
        "code": code,
        "hash": content_hash(raw),
        "title": getattr(e, "title", None),
        "status": getattr(e, "status", None),
        "priority": getattr(e, "priority", None),
        "agent": getattr(e, "agent", None),
    }


def _write(fn: Callable[[Request, Any, dict[str, Any]], dict[str, Any]]) -> Callable[..., Any]:
    """Parse the body, run the library call under the board's lock, answer JSON."""
    from orchsync.faces.board.responses import JSON, error_response

    async def endpoint(request: Request) -> Response:
        board = request.app.state.board
        try:
            body = await _body(request)
            result = await run_in_threadpool(board.call, fn, request, board, body)
        except StaleWrite as exc:
            response = error_response(request, exc)
            code = request.path_params.get("code")
            if code is not None:
                payload = json.loads(bytes(response.body))
                try:
                    payload["task"] = await run_in_threadpool(board.call, _current, board, code)
                except OrchsyncError:
                    payload["task"] = None
                return JSON(payload, status_code=409)
            return response
        except OrchsyncError as exc:
            return error_response(request, exc)
        return JSON({"ok": True, **result})

    return endpoint


def _result(result: Any) -> dict[str, Any]:
    out = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    return {"result": out, "message": out.get("message")}


def move(request: Request, board: Any, body: dict[str, Any]) -> dict[str, Any]:
    from orchsync.pm import update_task_status

    status = _text(body, "status", required=True)
    assert status is not None
    result = update_task_status(
        board.repo,
        f"T:{request.path_params['code']}",
        status,
        actor=board.actor,
        expected_hash=_hash(body),
    )
    return _result(result)


def edit(request: Request, board: Any, body: dict[str, Any]) -> dict[str, Any]:
    from orchsync.pm.edits import edit_task

    kwargs: dict[str, Any] = {}
    for name in ("title", "priority"):
        if name in body:
            kwargs[name] = _text(body, name, required=True)
    if "agent" in body:
        kwargs["agent"] = _text(body, "agent") or ""
    if not kwargs:
        raise UsageError("nothing to edit: give title, priority or agent")
    result = edit_task(
        board.repo,
        f"T:{request.path_params['code']}",
        expected_hash=_hash(body),
        actor=board.actor,
        **kwargs,
    )
    return _result(result)


def checklist(request: Request, board: Any, body: dict[str, Any]) -> dict[str, Any]:
    from orchsync.pm.edits import edit_task

    section = _text(body, "section", required=True)
    index, checked = body.get("index"), body.get("checked")
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if isinstance(checked, str):
        checked = checked.lower() in ("1", "true", "on", "yes")
    if not isinstance(checked, bool):
        raise UsageError("checked must be true or false")
    result = edit_task(
        board.repo,
        f"T:{request.path_params['code']}",
        checklist=[(section or "", index, checked)],  # type: ignore[list-item]
        expected_hash=_hash(body),
        actor=board.actor,
    )
    return _result(result)


def rollback(request: Request, board: Any, body: dict[str, Any]) -> dict[str, Any]:
    from orchsync.faces.board.data import commit_id, resolve_task
    from orchsync.model import content_hash
    from orchsync.pm.timeline import rollback as roll_back

    code, path = resolve_task(board.repo, request.path_params["code"])
    shown = _hash(body)
    now = content_hash((board.repo.root / path).read_bytes())
    if shown != now:
        raise StaleWrite(path, shown, now)
    to = commit_id(_text(body, "to", required=True) or "")
    result = roll_back(board.repo, f"T:{code}", to, actor=board.actor)
    return {"result": result, "message": f"task {code}: rolled back to {to[:12]}"}


def create_task(request: Request, board: Any, body: dict[str, Any]) -> dict[str, Any]:
    from orchsync.pm import create_task as create

    deps = body.get("depends_on") or []
    if isinstance(deps, str):
        deps = [d.strip() for d in deps.replace(",", " ").split() if d.strip()]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise UsageError("depends_on must be a list of task codes")
    sprint = _text(body, "sprint", required=True)
    code = _text(body, "id", required=True)
    assert sprint is not None and code is not None
    result = create(
        board.repo,
        sprint,
        code,
        title=_text(body, "title"),
        priority=_text(body, "priority") or "P2",
        depends_on=deps,
        agent=_text(body, "agent"),
        actor=board.actor,
    )
    return {**_result(result), "url": f"/task/{code}"}


def report_bug(request: Request, board: Any, body: dict[str, Any]) -> dict[str, Any]:
    from orchsync.pm import report_bug as report

    title = _text(body, "title", required=True)
    assert title is not None
    result = report(
        board.repo,
        title,
        _text(body, "priority") or "P2",
        sprint=_text(body, "sprint"),
        body=_text(body, "body"),
        actor=board.actor,
    )
    number = result.details.get("number")
    return {**_result(result), "url": f"/bug/{number}"}


ROUTES = [
    Route("/api/task/{code}/status", _write(move), methods=["POST"]),
    Route("/api/task/{code}/edit", _write(edit), methods=["POST"]),
    Route("/api/task/{code}/checklist", _write(checklist), methods=["POST"]),
    Route("/api/task/{code}/rollback", _write(rollback), methods=["POST"]),
    Route("/api/task", _write(create_task), methods=["POST"]),
    Route("/api/bug", _write(report_bug), methods=["POST"]),
]
