"""What a write command says when its edit is on disk but the snapshot could not be made.

Every write command (`task status`, `sprint create`, `session note`, `rollback`, ...) writes
its file first and then syncs it. When that sync fails (git's index.lock held, a disk that
refuses the commit, the repo lock held too long) or waits (a merge in progress), the edit
is not lost: it is on disk and the next sync commits it. The message must say so, and how
the edit will get committed, in the same words for every command: `not_committed` builds
that error, `after_write` wraps a sync in it, `how_committed` is the shared last sentence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from orchsync.errors import (
    LockTimeout,
    OrchsyncError,
    SnapshotBlocked,
    StorageFault,
    edits_note,
    waiting,
)
from orchsync.repo import Repo

__all__ = ["after_write", "how_committed", "not_committed"]


def how_committed(repo: Repo, exc: BaseException | None = None) -> str:
    """ "run `orchsync sync` once the lock is released" (or: the running daemon does it)."""
    when = ""
    if isinstance(exc, LockTimeout):
        when = "once the lock is released"
    elif isinstance(exc, SnapshotBlocked) or exc is None:
        when = "once git lets it"
    if _daemon_running(repo):
        return f"the running `orchsync watch` commits it {when or 'by itself'}"
    return f"run `orchsync sync` {when}".rstrip()


def not_committed(repo: Repo, paths: Sequence[str], what: str, exc: OrchsyncError) -> OrchsyncError:
    """`exc` (same type, same exit code), its message saying the edit waits on disk."""
    if isinstance(exc, StorageFault) and exc.reason:
        if exc.commit:  # committed after all: the fault came after (see `sync`)
            return waiting(exc, f"{what}: {exc.note}")
        note = exc.note or edits_note(paths)
        return waiting(exc, f"{what}: {note}", f"then {how_committed(repo, exc)}")
    where = ", ".join(paths) if paths else "the files"
    text = (
        f"{what}: written to {where}, not committed: {str(exc).rstrip('.')}. "
        f"The edit is on disk and waits for a snapshot: {how_committed(repo, exc)}."
    )
    out = type(exc)(text)
    out.exit_code = exc.exit_code
    return out


@contextmanager
def after_write(repo: Repo, paths: Sequence[str], what: str) -> Iterator[None]:
    """Wrap the sync of files a command has just written: see `not_committed`."""
    try:
        yield
    except OrchsyncError as exc:
        raise not_committed(repo, paths, what, exc) from exc


def _daemon_running(repo: Repo) -> bool:
    from orchsync.watch.control import is_running

    try:
        return is_running(repo)
    except (OrchsyncError, OSError):
        return False
