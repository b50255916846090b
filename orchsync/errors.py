"""The library's exceptions and the CLI's exit codes, in one place.

Library code raises these; the CLI and the MCP server turn them into an exit code or a
tool error with the same message. Nothing here imports click.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
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
    line. `orchsync.faults` builds it at the store boundaries (git objects and refs, the
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
