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
    "SnapshotBlocked",
    "StaleWrite",
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
