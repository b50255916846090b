"""Writing files under delegation/ without ever losing someone else's bytes.

Writes are atomic (temp file in the same folder + rename), and a replacement can be made
conditional on the file still having the bytes it was read with, so a command racing an
editor's save refuses instead of overwriting the save.

Nothing is written through a symbolic link: a file is never written into a linked folder
(`root` given: every folder between it and the file must be a real one), and a link at the
file's own path is replaced by the rename, never written into (its target is untouched).
An edit of an existing file reads it with `read_for_edit`, which refuses a link: a command
that edits `status:` must not copy a link's target into the tree.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from orchsync.errors import RETRY_COMMAND, OrchsyncError, UsageError, storage
from orchsync.model import content_hash
from orchsync.parse.fsread import FILE, MISSING, is_beyond_link, read_entry

__all__ = [
    "ConcurrentEdit",
    "LinkRefused",
    "atomic_write",
    "read_for_edit",
    "replace_if_unchanged",
]


class ConcurrentEdit(OrchsyncError):
    """The file changed between reading it and writing it back."""


class LinkRefused(UsageError):
    """The path is, or passes through, a symbolic link: orchsync does not follow links."""


def _check_folders(root: Path, path: Path) -> None:
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError as exc:
        raise LinkRefused(f"{path} is outside the repository {root}; nothing written") from exc
    linked = is_beyond_link(root, rel)
    if linked is not None:
        raise LinkRefused(
            f"{linked} is a symbolic link; orchsync does not write through links "
            f"(nothing written to {rel})"
        )


def atomic_write(
    path: Path, data: bytes, *, exclusive: bool = False, root: Path | None = None
) -> None:
    """Write all of `data` or nothing; with `exclusive`, refuse to replace an existing file.

    With `root` (the repository), refuse when a folder between it and `path` is a link.
    A disk that refuses the write raises a `StorageFault` and leaves the file as it was.
    """
    if root is not None:
        _check_folders(root, path)
    with storage(path, retry=RETRY_COMMAND, note="nothing was written"):
        _atomic_write(path, data, exclusive)


def _atomic_write(path: Path, data: bytes, exclusive: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".orchsync-tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            os.chmod(tmp, st.st_mode & 0o7777)
        else:  # new, or a link (replaced, and its target's mode is none of our business)
            os.chmod(tmp, 0o666 & ~_umask())
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError if someone created it meanwhile
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_for_edit(root: Path, rel: str) -> bytes:
    """A regular file's bytes, to edit and write back; a link, a FIFO... is refused.

    Raises FileNotFoundError when there is no such file (or it lies beyond a linked folder).
    """
    entry = read_entry(root, rel)
    if entry.kind == FILE and entry.data is not None:
        return entry.data
    if entry.kind == MISSING and not entry.reason:
        raise FileNotFoundError(rel)
    if entry.kind == "link":
        raise LinkRefused(
            f"{rel} is a symbolic link; orchsync does not follow links: replace it with a "
            "regular file (nothing written)"
        )
    raise LinkRefused(f"{rel}: {entry.reason}; nothing written")


def replace_if_unchanged(
    path: Path, expected_hash: str, data: bytes, *, root: Path | None = None
) -> None:
    """Replace the file only if it still hashes to `expected_hash` (what the caller read).

    With `root`, the current bytes are read as `read_for_edit` reads them (never through
    a link) and the folders are checked as `atomic_write` checks them.
    """
    try:
        if root is not None:
            current = read_for_edit(root, path.relative_to(root).as_posix())
        else:
            current = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConcurrentEdit(
            f"{path} was deleted while orchsync was editing it; nothing written"
        ) from exc
    if content_hash(current) != expected_hash:
        raise ConcurrentEdit(
            f"{path} changed on disk while orchsync was editing it (an editor saved?); "
            "nothing written — run the command again"
        )
    atomic_write(path, data, root=root)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
