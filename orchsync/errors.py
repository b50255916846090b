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
    "SnapshotBlocked",
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
