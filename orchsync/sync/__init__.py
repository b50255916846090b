"""The one sync function: changed files under delegation/ become a commit, events and rows.

The daemon, `orchsync sync` and every write command call `sync`; nothing else commits.
Pipeline: collect changes -> read + hash -> parse -> pair moves -> derive events -> commit
(pygit2, compare-and-swap) -> update the user's git index -> catch the DuckDB index up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchsync.config import Config, load_config
from orchsync.errors import (
    RETRY_INDEX,
    RETRY_SYNC,
    SnapshotBlocked,
    StorageFault,
    UsageError,
    edits_note,
    storage,
    waiting,
)
from orchsync.git.store import GitStore, RefMoved, open_git
from orchsync.git.trailers import compose_message
from orchsync.model import Diagnostic, ParsedFile
from orchsync.parse import parse_file
from orchsync.parse.events import Event, FilePair, derive_events, pair_moves, stamp
from orchsync.parse.fsread import DIR, LINK, LINK_MODE, MISSING, Reader, read_entry
from orchsync.parse.layout import DELEGATION
from orchsync.parse.noise import is_noise, is_noise_path
from orchsync.parse.parallel import goes_parallel, map_chunks, paused_gc
from orchsync.parse.worktree import list_files
from orchsync.repo import Repo, repo_lock
from orchsync.sync.commitevents import import_events
from orchsync.sync.parsecache import ParseCache
from orchsync.sync.statcache import FILE_FLAG, LINK_FLAG, StatCache

if TYPE_CHECKING:
    import pygit2

    from orchsync.sync.catchup import CatchUp
    from orchsync.sync.warm import Warm

__all__ = [
    "SyncOptions",
    "SyncResult",
    "Syncer",
    "git_blob_id",
    "pending_changes",
    "read_status",
    "sync",
]

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class SyncResult:
    commit: str | None = None
    ref: str | None = None
    files: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    subject: str | None = None
    blocked: str | None = None
    dry_run: bool = False
    index: CatchUp | None = None
    invalid: list[ParsedFile] = field(default_factory=list)
    undone: bool = False  # committed, then taken back: the git index could not follow
    # Files under delegation/ that could not be committed (a FIFO, a file above the size
    # limit, an unreadable one): they stay on disk, and the sync says so.
    skipped: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "commit": self.commit,
            "ref": self.ref,
            "files": self.files,
            "subject": self.subject,
            "blocked": self.blocked,
            "dry_run": self.dry_run,
            "events": [
                {"event_type": e.event_type, "entity": e.entity_code, "path": e.path}
                for e in self.events
            ],
            "invalid": [
                {"path": p.path, "diagnostics": [str(d) for d in p.diagnostics]}
                for p in self.invalid
            ],
            "skipped": [{"path": d.path, "reason": d.message} for d in self.skipped],
        }


@dataclass(slots=True)
class _Change:
    path: str
    old_blob: str | None
    data: bytes | None  # None: deleted
    mode: int = 0o100644  # LINK_MODE: `data` is a symbolic link's text
    old_link: bool = False  # the committed version is a symbolic link
    st: os.stat_result | None = None  # stat data taken right before `data` was read


def _git_user(store: GitStore) -> str | None:
    """git's user.name: who the daemon (or a command run without --actor) acts for."""
    config = store.git.config
    return (str(config["user.name"]).strip() or None) if "user.name" in config else None


def git_blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob, computed without git (sha1 of header + data)."""
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.hexdigest()


def _raw_blob_id(data: bytes) -> bytes:
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.digest()


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """What a caller means by one sync, besides the paths.

    Write commands hand these to a running daemon as they are (`watch.client.OPTIONS`).
    """

    actor: str | None = None  # `Orchsync-Agent`; default: `actor` in orchsync.yml, else user.name
    session: str | None = None  # `Orchsync-Session`
    subject: str | None = None  # the commit's first line; default: made from the events
    dry_run: bool = False  # say what would be committed, commit nothing
    rollback: dict[str, str] | None = None  # path -> the revision or hash its bytes came from
    imported: str | None = None  # `orchsync import`: "<system> <project>" (`Orchsync-Import`)
    allow_unborn: bool = False  # `init`: the first commit of an unborn branch
    raise_blocked: bool = False  # raise `SnapshotBlocked` rather than return the reason
    lock_timeout: float = 30.0  # how long to wait for the repo lock
    # Catch the DuckDB index up once the commit has landed. False: a commit is left to the
    # next reader (`query.reader` catches up from git), as one-shot commands do; a sync
    # that commits nothing still catches the index up (`orchsync sync` after a pull).
    index: bool = True


def sync(
    repo: Repo,
    paths: Iterable[str] | None = None,
    *,
    progress: Progress | None = None,
    **options: Any,
) -> SyncResult:
    """Commit what changed under delegation/ (all of it, or `paths`), then index it.

    `options` are the fields of `SyncOptions`. A sync with nothing to commit makes no
    commit, but still catches the index up with commits made by other means (a pull, a
    plain `git commit`). One-shot commands call this; the daemon keeps a `Syncer`.
    `progress(done, total)` follows the files being parsed and written, for a big
    snapshot (`orchsync init`) to show a progress bar.
    """
    syncer = Syncer(repo)
    syncer.progress = progress
    return syncer.run(paths, SyncOptions(**options))


class Syncer:
    """The one sync, with what a long-lived caller (the daemon) keeps between syncs.

    `warm` holds a DuckDB instance and the user's git index, already read. `run(...,
    on_committed=f)` calls `f(result)` once the commit has landed and the user's git index
    follows it (or once there proved to be nothing to commit), with `events` derived, while
    the DuckDB index may still be catching up: the daemon answers a waiting client there. A
    reader that comes meanwhile finds the index behind the branch and waits while the sync
    holds the repo lock (`query.reader`).
    """

    def __init__(self, repo: Repo, warm: Warm | None = None) -> None:
        self.repo = repo
        self.warm = warm
        self._git_index: _IndexReader | None = None
        self._made: tuple[list[FilePair], list[Event]] | None = None  # of the last commit
        self.progress: Progress | None = None  # files parsed and written, of a big batch
        # Paths to leave alone when listed by path (the daemon: those a write command's
        # own sync is about to commit in its name), asked as each is read.
        self.skip: Callable[[str], bool] | None = None

    def _index_git(self) -> pygit2.Repository:
        """The repository object whose `.index` the git-index update goes through."""
        if self.warm is not None:
            return self.warm.index_git()
        if self._git_index is not None:
            return self._git_index.get()
        return open_git(self.repo.root)

    def run(
        self,
        paths: Iterable[str] | None = None,
        options: SyncOptions = SyncOptions(),
        on_committed: Callable[[SyncResult], None] | None = None,
    ) -> SyncResult:
        repo = self.repo
        config = load_config(repo.root)
        if not options.actor and config.actor:
            options = replace(options, actor=config.actor)
        wanted = None if paths is None else [_normalize(repo, p) for p in paths]
        result = SyncResult(dry_run=options.dry_run)
        if self.warm is None and not options.dry_run:
            self._git_index = _IndexReader(repo.root)  # read beside the scan and the parse
        # A one-shot process keeps what it parses until it exits, and holds no reference
        # cycles worth collecting: full collections over a first snapshot's 20,000 parsed
        # files and their events would only rescan them (~0.3 s). The daemon collects.
        paused = paused_gc() if self.warm is None else nullcontext()
        try:
            with paused, repo_lock(repo, options.lock_timeout):
                store = GitStore(repo, config.target_ref)
                if not options.actor:  # every snapshot names its actor: else git's user.name
                    options = replace(options, actor=_git_user(store))
                reason = store.blocked_reason(options.allow_unborn)
                if reason:
                    _write_status(repo, blocked=reason, pending=wanted)
                    if options.raise_blocked:
                        raise SnapshotBlocked(reason)
                    result.blocked = reason
                    return result
                result.ref = store.target_ref()
                if not options.dry_run:
                    _finish_user_index_update(repo, store)  # a sync killed after its commit
                cache = ParseCache(store)
                landed = self._commit(store, cache, config, wanted, options, result, on_committed)
                if options.dry_run:
                    return result
                self._index(store, cache, config, options, result, landed, on_committed)
                return result
        except StorageFault as exc:
            raise _told(repo, exc, result, wanted) from exc.__cause__

    def _commit(
        self,
        store: GitStore,
        cache: ParseCache,
        config: Config,
        wanted: list[str] | None,
        options: SyncOptions,
        result: SyncResult,
        on_committed: Callable[[SyncResult], None] | None,
    ) -> _Landed | None:
        """Commit the changes onto the target ref by compare-and-swap, retried when the ref
        moved meanwhile; fills `result` as it goes (a fault half way tells `_told` what had
        been committed by then). Returns what the user's git index owes, once committed."""
        repo, ref = self.repo, result.ref
        assert ref is not None
        stats = StatCache.load(repo.runtime) if _whole_tree(wanted) else None
        try:
            return self._commit_on_tip(
                store, cache, config, wanted, options, result, on_committed, stats
            )
        finally:
            if stats is not None:
                stats.save()

    def _commit_on_tip(
        self,
        store: GitStore,
        cache: ParseCache,
        config: Config,
        wanted: list[str] | None,
        options: SyncOptions,
        result: SyncResult,
        on_committed: Callable[[SyncResult], None] | None,
        stats: StatCache | None,
    ) -> _Landed | None:
        repo, ref = self.repo, result.ref
        assert ref is not None
        for _attempt in range(MAX_RETRIES):
            tip = store.tip(ref)
            tree = tip.tree if tip is not None else None
            result.skipped = []
            changes = _collect(repo, store, tree, wanted, result.skipped, stats, self.skip)
            if not changes:  # also on a retry: the commit that moved the ref took our changes
                result.files, result.subject, result.invalid = [], None, []
                return None
            result.files = [c.path for c in changes]
            pairs, derived, events, blobs = _prepare(
                store,
                cache,
                changes,
                config,
                options.dry_run,
                parallel=self.warm is None,
                progress=self.progress,
            )
            if options.imported:  # its event is derived from the trailer, as on replay
                events += stamp(
                    import_events(pairs, options.imported),
                    commit="pending",
                    emitted_at="",
                    agent=None,
                    session=None,
                    policy=config.events,
                )
            message = compose_message(
                pairs,
                events,
                agent=options.actor,
                session=options.session,
                subject=options.subject,
                rollback=options.rollback,
                time=datetime.now(UTC),
                imported=options.imported,
            )
            result.subject = message.split("\n", 1)[0]
            result.invalid = [p.new for p in pairs if p.new is not None and not p.new.valid]
            if options.dry_run:
                result.events = events
                return None
            parent = str(tip.id) if tip is not None else None
            old = {c.path: c.old_blob for c in changes}
            if store.branch() == ref:
                store.wait_for_index_lock()
                # Written before the ref moves, or the commit is not made: a sync killed (or
                # refused by the disk) after the commit leaves the next one what it owes.
                _note_user_index_update(repo, ref, blobs, old)
            try:
                snap = store.commit(blobs, message, parent, ref, run_hooks=config.run_hooks)
            except RefMoved:
                continue  # someone committed meanwhile: recompute the changes on the new tip
            result.commit = snap.commit
            if stats is not None:
                stats.committed(store.subtree_id(store.git[snap.commit].tree, DELEGATION), blobs)
            self._made = (pairs, derived)
            if on_committed is not None:
                result.events = _events_of(store, config, snap.commit, pairs, derived)
            if store.branch() != ref:
                return _Landed(None, parent)
            update = _UserIndexUpdate(
                store,
                self._index_git(),
                blobs,
                old,
                on_committed and _once(on_committed, replace(result)),
                when=_index_update_order(on_committed, self.warm),
                stats={c.path: c.st for c in changes if c.st is not None},
            )
            return _Landed(update, parent)
        raise SnapshotBlocked(f"{ref} kept moving while orchsync tried to commit; try again")

    def _index(
        self,
        store: GitStore,
        cache: ParseCache,
        config: Config,
        options: SyncOptions,
        result: SyncResult,
        landed: _Landed | None,
        on_committed: Callable[[SyncResult], None] | None,
    ) -> None:
        """Catch the DuckDB index up, beside the user's git-index update the commit owes."""
        repo = self.repo
        update = landed.update if landed is not None else None
        behind: StorageFault | None = None  # the DuckDB index could not follow the commit
        try:
            if update is None and on_committed is not None:
                on_committed(replace(result))
            if options.index or not result.commit:
                from orchsync.sync.catchup import catch_up  # DuckDB: only when indexing

                try:
                    result.index = catch_up(
                        repo,
                        store,
                        config,
                        cache=cache,
                        index=self.warm.index if self.warm else None,
                    )
                except StorageFault as exc:
                    behind = exc
                else:
                    result.events = (
                        [e for e in result.index.new_events if e.commit == result.commit]
                        if result.commit
                        else []
                    )
            elif result.commit and on_committed is None and self._made is not None:
                result.events = _events_of(store, config, result.commit, *self._made)
        finally:
            if update is not None and landed is not None:
                assert result.ref is not None
                _settle(repo, store, update, result.ref, result, landed.parent)
        _write_status(repo, blocked=None, pending=None, last_commit=result.commit)
        _forget_user_index_update(repo)
        if behind is not None:
            done = "the index is behind git"
            if result.commit:
                done = f"{edits_note(result.files, committed=True)} ({result.commit[:12]}); {done}"
            raise waiting(behind, done, RETRY_INDEX, commit=result.commit)


@dataclass(slots=True)
class _Landed:
    """A commit that landed: the git-index update it owes (None off the checked-out
    branch) and the parent it was made on (to take it back if the index cannot follow)."""

    update: _UserIndexUpdate | None
    parent: str | None


def _settle(
    repo: Repo,
    store: GitStore,
    update: _UserIndexUpdate,
    ref: str,
    result: SyncResult,
    parent: str | None,
) -> None:
    """Wait for the git-index update; if it failed, take the commit back.

    The user's index must never hold an older blob than the branch tip for a path orchsync
    committed: that looks like a staged change, every later sync leaves it alone, and a
    plain `git commit` would revert the snapshot. So when the index cannot follow (disk
    full, read-only, git's lock taken meanwhile), the ref goes back to where it was (one
    small ref write, compare-and-swap) and the edits wait on disk as before the sync. Only
    if that fails too does the commit stay, with the marker written before it: the next
    sync finishes the index update first (`_finish_user_index_update`).
    """
    try:
        update.wait()
    except Exception as exc:  # not a BaseException: a kill leaves the marker to finish it
        assert result.commit is not None
        if store.undo_commit(ref, result.commit, parent):
            logger.info(  # the daemon's log; a command says it in its error
                "snapshot %s taken back: the git index could not follow it (%s)",
                result.commit[:10],
                exc,
            )
            result.commit, result.events = None, []
            _forget_user_index_update(repo)
            result.undone = True
        raise


def _told(
    repo: Repo, exc: StorageFault, result: SyncResult, wanted: list[str] | None
) -> StorageFault:
    """The fault, saying what became of the edits (committed or on disk) and what to do."""
    if exc.reason is None or exc.note is not None:
        return exc
    asked = wanted if wanted != [DELEGATION] else None  # the whole tree: say which files
    files = result.files or asked or _pending_or_none(repo)
    if result.commit:  # committed; only the user's git index could not follow
        note = (
            f"{edits_note(files, committed=True)} ({result.commit[:12]}), but your git index "
            "still holds the versions before it: the next sync fixes that; until then, do not "
            "run a plain `git commit`"
        )
        return waiting(exc, note, RETRY_SYNC, commit=result.commit)
    elif result.undone:
        note = (
            f"the snapshot was taken back because the git index could not follow; "
            f"{edits_note(files)}"
        )
    elif files:
        note = edits_note(files)
    else:
        return waiting(exc, "nothing was committed", exc.retry)
    return waiting(exc, note, RETRY_SYNC)


def _pending_or_none(repo: Repo) -> list[str] | None:
    """What waits to be committed, for a fault's message (it reads and hashes, writes nothing)."""
    try:
        return pending_changes(repo) or None
    except Exception:
        return None


def _once(fn: Callable[[SyncResult], None], result: SyncResult) -> Callable[[], None]:
    return lambda: fn(result)


def _index_update_order(on_committed: object, warm: object) -> str:
    """When the user's git index follows the commit, relative to the DuckDB catch-up.

    - "now", before the catch-up, when a client waits for the answer (it is given then);
    - "after" it, in the daemon's own batches: the events reach the index sooner (beside it,
      the two compete for the GIL and both cores with DuckDB's threads);
    - "beside" it, in a thread, in a one-shot process: ~20 ms less wall time in all.
    """
    if on_committed is not None:
        return "now"
    return "after" if warm is not None else "beside"


class _UserIndexUpdate:
    """The git-index update a commit owes: before, beside or after the DuckDB catch-up.

    `when` (see `_index_update_order`): "now" runs it at once, "beside" in a thread (both
    spend their time in C with the GIL released: libgit2 reading and rewriting a
    20,000-entry index, ~55 ms cold and ~27 ms with the index kept read, and DuckDB loading
    rows), "after" in `wait()`. The update uses a repository object of its own (libgit2
    objects are not shared between threads) and `then` runs when it is done. A failure
    (git's index.lock held past the wait) is raised by `wait()`, in the caller.
    """

    def __init__(
        self,
        store: GitStore,
        git: pygit2.Repository,
        blobs: dict[str, tuple[str, int] | None],
        old: dict[str, str | None],
        then: Callable[[], None] | None,
        *,
        when: str,
        stats: dict[str, os.stat_result] | None = None,
    ) -> None:
        self.store, self.git, self.blobs, self.old, self.then = store, git, blobs, old, then
        self.stats = stats
        self.error: BaseException | None = None
        self.pending = when == "after"
        self.thread = threading.Thread(target=self._run, name="git-index update", daemon=True)
        if when == "beside":
            with _RUNNING_GUARD:
                _RUNNING.add(self.thread)
            self.thread.start()
        elif when == "now":
            self._run()

    def _run(self) -> None:
        try:
            disk = {p: b[0] for p, b in self.blobs.items() if b is not None}
            self.store.update_user_index(self.blobs, self.old, disk, git=self.git, stats=self.stats)
        except BaseException as exc:
            self.error = exc
            return
        finally:
            with _RUNNING_GUARD:
                _RUNNING.discard(self.thread)
        if self.then is not None:
            try:
                self.then()
            except Exception:
                logger.exception("on_committed failed")

    def wait(self) -> None:
        if self.pending:
            self.pending = False
            self._run()
        if self.thread.ident is not None:
            self.thread.join()
        self.git = None  # type: ignore[assignment]
        if self.error is not None:
            raise self.error


_RUNNING: set[threading.Thread] = set()
_RUNNING_GUARD = threading.Lock()


class _IndexReader:
    """The user's git index, read in a thread from the start of a one-shot sync.

    Reading a 20,000-entry index costs libgit2 ~20 ms, with the GIL released, so it runs
    while the sync scans the work tree and parses; the update after the commit then only
    re-reads it if it changed meanwhile (`Index.read(False)`). A repository object of its
    own: libgit2 objects are not shared between threads at once.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git: pygit2.Repository | None = None
        self.thread = threading.Thread(target=self._run, name="git-index read", daemon=True)
        with _RUNNING_GUARD:
            _RUNNING.add(self.thread)
        self.thread.start()

    def _run(self) -> None:
        try:
            git = open_git(self.root)
            git.index  # noqa: B018 - reads the index file
            self.git = git
        except Exception:  # the update reads it again and reports what is wrong
            pass
        finally:
            with _RUNNING_GUARD:
                _RUNNING.discard(self.thread)

    def get(self) -> pygit2.Repository:
        self.thread.join()
        git, self.git = self.git, None
        return git if git is not None else open_git(self.root)


def _finish_before_fork() -> None:
    """A fork (the catch-up's parse workers) must not copy libgit2 half way through a write."""
    with _RUNNING_GUARD:
        running = list(_RUNNING)
    for thread in running:
        if thread is not threading.current_thread():
            thread.join(30.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_finish_before_fork)


def _events_of(
    store: GitStore, config: Config, commit: str, pairs: list[FilePair], derived: list[Event]
) -> list[Event]:
    """The events of our own commit, exactly as the catch-up derives them from git
    (`commitevents.commit_events`): the pairs and events derived for its message, stamped
    with the commit's id and the time and attribution its trailers say (a commit-msg hook
    may have changed them)."""
    from orchsync.git.store import commit_time_iso
    from orchsync.git.trailers import parse_trailers
    from orchsync.sync.commitevents import stamp_commit

    made = store.git[commit]
    trailers = parse_trailers(made.message)  # type: ignore[attr-defined]
    time = trailers.time or commit_time_iso(made)  # type: ignore[arg-type]
    return stamp_commit(pairs, derived, commit, time, trailers, config)


def _normalize(repo: Repo, path: str) -> str:
    rel = repo.rel(path).rstrip("/")
    if rel != DELEGATION and not rel.startswith(DELEGATION + "/"):
        raise UsageError(
            f"{path} is not under {DELEGATION}/; orchsync only snapshots the delegation tree"
        )
    return rel


def _whole_tree(wanted: list[str] | None) -> bool:
    return wanted is None or DELEGATION in wanted


def _collect(
    repo: Repo,
    store: GitStore,
    tree: object,
    wanted: list[str] | None,
    skipped: list[Diagnostic] | None = None,
    stats: StatCache | None = None,
    skip: Callable[[str], bool] | None = None,
) -> list[_Change]:
    """Files whose bytes differ from the target ref's tree (added, changed, deleted).

    The work tree is read as git would record it (`orchsync.parse.fsread`): a symbolic link is
    its link text with mode 120000 and is never followed, a path beyond a linked folder does
    not exist. What git cannot hold (a FIFO, a device) and files above the size limit are
    not committed: they go to `skipped`, and a committed version of them stays as it is.
    The whole tree is compared by stat data first (`_collect_tree`).
    """
    if _whole_tree(wanted):
        if stats is None:
            stats = StatCache.load(repo.runtime)
        return _collect_tree(repo, store, tree, skipped, stats)
    assert wanted is not None
    links: set[str] = set()
    special: list[str] = []  # FIFOs, sockets, devices: listed only to be reported
    on_disk: list[str] = []
    in_tree: dict[str, str] = {}
    with Reader(repo.root) as reader:
        for p in wanted:
            st = reader.lstat(p)
            if st is not None and stat.S_ISDIR(st.st_mode):
                on_disk.extend(list_files(repo.root, p, special=special))
                in_tree.update(store.list_blobs(tree, p, links))  # type: ignore[arg-type]
                continue
            if st is not None and not is_noise_path(p):
                on_disk.append(p)
            blob_entry = store.blob_entry(tree, p)  # type: ignore[arg-type]
            if blob_entry is not None:
                in_tree[p] = blob_entry[0]
                if blob_entry[1] == LINK_MODE:
                    links.add(p)
            else:
                # a folder that was deleted
                in_tree.update(store.list_blobs(tree, p, links))  # type: ignore[arg-type]
    changes: dict[str, _Change] = {}
    present: set[str] = set()
    with Reader(repo.root) as reader:
        for p in sorted(set(on_disk) | set(special)):
            if skip is not None and skip(p):
                present.add(p)  # another sync commits it: as if unchanged here
                continue
            entry = reader.read(p)
            if entry.data is None:
                if entry.kind not in (MISSING, DIR):
                    present.add(p)  # there, but not recordable: nothing changes in git
                    if skipped is not None:
                        skipped.append(Diagnostic(p, None, "file", f"{entry.reason}; not synced"))
                continue
            present.add(p)
            old = in_tree.get(p)
            is_link = entry.kind == LINK
            if old is not None and git_blob_id(entry.data) == old and (p in links) == is_link:
                continue
            if old is None and store.is_ignored(p):
                continue
            changes[p] = _Change(p, old, entry.data, entry.mode, p in links)
    for p, blob in in_tree.items():
        if p not in present and not (skip is not None and skip(p)):
            changes[p] = _Change(p, blob, None, old_link=p in links)
    return [changes[p] for p in sorted(changes)]


def _collect_tree(
    repo: Repo,
    store: GitStore,
    tree: object,
    skipped: list[Diagnostic] | None,
    stats: StatCache,
) -> list[_Change]:
    """`_collect` of the whole `delegation/` tree, reading only files whose stat data changed.

    Every file is stat'ed (as `git status` does); a file whose stat data matches what the
    stat cache recorded when it was last read has the blob id recorded then, and is read
    only if that differs from the tree's. The tree's listing comes from the cache too.
    """
    sub = store.subtree_id(tree, DELEGATION)  # type: ignore[arg-type]
    if sub is not None:
        in_tree = stats.tree_map(store.git, sub, DELEGATION)
    else:  # no folder: nothing, or `delegation` itself is a file (or a link) in the tree
        top_entry = store.blob_entry(tree, DELEGATION)  # type: ignore[arg-type]
        in_tree = {}
        if top_entry is not None:
            flag = LINK_FLAG if top_entry[1] == LINK_MODE else FILE_FLAG
            in_tree[DELEGATION] = bytes.fromhex(top_entry[0]) + flag
    special: list[str] = []  # FIFOs, sockets, devices: listed only to be reported
    changes: dict[str, _Change] = {}
    stats.start_scan()
    with Reader(repo.root) as reader:
        top = reader.lstat(DELEGATION)
        if top is None:
            scanned = []
        elif stat.S_ISDIR(top.st_mode):
            scanned = reader.scan(DELEGATION, is_noise, special)
        elif stat.S_ISREG(top.st_mode) or stat.S_ISLNK(top.st_mode):
            scanned = [(DELEGATION, top)]
        else:
            scanned, special = [], [DELEGATION]
        present = {p for p, _ in scanned}
        for p, st in stats.suspects(scanned, in_tree):
            old = in_tree.get(p)
            entry = reader.read(p)
            if entry.data is None:
                if entry.kind in (MISSING, DIR):
                    present.discard(p)
                elif skipped is not None:  # there, but not recordable: nothing changes in git
                    skipped.append(Diagnostic(p, None, "file", f"{entry.reason}; not synced"))
                continue
            is_link = entry.kind == LINK
            blob = _raw_blob_id(entry.data)
            if is_link == stat.S_ISLNK(st.st_mode):
                stats.record(p, st, blob)  # the stat taken before this read
            if old == blob + (LINK_FLAG if is_link else FILE_FLAG):
                continue
            if old is None and store.is_ignored(p):
                continue
            old_link = old is not None and old[20:] == LINK_FLAG
            changes[p] = _Change(
                p, old[:20].hex() if old else None, entry.data, entry.mode, old_link, st
            )
        for p in special:
            entry = reader.read(p)
            if entry.data is None:
                if entry.kind not in (MISSING, DIR):
                    present.add(p)
                    if skipped is not None:
                        skipped.append(Diagnostic(p, None, "file", f"{entry.reason}; not synced"))
                continue
            present.add(p)  # became a file meanwhile: the next sync sees it as one
    for p, old in in_tree.items():
        if p not in present:
            changes[p] = _Change(p, old[:20].hex(), None, old_link=old[20:] == LINK_FLAG)
    if skipped is not None:
        skipped.sort(key=lambda d: d.path)
    return [changes[p] for p in sorted(changes)]


def _prepare(
    store: GitStore,
    cache: ParseCache,
    changes: list[_Change],
    config: Config,
    dry_run: bool,
    parallel: bool = False,
    progress: Progress | None = None,
) -> tuple[list[FilePair], list[Event], list[Event], dict[str, tuple[str, int] | None]]:
    """Parse both sides, derive events (for the message), and write the new blobs.

    Returns the pairs, the events derived (not stamped yet), those stamped for the
    message, and the blob of each path (None: deleted).

    With `parallel` (a one-shot sync: no DuckDB in this process to fork with), a big batch
    such as a first snapshot is parsed on every core while this process writes the blobs
    (one pack, `GitStore.write_blobs`).
    """
    written = [c for c in changes if c.data is not None]
    ids, parsed = _write_and_parse(store, written, dry_run, parallel, progress)
    old = cache.missing((c.path, c.old_blob, c.old_link) for c in changes)
    if parallel and goes_parallel(len(old)):
        cache.prefetch(old)
    blobs: dict[str, tuple[str, int] | None] = {c.path: None for c in changes}
    new_of: dict[str, ParsedFile] = {}
    for c, blob, new in zip(written, ids, parsed, strict=True):
        cache.put(c.path, blob, new, c.mode == LINK_MODE)
        blobs[c.path] = (blob, c.mode)
        new_of[c.path] = new
    pairs = [
        FilePair(cache.get(c.path, c.old_blob, c.old_link), new_of.get(c.path)) for c in changes
    ]
    pairs = pair_moves(pairs)
    derived: list[Event] = []
    for pair in pairs:
        derived.extend(derive_events(pair))
    # Stamped only to apply the policy to the trailers; `_events_of` stamps the real commit.
    events = stamp(
        list(derived),
        commit="pending",
        emitted_at="",
        agent=None,
        session=None,
        policy=config.events,
    )
    return pairs, derived, events, blobs


def _write_and_parse(
    store: GitStore,
    written: list[_Change],
    dry_run: bool,
    parallel: bool,
    progress: Progress | None = None,
) -> tuple[list[str], list[ParsedFile]]:
    """(blob ids, parsed files) of the new versions, the blobs written unless `dry_run`."""
    datas: list[bytes] = [c.data for c in written]  # type: ignore[misc]
    if dry_run or not (parallel and goes_parallel(len(written))):
        ids = [git_blob_id(d) for d in datas] if dry_run else store.write_blobs(datas)
        parsed_here = [
            parse_file(c.path, d, link=c.mode == LINK_MODE)
            for c, d in zip(written, datas, strict=True)
        ]
        if progress is not None and written:
            progress(len(written), len(written))
        return ids, parsed_here
    # A big batch (a first snapshot): parsing and compressing are most of the work, and
    # independent per file, so they run on every core. Workers read the files again (a
    # fork shares no memory back) and take only those that still hold the bytes being
    # committed; any other is done here, from those bytes.
    from orchsync.git.pack import BLOB, object_id, record

    raw = [object_id(BLOB, c.data) for c in written]  # type: ignore[arg-type]
    items = [(c.path, oid, c.mode == LINK_MODE) for c, oid in zip(written, raw, strict=True)]
    done = map_chunks(partial(_parse_and_pack, str(store.repo.root)), items, progress=progress)
    parsed: list[ParsedFile] = []
    records: list[tuple[bytes, bytes]] = []
    for c, oid, got in zip(written, raw, done, strict=True):
        if got is None:
            got = (parse_file(c.path, c.data, link=c.mode == LINK_MODE), record(BLOB, c.data))  # type: ignore[arg-type]
        parsed.append(got[0])
        records.append((oid, got[1]))
    store.write_records(records)
    return [oid.hex() for oid in raw], parsed


def _parse_and_pack(
    root: str, items: Sequence[tuple[str, bytes, bool]]
) -> list[tuple[ParsedFile, bytes] | None]:
    """(parsed file, pack record) of each path whose bytes on disk are still those of raw
    blob id `blob`; None for the others."""
    from orchsync.git.pack import BLOB, object_id, record

    out: list[tuple[ParsedFile, bytes] | None] = []
    with Reader(root) as reader:
        for path, blob, link in items:
            entry = reader.read(path)
            data = entry.data
            if data is None or (entry.kind == LINK) != link or object_id(BLOB, data) != blob:
                out.append(None)
            else:
                out.append((parse_file(path, data, link=link), record(BLOB, data)))
    return out


def _write_status(
    repo: Repo, *, blocked: str | None, pending: list[str] | None, last_commit: str | None = None
) -> None:
    """What `orchsync status` shows: why changes wait, and the last snapshot.

    Informative only, so a disk that refuses it costs nothing but this note: the sync has
    done its work (or said why not) by then.
    """
    path = repo.runtime / "status.json"
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    if blocked:
        current.update({"blocked": blocked, "blocked_since": current.get("blocked_since") or now})
    else:
        current.pop("blocked", None)
        current.pop("blocked_since", None)
    if last_commit:
        current.update({"last_commit": last_commit, "last_snapshot_at": now})
    try:
        _replace_file(path, json.dumps(current, indent=2))
    except OSError as exc:
        logger.debug("status.json not written: %s", exc)


def _replace_file(path: Path, text: str) -> None:
    """Write a runtime file atomically; a temp file a refused write left is removed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise


INDEX_UPDATE = "index-update.json"


def _note_user_index_update(
    repo: Repo, ref: str, blobs: dict[str, tuple[str, int] | None], old: dict[str, str | None]
) -> None:
    """Record the git-index update a commit owes, before the ref moves (see below).

    If it cannot be written, this raises and the commit is not made.
    """
    entries = {p: [old.get(p), b[0] if b else None, b[1] if b else None] for p, b in blobs.items()}
    marker = repo.runtime / INDEX_UPDATE
    with storage(marker, root=repo.root):
        _replace_file(marker, json.dumps({"ref": ref, "entries": entries}))


def _forget_user_index_update(repo: Repo) -> None:
    """The git index follows the commit (or there was none): nothing is owed any more.

    A marker that cannot be removed (a read-only runtime folder) does no harm: the next
    sync finds every entry it names already done.
    """
    try:
        (repo.runtime / INDEX_UPDATE).unlink(missing_ok=True)
    except OSError as exc:
        logger.debug("%s not removed: %s", INDEX_UPDATE, exc)


def _finish_user_index_update(repo: Repo, store: GitStore) -> None:
    """Finish the git-index update of a sync that stopped after its commit landed.

    Killed, or refused by the disk (then `_settle` could not take the commit back either).
    Otherwise the index keeps the pre-commit blobs, which then look staged by the user: every
    later sync leaves them alone, and a plain `git commit` would revert the files. Entries
    whose commit did not land need nothing: the index is written only after the ref moved,
    so it still holds what it held. Raises (a StorageFault) while the index cannot be
    written, so no new commit is made before this one's debt is paid.
    """
    marker = repo.runtime / INDEX_UPDATE
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        data = {}
    ref = data.get("ref") if isinstance(data, dict) else None
    if ref and store.branch() == ref:
        tip = store.tip(ref)
        tree = tip.tree if tip is not None else None
        committed: dict[str, tuple[str, int] | None] = {}
        old_blobs: dict[str, str | None] = {}
        disk: dict[str, str] = {}
        for path, (old, new, mode) in (data.get("entries") or {}).items():
            if store.blob_id(tree, path) != new:
                continue  # that commit did not land (or was replaced): nothing is owed
            committed[path] = (new, mode) if new else None
            old_blobs[path] = old
            entry = read_entry(repo.root, path) if new else None
            if entry is not None and entry.data is not None and entry.mode == mode:
                disk[path] = git_blob_id(entry.data)
        if committed:
            store.update_user_index(committed, old_blobs, disk)
            logger.info("finished the git-index update of %d path(s)", len(committed))
    _forget_user_index_update(repo)


def pending_changes(repo: Repo) -> list[str]:
    """Paths whose bytes differ from the last snapshot (what a sync would commit now)."""
    config = load_config(repo.root)
    store = GitStore(repo, config.target_ref)
    if store.git.head_is_detached and not config.target_ref:
        return []
    tip = store.tip()
    return [c.path for c in _collect(repo, store, tip.tree if tip is not None else None, None)]


def read_status(repo: Repo) -> dict[str, object]:
    try:
        return json.loads((repo.runtime / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
