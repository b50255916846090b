"""What each commit changed under delegation/, computed by comparing tree entry ids.

`Tree.diff_to_tree` costs 13-18 s over 2,000 commits at 10,000 tasks (DESIGN.md); comparing
entry OIDs and descending only into subtrees whose OID changed does the same walk in 0.2 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pygit2

from orchsync.gitstore import GitStore, commit_time_iso
from orchsync.layout import DELEGATION
from orchsync.trailers import Trailers, parse_trailers

__all__ = ["CommitChanges", "commit_changes", "iter_changes", "tree_changes"]

_TREE = pygit2.enums.ObjectType.TREE
_BLOB = pygit2.enums.ObjectType.BLOB


@dataclass(slots=True)
class CommitChanges:
    commit: str
    time: str  # the snapshot's Orchsync-Time when it has one, else the committer time
    trailers: Trailers
    changes: dict[str, tuple[str | None, str | None]]  # path -> (old blob, new blob)


def _sub(git: pygit2.Repository, tree: pygit2.Tree | None, name: str) -> pygit2.Tree | None:
    if tree is None:
        return None
    try:
        entry = tree[name]
    except KeyError:
        return None
    return git[entry.id] if entry.type == _TREE else None  # type: ignore[return-value]


def tree_changes(
    git: pygit2.Repository,
    old: pygit2.Tree | None,
    new: pygit2.Tree | None,
    prefix: str = DELEGATION,
) -> dict[str, tuple[str | None, str | None]]:
    """path -> (old blob id, new blob id) for every file that differs below prefix."""
    out: dict[str, tuple[str | None, str | None]] = {}
    old_sub, new_sub = _sub(git, old, prefix), _sub(git, new, prefix)
    if old_sub is not None and new_sub is not None and old_sub.id == new_sub.id:
        return out
    _diff(git, old_sub, new_sub, prefix, out)
    return out


def _entries(tree: pygit2.Tree | None) -> dict[str, pygit2.Object]:
    return {} if tree is None else {e.name: e for e in tree}  # type: ignore[misc]


def _diff(
    git: pygit2.Repository,
    old: pygit2.Tree | None,
    new: pygit2.Tree | None,
    base: str,
    out: dict[str, tuple[str | None, str | None]],
) -> None:
    a, b = _entries(old), _entries(new)
    for name in a.keys() | b.keys():
        ea, eb = a.get(name), b.get(name)
        if ea is not None and eb is not None and ea.id == eb.id:
            continue
        path = f"{base}/{name}"
        ta = git[ea.id] if ea is not None and ea.type == _TREE else None
        tb = git[eb.id] if eb is not None and eb.type == _TREE else None
        if ta is not None or tb is not None:
            _diff(git, ta, tb, path, out)  # type: ignore[arg-type]
        blob_a = str(ea.id) if ea is not None and ea.type == _BLOB else None
        blob_b = str(eb.id) if eb is not None and eb.type == _BLOB else None
        if blob_a != blob_b:
            out[path] = (blob_a, blob_b)


def commit_changes(store: GitStore, commit: pygit2.Commit) -> CommitChanges:
    """The changes a commit brought. A merge reports only what differs from every parent,
    so each side's edits are attributed to the commit that made them, once."""
    git = store.git
    parents = commit.parents
    first = parents[0].tree if parents else None
    changes = tree_changes(git, first, commit.tree)
    if len(parents) > 1 and changes:
        others = [p.tree for p in parents[1:]]
        changes = {
            path: pair
            for path, pair in changes.items()
            if all(store.blob_id(t, path) != pair[1] for t in others)
        }
    trailers = parse_trailers(commit.message)
    return CommitChanges(
        str(commit.id), trailers.time or commit_time_iso(commit), trailers, changes
    )


def iter_changes(store: GitStore, tip: str, since: str | None = None) -> Iterator[CommitChanges]:
    """Every commit after `since` up to tip (parents first) that touched delegation/."""
    for commit in store.walk(tip, since):
        cc = commit_changes(store, commit)
        if cc.changes:
            yield cc
