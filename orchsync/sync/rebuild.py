"""A whole index built from git history in bounded memory: `reindex` at 100,000 tasks.

The incremental catch-up (`catchup._replay`) parses every version it touches, keeps them,
and loads all rows in one batch: right for a sync or a pull, but a rebuild of 100,000
tasks held ~200,000 parsed files and ~400,000 event rows at once (2.6 GB). Here the
same replay streams:

- the versions history brings are parsed in commit order on every core (`ChunkStream`,
  forked before DuckDB opens), a window of chunks at a time, each looked up first in
  the parse store kept across runs (`parsecache.StoredParses`), where new ones go;
- a parsed version is kept only while a later commit still needs it as its old side;
- each commit's events are derived (by `commitevents`, as the catch-up does), stamped and
  loaded in batches (`index.RowSink`); a commit that both deletes and adds files has its
  pairs joined into moves over the whole commit, any other is taken a chunk at a time;
- a file's rows are loaded as soon as its tip version has been seen for the last time,
  with the lifetime known then; the few whose lifetime a later commit changed (merged
  branches) are loaded again at the end.

It produces the rows and events the incremental replay does (tests compare both).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from orchsync.config import Config
from orchsync.git.history import CommitChanges
from orchsync.git.store import GitStore, open_git
from orchsync.index import SCHEMA_VERSION, Batch, Index
from orchsync.index.database import RowSink
from orchsync.model import ParsedFile
from orchsync.parse import parse_file
from orchsync.parse.events import Event, FilePair, derive_events, pair_moves, stamp
from orchsync.parse.parallel import ChunkStream, paused_gc
from orchsync.repo import Repo
from orchsync.sync.commitevents import import_events, rollback_events
from orchsync.sync.filerows import add_rows, advance
from orchsync.sync.parsecache import (
    ParseCache,
    StoredParses,
    Version,
    dump_parsed,
    load_parsed,
    store_key,
)

__all__ = ["rebuild_from_history"]

CHUNK = 500  # versions per worker task, and pairs per step of a commit without moves
WINDOW = 8  # chunks out at once: ~4,000 parsed versions in memory, whatever the size
# DuckDB's buffers while a rebuild loads rows: its default (80% of RAM) let a rebuild of
# 100,000 tasks grow past 1 GB; loading in batches needs far less.
DUCKDB_MEMORY = "256MB"


@dataclass(slots=True)
class _Walk:
    """What the replay needs to know about history before it starts."""

    jobs: list[Version]  # every new version, in the order the replay meets them
    last_seen: dict[Version, int]  # version -> index in `jobs` of its last appearance
    needed_old: Counter[Version]  # version -> how many later changes have it as old side
    tip: dict[str, str]  # path -> its blob id in the tip tree
    links: set[str]  # the tip's paths that are symbolic links

    def tip_version(self, path: str) -> Version | None:
        blob = self.tip.get(path)
        return None if blob is None else (path, blob, path in self.links)


def _walk(commits: Sequence[CommitChanges], tip: dict[str, str], links: set[str]) -> _Walk:
    jobs: list[Version] = []
    last_seen: dict[Version, int] = {}
    needed_old: Counter[Version] = Counter()
    for cc in commits:
        for path, (old, new) in sorted(cc.changes.items()):
            if old is not None:
                needed_old[(path, old, cc.is_link(path, old))] += 1
            if new is not None:
                version = (path, new, cc.is_link(path, new))
                last_seen[version] = len(jobs)
                jobs.append(version)
    return _Walk(jobs, last_seen, needed_old, tip, links)


def _parse_versions(git_dir: str, runtime: str, versions: Sequence[Version]) -> list[bytes]:
    """Each version parsed (pickled): from the parse store, else parsed here and stored.

    Runs in a forked worker (or the parent): a repository and a store connection of its own.
    """
    git = open_git(Path(git_dir))  # freed by reference counting (see open_git)
    stored = StoredParses(Path(runtime), write=True)
    try:
        found = stored.get_many([store_key(*v) for v in versions])
        out: list[bytes] = []
        for path, blob, link in versions:
            key = store_key(path, blob, link)
            data = found.get(key)
            if data is None:
                data = dump_parsed(parse_file(path, git[blob].data, link=link))  # type: ignore[attr-defined]
                stored.add(key, data)
            out.append(data)
    finally:
        stored.close()
    return out


def rebuild_from_history(
    repo: Repo,
    store: GitStore,
    config: Config,
    index: Index,
    cache: ParseCache,
    *,
    ref: str,
    tip_commit: Any,
    commits: list[CommitChanges],
    journal: tuple[list[dict[str, Any]], dict[str, str]] | None,
    progress: Any,
    result: Any,
) -> None:
    """Rebuild `index` from `commits` (every commit of history up to `tip_commit`).

    Called with no DuckDB connection open: parse workers are forked first. `journal` is
    the journal's rows and meta to load with it (None for an index of the past).
    """
    links: set[str] = set()
    tip = store.list_blobs(tip_commit.tree, links=links) if tip_commit is not None else {}
    walk = _walk(commits, tip, links)
    fn = partial(_parse_versions, store.git.path, str(repo.runtime))
    StoredParses.prepare(repo.runtime)
    with paused_gc(), ChunkStream(fn, walk.jobs, chunk_size=CHUNK, window=WINDOW) as stream:
        stored = StoredParses(repo.runtime, write=True)  # opened after the fork
        try:
            with index.writer() as con:
                con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
                index.reset(con)
                result.rebuilt = True
                sink = RowSink(index, con)
                replay = _Replay(config, cache, walk, sink, stored, _versions(stream))
                for n, cc in enumerate(commits, 1):
                    replay.commit(cc, last=n == len(commits))
                    cc.changes = {}  # replayed: a first commit's 200,000 paths go now
                    if progress:
                        progress(n, len(commits))
                # the rows loaded so far, and their search terms, before the final batch:
                # its apply re-derives the terms of the paths it touches, and its meta
                # marks the index current (as `index_from_files` orders it)
                sink.close()
                batch = Batch(
                    meta={
                        "ref": ref,
                        "last_commit": result.tip or "",
                        "schema_version": str(SCHEMA_VERSION),
                    }
                )
                replay.finish(batch)
                if journal is not None:
                    batch.events.extend(journal[0])
                    batch.meta.update(journal[1])
                index.apply(con, batch)
                index.drop_archived(con)
                index.refresh_views(con)
        finally:
            stored.close()
    result.commits = len(commits)
    result.events = replay.events
    result.files = len(tip)
    result.new_events = replay.last_events


def _versions(stream: ChunkStream[Version, bytes]) -> Iterator[bytes]:
    for part in stream:
        yield from part


class _Replay:
    """The commits replayed one after another; see the module docstring."""

    def __init__(
        self,
        config: Config,
        cache: ParseCache,
        walk: _Walk,
        sink: RowSink,
        stored: StoredParses,
        parsed: Iterator[bytes],
    ) -> None:
        self.config, self.cache, self.walk, self.sink, self.stored = (
            config,
            cache,
            walk,
            sink,
            stored,
        )
        self.parsed = parsed
        self.job = 0  # index in walk.jobs of the next new version
        self.kept: dict[Version, ParsedFile] = {}
        self.life: dict[str, tuple[str, str, str]] = {}
        self.loaded: set[str] = set()  # paths whose rows are in the index
        self.redo: set[str] = set()  # ... whose lifetime changed after that
        self.events = 0
        self.last_events: list[Event] = []

    def _new(self, version: Version) -> tuple[ParsedFile, int]:
        parsed = load_parsed(next(self.parsed))
        job, self.job = self.job, self.job + 1
        if self.walk.needed_old[version] > 0:
            self.kept[version] = parsed
        return parsed, job

    def _old(self, version: Version) -> ParsedFile | None:
        left = self.walk.needed_old[version] - 1
        self.walk.needed_old[version] = left
        parsed = self.kept.get(version)
        if left <= 0:
            self.kept.pop(version, None)
        if parsed is None:  # history that starts mid-way (`at`), or a version given back
            parsed = self._parsed(version)
        return parsed

    def _parsed(self, version: Version) -> ParsedFile | None:
        """A version not at hand: from the parse store, else parsed now (and stored)."""
        hit = self.cache.items.get(version)
        if hit is not None:
            return hit
        key = store_key(*version)
        data = self.stored.get_many([key]).get(key)
        if data is not None:
            parsed = load_parsed(data)
            self.cache.put(*version[:2], parsed, version[2])
            return parsed
        fresh = self.cache.get(*version)
        if fresh is not None:
            self.stored.add(key, dump_parsed(fresh))
        return fresh

    def commit(self, cc: CommitChanges, *, last: bool) -> None:
        items = sorted(cc.changes.items())
        moves = any(new is None for _, (_, new) in items) and any(
            old is None for _, (old, _) in items
        )
        step = len(items) if moves else CHUNK
        seq = 0
        rollbacks: list[Event] = []
        imported: list[FilePair] = []  # an import's event counts all of its files
        for start in range(0, len(items), step):
            pairs: list[FilePair] = []
            jobs: dict[int, int] = {}  # id(new parsed file) -> its index in walk.jobs
            for path, (old, new) in items[start : start + step]:
                if path in self.loaded:
                    self.redo.add(path)
                before = self._old((path, old, cc.is_link(path, old))) if old else None
                after = None
                if new is not None:
                    after, job = self._new((path, new, cc.is_link(path, new)))
                    jobs[id(after)] = job
                pairs.append(FilePair(before, after))
            pairs = pair_moves(pairs)
            derived: list[Event] = []
            for pair in pairs:
                derived.extend(derive_events(pair))
            rollbacks.extend(rollback_events(pairs, cc.trailers.rollback))
            if cc.trailers.imported:
                imported.extend(pairs)
            self._events(cc, derived, seq, last)
            seq += len(derived)
            for pair in pairs:
                self._advance(pair, cc)
                if pair.new is not None:
                    self._tip_rows(pair.new, jobs.get(id(pair.new)))
        rollbacks.extend(import_events(imported, cc.trailers.imported))
        self._events(cc, rollbacks, seq, last)

    def _events(self, cc: CommitChanges, derived: list[Event], seq: int, last: bool) -> None:
        events = stamp(
            derived,
            commit=cc.commit,
            emitted_at=cc.time,
            agent=cc.trailers.agent,
            session=cc.trailers.session,
            policy=self.config.events,
            start_seq=seq,
        )
        for event in events:
            self.sink.add("events", event.to_row())
        self.events += len(events)
        if last:  # what a sync that caused this rebuild reports of its own commit
            self.last_events.extend(events)

    def _advance(self, pair: FilePair, cc: CommitChanges) -> None:
        if pair.old is not None and pair.old.path in self.loaded:
            self.redo.add(pair.old.path)
        advance(self.life, pair, cc)

    def _tip_rows(self, parsed: ParsedFile, job: int | None) -> None:
        """Load the rows of a file's tip version when the replay sees it for the last time."""
        version = self.walk.tip_version(parsed.path)
        if version is None or job is None or self.walk.last_seen.get(version) != job:
            return
        created, updated, commit = self.life.get(parsed.path) or (None, None, None)
        batch = Batch()
        add_rows(batch, parsed, created, updated, commit)
        for row in batch.files:
            self.sink.add("files", row)
        for table, rows in batch.entities.items():
            for row in rows:
                self.sink.add(table, row)
        self.loaded.add(parsed.path)

    def finish(self, batch: Batch) -> None:
        """Rows of tip files whose lifetime changed after they were loaded (or that the
        replay never saw last, in a history of merged branches), into `batch`."""
        again = self.redo | (set(self.walk.tip) - self.loaded)
        batch.touched = sorted(again)
        for path in batch.touched:
            parsed = self._parsed(self.walk.tip_version(path))  # type: ignore[arg-type]
            if parsed is None:
                continue
            created, updated, commit = self.life.get(path) or (None, None, None)
            add_rows(batch, parsed, created, updated, commit)
