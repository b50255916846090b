"""What git is doing, read from files in the git directory: cheap enough for every tick.

The daemon does not decide whether a snapshot may be made (sync does that, and says why not);
it only needs to know *when to ask again*: has HEAD or the branch moved since the index was
caught up, is a git command running right now (its lock files exist), and has the state that
blocked the last sync (a merge, a rebase, a detached HEAD, unmerged paths in git's index)
changed since. No pygit2 here, and the index is only stat'ed, not read: sync itself reads
it for conflicts when it is asked again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from orchsync.git.state import IN_PROGRESS
from orchsync.repo import Repo

__all__ = ["GitState", "read_git_state"]


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
    """Read HEAD, the tip snapshots go to, git's lock files and in-progress markers."""
    try:
        head: str | None = (repo.git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        head = None
    branch = repo.head_ref()
    ref = branch
    if target_ref:  # the same substitution GitStore.target_ref makes
        name = (branch or "refs/heads/detached").removeprefix("refs/heads/")
        ref = target_ref.replace("<branch>", name).replace("{branch}", name)
    tip = repo.ref_tip(ref) if ref else None
    if tip is None and target_ref and branch:
        tip = repo.ref_tip(branch)
    common = repo.common_dir
    locks = [repo.git_dir / "index.lock", repo.git_dir / "HEAD.lock", common / "packed-refs.lock"]
    locks += [common / f"{r}.lock" for r in {branch, ref} if r]
    busy = next((str(p) for p in locks if p.exists()), None)
    in_progress = tuple(m for m in IN_PROGRESS if (repo.git_dir / m).exists())
    try:
        st = os.stat(repo.git_dir / "index")
        index: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        index = None
    return GitState(head, tip, busy, in_progress, index)
