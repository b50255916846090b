"""Git as the history: snapshot commits of delegation/ paths, made with pygit2.

A snapshot is built from the target ref's tree plus the changed blobs (never from the user's
index), only the trees on changed paths are rebuilt, and the ref moves by compare-and-swap.
Afterwards the user's index entries of those paths follow, so `git status` stays clean,
except where the user staged something else, which is left as it was.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import FileMode

from orchsync.errors import LockTimeout, SnapshotBlocked, fault_errno, storage
from orchsync.git.state import (
    DETACHED,
    IN_PROGRESS_REASONS,
    UNBORN,
    remember_unmerged,
    unmerged_reason,
)
from orchsync.parse.fsread import is_beyond_link
from orchsync.parse.layout import DELEGATION
from orchsync.repo import Repo

__all__ = ["GitStore", "Snapshot", "commit_time_iso", "open_git"]

INDEX_LOCK_WAIT = 5.0
INDEX_WRITE_ATTEMPTS = 5  # an index write that lost the race for index.lock, tried again
BULK_MIN = 256  # objects at once above which they go into one pack (`orchsync.git.pack`)


@dataclass(slots=True)
class Snapshot:
    commit: str
    ref: str
    time: str


def commit_time_iso(commit: pygit2.Commit) -> str:
    """A commit's committer time as naive-UTC ISO-8601 (what the index stores)."""
    return (
        datetime.fromtimestamp(commit.commit_time, UTC)
        .replace(tzinfo=None)
        .isoformat(timespec="seconds")
    )


class GitStore:
    """The git side of sync: what the target ref holds, and writing snapshots onto it."""

    def __init__(self, repo: Repo, target_ref: str | None = None) -> None:
        self.repo = repo
        self.git = open_git(repo.root)
        self.target_ref_config = target_ref

    # --- state ---------------------------------------------------------------------------

    def blocked_reason(self, allow_unborn: bool = False) -> str | None:
        """Why a snapshot must wait now, or None when it may go ahead."""
        for name, why in IN_PROGRESS_REASONS.items():
            if (self.repo.git_dir / name).exists():
                return f"{why}; snapshots wait until it ends"
        unmerged = unmerged_reason(self.repo.git_dir)
        if unmerged:
            return unmerged
        if self.git.head_is_detached and not self.target_ref_config:
            return DETACHED
        if self.git.head_is_unborn and not allow_unborn:
            return UNBORN
        return None

    def branch(self) -> str | None:
        """The checked-out branch's full ref name, unborn or not."""
        try:
            head = self.git.lookup_reference("HEAD")
        except KeyError:
            return None
        if head.type == pygit2.enums.ReferenceType.SYMBOLIC:
            return str(head.target)
        return None

    def target_ref(self) -> str:
        """Where snapshots land: the checked-out branch, or `target_ref` from config."""
        if self.target_ref_config:
            branch = (self.branch() or "refs/heads/detached").removeprefix("refs/heads/")
            return self.target_ref_config.replace("<branch>", branch).replace("{branch}", branch)
        checked_out = self.branch()
        if checked_out is None:
            raise SnapshotBlocked("HEAD is detached; check out a branch")
        return checked_out

    def tip(self, ref: str | None = None) -> pygit2.Commit | None:
        name = ref or self.target_ref()
        try:
            return self.git.lookup_reference(name).peel(pygit2.Commit)
        except (KeyError, pygit2.GitError):
            if self.target_ref_config and name != self.branch() and self.branch():
                return self.tip(self.branch())  # a dedicated ref starts from the branch it shadows
            return None

    # --- reading trees -------------------------------------------------------------------

    def entry(self, tree: pygit2.Tree | None, path: str) -> pygit2.Object | None:
        if tree is None:
            return None
        try:
            return tree[path]
        except KeyError:
            return None

    def blob_id(self, tree: pygit2.Tree | None, path: str) -> str | None:
        obj = self.entry(tree, path)
        return str(obj.id) if obj is not None and obj.type == pygit2.enums.ObjectType.BLOB else None

    def subtree_id(self, tree: pygit2.Tree | None, path: str) -> str | None:
        """The id of the folder at `path` in a tree; None when there is no folder there."""
        obj = self.entry(tree, path)
        return str(obj.id) if obj is not None and obj.type == pygit2.enums.ObjectType.TREE else None

    def blob_entry(self, tree: pygit2.Tree | None, path: str) -> tuple[str, int] | None:
        """(blob id, git mode) of a file in a tree: the mode tells a link (120000) apart."""
        obj = self.entry(tree, path)
        if obj is None or obj.type != pygit2.enums.ObjectType.BLOB:
            return None
        return str(obj.id), int(obj.filemode)  # type: ignore[attr-defined]

    def blob_bytes(self, oid: str) -> bytes:
        return self.git[oid].data  # type: ignore[union-attr, attr-defined]

    def list_blobs(
        self,
        tree: pygit2.Tree | None,
        prefix: str = DELEGATION,
        links: set[str] | None = None,
    ) -> dict[str, str]:
        """path -> blob id of every file below prefix in a tree; symbolic links (mode
        120000) are files too, and their paths also go to `links` when it is given."""
        out: dict[str, str] = {}
        sub = self.entry(tree, prefix)
        if sub is None:
            return out
        if sub.type == pygit2.enums.ObjectType.BLOB:
            if links is not None and sub.filemode == FileMode.LINK:  # type: ignore[attr-defined]
                links.add(prefix)
            return {prefix: str(sub.id)}
        stack: list[tuple[pygit2.Tree, str]] = [(sub, prefix)]  # type: ignore[list-item]
        while stack:
            t, base = stack.pop()
            for e in t:
                p = f"{base}/{e.name}"
                if e.type == pygit2.enums.ObjectType.TREE:
                    stack.append((self.git[e.id], p))  # type: ignore[arg-type]
                elif e.type == pygit2.enums.ObjectType.BLOB:
                    out[p] = str(e.id)
                    if links is not None and e.filemode == FileMode.LINK:
                        links.add(p)
        return out

    def is_ignored(self, path: str) -> bool:
        try:
            return self.git.path_is_ignored(path)
        except pygit2.GitError:
            return False

    # --- writing -------------------------------------------------------------------------

    def write_blob(self, data: bytes) -> str:
        with self._writing("objects"):
            return str(self.git.create_blob(data))

    def write_blobs(self, datas: list[bytes]) -> list[str]:
        """Blob ids of these contents, written to the object store: one pack for many."""
        if len(datas) < BULK_MIN:
            return [self.write_blob(d) for d in datas]
        from orchsync.git.pack import BLOB, object_id, record

        ids = [object_id(BLOB, d) for d in datas]
        self.write_records(list(zip(ids, [record(BLOB, d) for d in datas], strict=True)))
        return [oid.hex() for oid in ids]

    def write_records(self, records: list[tuple[bytes, bytes]]) -> None:
        """Objects already packed (`orchsync.git.pack.record`), by raw id, as one pack."""
        from orchsync.git.pack import write_pack

        with self._writing("objects"):
            write_pack(self.repo.common_dir / "objects", records)

    def _writing(self, what: str) -> Any:
        """Storage errors while writing `what` (under the git dir) as `StorageFault`."""
        base = self.repo.git_dir if what == "index" else self.repo.common_dir
        return storage(base / what, root=self.repo.root)

    def commit(
        self,
        changes: dict[str, tuple[str, int] | None],
        message: str,
        expected_parent: str | None,
        ref: str,
        run_hooks: bool = False,
    ) -> Snapshot:
        """Commit blob changes (path -> (blob id, mode) or None to delete) onto `ref`.

        Raises `RefMoved` when the ref no longer points at `expected_parent`, so the caller can
        recompute its changes on the new tip rather than overwrite someone's commit.
        """
        self._refuse_unsigned()
        parent = self.git[expected_parent] if expected_parent else None
        base_tree = parent.tree if parent is not None else None  # type: ignore[union-attr]
        with self._writing("objects"):
            if len(changes) >= BULK_MIN:
                tree_id = _build_trees_packed(self.git, self.repo.common_dir, base_tree, changes)
            else:
                tree_id = _build_tree(self.git, base_tree, changes)
            if tree_id is None:
                tree_id = self.git.TreeBuilder().write()
        if run_hooks:
            message = self._run_hooks(message)
        sig = self._signature()
        with self._writing("objects"):
            oid = self.git.create_commit(
                None, sig, sig, message, tree_id, [parent.id] if parent is not None else []
            )
        self.move_ref(ref, str(oid), expected_parent, "orchsync: " + message.split("\n", 1)[0])
        commit = self.git[oid]
        return Snapshot(str(oid), ref, commit_time_iso(commit))  # type: ignore[arg-type]

    def move_ref(self, ref: str, new: str, expected: str | None, reflog: str) -> None:
        """Point `ref` at `new` if it still points at `expected` (compare-and-swap).

        Raises `RefMoved` when it does not, `StorageFault` when the ref could not be written.
        """
        try:
            existing = self.git.lookup_reference(ref)
        except KeyError:
            existing = None
        with self._writing("refs"):
            try:
                if existing is None:
                    # A first commit, or a dedicated ref's first snapshot (its parent is the
                    # branch tip).
                    if expected is not None and not self._shadows(ref):
                        raise RefMoved(ref)
                    self.git.create_reference_direct(ref, new, False, message=reflog)
                else:
                    if str(existing.target) != expected:
                        raise RefMoved(ref)
                    existing.set_target(new, reflog)  # compare-and-swap against the value read
            except pygit2.GitError as exc:
                # Someone moved it, or holds its lock (a `git commit` at this instant):
                # either way the caller recomputes on the tip. Unless the disk refused.
                unmoved = self._ref_target(ref) == expected
                if unmoved and fault_errno(exc, self.repo.common_dir / "refs") is not None:
                    raise
                raise RefMoved(ref) from exc

    def undo_commit(self, ref: str, commit: str, parent: str | None) -> bool:
        """Move `ref` back from `commit` to `parent`, if nothing moved it since; True if done.

        For a snapshot whose git-index update failed: better no commit than a commit the
        user's index silently reverts (see `sync`). Never raises.
        """
        if parent is None:
            return False
        try:
            self.move_ref(ref, parent, commit, "orchsync: undo snapshot (git index not writable)")
        except Exception:
            return False
        return True

    def _ref_target(self, ref: str) -> str | None:
        try:
            return str(self.git.lookup_reference(ref).target)
        except (KeyError, pygit2.GitError):
            return None

    def _shadows(self, ref: str) -> bool:
        return bool(self.target_ref_config) and ref != self.branch()

    def _signature(self) -> pygit2.Signature:
        try:
            return self.git.default_signature
        except (KeyError, pygit2.GitError):
            name = os.environ.get("GIT_AUTHOR_NAME") or "orchsync"
            email = os.environ.get("GIT_AUTHOR_EMAIL") or "orchsync@localhost"
            return pygit2.Signature(name, email)

    def _refuse_unsigned(self) -> None:
        cfg = self.git.config
        try:
            sign = cfg.get_bool("commit.gpgsign")
        except (KeyError, pygit2.GitError):
            sign = False
        if not sign:
            return
        try:
            allowed = not cfg.get_bool("orchsync.gpgsign")
        except (KeyError, pygit2.GitError):
            allowed = False
        if not allowed:
            raise SnapshotBlocked(
                "commit.gpgSign is true and orchsync does not sign snapshot commits; "
                "to allow unsigned snapshots run `git config orchsync.gpgSign false`, "
                "or set `target_ref: refs/orchsync/<branch>` in delegation/orchsync.yml "
                "so your signed branch gets no automatic commits"
            )

    def _run_hooks(self, message: str) -> str:
        """pre-commit and commit-msg, as `git commit` would run them (only when asked)."""
        hooks = Path(self.git.path) / "hooks"
        try:
            configured = str(self.git.config["core.hooksPath"])
            hooks = (
                (self.repo.root / configured) if not os.path.isabs(configured) else Path(configured)
            )
        except KeyError:
            pass
        pre = hooks / "pre-commit"
        if pre.is_file() and os.access(pre, os.X_OK):
            r = subprocess.run([str(pre)], cwd=self.repo.root, capture_output=True, text=True)
            if r.returncode != 0:
                raise SnapshotBlocked(
                    f"pre-commit hook refused the snapshot: {(r.stderr or r.stdout).strip()}"
                )
        msg_hook = hooks / "commit-msg"
        if msg_hook.is_file() and os.access(msg_hook, os.X_OK):
            msg_file = self.repo.ensure_runtime() / "COMMIT_EDITMSG"
            with storage(msg_file, root=self.repo.root):
                msg_file.write_text(message, encoding="utf-8")
            r = subprocess.run(
                [str(msg_hook), str(msg_file)], cwd=self.repo.root, capture_output=True, text=True
            )
            if r.returncode != 0:
                raise SnapshotBlocked(
                    f"commit-msg hook refused the snapshot: {(r.stderr or r.stdout).strip()}"
                )
            message = msg_file.read_text(encoding="utf-8")
        return message

    # --- the user's index ----------------------------------------------------------------

    def wait_for_index_lock(self) -> None:
        """git's own index.lock: retried with backoff, then reported; never deleted."""
        lock = self.repo.git_dir / "index.lock"
        deadline = time.monotonic() + INDEX_LOCK_WAIT
        delay = 0.02
        while lock.exists():
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"{lock} is held by another git process; waited {INDEX_LOCK_WAIT:.0f} s. "
                    "If no git command is running, that process died: remove the file yourself."
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def update_user_index(
        self,
        committed: dict[str, tuple[str, int] | None],
        old_blobs: dict[str, str | None],
        disk_hashes: dict[str, str],
        *,
        git: pygit2.Repository | None = None,
        stats: dict[str, os.stat_result] | None = None,
    ) -> None:
        """Make the index agree with the new commit for paths the user had not staged otherwise.

        `git` is the repository object whose index to use (another thread's, or one kept
        open between syncs, whose index is then re-read only if the file changed).
        `stats` holds the stat data taken right before the committed bytes were read, for
        paths whose entries may take it as theirs (a first snapshot of 20,000 files would
        otherwise have libgit2 read and hash every one of them again).
        """
        index = (git or self.git).index
        for attempt in range(INDEX_WRITE_ATTEMPTS):
            self.wait_for_index_lock()
            index.read(False)
            try:
                self._update_entries(index, committed, old_blobs, disk_hashes, stats or {})
                return
            except IndexLockRace:
                # A git command (an editor's `git status` refreshing stat data, most often)
                # took index.lock between our read and our write: read its index again and
                # redo the update on top of it, so nothing it wrote (a `git add`) is undone.
                with suppress(Exception):
                    index.read(True)
                if attempt + 1 == INDEX_WRITE_ATTEMPTS:
                    raise
            except BaseException:
                # Drop what was changed in memory and not written: an index kept read between
                # syncs (the daemon's) would otherwise take it for what is on disk, and read
                # the old entries as the user's staged work.
                with suppress(Exception):
                    index.read(True)
                raise

    def _update_entries(
        self,
        index: pygit2.Index,
        committed: dict[str, tuple[str, int] | None],
        old_blobs: dict[str, str | None],
        disk_hashes: dict[str, str],
        stats: dict[str, os.stat_result],
    ) -> None:
        changed = False
        add_stat = _stat_adder(index) if stats else None
        for path, new in committed.items():
            try:
                current: str | None = str(index[path].id)
            except KeyError:
                current = None
            if current != old_blobs.get(path):
                continue  # the user staged another version: keep it staged
            if new is None:
                if current is not None:
                    index.remove(path)
                    changed = True
                continue
            blob_id, mode = new
            st = stats.get(path)
            if (
                st is not None
                and add_stat is not None
                and disk_hashes.get(path) == blob_id
                and _kind_of(mode) == stat.S_IFMT(st.st_mode)
            ):
                add_stat(path, blob_id, mode, st)
            elif not (
                disk_hashes.get(path) == blob_id
                and _recordable(self.repo.root, path, mode)
                and _add_from_disk(index, path, blob_id, mode)
            ):
                index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=blob_id), mode))  # type: ignore[arg-type]
            changed = True
        if changed:
            with self._writing("index"):
                try:
                    index.write()
                except pygit2.GitError as exc:
                    if not (self.repo.git_dir / "index.lock").exists():
                        raise  # no lock in the way: a storage fault (or a bug to show)
                    raise IndexLockRace(
                        f"could not update the git index: {self.repo.git_dir / 'index.lock'} "
                        "appeared (another git process)"
                    ) from exc
            if index.conflicts is None:
                # The index just written holds no conflict: the next snapshot's check
                # (`state.unmerged_paths`) need not read the whole file again to know it.
                remember_unmerged(self.repo.git_dir, [])

    # --- history -------------------------------------------------------------------------

    def walk(self, tip: str, hide: str | None = None) -> Iterator[pygit2.Commit]:
        """Commits from the root (or after `hide`) to tip, parents before children."""
        walker = self.git.walk(
            tip, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
        )
        if hide:
            walker.hide(hide)
        yield from walker

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        if ancestor == descendant:
            return True
        try:
            return self.git.descendant_of(descendant, ancestor)
        except (KeyError, pygit2.GitError, ValueError):
            return False

    def resolve(self, rev: str) -> pygit2.Commit:
        from orchsync.errors import UsageError

        try:
            return self.git.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise UsageError(f"unknown revision {rev!r}") from exc


def open_git(root: Path) -> pygit2.Repository:
    """A pygit2 repository that reference counting alone frees.

    pygit2 gives every Repository four helpers (`branches`, `references`, `remotes`,
    `submodules`) that point back at it: a reference cycle, so each repository, with its
    index, object cache and pack maps (~5 MB on a 10,000-task tree), lived until the cyclic
    collector ran. Nothing here uses those helpers, so they are dropped.
    """
    git = pygit2.Repository(str(root))
    for name in _CYCLIC:
        git.__dict__.pop(name, None)
    return git


_CYCLIC = ("branches", "references", "remotes", "submodules")


class RefMoved(Exception):
    """The target ref moved between reading it and updating it."""


class IndexLockRace(LockTimeout):
    """index.lock was taken by another git process between reading the index and writing
    it; after `INDEX_WRITE_ATTEMPTS` of those in a row it reaches the caller as a
    LockTimeout (the daemon retries, a command says the index update waits)."""


def _build_tree(
    git: pygit2.Repository, tree: pygit2.Tree | None, changes: dict[str, tuple[str, int] | None]
) -> pygit2.Oid | None:
    """Rebuild only the trees on changed paths; returns None when the result is empty."""
    direct: dict[str, tuple[str, int] | None] = {}
    nested: dict[str, dict[str, tuple[str, int] | None]] = {}
    for path, value in changes.items():
        head, sep, rest = path.partition("/")
        if sep:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    builder = git.TreeBuilder(tree) if tree is not None else git.TreeBuilder()
    for name, value in direct.items():
        if value is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            builder.insert(name, pygit2.Oid(hex=value[0]), value[1])
    for name, sub in nested.items():
        existing = builder.get(name)
        subtree = (
            git[existing.id]
            if existing is not None and existing.type == pygit2.enums.ObjectType.TREE
            else None
        )
        new_id = _build_tree(git, subtree, sub)  # type: ignore[arg-type]
        if new_id is None:
            if existing is not None:
                builder.remove(name)
        else:
            builder.insert(name, new_id, FileMode.TREE)
    if len(builder) == 0:
        return None
    return builder.write()


def _build_trees_packed(
    git: pygit2.Repository,
    common_dir: Path,
    tree: pygit2.Tree | None,
    changes: dict[str, tuple[str, int] | None],
) -> pygit2.Oid | None:
    """`_build_tree` for many changes: the new trees computed here and written as one pack.

    Each folder on a changed path is rebuilt once from its old entries (read raw from the
    object store) plus the changes; `TreeBuilder` would write each as a loose object.
    """
    from orchsync.git.pack import TREE, object_id, record, tree_data, write_pack

    root: _Folder = _Folder()
    for path, value in changes.items():
        node = root
        *folders, name = path.split("/")
        for part in folders:
            node = node.folders.setdefault(part, _Folder())
        node.files[name] = value
    written: list[tuple[bytes, bytes]] = []

    def build(node: _Folder, base: bytes | None) -> bytes | None:
        entries = _tree_entries(git, base) if base is not None else {}
        for name, value in node.files.items():
            key = os.fsencode(name)
            if value is None:
                entries.pop(key, None)
            else:
                entries[key] = (value[1], bytes.fromhex(value[0]))
        for name, sub in node.folders.items():
            key = os.fsencode(name)
            existing = entries.get(key)
            new = build(sub, existing[1] if existing and existing[0] == FileMode.TREE else None)
            if new is None:
                entries.pop(key, None)
            else:
                entries[key] = (FileMode.TREE, new)
        if not entries:
            return None
        data = tree_data((name, mode, oid) for name, (mode, oid) in entries.items())
        oid = object_id(TREE, data)
        written.append((oid, record(TREE, data)))
        return oid

    top = build(root, tree.id.raw if tree is not None else None)
    write_pack(common_dir / "objects", written)
    return pygit2.Oid(raw=top) if top is not None else None


class _Folder:
    __slots__ = ("files", "folders")

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, int] | None] = {}
        self.folders: dict[str, _Folder] = {}


def _tree_entries(git: pygit2.Repository, oid: bytes) -> dict[bytes, tuple[int, bytes]]:
    """name -> (mode, raw id) of a tree, read from its raw bytes (`mode name\0id` records)."""
    from orchsync.git.pack import tree_records

    _, data = git.odb.read(pygit2.Oid(raw=oid))
    return {name: (int(mode, 8), raw) for mode, name, raw in tree_records(data)}


def _kind_of(mode: int) -> int:
    return stat.S_IFLNK if mode == FileMode.LINK else stat.S_IFREG


def _stat_adder(index: pygit2.Index) -> Any:
    """`add(path, blob id, mode, stat)`: an index entry with the given stat data, through
    libgit2's `git_index_add` (pygit2's `IndexEntry` has no stat fields). None when this
    pygit2 does not expose what it needs: the caller then adds entries the usual way."""
    try:
        from pygit2.ffi import C, ffi

        pointer = index._index
    except (ImportError, AttributeError):
        return None

    def int32(seconds: int) -> int:
        value = seconds & 0xFFFFFFFF  # git's index keeps 32 bits of seconds
        return value - (1 << 32) if value >= 1 << 31 else value

    entry = ffi.new("git_index_entry *")  # one struct, refilled: libgit2 copies what it adds
    oid = ffi.buffer(ffi.addressof(entry, "id"))
    ctime, mtime = entry.ctime, entry.mtime

    def add(path: str, blob: str, mode: int, st: os.stat_result) -> None:
        seconds, ctime.nanoseconds = divmod(st.st_ctime_ns, 1_000_000_000)
        ctime.seconds = int32(seconds)
        seconds, mtime.nanoseconds = divmod(st.st_mtime_ns, 1_000_000_000)
        mtime.seconds = int32(seconds)
        entry.dev = st.st_dev & 0xFFFFFFFF
        entry.ino = st.st_ino & 0xFFFFFFFF
        entry.mode = mode
        entry.uid = st.st_uid & 0xFFFFFFFF
        entry.gid = st.st_gid & 0xFFFFFFFF
        entry.file_size = st.st_size & 0xFFFFFFFF
        oid[:] = bytes.fromhex(blob)
        name = ffi.new("char[]", os.fsencode(path))
        entry.path = name
        if C.git_index_add(pointer, entry) != 0:
            index.add(pygit2.IndexEntry(path, pygit2.Oid(hex=blob), mode))  # type: ignore[arg-type]

    return add


def _recordable(root: Path, path: str, mode: int) -> bool:
    """Whether the work tree still has, at `path`, what a `mode` entry records: a link
    for a link, a regular file for a file, and not beyond a linked folder. Only then
    may libgit2 read it from disk (`Index.add(path)`) for its stat data."""
    if is_beyond_link(root, path) is not None:
        return False
    try:
        st = os.lstat(root / path)
    except OSError:
        return False
    if mode == FileMode.LINK:
        return stat.S_ISLNK(st.st_mode)
    return stat.S_ISREG(st.st_mode)


def _add_from_disk(index: pygit2.Index, path: str, blob_id: str, mode: int) -> bool:
    """Stage `path` from the work tree, with real stat data, if it still holds `blob_id` as `mode`.

    With stat data `git status` does not re-hash the file. libgit2 stats the file and then
    reads that many bytes; a writer that rewrites the file in between (a save, another
    sync's write command) makes it fail ("failed to read file into stream") or stage the
    newer bytes. Either way the caller stages the committed blob without stat data instead:
    git then re-hashes that one file, and sees the newer bytes as a change, as they are.
    """
    try:
        index.add(path)
    except (pygit2.GitError, OSError):
        return False
    entry = index[path]
    return str(entry.id) == blob_id and entry.mode == mode


def paths_under(paths: Iterable[str], prefix: str) -> list[str]:
    return [p for p in paths if p == prefix or p.startswith(prefix.rstrip("/") + "/")]
