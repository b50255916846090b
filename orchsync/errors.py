"""The library's exceptions and the CLI's exit codes, in one place, and storage faults (disk
full, read-only file system, no permission, I/O error) turned into one of them.

Library code raises these; the CLI, the MCP server and the board turn them into an exit code,
a tool error or a page with the same message. Nothing here imports click, pygit2 or DuckDB.

A full disk is a state of the machine, not a bug in orchsync: every store boundary (git's
object store and refs, the user's git index, the DuckDB index, the runtime folder
`.git/orchsync/`) wraps its writes in `storage(target)`, which turns whatever the layer
below raised into `errors.StorageFault`, with a message that says what failed and what to
do. The daemon reports that state and retries; a command prints the one line and exits 1.

The layers below report faults in their own ways, so `fault_errno` reads all of them:

- Python: `OSError` with `errno` set;
- pygit2: `OSError` without an errno ("failed to write out file: No space left on device")
  or `GitError`, sometimes with an unrelated message (a failed index write can end in
  "object not found" when libgit2 cleans up);
- DuckDB: `IOException`, or `TransactionException` ("Failed to commit: Could not write file
  ...: No space left on device").

When the message names no cause, the folder written to is probed with a real 4 KiB write: if
that fails too, its errno is the cause; if it succeeds, the error was something else and is
raised as it was.
"""

from __future__ import annotations

import errno as errnos
import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from enum import IntEnum
from pathlib import Path

__all__ = [
    "FAULTS",
    "RETRY_COMMAND",
    "RETRY_INDEX",
    "RETRY_SYNC",
    "ExitCode",
    "InvalidId",
    "LockTimeout",
    "NotARepository",
    "OrchsyncError",
    "QueryLimit",
    "SinkError",
    "SnapshotBlocked",
    "StaleWrite",
    "StorageFault",
    "UnknownEntity",
    "UsageError",
    "as_fault",
    "edits_note",
    "fault",
    "fault_errno",
    "mount_point",
    "probe",
    "storage",
    "waiting",
]


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # the command worked and found problems (invalid files, conflicts)
    USAGE = 2  # the command was asked something it cannot do; nothing was written


class OrchsyncError(Exception):
    """Base of every error a user should see as a message rather than a traceback."""

    exit_code: ExitCode = ExitCode.USAGE


class UsageError(OrchsyncError):
    """Bad input to a command: an unknown status, an id in use, a malformed argument."""


class QueryLimit(UsageError):
    """A query of user SQL passed a bound: time, memory or result size.

    Exit code 2 like any refused request: nothing was written, and the remedy is in the
    caller's hands (a narrower query, or a larger `--timeout` / `--limit`). The message
    names the bound that was hit.
    """


class InvalidId(OrchsyncError, ValueError):
    """An id or code that cannot be a path segment; the message says what to change."""


class NotARepository(OrchsyncError):
    """The path is not inside a git work tree."""


class UnknownEntity(OrchsyncError):
    """No entity answers to the key given; the message lists candidates when there are some."""


class SnapshotBlocked(OrchsyncError):
    """Git is in a state where orchsync must not commit (merge in progress, detached HEAD...)."""

    exit_code = ExitCode.FINDINGS


class LockTimeout(OrchsyncError):
    """A lock (ours or git's index.lock) stayed held past the retry budget."""

    exit_code = ExitCode.FINDINGS


class StorageFault(OrchsyncError):
    """A write the storage refused: disk full, read-only file system, no permission, I/O error.

    A state, not a crash: the daemon reports it and retries, a command exits 1 with this one
    line. `orchsync.errors` builds it at the store boundaries (git objects and refs, the
    user's git index, the DuckDB index, the runtime folder); the message says what failed
    (`reason` writing `target`), what became of the user's edits (`note`), and what to do
    (`remedy`, then `retry`). Only the message crosses the daemon's socket, so everything a
    user needs is in it.
    """

    exit_code = ExitCode.FINDINGS

    def __init__(
        self,
        message: str,
        *,
        errno: int | None = None,
        target: str | None = None,
        reason: str | None = None,
        note: str | None = None,
        remedy: str | None = None,
        retry: str | None = None,
        commit: str | None = None,
    ) -> None:
        super().__init__(message)
        self.errno = errno
        self.target = target  # what was being written, e.g. ".git/objects"
        self.reason = reason  # e.g. "disk full (ENOSPC)"
        self.note = note  # e.g. "the edit to delegation/x.md is on disk, not committed yet"
        self.remedy = remedy  # e.g. "free space on /home"
        self.retry = retry  # e.g. "then run `orchsync sync`"
        self.commit = commit  # the snapshot that landed before the fault, if one did


class StaleWrite(OrchsyncError):
    """A write that names the content hash its caller saw, on a file that changed since.

    The board (and any caller that shows a file before changing it) passes the sha256 of the
    bytes it showed; when the file no longer has them, nothing is written and `current_hash`
    says what is there now, so the caller can show the newer version instead.
    """

    exit_code = ExitCode.FINDINGS

    def __init__(self, path: str, expected_hash: str, current_hash: str | None) -> None:
        self.path = path
        self.expected_hash = expected_hash
        self.current_hash = current_hash
        now = f"now {current_hash[:12]}" if current_hash else "it is gone"
        super().__init__(
            f"{path} changed since it was read (expected sha256 {expected_hash[:12]}, {now}); "
            "nothing written: reload it and try again"
        )


class SinkError(OrchsyncError):
    """An event sink that could not take a batch (`orchsync.sinks`).

    `permanent`: the receiver refused this batch for good (an HTTP 4xx other than 408/429),
    so sending it again cannot help; otherwise the batch is sent again later, not before
    `retry_after` seconds when the receiver said so.
    """

    exit_code = ExitCode.FINDINGS

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.status = status


# errno -> what a user calls it
FAULTS: dict[int, str] = {
    errnos.ENOSPC: "disk full",
    errnos.EDQUOT: "disk quota exceeded",
    errnos.EROFS: "read-only file system",
    errnos.EACCES: "permission denied",
    errnos.EPERM: "operation not permitted",
    errnos.EIO: "I/O error",
    errnos.EFBIG: "file too large",
}
_BY_TEXT = {os.strerror(n).lower(): n for n in FAULTS}
_BY_TEXT["out of diskspace"] = errnos.ENOSPC  # git's own wording
_LIBRARIES = ("pygit2", "_pygit2", "duckdb", "_duckdb")

RETRY_SYNC = "then run `orchsync sync`"
RETRY_INDEX = "then run the command again (the index catches up by itself)"
RETRY_COMMAND = "then run the command again"


def fault_errno(exc: BaseException, where: Path | None = None) -> int | None:
    """The errno of the storage fault behind `exc`, or None when it is something else.

    `where` is the folder (or file) the failed call wrote to: probed when the error itself
    does not say why (see the module docstring).
    """
    if isinstance(exc, StorageFault):
        return exc.errno
    if isinstance(exc, OrchsyncError) or not isinstance(exc, Exception):
        return None
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno if exc.errno in FAULTS else None
    if not isinstance(exc, OSError) and type(exc).__module__.split(".")[0] not in _LIBRARIES:
        return None
    text = str(exc).lower()
    for words, number in _BY_TEXT.items():
        if words in text:
            return number
    return probe(where) if where is not None else None


def probe(where: Path) -> int | None:
    """Write 4 KiB next to `where` and remove it: the errno that write failed with, or None."""
    folder = where
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    name = folder / f".orchsync-probe-{os.getpid()}-{threading.get_ident()}"
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return exc.errno if exc.errno in FAULTS else None
    finally:
        with suppress(OSError):
            os.unlink(name)
    return None


def as_fault(
    exc: BaseException,
    target: Path,
    *,
    root: Path | None = None,
    retry: str = RETRY_SYNC,
    note: str | None = None,
) -> StorageFault | None:
    """`exc` as a StorageFault about writing `target`, or None when it is no storage fault."""
    number = fault_errno(exc, target)
    if number is None:
        return None
    return fault(
        number,
        target=_shown(target, root),
        reason=f"{FAULTS[number]} ({errnos.errorcode.get(number, number)})",
        remedy=_remedy(number, target),
        retry=retry,
        note=note,
    )


def fault(
    errno: int | None,
    *,
    target: str | None,
    reason: str | None,
    remedy: str | None,
    retry: str | None,
    note: str | None = None,
    commit: str | None = None,
) -> StorageFault:
    """A StorageFault whose message is its parts: what failed; the edits; what to do."""
    head = f"{reason} writing {target}" if target else reason
    advice = ", ".join(part for part in (remedy, retry) if part)
    text = "; ".join(part for part in (head, note, advice) if part)
    return StorageFault(
        text,
        errno=errno,
        target=target,
        reason=reason,
        note=note,
        remedy=remedy,
        retry=retry,
        commit=commit,
    )


@contextmanager
def storage(
    target: Path,
    *,
    root: Path | None = None,
    retry: str = RETRY_SYNC,
    note: str | None = None,
) -> Iterator[None]:
    """Raise a StorageFault for a storage error inside the block; re-raise anything else."""
    try:
        yield
    except StorageFault:
        raise
    except Exception as exc:
        found = as_fault(exc, target, root=root, retry=retry, note=note)
        if found is None:
            raise
        raise found from exc


def waiting(
    exc: StorageFault, note: str, retry: str | None = None, *, commit: str | None = None
) -> StorageFault:
    """The same fault, its message saying what became of the user's edits (`note`)."""
    out = fault(
        exc.errno,
        target=exc.target,
        reason=exc.reason,
        remedy=exc.remedy,
        retry=exc.retry if retry is None else retry,
        note=note,
        commit=commit or exc.commit,
    )
    out.__cause__ = exc.__cause__ or exc
    return out


def edits_note(paths: Iterable[str] | None, *, committed: bool = False) -> str:
    """ "the edit to X is on disk, not committed yet" (or N edits), for `waiting`."""
    listed = sorted(paths or [])
    state = "committed" if committed else "on disk, not committed yet"
    if not listed:
        return f"your edits under delegation/ are {state}"
    if len(listed) == 1:
        return f"the edit to {listed[0]} is {state}"
    shown = ", ".join(listed[:3]) + (", ..." if len(listed) > 3 else "")
    return f"{len(listed)} edits are {state} ({shown})"


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding `path` (what to free space on).

    From /proc/self/mounts where there is one (a bind mount, read-only over a writable
    folder, shares its device number with its parent); else up the tree while the device
    stays the same.
    """
    path = Path(os.path.abspath(path))
    mounts = _mount_points()
    if mounts:
        return max(
            (m for m in mounts if path == m or m in path.parents), key=lambda m: len(m.parts)
        )
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        dev = path.stat().st_dev
        while path != path.parent and path.parent.stat().st_dev == dev:
            path = path.parent
    except OSError:
        pass
    return path


def _mount_points() -> list[Path]:
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    points = []
    for line in lines:
        fields = line.split()
        if len(fields) > 1:
            text = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
            points.append(Path(text))
    return points if Path("/") in points else []


def _remedy(number: int, target: Path) -> str:
    if number in (errnos.ENOSPC, errnos.EDQUOT, errnos.EFBIG):
        return f"free space on {mount_point(target)}"
    if number == errnos.EROFS:
        return f"{mount_point(target)} is mounted read-only: make it writable"
    if number in (errnos.EACCES, errnos.EPERM):
        folder = target if target.is_dir() else target.parent
        return f"make {folder} writable for this user (check its permissions and `lsattr -d`)"
    return f"check the disk holding {mount_point(target)} (`dmesg`)"


def _shown(target: Path, root: Path | None) -> str:
    """`target` relative to the work tree (`.git/objects`), found from `.git` if not given."""
    if root is None:
        root = next((p.parent for p in target.parents if p.name == ".git"), None)
    if root is not None:
        with suppress(ValueError):
            return target.relative_to(root).as_posix()
    return str(target)
