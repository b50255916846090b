"""Hand a sync to the running daemon: the fast path of `orchsync sync` and the write commands.

A one-shot sync pays ~250 ms of imports (pygit2, DuckDB, YAML) and a cold DuckDB open
before it commits one file. `orchsync watch` has all of that loaded and warm, so when it
runs, a write command sends it the sync instead, over a Unix socket in the runtime folder
(`.git/orchsync/daemon.sock`), and prints the answer. The daemon runs the same
`orchsync.sync.sync`, serialised with its own batches under the repo lock.

The protocol, one JSON object per line:

    client -> {"orchsync": 1, "op": "sync", "root": ..., "paths": [...] | null, "options": {...}}
    daemon -> {"accepted": true}                  sent before the daemon does anything
    daemon -> {"ok": true, "result": {...}}       SyncResult.to_dict() plus "diagnostics"
           or {"ok": false, "error": {"type": "UsageError", "message": ..., "exit_code": 2}}

A write command claims its paths before it writes (`claim`): it sends
`{"orchsync": 1, "op": "claim", "root": ..., "paths": [...]}`, the daemon acknowledges once
its own batches leave those paths alone, and after the write the sync request follows on
the same connection (answered without a second `accepted`). Claimed after the write
instead, a daemon batch could read the new bytes first (a swarm of agents delays a
client's connection past the daemon's quiet window) and commit them under the git user's
name rather than the agent's. Closing the connection without a sync (the write failed, the
command died) releases the claim.

The fast path never makes a command fail. No daemon, a stale socket file, a refused or
timed-out connection, a declined request or any protocol error before `accepted` means the
daemon did not take the request, and the caller syncs in-process as before. After
`accepted` the client waits for the answer; if the daemon dies instead, the caller syncs
in-process too, which is safe because a sync commits only bytes that differ from the tip.

Only `socket` and `json` are imported here: the client must stay as cheap as `--help`.
`orchsync search` asks the daemon too (`search_via_daemon`): it answers from its warm
DuckDB instance, with the same library call.

`ORCHSYNC_NO_DAEMON=1` turns the fast path off.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchsync import errors
from orchsync.repo import Repo

__all__ = [
    "PROTOCOL",
    "Claim",
    "claim",
    "daemon_state",
    "search_via_daemon",
    "sync_anywhere",
    "RemoteEvent",
    "RemoteInvalid",
    "RemoteSyncResult",
    "socket_address",
    "socket_path",
    "sync_via_daemon",
]

PROTOCOL = 1
DISABLE_ENV = "ORCHSYNC_NO_DAEMON"
ACCEPT_TIMEOUT = 2.0  # the daemon acknowledges at once, from a thread that does nothing else
RESULT_GRACE = 600.0  # beyond the lock timeout: only a hung daemon takes this long
SEARCH_GRACE = 60.0  # a search waits for a running sync (30 s at most), then searches
MAX_LINE = 16 * 2**20
FAULT_PARTS = (
    "errno",
    "target",
    "reason",
    "note",
    "remedy",
    "retry",
    "commit",
)  # of a StorageFault
OPTIONS = (
    "actor",
    "session",
    "dry_run",
    "subject",
    "rollback",
    "imported",
    "lock_timeout",
    "allow_unborn",
    "raise_blocked",
)


def socket_path(repo: Repo) -> Path:
    return repo.daemon_socket


@contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for `bind`/`connect`: the path, or a short alias of a long one.

    A Unix socket path may hold ~107 bytes; a deep checkout's `.git/orchsync/daemon.sock`
    can be longer, so it is reached through `/proc/self/fd/<fd of its folder>/` on Linux.
    """
    text = str(path)
    if len(os.fsencode(text)) < 100:
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


@dataclass(slots=True)
class RemoteEvent:
    """The fields of an event the daemon sends back (what `to_dict` renders)."""

    event_type: str
    entity_code: str | None
    path: str | None


@dataclass(slots=True)
class RemoteInvalid:
    """An invalid file in the answer; `diagnostics` are already rendered lines."""

    path: str
    diagnostics: list[str]


@dataclass(slots=True)
class RemoteSkipped:
    """A file the daemon's sync could not commit (a FIFO, a file above the size limit)."""

    path: str
    message: str

    def __str__(self) -> str:
        path = self.path if self.path.isprintable() else repr(self.path)
        return f"{path}: file: {self.message}"


@dataclass(slots=True)
class RemoteSyncResult:
    """A `SyncResult` as the daemon reported it: the same attributes the CLI reads."""

    commit: str | None = None
    ref: str | None = None
    files: list[str] = field(default_factory=list)
    events: list[RemoteEvent] = field(default_factory=list)
    subject: str | None = None
    blocked: str | None = None
    dry_run: bool = False
    invalid: list[RemoteInvalid] = field(default_factory=list)
    skipped: list[RemoteSkipped] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemoteSyncResult:
        return cls(
            commit=data.get("commit"),
            ref=data.get("ref"),
            files=list(data.get("files") or []),
            events=[
                RemoteEvent(e["event_type"], e.get("entity"), e.get("path"))
                for e in data.get("events") or []
            ],
            subject=data.get("subject"),
            blocked=data.get("blocked"),
            dry_run=bool(data.get("dry_run")),
            invalid=[
                RemoteInvalid(i["path"], [str(d) for d in i.get("diagnostics") or []])
                for i in data.get("invalid") or []
            ],
            skipped=[
                RemoteSkipped(str(i.get("path")), str(i.get("reason")))
                for i in data.get("skipped") or []
            ],
            data=data,
        )


class _NotTaken(Exception):
    """The daemon did not take the request: sync in-process."""


class Claim:
    """A connection to the running daemon, opened before a write command writes.

    Until the write's sync is handed over on it (`sync_via_daemon(..., claim=)`) or it is
    closed, the daemon's own batches leave the claimed paths to this command, so that the
    commit of the new bytes names its actor and session.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")
        self.used = False

    def exchange(self, request: dict[str, Any], wait: float) -> dict[str, Any]:
        """Send the sync request and read its answer (the claim's ack stood for `accepted`)."""
        if self.used:
            raise _NotTaken  # one sync per claim
        self.used = True
        try:
            self._sock.settimeout(wait)
            self._sock.sendall(json.dumps(request).encode() + b"\n")
            return _answer(self._reader)
        except (OSError, ValueError) as exc:  # the daemon died or hung: sync in-process
            raise _NotTaken from exc

    def close(self) -> None:
        with suppress(OSError):
            self._reader.close()
        self._sock.close()


@contextmanager
def claim(repo: Repo, paths: Iterable[str]) -> Iterator[Claim | None]:
    """Claim `paths` from the running daemon for the block; None when none takes the claim
    (no daemon, the fast path turned off, a refusal): the command then syncs in-process and
    no claim is needed, a daemon starting meanwhile aside."""
    wanted = [str(repo.root / repo.rel(p)) for p in paths]
    request = {"orchsync": PROTOCOL, "op": "claim", "root": str(repo.root), "paths": wanted}
    taken: Claim | None = None
    if not _disabled() and socket_path(repo).exists():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(ACCEPT_TIMEOUT)
            with socket_address(socket_path(repo)) as address:
                sock.connect(address)
            sock.sendall(json.dumps(request).encode() + b"\n")
            taken = Claim(sock)
            if not _read(taken._reader).get("accepted"):
                taken.close()
                taken = None
        except (OSError, ValueError):
            if taken is not None:
                taken.close()
            else:
                sock.close()
            taken = None
    try:
        yield taken
    finally:
        if taken is not None:
            taken.close()


def _disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def sync_via_daemon(
    repo: Repo,
    paths: Iterable[str] | None = None,
    *,
    claim: Claim | None = None,
    **options: Any,
) -> RemoteSyncResult | None:
    """Have the running daemon sync `paths`; None when the caller must sync itself.

    `options` are `sync`'s keyword arguments (actor, session, dry_run, subject, rollback,
    lock_timeout, allow_unborn, raise_blocked). Errors the sync raised in the daemon
    (`UsageError`, `SnapshotBlocked`, `LockTimeout`...) are raised here with the same
    message and exit code, as an in-process sync would raise them. With `claim` (taken
    before the write), the request goes over that connection.
    """
    if _disabled():
        return None
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise TypeError(f"sync_via_daemon() got unexpected options {sorted(unknown)}")
    path = socket_path(repo)
    if claim is None and not path.exists():
        return None
    # Paths as the caller meant them (relative to its cwd): resolve here, where that cwd is.
    # A path outside the repository raises here, exactly as the in-process sync would.
    wanted = None if paths is None else [str(repo.root / repo.rel(p)) for p in paths]
    request = {
        "orchsync": PROTOCOL,
        "op": "sync",
        "root": str(repo.root),
        "paths": wanted,
        "options": {k: v for k, v in options.items() if v is not None},
    }
    wait = float(options.get("lock_timeout") or 30.0) + RESULT_GRACE
    try:
        answer = claim.exchange(request, wait) if claim else _exchange(path, request, wait)
    except _NotTaken:
        return None
    if answer.get("ok"):
        return RemoteSyncResult.from_dict(answer["result"])
    raise _error(answer.get("error") or {})


def search_via_daemon(
    repo: Repo, text: str, *, kind: str | None, status: str | None, limit: int
) -> dict[str, Any] | None:
    """The running daemon's answer to a search (`SearchResult.to_dict()`), or None when the
    caller must search itself: it has DuckDB loaded and an instance made, which a one-shot
    command pays ~50 ms for. Its errors (a bad argument) are raised here, as in-process."""
    if _disabled() or not socket_path(repo).exists():
        return None
    request = {
        "orchsync": PROTOCOL,
        "op": "search",
        "root": str(repo.root),
        "search": {"text": text, "kind": kind, "status": status, "limit": limit},
    }
    try:
        answer = _exchange(socket_path(repo), request, SEARCH_GRACE)
    except _NotTaken:
        return None
    if answer.get("ok") and isinstance(answer.get("result"), dict):
        return dict(answer["result"])
    raise _error(answer.get("error") or {})


def daemon_state(repo: Repo, timeout: float = 1.0) -> dict[str, Any] | None:
    """The running daemon's live state (what it writes to daemon.json), or None.

    Asked over the socket, so `orchsync status` shows what the daemon is doing even when the
    disk refuses daemon.json: a storage fault, typically.
    """
    path = socket_path(repo)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with socket_address(path) as address:
            sock.connect(address)
        request = {"orchsync": PROTOCOL, "op": "state", "root": str(repo.root)}
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = _read(sock.makefile("rb"))
    except (OSError, ValueError):
        return None
    finally:
        sock.close()
    state = answer.get("state") if answer.get("ok") else None
    return state if isinstance(state, dict) else None


def sync_anywhere(
    repo: Repo, paths: Iterable[str] | None = None, *, claim: Claim | None = None, **options: Any
) -> Any:
    """`orchsync.sync.sync(repo, paths, **options)`, run by the daemon when one runs.

    The result is a `SyncResult` or, from the daemon, a `RemoteSyncResult` with the same
    attributes (`commit`, `subject`, `files`, `events`, `blocked`, `invalid`, `to_dict()`).
    Synced here, a commit is not indexed: the DuckDB import and open would cost a one-shot
    command more than the commit itself, and the next reader catches the index up from
    git (`query.reader`) with the same replay a rebuild uses (a sync that commits nothing
    still catches up). The daemon indexes at once, with DuckDB kept warm. `claim`: the
    connection `claim()` opened before the write.
    """
    wanted = None if paths is None else list(paths)
    result = sync_via_daemon(repo, wanted, claim=claim, **options)
    if result is not None:
        return result
    from orchsync.sync import sync

    return sync(repo, wanted, **{"index": False, **options})


def _exchange(path: Path, request: dict[str, Any], wait: float) -> dict[str, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(ACCEPT_TIMEOUT)
        try:
            with socket_address(path) as address:
                sock.connect(address)
            sock.sendall(json.dumps(request).encode() + b"\n")
            reader = sock.makefile("rb")
            ack = _read(reader)
        except (OSError, ValueError) as exc:  # no daemon, stale socket, timeout, garbage
            raise _NotTaken from exc
        if not ack.get("accepted"):
            raise _NotTaken
        sock.settimeout(wait)
        try:
            return _answer(reader)
        except (OSError, ValueError) as exc:
            # Taken, but no answer (the daemon died or hung): sync in-process, which
            # commits whatever the daemon did not.
            raise _NotTaken from exc
    finally:
        sock.close()


def _answer(reader: Any) -> dict[str, Any]:
    answer = _read(reader)
    if "ok" not in answer or (not answer["ok"] and "error" not in answer):
        raise _NotTaken  # the daemon failed in a way a sync here should report
    return answer


def _read(reader: Any) -> dict[str, Any]:
    line = reader.readline(MAX_LINE)
    if not line.endswith(b"\n"):
        raise ValueError("connection closed mid-answer")
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _error(info: dict[str, Any]) -> errors.OrchsyncError:
    """The daemon's error as the exception an in-process sync would have raised."""
    name = str(info.get("type") or "OrchsyncError")
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.OrchsyncError)):
        cls = errors.OrchsyncError
    message = str(info.get("message") or "the daemon's sync failed")
    parts = info.get("fault")
    if cls is errors.StorageFault and isinstance(parts, dict):
        exc: errors.OrchsyncError = errors.StorageFault(
            message, **{k: parts.get(k) for k in FAULT_PARTS}
        )
    else:
        exc = cls(message)
    with suppress(TypeError, ValueError):
        exc.exit_code = errors.ExitCode(int(info.get("exit_code", exc.exit_code)))
    return exc
