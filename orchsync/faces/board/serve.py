"""Run the board: bind the socket first (so `--port 0` knows its port), print the URL, serve.

The URL printed is the whole way in: with a token it ends in `?token=...`, which the first
visit trades for a cookie. `Ctrl-C` (or SIGTERM) stops the server cleanly.
"""

from __future__ import annotations

import logging
import secrets
import socket
import sys
import threading
from typing import Any

from orchsync.errors import UsageError
from orchsync.faces.board.security import is_loopback
from orchsync.repo import Repo

__all__ = ["bind", "serve", "url_for"]

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int, token: str | None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(
    repo: Repo,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    actor: str | None = None,
    open_browser: bool = False,
    out: Any = None,
) -> None:
    """Serve the board until interrupted; prints `orchsync board: URL` first."""
    import uvicorn

    from orchsync.faces.board.app import create_app

    out = out or sys.stdout
    if not is_loopback(host) and not token:
        token = secrets.token_urlsafe(24)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(repo, host=host, port=port, token=token, actor=actor)
    url = url_for(host, port, token)
    print(f"orchsync board: {url}", file=out, flush=True)
    if not is_loopback(host):
        print(
            f"listening on {host}: anyone who can reach it needs the token in the URL",
            file=out,
            flush=True,
        )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        proxy_headers=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if open_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
