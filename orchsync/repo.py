"""The repository on disk: where it is, orchsync's runtime folder in its git directory, and
the repo-wide lock that serializes every write to git and to the index.

Pure path and file work (no pygit2), so every command can resolve `--repo` without paying
for imports.

The lock is one `flock`ed file in `.git/orchsync/`. The kernel releases an flock when its holder dies, so a crashed sync or daemon never leaves a
stale lock behind (a pid file would). Every write to git and to the index happens under it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from orchsync.errors import RETRY_COMMAND, LockTimeout, NotARepository, storage

# `orchsync.parse.layout.DELEGATION`, repeated rather than imported: layout pulls in the model
# (~15 ms), and every command resolves its repository first (tests check they agree).
DELEGATION = "delegation"

__all__ = ["FileLock", "Repo", "find_repo", "repo_lock"]


@dataclass(frozen=True, slots=True)
class Repo:
    """A work tree root and its git directory (a worktree's own, when in a linked worktree)."""

    root: Path
    git_dir: Path

    @property
    def delegation(self) -> Path:
        return self.root / DELEGATION

    @property
    def runtime(self) -> Path:
        """`.git/orchsync/`: index, locks, journal and logs; never in the work tree."""
        return self.git_dir / "orchsync"

    @property
    def daemon_socket(self) -> Path:
        """Where a running `orchsync watch` takes requests (`watch.client`): a command checks
        it exists before it imports the client."""
        return self.runtime / "daemon.sock"

    def ensure_runtime(self) -> Path:
        """The runtime folder, created if needed (a refusal is a `StorageFault`)."""
        from orchsync.errors import RETRY_COMMAND, storage

        with storage(self.runtime, root=self.root, retry=RETRY_COMMAND):
            self.runtime.mkdir(parents=True, exist_ok=True)
        return self.runtime

    @property
    def index_path(self) -> Path:
        return self.runtime / "index.duckdb"

    def rel(self, path: str | os.PathLike[str]) -> str:
        """A path as a repo-relative POSIX string.

        Absolute paths are taken as they are. `delegation/...` is already repo-relative (what
        the library passes around). Anything else was typed by a user: relative to the current
        directory when that is inside the repository, else relative to the repository root.
        """
        p = Path(path)
        text = p.as_posix()
        if not p.is_absolute():
            cwd = Path.cwd().resolve()
            inside = cwd == self.root or self.root in cwd.parents
            if text == DELEGATION or text.startswith(DELEGATION + "/") or not inside:
                p = self.root / p
            else:
                p = cwd / p
        # Lexically first, as git reads paths: a symbolic link inside the tree is a file
        # of the tree (recorded as a link), never a way out of it, so it is not resolved.
        try:
            return Path(os.path.normpath(p)).relative_to(self.root).as_posix()
        except ValueError:
            pass
        try:  # the root reached by another name (a linked /tmp): resolve the folder only
            return _rel_lexical(p, self.root)
        except ValueError as exc:
            raise NotARepository(f"{path} is outside the repository {self.root}") from exc

    def head_ref(self) -> str | None:
        """The branch HEAD points at (`refs/heads/main`), or None when detached. No pygit2."""
        try:
            text = (self.git_dir / "HEAD").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text[5:].strip() if text.startswith("ref:") else None

    def ref_tip(self, ref: str) -> str | None:
        """A ref's commit id read from loose or packed refs, cheaply enough for every query."""
        common = self.common_dir
        for base in (self.git_dir, common):
            try:
                value = (base / ref).read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if value.startswith("ref:"):
                return self.ref_tip(value[4:].strip())
            return value or None
        try:
            with open(common / "packed-refs", encoding="utf-8") as fh:
                for line in fh:
                    if line.endswith(f" {ref}\n") or line.rstrip("\n").endswith(f" {ref}"):
                        return line.split(" ", 1)[0]
        except OSError:
            pass
        return None

    @property
    def common_dir(self) -> Path:
        """The main .git of a linked worktree (refs and objects live there)."""
        try:
            text = (self.git_dir / "commondir").read_text(encoding="utf-8").strip()
        except OSError:
            return self.git_dir
        p = Path(text)
        return p if p.is_absolute() else (self.git_dir / p).resolve()


def _rel_lexical(p: Path, root: Path) -> str:
    parent = p.parent.resolve() if p.parent.exists() else Path(os.path.abspath(p.parent))
    return (parent / p.name).relative_to(root).as_posix()


def find_repo(start: str | os.PathLike[str] | None = None) -> Repo:
    """Walk up from `start` (default: cwd) to the nearest folder holding `.git`."""
    here = Path(start or os.getcwd()).resolve()
    if not here.exists():
        raise NotARepository(f"{here} does not exist")
    for candidate in (here, *here.parents):
        dot_git = candidate / ".git"
        if dot_git.is_dir():
            return Repo(candidate, dot_git)
        if dot_git.is_file():  # a linked worktree or submodule: `gitdir: <path>`
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                git_dir = Path(text[len("gitdir:") :].strip())
                if not git_dir.is_absolute():
                    git_dir = (candidate / git_dir).resolve()
                return Repo(candidate, git_dir)
    raise NotARepository(
        f"not a git repository (or any parent up to /): {here}; run `git init` first"
    )


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
