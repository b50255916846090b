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
from typing import Any

from orchsync.config import Config
from orchsync.events import Event, FilePair
from orchsync.git.history import CommitChanges, iter_changes
from orchsync.git.store import GitStore
from orchsync.index import SCHEMA_VERSION, Batch, Index
from orchsync.index.database import encode_rows
from orchsync.index.journal_tail import JOURNAL_META
from orchsync.index.journal_tail import tail as journal_tail
from orchsync.index.schema import ENTITY_TABLES
from orchsync.model import Kind, ParsedFile, entity_id
from orchsync.parse import parse_file
from orchsync.parse.fsread import LINK, LINK_MODE, Reader
from orchsync.parse.parallel import goes_parallel, map_chunks, paused_gc
from orchsync.parse.worktree import list_files
from orchsync.repo import Repo
from orchsync.sync.commitevents import commit_events
from orchsync.sync.parsecache import ParseCache

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
    if at is not None:
        ref, tip_commit = f"at:{at}", store.git[at]
    else:
        ref = store.target_ref()
        tip_commit = store.tip(ref)
    tip = str(tip_commit.id) if tip_commit is not None else None
    result = CatchUp(tip=tip)
    with index.writer() as con:
        meta = index.meta(con)
        rebuild = full or index.version(con) != SCHEMA_VERSION or meta.get("ref") != ref
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
        todo = cache.missing(
            (path, blob, cc.is_link(path, blob))
            for cc in commits
            for path, pair in cc.changes.items()
            for blob in pair
        )
        if not goes_parallel(len(todo)):
            _write(repo, store, config, index, con, cache, plan, progress, result)
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
    if plan.rebuild:
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
            _advance(life, pair, cc)
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
        _add_rows(batch, parsed, created, updated, commit)
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


def _advance(life: dict[str, tuple[str, str, str]], pair: FilePair, cc: CommitChanges) -> None:
    """created_at survives edits and moves; updated_at is the last commit that touched the file."""
    ts = cc.time
    if pair.new is None:
        life.pop(pair.old.path, None)  # type: ignore[union-attr]
        return
    source = pair.old.path if pair.old is not None else pair.new.path
    created = life.pop(source)[0] if pair.old is not None and source in life else ts
    life[pair.new.path] = (created, ts, cc.commit)


def _add_rows(
    batch: Batch, parsed: ParsedFile, created: str | None, updated: str | None, commit: str | None
) -> None:
    batch.files.append(
        {
            "path": parsed.path,
            "kind": parsed.kind.value,
            "code": parsed.entity.code if parsed.entity else None,
            "hash": parsed.hash,
            "size": parsed.size,
            "valid": parsed.valid,
            "diagnostics": [d.to_dict() for d in parsed.diagnostics],
            "commit": commit,
            "created_at": created,
            "updated_at": updated,
        }
    )
    row = entity_row(parsed, created, updated)
    if row is not None:
        table, values = row
        batch.entities.setdefault(table, []).append(values)


def entity_row(
    parsed: ParsedFile, created: str | None, updated: str | None
) -> tuple[str, dict[str, Any]] | None:
    """One entity as a row of its table (see index/schema.py for the columns)."""
    e = parsed.entity
    if e is None:
        return None
    f = e.fields()
    tail = {
        "hash": parsed.hash,
        "file_path": parsed.path,
        "valid": parsed.valid,
        "created_at": created,
        "updated_at": updated,
    }
    common = {
        "id": e.id,
        "title": e.title,
        "status": e.status,
        "context": e.context,
        "metadata": e.metadata,
    }
    kind = parsed.kind
    if kind is Kind.SPRINT:
        row = {
            **common,
            "code": e.code,
            "owner": f["owner"],
            "start_date": f["start_date"],
            "end_date": f["end_date"],
            "goal": f["goal"],
            "body": e.body,
        }
    elif kind is Kind.TASK:
        row = {
            **common,
            "code": e.code,
            "sprint_code": f["sprint"],
            "sprint_id": entity_id("sprint", f["sprint"]),
            "priority": f["priority"],
            "agent": f["agent"],
            "assignee": f["assignee"],
            "depends_on": f["depends_on"],
            "objectives": f["objectives"],
            "deliverables": f["deliverables"],
            "acceptance_criteria": f["acceptance_criteria"],
            "body": e.body,
        }
    elif kind is Kind.TASK_AGENT:
        sprint = parsed.path.split("/")[2]
        row = {
            "id": entity_id("task", e.code),
            "task_code": e.code,
            "sprint_code": sprint,
            "agent": f["agent"],
            "config": f["config"],
        }
    elif kind is Kind.AGENT:
        row = {
            **common,
            "name": e.code,
            "role": f["role"],
            "model": f["model"],
            "capabilities": f["capabilities"],
            "tools_allowed": f["tools_allowed"],
            "safety_rails": f["safety_rails"],
        }
        row.pop("status")
    elif kind is Kind.ADR:
        row = {**common, "number": f["number"], "date": f["date"], "body": e.body}
    elif kind is Kind.BUG:
        row = {
            **common,
            "number": f["number"],
            "priority": f["priority"],
            "sprint_code": f["sprint"],
            "reported_by": f["reported_by"],
            "body": e.body,
        }
    elif kind is Kind.SESSION:
        row = {
            **common,
            "key": e.code,
            "task_code": f["task"],
            "sprint_code": f["sprint"],
            "agent": f["agent"],
            "started_at": f["started_at"],
            "ended_at": f["ended_at"],
            "handoffs": f["handoffs"],
            "body": e.body,
        }
        row.pop("context")
    else:
        return None
    return ENTITY_TABLES[kind.value], {**row, **tail}


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
    encoded = map_chunks(
        partial(_encode_files, repo.root), [(p, life.get(p)) for p in paths], progress=progress
    )
    with index.writer() as con:
        if fresh:
            index.reset(con)
        batch = Batch(touched=indexed + paths)
        if fresh:
            batch.meta = {"ref": ref, "last_commit": result.tip or "", "history": "skipped"}
        rows, journal_meta = journal_tail(repo.runtime / "journal", config.events, meta, full=fresh)
        batch.events.extend(rows)
        batch.meta.update(journal_meta)
        for table, text in encoded:
            batch.encoded.setdefault(table, []).append(text)
        result.files = len(paths)
        index.apply(con, batch)
        index.refresh_views(con)
    result.rebuilt = fresh
    return result


def _encode_files(
    root: Path, items: Sequence[tuple[str, tuple[str, str, str] | None]]
) -> list[tuple[str, str]]:
    """Parse files and return their rows as loader text, (table, encode_rows text) pairs.

    Runs in worker processes for a big tree, so the parent receives finished text rather
    than parsed files to unpickle, turn into rows and encode.
    """
    batch = Batch()
    with Reader(root) as reader:
        for path, lifetime in items:
            entry = reader.read(path)
            if entry.data is None:
                continue  # gone, or nothing git could record (a FIFO, too large): not a row
            parsed = parse_file(path, entry.data, link=entry.kind == LINK)
            created, updated, commit = lifetime or (None, None, None)
            if created is None:
                st = reader.lstat(path)
                mtime = datetime.fromtimestamp(st.st_mtime if st else 0, UTC).replace(tzinfo=None)
                created = updated = mtime.isoformat(timespec="seconds")
            _add_rows(batch, parsed, created, updated, commit)
    return [("files", encode_rows(batch.files))] + [
        (table, encode_rows(rows)) for table, rows in batch.entities.items()
    ]
