"""What git is doing, read from plain files: no pygit2, cheap enough for every command.

The in-progress markers that hold snapshots back (a merge, a rebase...) and the reasons
`orchsync status` gives, shared by `GitStore.blocked_reason` (which asks pygit2 about HEAD)
and `snapshot_blocked`, the same check from file reads, for a write command to refuse
before it writes without importing pygit2 (~45 ms).
"""

from __future__ import annotations

from orchsync.repo import Repo

__all__ = ["DETACHED", "IN_PROGRESS", "IN_PROGRESS_REASONS", "UNBORN", "snapshot_blocked"]

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


def snapshot_blocked(
    repo: Repo, target_ref: str | None = None, allow_unborn: bool = False
) -> str | None:
    """Why a snapshot must wait now, or None: `GitStore.blocked_reason` from file reads.

    For a write command's check before it writes; the sync itself checks again.
    """
    for name, why in IN_PROGRESS_REASONS.items():
        if (repo.git_dir / name).exists():
            return f"{why}; snapshots wait until it ends"
    branch = repo.head_ref()
    if branch is None:
        return None if target_ref else DETACHED
    if not allow_unborn and repo.ref_tip(branch) is None:
        return UNBORN
    return None
