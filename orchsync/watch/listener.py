"""The daemon's side of `orchsync.watch.client`: take syncs from write commands over a Unix socket.

`{"op": "state"}` is answered at once with the daemon's live state (what daemon.json says,
even when the disk refuses daemon.json).

`{"op": "search", "search": {...}}` is a search (`orchsync search`), answered like a sync:
acknowledged, then answered by the daemon's `search` handler.

`{"op": "claim", "paths": [...]}` comes from a write command before it writes: `claim(paths)`
makes the daemon's own batches leave those paths alone, the ack goes out, and the
connection then waits (`CLAIM_WAIT` at most) for the sync request that follows the write.
The claim is released when that sync is done, or when the client closes or times out.

`SyncServer` owns the socket `.git/orchsync/daemon.sock`: it binds it (replacing a stale
file a killed daemon left; the caller holds the daemon lock, so no live daemon owns it),
accepts connections in a thread, and reads each request in a thread of its own. A request
is acknowledged (`{"accepted": true}`) before anything else happens; if the client is gone
by then, the request is dropped, so a client that gave up and synced itself is never
synced twice. Then `handle(request, reply)` runs it; `reply` may be called early (the daemon
answers once the commit has landed, before indexing) and at most once.

Nothing here knows what a sync is: the daemon passes the handler in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchsync.repo import Repo
from orchsync.watch.client import MAX_LINE, PROTOCOL, socket_address, socket_path

__all__ = ["Reply", "SyncServer"]

logger = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]
Handler = Callable[[dict[str, Any], Reply], None]
Claimer = Callable[[list[str] | None], Callable[[], None]]  # paths -> release

OPS = ("sync", "state", "claim", "search")
READ_TIMEOUT = 5.0  # a client sends its one line at once
CLAIM_WAIT = 120.0  # a write command sends its sync this long after its claim, at most
STOP_WAIT = 60.0  # on stop, how long requests already taken may take to finish


class SyncServer:
    """Accept requests on the clone's daemon socket until `close()`."""

    def __init__(
        self,
        repo: Repo,
        handle: Handler,
        state: Callable[[], dict[str, Any]] | None = None,
        claim: Claimer | None = None,
        search: Handler | None = None,
    ) -> None:
        self.repo = repo
        self.path = socket_path(repo)
        self.handle = handle
        self.state = state  # answers `{"op": "state"}`: the daemon's live state
        self.claim = claim  # takes `{"op": "claim"}`: paths its own batches leave alone
        self.search = search  # answers `{"op": "search"}` from the daemon's warm index
        self._sock: socket.socket | None = None
        self._ino: int | None = None
        self._thread: threading.Thread | None = None
        self._workers: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._closing = False

    def start(self) -> bool:
        """Bind and listen; False (logged) when the socket cannot be had: clients sync themselves."""
        self.repo.ensure_runtime()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            tmp.unlink(missing_ok=True)
            with socket_address(tmp) as address:
                sock.bind(address)
            os.chmod(tmp, 0o600)  # the user's own commands only
            os.replace(tmp, self.path)  # atomically over a stale socket a killed daemon left
            self._ino = os.stat(self.path).st_ino
            sock.listen(64)
        except OSError as exc:
            sock.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
            logger.warning("no sync socket (%s); write commands will sync themselves", exc)
            return False
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="sync-server", daemon=True)
        self._thread.start()
        return True

    def close(self, wait: float = STOP_WAIT) -> None:
        """Stop taking requests, remove the socket, let the requests already taken finish."""
        with self._lock:
            self._closing = True
            sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._ino:  # ours, not a newer daemon's
                self.path.unlink()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            workers = list(self._workers)
        for t in workers:
            t.join(wait)

    def _accept(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                return
            try:
                conn, _ = sock.accept()
            except OSError:
                if self._sock is None:
                    return  # closed
                continue
            with self._lock:
                if self._closing:
                    conn.close()  # not acknowledged: the client syncs itself
                    continue
                worker = threading.Thread(
                    target=self._serve, args=(conn,), name="sync-request", daemon=True
                )
                self._workers.add(worker)
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(READ_TIMEOUT)
                reader = conn.makefile("rb")
                request = _request(reader)
                if request is None:
                    return
                problem = self._refuse(request)
                if problem:
                    _send(conn, {"accepted": False, "reason": problem})
                    return
                if request.get("op") == "state":
                    _send(conn, {"ok": True, "state": self.state() if self.state else None})
                    return
                if request.get("op") == "claim":
                    self._serve_claim(conn, reader, request)
                    return
                handle = self.search if request.get("op") == "search" else self.handle
                if handle is None:
                    _send(conn, {"accepted": False, "reason": "this daemon does not search"})
                elif _send(conn, {"accepted": True}):  # else the client gave up: it goes alone
                    self._serve_sync(conn, request, handle)
        except Exception:  # a bad request must never take the daemon down
            logger.exception("sync request failed")
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _serve_claim(self, conn: socket.socket, reader: Any, request: dict[str, Any]) -> None:
        paths = request.get("paths")
        if self.claim is None or not isinstance(paths, list) or not paths:
            _send(conn, {"accepted": False, "reason": "a claim names the paths to be written"})
            return
        release = self.claim([str(p) for p in paths])
        try:
            if not _send(conn, {"accepted": True}):
                return
            conn.settimeout(CLAIM_WAIT)
            sync = _request(reader)  # the write's sync; None: it wrote nothing, or died
            if sync is None or sync.get("op") != "sync":
                return
            problem = self._refuse(sync)
            if problem:
                _send(conn, {"accepted": False, "reason": problem})
                return
            self._serve_sync(conn, sync, self.handle)
        finally:
            release()

    def _serve_sync(self, conn: socket.socket, request: dict[str, Any], handle: Handler) -> None:
        conn.settimeout(None)
        sent = False

        def reply(answer: dict[str, Any]) -> None:
            nonlocal sent
            if not sent:
                sent = True
                _send(conn, answer)

        try:
            handle(request, reply)
        finally:
            if not sent:  # the handler died without answering: the client syncs itself
                reply({"internal": "the daemon could not answer"})

    def _refuse(self, request: dict[str, Any]) -> str | None:
        if request.get("orchsync") != PROTOCOL or request.get("op") not in OPS:
            return f"unsupported request (protocol {PROTOCOL}, op {', '.join(OPS)})"
        if Path(str(request.get("root"))) != self.repo.root:
            return f"this daemon serves {self.repo.root}"
        if self._closing:
            return "the daemon is stopping"
        return None


def _request(reader: Any) -> dict[str, Any] | None:
    try:
        line = reader.readline(MAX_LINE)
        data = json.loads(line) if line.endswith(b"\n") else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _send(conn: socket.socket, message: dict[str, Any]) -> bool:
    try:
        conn.sendall(json.dumps(message, default=str).encode() + b"\n")
        return True
    except OSError:
        return False
