"""Read the work tree as git records it: links are never followed, reads never block.

Anyone who can write under `delegation/` (an agent steered by text it read) can also make
a symbolic link there, a FIFO, or a 2 GB file. Following a link would commit and index
the bytes of whatever it points at (`/etc/passwd`, `~/.ssh/id_rsa`) and hand them to the
next agent; opening a FIFO blocks the daemon forever; reading 2 GB exhausts memory. So every
read of a work-tree file goes through here:

- a symbolic link is read with `readlink`, never opened: its "content" is the link text,
  and git's mode for it is 120000 (what `git add` records). A link to a folder is one too;
- a path that passes *through* a linked folder does not exist as far as git is concerned
  (git says "beyond a symbolic link"), so it reads as missing. Folders are opened one
  component at a time with `O_NOFOLLOW` relative to their parent's descriptor, which also
  closes the race where a folder is swapped for a link between listing and reading;
- only regular files are opened (FIFOs, sockets and devices are reported, never opened),
  with `O_NOFOLLOW | O_NONBLOCK`, and checked again with `fstat` once open;
- a file above `MAX_FILE_BYTES` is refused by its size before any byte is read.

`Reader` keeps the descriptors of recently used folders open, so reading a whole tree in
path order costs about one extra system call per file over a plain `open` + `read`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BLOB_MODE",
    "EXEC_MODE",
    "LINK_MODE",
    "MAX_FILE_BYTES",
    "Entry",
    "Reader",
    "is_beyond_link",
    "read_entry",
]

LINK_MODE = 0o120000
BLOB_MODE = 0o100644
EXEC_MODE = 0o100755
MAX_FILE_BYTES = 16 * 1024 * 1024  # a task, ADR or session note, not a data dump

# Entry kinds
FILE, LINK, DIR, SPECIAL, TOO_LARGE, MISSING, UNREADABLE = (
    "file",
    "link",
    "dir",
    "special",
    "too_large",
    "missing",
    "unreadable",
)

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_HAVE_DIR_FD = {os.open, os.stat, os.readlink} <= os.supports_dir_fd and bool(_NOFOLLOW)
_KEEP_DIRS = 64  # folder descriptors kept open by one Reader


@dataclass(frozen=True, slots=True)
class Entry:
    """What one path holds, read as git would record it.

    `kind` is "file" or "link" (both have `data` and a git `mode`), or "dir", "special"
    (a FIFO, socket or device: never opened), "too_large" (refused by size, unread),
    "missing" (absent, or beyond a linked folder) or "unreadable" (permissions, I/O);
    `reason` says why for the last four.
    """

    kind: str
    data: bytes | None = None
    mode: int = 0
    size: int = 0
    reason: str | None = None

    @property
    def committable(self) -> bool:
        return self.kind in (FILE, LINK)

    @property
    def is_link(self) -> bool:
        return self.kind == LINK


def _special_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"


def _split(rel: str) -> list[str]:
    wrapped = f"/{rel}/"
    if not rel or "//" in wrapped or "/./" in wrapped or "/../" in wrapped:
        raise ValueError(f"not a normalized repo-relative path: {rel!r}")
    return rel.split("/")


class _Beyond(Exception):
    """A folder on the way is missing, not a folder, or a symbolic link."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


class Reader:
    """Reads paths below `root` without following links; use as a context manager.

    Not shared between threads or across a fork: each worker makes its own.
    """

    def __init__(self, root: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> None:
        self.root = os.fspath(root)
        self.max_bytes = max_bytes
        self._dirs: dict[str, int] = {}  # repo-relative folder ("" = root) -> descriptor
        self._deep: dict[str, None] = {}  # the evictable ones, oldest first

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        dirs, self._dirs, self._deep = self._dirs, {}, {}
        for fd in dirs.values():
            os.close(fd)

    # --- folders -----------------------------------------------------------------------------

    def _dir(self, rel: str) -> int:
        """A descriptor of folder `rel`, each component opened without following links."""
        fd = self._dirs.get(rel)
        if fd is not None:
            return fd
        if rel == "":
            fd = os.open(self.root, _DIR_FLAGS)  # the root itself may be reached via links
        else:
            parent, _, name = rel.rpartition("/")
            pfd = self._dir(parent)
            try:
                fd = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=pfd)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    raise _Beyond(None) from exc
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _Beyond(self._why_not_dir(pfd, name, rel)) from exc
                raise
        if rel.count("/") > 1:  # the shallow folders are shared by every path: kept
            if len(self._deep) >= _KEEP_DIRS:
                victim = next(iter(self._deep))
                del self._deep[victim]
                os.close(self._dirs.pop(victim))
            self._deep[rel] = None
        self._dirs[rel] = fd
        return fd

    @staticmethod
    def _why_not_dir(pfd: int, name: str, rel: str) -> str | None:
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return f"beyond a symbolic link ({rel}); links are not followed"
        return None  # a file where a folder would be: the path simply does not exist

    # --- files -------------------------------------------------------------------------------

    def lstat(self, rel: str) -> os.stat_result | None:
        """The path's own stat (a link's, not its target's); None when missing or beyond a link."""
        if not _HAVE_DIR_FD:
            return _lstat_fallback(self.root, rel)
        parts = _split(rel)
        try:
            dfd = self._dir("/".join(parts[:-1]))
            return os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
        except (_Beyond, FileNotFoundError, NotADirectoryError):
            return None

    def read(self, rel: str) -> Entry:
        """What `rel` holds; a regular file's or a link's bytes are read, nothing else is."""
        if not _HAVE_DIR_FD:
            return _read_fallback(self.root, rel, self.max_bytes)
        parts = _split(rel)
        name = parts[-1]
        try:
            dfd = self._dir("/".join(parts[:-1]))
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except _Beyond as exc:
            return Entry(MISSING, reason=exc.reason)
        except (FileNotFoundError, NotADirectoryError):
            return Entry(MISSING)
        except OSError as exc:
            return Entry(UNREADABLE, reason=exc.strerror or str(exc))
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            try:
                text = os.readlink(os.fsencode(name), dir_fd=dfd)
            except OSError as exc:
                return Entry(UNREADABLE, reason=exc.strerror or str(exc))
            return Entry(LINK, data=text, mode=LINK_MODE, size=len(text))
        if stat.S_ISDIR(mode):
            return Entry(DIR, reason="a folder")
        if not stat.S_ISREG(mode):
            return Entry(SPECIAL, size=st.st_size, reason=_special_name(mode))
        if st.st_size > self.max_bytes:
            return self._too_large(st.st_size)
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dfd)
        except FileNotFoundError:
            return Entry(MISSING)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # swapped for a link since the stat: read again
                return self.read(rel)
            return Entry(UNREADABLE, reason=exc.strerror or str(exc))
        try:
            return self._read_open(fd)
        finally:
            os.close(fd)

    def _read_open(self, fd: int) -> Entry:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped since the stat
            return Entry(SPECIAL, size=st.st_size, reason=_special_name(st.st_mode))
        if st.st_size > self.max_bytes:
            return self._too_large(st.st_size)
        try:
            # One read of the size the stat gave, plus one byte: a short read is the end of
            # the file; a full one means it grew meanwhile, so read on (up to the limit).
            data = os.read(fd, st.st_size + 1)
            if len(data) > st.st_size:
                chunks = [data]
                total = len(data)
                while total <= self.max_bytes:
                    chunk = os.read(fd, min(1 << 20, self.max_bytes + 1 - total))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    total += len(chunk)
                if total > self.max_bytes:
                    return self._too_large(total)
                data = b"".join(chunks)
        except OSError as exc:
            return Entry(UNREADABLE, reason=exc.strerror or str(exc))
        git_mode = EXEC_MODE if st.st_mode & stat.S_IXUSR else BLOB_MODE
        return Entry(FILE, data=data, mode=git_mode, size=len(data))

    def _too_large(self, size: int) -> Entry:
        return Entry(
            TOO_LARGE,
            size=size,
            reason=f"{_mb(size)}, above the {_mb(self.max_bytes)} limit; not read",
        )

    def scan(
        self,
        under: str,
        skip: Callable[[str], bool],
        special: list[str] | None = None,
    ) -> list[tuple[str, os.stat_result]]:
        """(path, own stat) of every file below folder `under`, as git would list them.

        Files are regular files and symbolic links (a link to a folder too, never entered);
        names for which `skip(name)` is true are left out, files and folders alike; FIFOs,
        sockets and devices go to `special`. Each folder is opened relative to its parent
        without following links, and each entry is stat'ed relative to its folder, so no
        link on the way is followed even if one is swapped in meanwhile. An unreadable
        folder is skipped. Nothing is read: this is what tells unchanged files apart by
        their stat data alone (`orchsync.sync.statcache`).
        """
        if not _HAVE_DIR_FD:
            return _scan_fallback(self.root, under, skip, special)
        try:
            top = os.dup(self._dir(under))
        except (_Beyond, OSError):
            return []
        out: list[tuple[str, os.stat_result]] = []
        append = out.append
        skipped: dict[str, bool] = {}  # names repeat (TASK.md, AGENT.yml): ask once each
        flags = _DIR_FLAGS | _NOFOLLOW
        kinds, reg, lnk, folder = stat.S_IFMT, stat.S_IFREG, stat.S_IFLNK, stat.S_IFDIR
        stack = [(top, under + "/")]
        while stack:
            fd, base = stack.pop()
            try:
                with os.scandir(fd) as it:
                    entries = list(it)
                for entry in entries:
                    name = entry.name
                    noise = skipped.get(name)
                    if noise is None:
                        noise = skipped[name] = skip(name)
                    if noise:
                        continue
                    try:
                        # The folder's listing says what a name is (no stat for a folder).
                        if entry.is_dir(follow_symlinks=False):
                            stack.append((os.open(name, flags, dir_fd=fd), f"{base}{name}/"))
                            continue
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # gone, unreadable, or swapped for a link meanwhile
                    kind = kinds(st.st_mode)
                    if kind in (reg, lnk):
                        append((base + name, st))
                    elif kind != folder and special is not None:  # a folder: swapped in since
                        special.append(base + name)
            except OSError:
                pass
            finally:
                os.close(fd)
        return out

    def open_regular(self, rel: str) -> tuple[int, os.stat_result] | Entry:
        """An open descriptor of a regular file (the caller closes it), else what is there.

        For callers that stream a file (hashing a large reference doc) rather than read it.
        """
        if not _HAVE_DIR_FD:
            entry = _read_fallback(self.root, rel, 1 << 62)
            if entry.kind != FILE:
                return entry
            fd = os.open(os.path.join(self.root, rel), _FILE_FLAGS)
            return fd, os.fstat(fd)
        parts = _split(rel)
        try:
            dfd = self._dir("/".join(parts[:-1]))
            st = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                entry = (
                    Entry(LINK, mode=LINK_MODE)
                    if stat.S_ISLNK(st.st_mode)
                    else Entry(DIR, reason="a folder")
                    if stat.S_ISDIR(st.st_mode)
                    else Entry(SPECIAL, reason=_special_name(st.st_mode))
                )
                return entry
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=dfd)
        except _Beyond as exc:
            return Entry(MISSING, reason=exc.reason)
        except (FileNotFoundError, NotADirectoryError):
            return Entry(MISSING)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return Entry(LINK, mode=LINK_MODE)
            return Entry(UNREADABLE, reason=exc.strerror or str(exc))
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode):
            os.close(fd)
            return Entry(SPECIAL, reason=_special_name(fst.st_mode))
        return fd, fst


def read_entry(root: str | os.PathLike[str], rel: str, max_bytes: int = MAX_FILE_BYTES) -> Entry:
    """One path's entry (see `Reader.read`)."""
    with Reader(root, max_bytes) as reader:
        return reader.read(rel)


def is_beyond_link(root: str | os.PathLike[str], rel: str) -> str | None:
    """The first folder of `rel` (below root) that is a symbolic link, or None.

    For writers: a file is never written through a linked folder.
    """
    parts = _split(rel)
    current = Path(root)
    for i, name in enumerate(parts[:-1]):
        current = current / name
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None  # the rest does not exist yet: the writer creates real folders
        if stat.S_ISLNK(st.st_mode):
            return "/".join(parts[: i + 1])
    return None


# --- without dir_fd (not Linux or macOS): component-wise lstat, not race-free -------------------


def _lstat_fallback(root: str, rel: str) -> os.stat_result | None:
    if is_beyond_link(root, rel) is not None:
        return None
    try:
        return os.lstat(os.path.join(root, rel))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_fallback(root: str, rel: str, max_bytes: int) -> Entry:
    _split(rel)
    beyond = is_beyond_link(root, rel)
    if beyond is not None:
        return Entry(MISSING, reason=f"beyond a symbolic link ({beyond}); links are not followed")
    full = os.path.join(root, rel)
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return Entry(MISSING)
    except OSError as exc:
        return Entry(UNREADABLE, reason=exc.strerror or str(exc))
    if stat.S_ISLNK(st.st_mode):
        text = os.readlink(os.fsencode(full))
        return Entry(LINK, data=text, mode=LINK_MODE, size=len(text))
    if stat.S_ISDIR(st.st_mode):
        return Entry(DIR, reason="a folder")
    if not stat.S_ISREG(st.st_mode):
        return Entry(SPECIAL, size=st.st_size, reason=_special_name(st.st_mode))
    reader = Reader(root, max_bytes)
    if st.st_size > max_bytes:
        return reader._too_large(st.st_size)
    try:
        fd = os.open(full, _FILE_FLAGS)
    except OSError as exc:
        return Entry(UNREADABLE, reason=exc.strerror or str(exc))
    try:
        return reader._read_open(fd)
    finally:
        os.close(fd)


def _scan_fallback(
    root: str, under: str, skip: Callable[[str], bool], special: list[str] | None
) -> list[tuple[str, os.stat_result]]:
    if is_beyond_link(root, under) is not None:
        return []
    out: list[tuple[str, os.stat_result]] = []
    stack = [under]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel)) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            if skip(entry.name):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            path = f"{rel}/{entry.name}"
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
            elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                out.append((path, st))
            elif special is not None:
                special.append(path)
    return out
