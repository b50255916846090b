"""Bring the DuckDB index up to a git tip: incremental after a sync or pull, whole on rebuild.

This is the only path from git to the index. Live syncs commit first and then call
`catch_up`, exactly as a rebuild does for the whole history, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from orchsync.config import Config
from orchsync.git.history import CommitChanges, iter_changes
from orchsync.git.store import GitStore
from orchsync.index import SCHEMA_VERSION, Batch, Index
from orchsync.index.database import RowSink, encode_rows
from orchsync.index.journal_tail import JOURNAL_META
from orchsync.index.journal_tail import tail as journal_tail
from orchsync.parse import parse_file
from orchsync.parse.events import Event
from orchsync.parse.fsread import LINK, LINK_MODE, Reader
from orchsync.parse.parallel import ChunkStream, goes_parallel, paused_gc
from orchsync.parse.worktree import list_files
from orchsync.repo import Repo
from orchsync.sync.commitevents import commit_events
from orchsync.sync.filerows import add_rows, advance, entity_row
from orchsync.sync.parsecache import (
    ParseCache,
    StoredParses,
    dump_parsed,
    load_parsed,
    store_key,
)

if TYPE_CHECKING:
    import pygit2

__all__ = ["CatchUp", "ParseCache", "catch_up", "entity_row", "index_from_files", "index_for"]

Progress = Callable[[int, int], None]

_LIST_TIP_ABOVE = 500  # touched paths above which the whole tip tree is listed once


@dataclass(slots=True)
class CatchUp:
    commits: int = 0
    events: int = 0
    files: int = 0
    rebuilt: bool = False
    tip: str | None = None
    new_events: list[Event] = field(default_factory=list)


def index_for(repo: Repo) -> Index:
    return Index(repo.index_path)


def catch_up(
    repo: Repo,
    store: GitStore,
    config: Config,
    *,
    full: bool = False,
    cache: ParseCache | None = None,
    progress: Progress | None = None,
    index: Index | None = None,
    at: str | None = None,
) -> CatchUp:
    """Index every commit of the target ref not indexed yet. Caller holds the repo lock.

    With `at` (a commit id) and a separate `index`, build the index of the tree as it was
    at that commit: how `--at REV` answers queries about the past.
    """
    index = index or index_for(repo)
    cache = cache or ParseCache(store)
    tip_commit: pygit2.Commit | None
    if at is not None:  # a commit id (`query.reader.index_at` resolved it)
        ref, tip_commit = f"at:{at}", cast("pygit2.Commit", store.git[at])
    else:
        ref = store.target_ref()
        tip_commit = store.tip(ref)
    tip = str(tip_commit.id) if tip_commit is not None else None
    result = CatchUp(tip=tip)
    with index.writer() as con:
        meta = index.meta(con)  # schema_version included: no second read for it
        rebuild = (
            full or meta.get("schema_version") != str(SCHEMA_VERSION) or meta.get("ref") != ref
        )
        last = None if rebuild else meta.get("last_commit")
        if not rebuild and last == tip:
            if at is None:
                _load_journal_tail(repo, config, index, con, meta)
            return result
        if not rebuild and last and tip and not store.is_ancestor(last, tip):
            rebuild = True  # history was rewritten (reset, checkout): git wins, start over
            last = None
        commits = []
        if tip is not None and (rebuild or last):
            commits = list(iter_changes(store, tip, last))
        plan = _Plan(ref, tip_commit, meta, rebuild, rebuild or at is None, commits)
        todo: list[tuple[str, str, bool]] = []
        if not rebuild:
            todo = cache.missing(
                (path, blob, cc.is_link(path, blob))
                for cc in commits
                for path, pair in cc.changes.items()
                for blob in pair
            )
            if not goes_parallel(len(todo)):
                _write(repo, store, config, index, con, cache, plan, progress, result)
                return result
    if rebuild:
        # The whole history: streamed in bounded memory (orchsync.sync.rebuild), which
        # forks its parse workers before it opens the index again.
        from orchsync.sync.rebuild import rebuild_from_history

        journal = None
        if plan.journal:
            journal = journal_tail(repo.runtime / "journal", config.events, meta, full=True)
        rebuild_from_history(
            repo,
            store,
            config,
            index,
            cache,
            ref=ref,
            tip_commit=tip_commit,
            commits=commits,
            journal=journal,
            progress=progress,
            result=result,
        )
        return result
    # Many versions to parse (a rebuild, a big pull): parse them on every core first, with
    # no DuckDB connection open, since the workers are forked. The caller holds the repo
    # lock, so the index is still as read above when the writer opens again. The GC is
    # paused meanwhile: the parsed files and rows (~1M objects) are long-lived and hold no
    # cycles, and full collections would rescan them several times over.
    with paused_gc():
        cache.prefetch(todo)
        with index.writer() as con:
            _write(repo, store, config, index, con, cache, plan, progress, result)
    return result


@dataclass(slots=True)
class _Plan:
    """What catch_up read from the index: how far it is and what to replay."""

    ref: str
    tip_commit: Any
    meta: dict[str, str]
    rebuild: bool
    journal: bool  # load the journal's new rows too (not for an index of the past)
    commits: list[CommitChanges]


def _write(
    repo: Repo,
    store: GitStore,
    config: Config,
    index: Index,
    con: Any,
    cache: ParseCache,
    plan: _Plan,
    progress: Progress | None,
    result: CatchUp,
) -> None:
    """Replay the plan's commits (after a reset when rebuilding), then the journal."""
    if plan.rebuild:
        index.reset(con)
        result.rebuilt = True
    batch = Batch(
        meta={
            "ref": plan.ref,
            "last_commit": result.tip or "",
            "schema_version": str(SCHEMA_VERSION),
        }
    )
    if plan.commits:
        tree = plan.tip_commit.tree
        _replay(plan.commits, cache, config, con, index, batch, tree, store, progress, result)
    if plan.journal:
        rows, journal_meta = journal_tail(
            repo.runtime / "journal", config.events, plan.meta, full=plan.rebuild
        )
        batch.events.extend(rows)
        batch.meta.update(journal_meta)
    index.apply(con, batch)
    if plan.rebuild:  # a live batch leaves the archive (and so the views) as they were
        index.drop_archived(con)
        index.refresh_views(con)


def _replay(
    commits: list[CommitChanges],
    cache: ParseCache,
    config: Config,
    con: Any,
    index: Index,
    batch: Batch,
    tip_tree: Any,
    store: GitStore,
    progress: Progress | None,
    result: CatchUp,
) -> None:
    touched: dict[str, None] = {}
    for cc in commits:
        touched.update(dict.fromkeys(cc.changes))
    life = _existing_lifetimes(con, list(touched)) if touched else {}
    for n, cc in enumerate(commits, 1):
        pairs, events = commit_events(cc, cache, config)
        for pair in pairs:
            advance(life, pair, cc)
        batch.events.extend(e.to_row() for e in events)
        result.new_events.extend(events)
        if progress:
            progress(n, len(commits))
    result.commits = len(commits)
    result.events = len(batch.events)
    batch.touched = list(touched)
    # One listing of the tip tree beats a path lookup per file (~35 us each) for big batches.
    links: set[str] = set()
    tip_blobs = store.list_blobs(tip_tree, links=links) if len(touched) > _LIST_TIP_ABOVE else None
    for path in touched:
        if tip_blobs is not None:
            blob, link = tip_blobs.get(path), path in links
        else:
            entry = store.blob_entry(tip_tree, path)
            blob, link = (entry[0], entry[1] == LINK_MODE) if entry is not None else (None, False)
        parsed = cache.get(path, blob, link)
        if parsed is None:
            continue
        created, updated, commit = life.get(path) or (None, None, None)
        add_rows(batch, parsed, created, updated, commit)
        result.files += 1


def _existing_lifetimes(con: Any, paths: list[str]) -> dict[str, tuple[str, str, str]]:
    if len(paths) > 2000:
        rows = con.execute('SELECT path, created_at, updated_at, "commit" FROM files').fetchall()
    else:
        rows = con.execute(
            'SELECT path, created_at, updated_at, "commit" FROM files WHERE path IN (SELECT unnest(?))',
            [paths],
        ).fetchall()
    wanted = set(paths)
    return {p: (_iso(c), _iso(u), k) for p, c, u, k in rows if p in wanted}


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)  # keeps microseconds


def _load_journal_tail(
    repo: Repo, config: Config, index: Index, con: Any, meta: dict[str, str]
) -> None:
    """Load journal rows appended since the index last read the journal (no commit needed)."""
    rows, journal_meta = journal_tail(repo.runtime / "journal", config.events, meta)
    if rows or journal_meta.get(JOURNAL_META) != meta.get(JOURNAL_META):
        index.apply(con, Batch(events=rows, meta=journal_meta))


def index_from_files(
    repo: Repo, store: GitStore, config: Config, progress: Progress | None = None
) -> CatchUp:
    """Rebuild the entity tables from the work tree (uncommitted edits included), fast.

    Events and history are kept as they are when the index is current; on a missing or
    outdated index only the journal's events are restored (run `reindex` for history).
    Files are read and parsed on every core (versions parsed before come from the parse
    store, `parsecache.StoredParses`) and their rows loaded a chunk at a time as they
    come back, so memory stays bounded at 100,000 tasks; the index says it is being
    rebuilt meanwhile (`Index.begin_rebuild`), so no reader takes it for a current one.
    """
    index = index_for(repo)
    ref = store.target_ref()
    tip_commit = store.tip(ref)
    result = CatchUp(tip=str(tip_commit.id) if tip_commit is not None else None)
    paths = list_files(repo.root)
    # Read what the rebuild keeps, and close: parsing forks worker processes, which must
    # not copy a live DuckDB. The caller holds the repo lock, so the index stays as read.
    with index.writer() as con:
        fresh = index.version(con) != SCHEMA_VERSION
        life = {} if fresh else _existing_lifetimes(con, paths)
        indexed = [] if fresh else [r[0] for r in con.execute("SELECT path FROM files").fetchall()]
        meta = {} if fresh else index.meta(con)
    items = [(p, life.pop(p, None)) for p in paths]
    fn = partial(_encode_files, str(repo.root), str(repo.runtime))
    StoredParses.prepare(repo.runtime)
    # The workers fork as the stream starts, before the index opens (left to right).
    with (
        paused_gc(),
        ChunkStream(fn, items, chunk_size=_FILES_CHUNK, window=8) as stream,
        index.writer() as con,
    ):
        con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
        if fresh:
            index.reset(con)
        index.begin_rebuild(con)
        index.apply(con, Batch(touched=indexed + paths))  # the old rows go first
        sink = RowSink(index, con)
        done = 0
        for part in stream:
            for table, text in part:
                sink.add_encoded(table, text)
            done = min(len(items), done + _FILES_CHUNK)
            if progress is not None:
                progress(done, len(items))
        sink.close()
        batch = Batch(meta={"schema_version": str(SCHEMA_VERSION)})
        if fresh:
            # "history": no events of commits up to this tip (event sinks must not pass it)
            batch.meta.update(
                {
                    "ref": ref,
                    "last_commit": result.tip or "",
                    "history": "skipped",
                    "history_from": result.tip or "",
                }
            )
        rows, journal_meta = journal_tail(repo.runtime / "journal", config.events, meta, full=fresh)
        batch.events.extend(rows)
        batch.meta.update(journal_meta)
        index.apply(con, batch)
        index.refresh_views(con)
    result.files = len(paths)
    result.rebuilt = fresh
    return result


_FILES_CHUNK = 1000
DUCKDB_MEMORY = "256MB"  # see orchsync.sync.rebuild


def _encode_files(
    root: str, runtime: str, items: Sequence[tuple[str, tuple[str, str, str] | None]]
) -> list[tuple[str, str]]:
    """Read and parse files (versions parsed before come from the parse store, new ones go
    there) and return their rows as loader text, (table, encode_rows text) pairs.

    Runs in worker processes for a big tree, so the parent receives finished text rather
    than parsed files to unpickle, turn into rows and encode.
    """
    from orchsync.git.pack import BLOB, object_id

    read = []
    with Reader(root) as reader:
        for path, lifetime in items:
            entry = reader.read(path)
            if entry.data is None:
                continue  # gone, or nothing git could record (a FIFO, too large): not a row
            link = entry.kind == LINK
            key = store_key(path, object_id(BLOB, entry.data).hex(), link)
            created, updated, commit = lifetime or (None, None, None)
            if created is None:
                st = reader.lstat(path)
                mtime = datetime.fromtimestamp(st.st_mtime if st else 0, UTC).replace(tzinfo=None)
                created = updated = mtime.isoformat(timespec="seconds")
            read.append((path, entry.data, link, key, (created, updated, commit)))
    batch = Batch()
    stored = StoredParses(Path(runtime), write=True)
    try:
        found = stored.get_many([key for _, _, _, key, _ in read])
        for path, data, link, key, (created, updated, commit) in read:
            hit = found.get(key)
            if hit is not None:
                parsed = load_parsed(hit)
            else:
                parsed = parse_file(path, data, link=link)
                stored.add(key, dump_parsed(parsed))
            add_rows(batch, parsed, created, updated, commit)
    finally:
        stored.close()
    return [("files", encode_rows(batch.files))] + [
        (table, encode_rows(rows)) for table, rows in batch.entities.items()
    ]
