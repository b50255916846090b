"""A fresh, read-only connection to the index: the only way a read reaches DuckDB.

`reader(repo)` opens the index read-only and, when git has moved past what the index holds
(a pull, a plain `git commit`, a missing or outdated index), catches it up first, with no
step the user must remember. Staleness is checked by reading ref files directly, so a fresh
index costs one DuckDB open and no pygit2 import. `reader(repo, at=REV)` answers from an
index of the tree at a revision, built once per commit.

DuckDB itself is imported by the functions that open the index, not with this module:
`query.answers` and `query.freshness` serve cached answers (`tasks`, AGENT INIT) with
no DuckDB at all (the package loads this module only when `query.reader` is asked for).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchsync.config import Config, load_config
from orchsync.errors import LockTimeout, OrchsyncError, StorageFault, waiting
from orchsync.index import SCHEMA_VERSION
from orchsync.index.journal_tail import pending as journal_pending
from orchsync.query.freshness import expected_tip
from orchsync.repo import Repo

if TYPE_CHECKING:
    from orchsync.index.database import Index
    from orchsync.index.duck import duckdb

RUNNING_SYNC_WAIT = 30.0  # how long a reader waits for a running sync before catching up itself
READ_WAIT = 15.0  # how long a reader waits for that writer

__all__ = ["archive", "reader", "refresh"]


def _is_fresh(meta: dict[str, str], ref: str | None, tip: str | None) -> bool:
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        return False
    if ref is None:  # detached HEAD: serve what we have
        return True
    return meta.get("ref") == ref and (meta.get("last_commit") or None) == tip


def refresh(
    repo: Repo,
    config: Config | None = None,
    *,
    full: bool = False,
    progress: Any = None,
    repair: bool = False,
) -> Any:
    """Catch the index up with git under the repo lock (imports pygit2: only when needed).

    `repair`: first, under the same lock, delete an index file DuckDB cannot open (it is
    rebuilt). Only under the lock: a writer creating or checkpointing the file holds it,
    and a file read half-written must not be taken for a corrupt one and deleted under
    the writer's feet (readers and a writer starting on a clone with no index race so).
    """
    from orchsync.git.store import GitStore
    from orchsync.index.database import Index
    from orchsync.repo import repo_lock
    from orchsync.sync.catchup import catch_up

    config = config or load_config(repo.root)
    with repo_lock(repo):
        if repair and _corrupt(Index(repo.index_path)):
            full = True
        return catch_up(
            repo, GitStore(repo, config.target_ref), config, full=full, progress=progress
        )


@contextmanager
def reader(
    repo: Repo, *, at: str | None = None, journal: bool = True
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to an index that reflects git (or the tree at revision `at`).

    `journal=False` skips loading journal events appended since the last read (for callers
    that read no journal events, such as the context broker: it saves a write).
    """
    if at is not None:
        with _reader_at(repo, at) as con:
            yield con
        return
    from orchsync.index.database import Index
    from orchsync.index.duck import duckdb

    config = load_config(repo.root)
    ref, tip = expected_tip(repo, config)
    index = Index(repo.index_path)
    with ExitStack() as stack:
        state = _open_fresh(stack, repo, index, ref, tip, journal)
        if state == "stale" and ref is not None:
            state = _during_running_sync(stack, repo, index, ref, tip, journal)
        if isinstance(state, duckdb.DuckDBPyConnection):
            yield state
            return
    if state == "journal":
        _load_journal(repo, config, index)
    elif ref is not None or not index.exists():
        try:
            refresh(repo, config, repair=True)
        except StorageFault as exc:
            # A stale answer would look like a current one: say why there is none.
            raise waiting(exc, "the index is behind git and cannot catch up") from exc
        except LockTimeout:
            if not index.exists():
                raise
        except OrchsyncError:
            if not index.exists():
                raise
    with index.reader() as con:
        yield con


def _open_fresh(
    stack: ExitStack, repo: Repo, index: Index, ref: str | None, tip: str | None, journal: bool
) -> duckdb.DuckDBPyConnection | str:
    """An open read-only connection when the index reflects git (and the journal, if asked);
    else why not: "journal" (only journal events are missing) or "stale"."""
    from orchsync.index.database import IndexMissing
    from orchsync.index.duck import duckdb

    if not index.exists():
        return "stale"
    _let_writer_finish(index)
    with ExitStack() as mine:
        try:
            con = mine.enter_context(_read_only(index))
        except (IndexMissing, duckdb.Error):
            return "stale"  # a corrupt or foreign file: rebuilt by the caller
        meta = index.meta(con)  # one read answers both questions
        if not _is_fresh(meta, ref, tip):
            return "stale"
        if journal and journal_pending(repo.runtime / "journal", meta):
            return "journal"
        stack.enter_context(mine.pop_all())  # the caller's stack closes it
        return con


WARM_AFTER = 3  # reads in one process before it keeps a DuckDB instance for the next ones
_reads = 0
_warm: _WarmReader | None = None
_warm_guard = threading.Lock()


def keep_warm() -> None:
    """For a process that serves reads (the daemon answering searches): keep a DuckDB
    instance from the next read on, rather than after WARM_AFTER of them."""
    global _reads
    with _warm_guard:
        _reads = max(_reads, WARM_AFTER - 1)


def drop_warm() -> None:
    """Give back the instance kept for reads (an idle daemon); the next reads make another.
    The caller knows no read is running (the daemon holds its sync lock)."""
    global _reads, _warm
    with _warm_guard:
        warm, _warm, _reads = _warm, None, 0
    if warm is not None:
        warm.close()


def _read_only(index: Index) -> Any:
    """`index.reader()`; in a process that reads again and again (the MCP server, `events
    --follow`, a polling script), the index attached to an instance it keeps instead."""
    global _reads, _warm
    with _warm_guard:
        _reads += 1
        if _reads >= WARM_AFTER and _warm is None:
            _warm = _WarmReader()
        warm = _warm
    if warm is not None and warm.busy.acquire(blocking=False):
        return warm.open(index.path)
    return index.reader()


class _WarmReader:
    """One DuckDB instance kept by a long-lived reader: each read attaches the index
    read-only (~2 ms) instead of building an instance (~20 ms, more under load), and
    detaches it again, so a writer elsewhere is held off no longer than before. One read at
    a time uses it (`busy`); a concurrent one opens the index the usual way."""

    ALIAS = "orchsync_read"

    def __init__(self) -> None:
        from orchsync.index.duck import duckdb

        self.db = duckdb.connect(":memory:")
        self.busy = threading.Lock()

    def close(self) -> None:
        from orchsync.index.duck import duckdb

        with suppress(duckdb.Error):
            self.db.close()

    @contextmanager
    def open(self, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        """Acquired `busy` is released on exit."""
        from orchsync.index.duck import attach_read_only

        con = self.db.cursor()
        attached = False
        try:
            # a refused attach costs ~0.4 ms: ask again soon
            attach_read_only(con, path, self.ALIAS, wait=READ_WAIT, poll=0.005)
            attached = True
            con.execute(f"USE {self.ALIAS}")
            yield con
        finally:
            try:
                if attached:
                    con.execute("USE memory")
                    con.execute(f"DETACH {self.ALIAS}")
            finally:
                con.close()
                self.busy.release()


def _let_writer_finish(index: Index) -> None:
    """Wait while a writer writes the index (it holds WRITER_LOCK for its batch: the
    daemon from attach to detach, any other `Index.writer` from open to close).

    A reader that opened the file meanwhile would only be refused and retry with a backoff
    (up to 50 ms late), and readers that kept getting in first held the writer off. Waiting
    on the flock instead wakes the reader the moment the batch is committed, and gives the
    writer its turn.
    """
    from orchsync.index.database import WRITER_LOCK
    from orchsync.repo import FileLock

    lock = FileLock(index.path.parent / WRITER_LOCK, timeout=READ_WAIT)
    try:
        if lock.path.exists() and not lock.try_acquire():
            lock.acquire()
    except LockTimeout:
        return  # a stuck writer: the open below reports it
    except StorageFault:
        return  # a read-only runtime folder: no writer there, nothing to wait for
    lock.release()


def _during_running_sync(
    stack: ExitStack, repo: Repo, index: Index, ref: str | None, tip: str | None, journal: bool
) -> duckdb.DuckDBPyConnection | str:
    """A stale index while a sync holds the repo lock (the daemon committing, then indexing):
    look again every few ms rather than queue up to catch up with the same commits. The index
    is fresh as soon as that sync's catch-up commits, before the sync has finished (it then
    updates the git index), and this saves the reader a read-write open of its own."""
    from orchsync.repo import repo_lock

    probe = repo_lock(repo, timeout=0)
    deadline = time.monotonic() + RUNNING_SYNC_WAIT
    waited = False
    while True:
        try:
            free = probe.try_acquire()
        except StorageFault:
            return "stale"  # a runtime folder that refuses the lock: no sync can run there
        if free:
            probe.release()  # no sync (any more): fresh now, or the caller catches up
            return _open_fresh(stack, repo, index, ref, tip, journal) if waited else "stale"
        if waited:
            state = _open_fresh(stack, repo, index, ref, tip, journal)
            if state != "stale" or time.monotonic() >= deadline:
                return state
        waited = True
        time.sleep(0.01)


def _load_journal(repo: Repo, config: Config, index: Index) -> None:
    """Load journal events (agent.initialized...) appended since the index last read them.

    Takes the repo lock (`repo.repo_lock`) without importing pygit2; when a
    long sync holds it, the index is served as it is and the next reader loads them.
    """
    from orchsync.index import Batch
    from orchsync.index.journal_tail import tail
    from orchsync.repo import repo_lock

    try:
        with repo_lock(repo, timeout=5.0), index.writer() as con:
            rows, meta = tail(repo.runtime / "journal", config.events, index.meta(con))
            index.apply(con, Batch(events=rows, meta=meta))
    except (LockTimeout, StorageFault):
        pass  # served without them; a later reader loads them


def _corrupt(index: Index) -> bool:
    from orchsync.index.duck import duckdb

    if not index.exists():
        return False
    try:
        with index.reader(timeout=1.0) as con:
            index.meta(con)
        return False
    except LockTimeout:
        return False
    except duckdb.Error:
        with index.faults():
            index.path.unlink(missing_ok=True)
            index.path.with_suffix(index.path.suffix + ".wal").unlink(missing_ok=True)
        return True


@contextmanager
def _reader_at(repo: Repo, rev: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """Time travel: an index of the tree at a revision, built once and kept per commit."""
    with index_at(repo, rev).reader() as con:
        yield con


def index_at(repo: Repo, rev: str) -> Index:
    """The index of the tree at `rev` (`.git/orchsync/at/<sha>.duckdb`), built if missing."""
    from orchsync.git.store import GitStore
    from orchsync.index.database import Index
    from orchsync.repo import FileLock
    from orchsync.sync.catchup import catch_up

    config = load_config(repo.root)
    store = GitStore(repo, config.target_ref)
    commit = str(store.resolve(rev).id)
    path = repo.ensure_runtime() / "at" / f"{commit}.duckdb"
    index = Index(path)
    if not index.exists():
        with FileLock(path.with_suffix(".lock")):
            if not index.exists():
                tmp = Index(path.with_suffix(".building"))
                tmp.path.unlink(missing_ok=True)
                catch_up(repo, store, config, index=tmp, at=commit, full=True)
                tmp.path.replace(path)
    return index


def archive(repo: Repo, before: str) -> dict[str, Any]:
    """Move events emitted before `before` (a date or ISO time) out of the live table into a
    Parquet file, after bringing the index up to date (so nothing unindexed is missed)."""
    from orchsync.index.archive import archive_events, cutoff_of
    from orchsync.index.database import Index
    from orchsync.repo import repo_lock

    cutoff = cutoff_of(before)
    with reader(repo):
        pass
    with repo_lock(repo):
        return archive_events(Index(repo.index_path), cutoff)
