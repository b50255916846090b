"""The commits a reader has not seen yet, in git's own terms (for cursors such as the sinks').

A position in a history with merges and pulls is not a number: it is a set of commits
seen (and, implicitly, their ancestors). `commits_after(tip, seen)` is `git rev-list
tip --not seen...`, parents first, which stays right across pulls of older commits,
merges, a rebuilt index and a branch switched back and forth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchsync.repo import Repo

__all__ = ["commits_after", "fold_heads", "open_history"]


def open_history(repo: Repo) -> Any:
    """A pygit2 repository for the calls below (one per thread: libgit2 objects are not
    shared between threads)."""
    from orchsync.git.store import open_git

    return open_git(repo.root)


def commits_after(
    repo: Repo, tip: str, seen: Iterable[str], *, git: Any = None
) -> list[tuple[str, tuple[str, ...]]]:
    """(commit, parent ids) of every commit reachable from `tip` and from none of `seen`,
    parents before children. A commit of `seen` git no longer has is passed over."""
    import pygit2

    git = git or open_history(repo)
    walker = git.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    for commit in seen:
        try:
            walker.hide(commit)
        except (KeyError, ValueError, pygit2.GitError):
            continue
    return [(str(c.id), tuple(str(p) for p in c.parent_ids)) for c in walker]


def fold_heads(repo: Repo, heads: list[str], *, git: Any = None, keep: int = 32) -> list[str]:
    """`heads` without those that are ancestors of another one (they say nothing more),
    and without ones git no longer has; at most `keep`, the newest last."""
    import pygit2

    git = git or open_history(repo)
    known = []
    for h in dict.fromkeys(heads):
        try:
            git[h]
        except (KeyError, ValueError, pygit2.GitError):
            continue
        known.append(h)
    out = [
        h
        for h in known
        if not any(o != h and git.descendant_of(o, h) for o in known)  # h is below o
    ]
    return out[-keep:]
