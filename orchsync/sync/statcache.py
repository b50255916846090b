"""Which work-tree files are unchanged since the last whole-tree sync, told from stat data.

A whole-tree sync (`orchsync sync`, the daemon's start, `orchsync status`) must find the
few changed files among 20,000. Reading and hashing every file cost ~0.9 s at 10,000 tasks;
`git status` answers the same question in ~0.1 s because it keeps each file's stat data
(inode, size, mtime, ctime) beside its blob id in the git index and reads only files whose
stat data changed. This is the same idea, in a cache of orchsync's own
(`.git/orchsync/stat-cache`, never the user's git index, which holds what the *user*
staged):

- `disk`: path -> the stat key of the file when it was last read, and the git blob id of
  the bytes read then. A file whose stat key is unchanged is not read again.
- `tree`: path -> blob id (and whether it is a link) of every file of the target ref's
  `delegation/` tree, with that tree's id; kept up to date with our own commits and
  patched from a tree diff when someone else moved the ref, so listing 10,000 trees is
  needed only once.

Racy files (git's "racy git" problem): a file written in the same clock tick as it was
stat'ed could change again without changing its stat key. So an entry is trusted only if
the file's mtime and ctime are older than the start of the scan that recorded it, minus a
margin (`MARGIN_NS`, which also covers file systems with 2-second timestamps and the
kernel's coarse clock). Any write after the scan sets ctime to "now" (which no program can
set back), so the key changes. Files written just before a scan are simply read again
next time.

The cache is a speed-up only: a missing, foreign or unreadable file is an empty cache, and
one that cannot be written costs the next sync its reads. It is versioned, with the
interpreter's marshal version in its header.
"""

from __future__ import annotations

import logging
import marshal
import os
import struct
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

__all__ = ["MARGIN_NS", "StatCache", "stat_key"]

logger = logging.getLogger(__name__)

FILE_NAME = "stat-cache"
VERSION = 1
MARGIN_NS = 2_000_000_000  # 2 s: FAT's timestamps, the coarse clock, small clock steps
_HEADER = f"orchsync-stat-cache {VERSION} marshal {marshal.version}\n".encode()
_KEY = struct.Struct("<5q")
SAVE_FROM = 64  # news (files read, tree paths changed) worth writing the cache for
FILE_FLAG = b"\x00"
LINK_FLAG = b"\x01"


def stat_key(st: os.stat_result) -> bytes:
    """Inode, size, mtime, ctime and mode, packed: equal keys mean an untouched file."""
    return _KEY.pack(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


class StatCache:
    """The cache of one work tree, loaded from the runtime folder (empty when absent).

    Use: `suspects(scanned, tree)` for the files to read, `record(path, st, blob)` for each
    file read, `tree_map(...)` for the target tree, `committed(...)` after a commit, `save()`.
    """

    def __init__(self, runtime: Path) -> None:
        self.path = runtime / FILE_NAME
        self.trusted_before = 0  # ns: entries with mtime/ctime at or after this are racy
        self.disk: dict[str, bytes] = {}  # path -> stat key (40 bytes) + raw blob id (20)
        self.tree_id: str | None = None  # the `delegation/` tree `tree` lists
        self.tree: dict[str, bytes] = {}  # path -> raw blob id + FILE_FLAG or LINK_FLAG
        # This scan's start (minus the margin), and what it saw: what `save` writes.
        self.scan_bound = time.time_ns() - MARGIN_NS
        self.seen: dict[str, bytes] = {}
        self.changed = False
        self.news = 0  # files read (recorded) and tree paths changed since the file was written

    @classmethod
    def load(cls, runtime: Path) -> StatCache:
        cache = cls(runtime)
        try:
            with open(cache.path, "rb") as fh:
                data = fh.read()
        except OSError:
            return cache
        if not data.startswith(_HEADER):
            return cache
        try:
            bound, disk, tree_id, tree = marshal.loads(data[len(_HEADER) :])
        except (ValueError, EOFError, TypeError):
            return cache
        if isinstance(bound, int) and isinstance(disk, dict) and isinstance(tree, dict):
            cache.trusted_before, cache.disk = bound, disk
            cache.tree_id = tree_id if isinstance(tree_id, str) else None
            cache.tree = tree if cache.tree_id else {}
        return cache

    def start_scan(self) -> None:
        """Call right before the work tree is scanned: what is recorded is judged by this."""
        self.scan_bound = time.time_ns() - MARGIN_NS
        self.seen = {}

    def suspects(
        self, scanned: list[tuple[str, os.stat_result]], tree: dict[str, bytes]
    ) -> list[tuple[str, os.stat_result]]:
        """The scanned files that must be read: all but those whose stat data is as recorded
        (not racy) and whose recorded blob is what `tree` holds there. `known` in one loop."""
        disk, seen, trusted, pack = self.disk, self.seen, self.trusted_before, _KEY.pack
        link_kind, out = 0o120000, []
        for path, st in scanned:
            hit = disk.get(path)
            if hit is not None:
                mode = st.st_mode
                mtime, ctime = st.st_mtime_ns, st.st_ctime_ns
                if (
                    hit[:40] == pack(st.st_ino, st.st_size, mtime, ctime, mode)
                    and mtime < trusted
                    and ctime < trusted
                    and tree.get(path)
                    == hit[40:] + (LINK_FLAG if mode & 0o170000 == link_kind else FILE_FLAG)
                ):
                    seen[path] = hit
                    continue
            out.append((path, st))
        if out:
            self.changed = True
        return out

    def record(self, path: str, st: os.stat_result, blob: bytes) -> None:
        """`path`, stat'ed as `st` before it was read, held the bytes of blob `blob` (raw)."""
        self.seen[path] = stat_key(st) + blob
        self.changed = True
        self.news += 1

    # --- the target tree --------------------------------------------------------------------

    def tree_map(self, git: Any, sub_id: str | None, prefix: str) -> dict[str, bytes]:
        """path -> raw blob id + flag of every file below `prefix` in tree `sub_id`."""
        if sub_id is None:
            return {}
        if sub_id != self.tree_id:
            from orchsync.git.history import subtree_changes, subtree_files

            if self.tree_id is not None and _exists(git, self.tree_id):
                tree = dict(self.tree)
                diff = subtree_changes(git, self.tree_id, sub_id, prefix)
                self.news += len(diff)
                for path, (blob, link) in diff.items():
                    if blob is None:
                        tree.pop(path, None)
                    else:
                        tree[path] = bytes.fromhex(blob) + (LINK_FLAG if link else FILE_FLAG)
            else:
                tree = subtree_files(git, sub_id, prefix)
                self.news += len(tree)
            self.tree_id, self.tree, self.changed = sub_id, tree, True
        return self.tree

    def committed(self, sub_id: str | None, blobs: dict[str, tuple[str, int] | None]) -> None:
        """Our commit made tree `sub_id` from the listed tree with these changes."""
        self.news += len(blobs)
        for path, new in blobs.items():
            if new is None:
                self.tree.pop(path, None)
            else:
                flag = LINK_FLAG if new[1] == 0o120000 else FILE_FLAG
                self.tree[path] = bytes.fromhex(new[0]) + flag
        self.tree_id = sub_id
        if sub_id is None:
            self.tree = {}
        self.changed = True

    # --- writing --------------------------------------------------------------------------

    def save(self) -> None:
        """Write what this scan saw (and the tree), atomically; a refusal is only slower.

        Not for a few news (`SAVE_FROM`): writing 20,000 entries costs ~25 ms, reading a few
        files again next time, or diffing the tree from the one written, far less.
        """
        if not self.changed and len(self.seen) == len(self.disk):
            return
        lost = len(self.disk) - len(self.seen)  # files gone since the file was written
        if self.path.exists() and self.news + max(lost, 0) < SAVE_FROM:
            return
        payload = marshal.dumps((self.scan_bound, self.seen, self.tree_id, self.tree))
        tmp = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(_HEADER)
                fh.write(payload)
            os.replace(tmp, self.path)
        except OSError as exc:
            logger.debug("%s not written: %s", self.path, exc)
            with suppress(OSError):
                tmp.unlink()
            return
        self.disk, self.trusted_before, self.changed = self.seen, self.scan_bound, False


def _exists(git: Any, oid: str) -> bool:
    try:
        return oid in git.odb
    except Exception:
        return False
