"""The repo-wide lock: one `flock`ed file in `.git/orchsync/`.

The kernel releases an flock when its holder dies, so a crashed sync or daemon never leaves a
stale lock behind (a pid file would). Every write to git and to the index happens under it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType

from orchsync.errors import LockTimeout
from orchsync.faults import RETRY_COMMAND, storage
from orchsync.repo import Repo

__all__ = ["FileLock", "repo_lock"]


class FileLock:
    """An exclusive flock with a timeout; re-entrant within one object is not supported."""

    def __init__(
        self,
        path: Path,
        timeout: float = 30.0,
        what: str = "the orchsync lock",
        root: Path | None = None,
    ) -> None:
        self.path = path
        self.timeout = timeout
        self.what = what
        self.root = root  # to show the path relative to, in a StorageFault
        self._fd: int | None = None

    def _open(self) -> int:
        """The lock file, created if needed; a folder that refuses it is a StorageFault.

        An existing lock file on a read-only file system is opened read-only: an flock
        needs no write access, so "is the daemon running" still has its answer there.
        """
        with storage(self.path, root=self.root, retry=RETRY_COMMAND):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
                try:
                    return os.open(self.path, os.O_RDONLY)
                except OSError:
                    raise exc from None

    def try_acquire(self) -> bool:
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        self._fd = fd
        return True

    def acquire(self) -> FileLock:
        """Wait up to `timeout` seconds for the lock.

        The wait is a blocking flock in a helper thread, not a poll: the kernel wakes a blocked
        waiter the moment the holder lets go, whereas a poller that sleeps between tries is
        starved by a process that syncs in a tight loop (measured: 10 s without one chance).
        """
        if self.try_acquire():
            return self
        fd = self._open()
        got = threading.Event()
        guard = threading.Lock()
        abandoned = False

        def wait() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                os.close(fd)
                return
            with guard:
                if abandoned:
                    os.close(fd)  # we gave up meanwhile: closing the file releases the lock
                else:
                    got.set()

        threading.Thread(target=wait, name=f"flock {self.path.name}", daemon=True).start()
        if not got.wait(self.timeout):
            with guard:
                if not got.is_set():
                    abandoned = True
                    raise LockTimeout(
                        f"{self.what} ({self.path}) is held by another process; gave up after {self.timeout:.0f} s"
                    )
        self._fd = fd
        return self

    def write_info(self, text: str) -> None:
        """Record who holds the lock (for `status`); informative only, never trusted for liveness.

        So a disk that refuses these few bytes is no reason to fail: the lock is held.
        """
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)
        except OSError:
            pass

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def read_info(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


REPO_LOCK = "lock"


def repo_lock(repo: Repo, timeout: float = 30.0) -> FileLock:
    """The repo-wide lock (`.git/orchsync/lock`): every write to git and the index holds it."""
    return FileLock(repo.ensure_runtime() / REPO_LOCK, timeout=timeout, root=repo.root)
