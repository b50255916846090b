"""What git is doing, read from plain files: no pygit2, cheap enough for every command.

The in-progress markers that hold snapshots back (a merge, a rebase...) and the reasons
`orchsync status` gives, shared by `GitStore.blocked_reason` (which asks pygit2 about HEAD)
and `snapshot_blocked`, the same check from file reads, for a write command to refuse
before it writes without importing pygit2 (~45 ms).

The daemon reads `read_git_state` every tick. It does not decide whether a snapshot may be
made (sync does that, and says why not); it only needs to know *when to ask again*: has HEAD
or the branch moved since the index was caught up, is a git command running right now (its
lock files exist), and has the state that blocked the last sync (a merge, a rebase, a
detached HEAD, unmerged paths in git's index) changed since. The index is only stat'ed
there, not read: sync itself reads it for conflicts when it is asked again.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

from orchsync.repo import Repo

__all__ = [
    "DETACHED",
    "GitState",
    "IN_PROGRESS",
    "IN_PROGRESS_REASONS",
    "UNBORN",
    "read_git_state",
    "remember_unmerged",
    "snapshot_blocked",
    "unmerged_paths",
    "unmerged_reason",
]

# Files whose presence means git is half way through a multi-step operation.
IN_PROGRESS_REASONS = {
    "MERGE_HEAD": "a merge is in progress",
    "rebase-merge": "a rebase is in progress",
    "rebase-apply": "a rebase (or am) is in progress",
    "CHERRY_PICK_HEAD": "a cherry-pick is in progress",
    "REVERT_HEAD": "a revert is in progress",
    "BISECT_LOG": "a bisect is in progress",
}
IN_PROGRESS = tuple(IN_PROGRESS_REASONS)
DETACHED = "HEAD is detached; check out a branch (snapshots go to the checked-out branch)"
UNBORN = "the branch has no commits yet; run `orchsync init` to make the first one"


_SHOWN = 5  # unmerged paths named in a message


def unmerged_paths(git_dir: os.PathLike[str] | str) -> list[str] | None:
    """Paths with unmerged (conflict) entries in git's index; None when it cannot be read.

    A conflict leaves stage 1-3 entries in the index whatever made it (a merge, `stash
    pop`, `checkout -m`, `am`, `rerere`), and only some of those leave a marker file such
    as MERGE_HEAD. Read from the index file itself (the format is `gitformat-index`):
    ~10 ms for a 20,000-entry index, against ~20 ms to read it with libgit2 and ask for
    its conflicts, and no pygit2 import for a write command's check before it writes.

    The answer is kept in the runtime folder (`unmerged`) with the index file's identity
    (inode, size, mtime, ctime): git and libgit2 replace the index file (write a new one,
    rename it over), never edit it in place, so an unchanged identity is an unchanged
    index, and a write command asks once rather than read 4 MB twice.
    """
    index = os.path.join(git_dir, "index")
    try:
        st = os.stat(index)
    except FileNotFoundError:
        return []
    except OSError:
        return None
    key = _identity(st)
    memo = os.path.join(git_dir, "orchsync", "unmerged")
    try:
        with open(memo, encoding="utf-8") as fh:
            seen, _, paths = fh.read().partition("\n")
        if seen == key:
            found = json.loads(paths)
            if isinstance(found, list):
                return [str(p) for p in found]
    except (OSError, ValueError):
        pass
    try:
        with open(index, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return []
    except OSError:
        return None
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version = int.from_bytes(data[4:8], "big")
    count = int.from_bytes(data[8:12], "big")
    if version not in (2, 3, 4):
        return None
    try:
        found = _conflicts(data, version, count)
    except (IndexError, ValueError):
        return None
    _remember(memo, key, found)
    return found


def _identity(st: os.stat_result) -> str:
    return f"{st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"


def remember_unmerged(git_dir: os.PathLike[str] | str, paths: list[str]) -> None:
    """Record what the index file now on disk holds, by its writer that knows it (a sync
    that has just written it), so that the next check reads a few bytes instead of 4 MB."""
    try:
        st = os.stat(os.path.join(git_dir, "index"))
    except OSError:
        return
    _remember(os.path.join(git_dir, "orchsync", "unmerged"), _identity(st), paths)


def _remember(memo: str, key: str, paths: list[str]) -> None:
    """Write the memo atomically; a runtime folder that refuses it only costs the next read."""
    tmp = f"{memo}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(key + "\n" + json.dumps(paths))
        os.replace(tmp, memo)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _conflicts(data: bytes, version: int, count: int) -> list[str]:
    out: list[str] = []
    off = 12
    previous = b""
    for _ in range(count):
        # 62 bytes of stat data, id and flags; the stage is bits 12-13 of the flags.
        flags = (data[off + 60] << 8) | data[off + 61]
        start = off + 62 + (2 if version >= 3 and flags & 0x4000 else 0)
        if version == 4:  # the name is a prefix of the previous one, and a NUL-ended suffix
            pos = start
            byte = data[pos]
            strip = byte & 0x7F
            while byte & 0x80:  # git's offset varint
                pos += 1
                byte = data[pos]
                strip = ((strip + 1) << 7) | (byte & 0x7F)
            end = data.index(b"\0", pos + 1)
            name = previous[: len(previous) - strip] + data[pos + 1 : end]
            previous, off = name, end + 1
        else:
            length = flags & 0xFFF
            end = data.index(b"\0", start) if length == 0xFFF else start + length
            name = data[start:end]
            off += (end - off + 8) & ~7  # NUL-padded to a multiple of 8
        if flags & 0x3000 and (not out or out[-1] != os.fsdecode(name)):
            out.append(os.fsdecode(name))
    return out


def unmerged_reason(git_dir: os.PathLike[str] | str) -> str | None:
    """The reason snapshots wait while the index holds conflicts, or None."""
    paths = unmerged_paths(git_dir)
    if not paths:
        return None
    shown = ", ".join(paths[:_SHOWN]) + (
        f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
    )
    return (
        f"unmerged paths in the git index: {shown}; resolve them and `git add` "
        "(snapshots wait until then)"
    )


def snapshot_blocked(
    repo: Repo, target_ref: str | None = None, allow_unborn: bool = False
) -> str | None:
    """Why a snapshot must wait now, or None: `GitStore.blocked_reason` from file reads.

    For a write command's check before it writes; the sync itself checks again.
    """
    for name, why in IN_PROGRESS_REASONS.items():
        if (repo.git_dir / name).exists():
            return f"{why}; snapshots wait until it ends"
    unmerged = unmerged_reason(repo.git_dir)
    if unmerged:
        return unmerged
    branch = repo.head_ref()
    if branch is None:
        return None if target_ref else DETACHED
    if not allow_unborn and repo.ref_tip(branch) is None:
        return UNBORN
    return None


# --- what the daemon watches: has anything changed that could unblock a snapshot ----------


@dataclass(frozen=True, slots=True)
class GitState:
    head: str | None  # HEAD's content: "ref: refs/heads/main", or a commit id when detached
    tip: str | None  # the commit snapshots build on (target ref, else the branch)
    busy: str | None  # a lock file a running git command holds, e.g. ".git/index.lock"
    in_progress: tuple[str, ...]  # which IN_PROGRESS markers exist
    # git's index file as stat sees it (mtime, size, inode): resolving an unmerged path
    # (`git add`) rewrites it, and a conflict in the index blocks snapshots too.
    index: tuple[int, int, int] | None = None

    @property
    def key(self) -> tuple[object, ...]:
        """Changes whenever anything that could unblock a snapshot changes."""
        return (self.head, self.tip, self.in_progress, self.index)


def read_git_state(repo: Repo, target_ref: str | None = None) -> GitState:
    """Read HEAD, the tip snapshots go to, git's lock files and in-progress markers.

    The daemon calls this every tick, on a process that slept since the last one: a few
    system calls on plain strings (one listing of the git dir finds every marker and
    most locks) rather than a `Path` and a stat per file.
    """
    git_dir = str(repo.git_dir)
    head = _read(os.path.join(git_dir, "HEAD"))
    branch = head[5:].strip() if head is not None and head.startswith("ref:") else None
    ref = branch
    if target_ref:  # the same substitution GitStore.target_ref makes
        name = (branch or "refs/heads/detached").removeprefix("refs/heads/")
        ref = target_ref.replace("<branch>", name).replace("{branch}", name)
    common = str(repo.common_dir)
    tip = _ref_tip(git_dir, common, ref) if ref else None
    if tip is None and target_ref and branch:
        tip = _ref_tip(git_dir, common, branch)
    try:
        names = set(os.listdir(git_dir))
        shared = names if common == git_dir else set(os.listdir(common))
    except OSError:
        names = shared = set()
    busy = None
    if "index.lock" in names:
        busy = os.path.join(git_dir, "index.lock")
    elif "HEAD.lock" in names:
        busy = os.path.join(git_dir, "HEAD.lock")
    elif "packed-refs.lock" in shared:
        busy = os.path.join(common, "packed-refs.lock")
    else:
        for r in {branch, ref}:
            if r and os.path.exists(os.path.join(common, f"{r}.lock")):
                busy = os.path.join(common, f"{r}.lock")
                break
    in_progress = tuple(m for m in IN_PROGRESS if m in names)
    try:
        st = os.stat(os.path.join(git_dir, "index"))
        index: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        index = None
    return GitState(head.strip() if head is not None else None, tip, busy, in_progress, index)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _ref_tip(git_dir: str, common: str, ref: str, depth: int = 0) -> str | None:
    """`Repo.ref_tip` on strings: a loose ref (here, then in the common dir), else packed."""
    for base in (git_dir, common):
        value = _read(os.path.join(base, ref))
        if value is None:
            continue
        if value.startswith("ref:") and depth < 5:
            return _ref_tip(git_dir, common, value[4:].strip(), depth + 1)
        return value or None
    try:
        with open(os.path.join(common, "packed-refs"), encoding="utf-8") as fh:
            for line in fh:
                if line.rstrip("\n").endswith(f" {ref}"):
                    return line.split(" ", 1)[0]
    except OSError:
        pass
    return None
