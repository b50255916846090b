"""Writing files under delegation/ without ever losing someone else's bytes.

Writes are atomic (temp file in the same folder + rename), and a replacement can be made
conditional on the file still having the bytes it was read with, so a command racing an
editor's save refuses instead of overwriting the save.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orchsync.errors import OrchsyncError
from orchsync.faults import RETRY_COMMAND, storage
from orchsync.model import content_hash

__all__ = ["ConcurrentEdit", "atomic_write", "replace_if_unchanged"]


class ConcurrentEdit(OrchsyncError):
    """The file changed between reading it and writing it back."""


def atomic_write(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write all of `data` or nothing; with `exclusive`, refuse to replace an existing file.

    A disk that refuses the write raises a `StorageFault` and leaves the file as it was.
    """
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
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
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


def replace_if_unchanged(path: Path, expected_hash: str, data: bytes) -> None:
    """Replace the file only if it still hashes to `expected_hash` (what the caller read)."""
    try:
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
    atomic_write(path, data)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
