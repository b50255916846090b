"""The read side: fresh, read-only answers from the index, for the CLI and the MCP server.

`reader(repo)` is the only way in. It opens the index read-only and, when git has moved
past what the index holds (a pull, a plain `git commit`, a missing or outdated index),
catches it up first, with no step the user must remember. Staleness is checked by reading
ref files directly, so a fresh index costs one DuckDB open and no pygit2 import.

DuckDB itself is imported by the functions that open the index, not with this package:
`query.answers` and `query.freshness` serve cached answers (`tasks`, AGENT INIT) with
no DuckDB at all, and importing them runs this file first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchsync.config import Config, load_config
from orchsync.errors import LockTimeout, OrchsyncError, StorageFault
from orchsync.faults import waiting
from orchsync.index import SCHEMA_VERSION
from orchsync.index.journal_tail import pending as journal_pending
from orchsync.query.freshness import expected_tip, parse_since
from orchsync.repo import Repo

if TYPE_CHECKING:
    from orchsync.index.database import Index
    from orchsync.index.duck import duckdb
    from orchsync.index.worker import Limits

RUNNING_SYNC_WAIT = 30.0  # how long a reader waits for a running sync before catching up itself
READ_WAIT = 15.0  # how long a reader waits for that writer

__all__ = [
    "archive",
    "SqlTarget",
    "events",
    "reader",
    "run_sql",
    "sprints",
    "sql_target",
    "stats",
    "tasks",
]


def _is_fresh(
    index: Index, con: duckdb.DuckDBPyConnection, ref: str | None, tip: str | None
) -> bool:
    if ref is None:  # detached HEAD: serve what we have
        return index.version(con) == SCHEMA_VERSION
    meta = index.meta(con)
    return (
        meta.get("schema_version") == str(SCHEMA_VERSION)
        and meta.get("ref") == ref
        and (meta.get("last_commit") or None) == tip
    )


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
    from orchsync.lock import repo_lock
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
        try:
            if not _is_fresh(index, con, ref, tip):
                return "stale"
            if journal and journal_pending(repo.runtime / "journal", index.meta(con)):
                return "journal"
        except duckdb.Error:
            return "stale"
        stack.enter_context(mine.pop_all())  # the caller's stack closes it
        return con


WARM_AFTER = 3  # reads in one process before it keeps a DuckDB instance for the next ones
_reads = 0
_warm: _WarmReader | None = None
_warm_guard = threading.Lock()


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

    @contextmanager
    def open(self, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        """Acquired `busy` is released on exit."""
        from orchsync.index.duck import duckdb

        con = self.db.cursor()
        attached = False
        try:
            sql = f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS {self.ALIAS} (READ_ONLY)"
            deadline = time.monotonic() + READ_WAIT
            while not attached:
                try:
                    con.execute(sql)
                    attached = True
                except duckdb.Error as exc:
                    text = str(exc).lower()
                    if "lock" not in text and "conflicting" not in text:
                        raise
                    if time.monotonic() >= deadline:
                        raise LockTimeout(
                            f"the index {path} stayed locked by a writer for {READ_WAIT:.0f} s"
                        ) from exc
                    time.sleep(0.005)  # a refused attach costs ~0.4 ms: ask again soon
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
    from orchsync.lock import FileLock

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
    from orchsync.lock import repo_lock

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

    Takes the repo lock (`lock.repo_lock`) without importing pygit2; when a
    long sync holds it, the index is served as it is and the next reader loads them.
    """
    from orchsync.index import Batch
    from orchsync.index.journal_tail import tail
    from orchsync.lock import repo_lock

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
    with _index_at(repo, rev).reader() as con:
        yield con


def _index_at(repo: Repo, rev: str) -> Index:
    """The index of the tree at `rev` (`.git/orchsync/at/<sha>.duckdb`), built if missing."""
    from orchsync.git.store import GitStore
    from orchsync.index.database import Index
    from orchsync.lock import FileLock
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


# --- user SQL --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SqlTarget:
    """The files user SQL may read: an index, and the archived events it shows."""

    index: Path
    archive: tuple[Path, ...] = ()


def sql_target(repo: Repo, *, at: str | None = None) -> SqlTarget:
    """The index user SQL runs on, caught up with git first (or built for revision `at`).

    Archive files are listed one by one (regular files only: never a link's target), so the
    sandbox can allow exactly them and no folder.
    """
    from orchsync.index.database import Index

    if at is not None:
        return SqlTarget(_index_at(repo, at).path)
    with reader(repo):
        pass  # catches the index up with git (and the journal) when it is behind
    index = Index(repo.index_path)
    archive: tuple[Path, ...] = ()
    if index.archive_dir.is_dir():
        archive = tuple(
            p
            for p in sorted(index.archive_dir.glob("*.parquet"))
            if p.is_file() and not p.is_symlink()
        )
    return SqlTarget(index.path, archive)


def run_sql(
    target: SqlTarget,
    sql: str,
    limits: Limits | None = None,
    *,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Any read-only SQL over the index, sandboxed and bounded (see `index/sandbox.py`).

    Returns {"columns", "rows", "truncated" (None, "rows" or "bytes"), "ms"}. Writes,
    files, URLs and extensions are refused (UsageError); a query past its time, memory or
    size limit is a QueryLimit error; `cancel` set from another thread stops it at once.
    """
    from orchsync.index.worker import Limits, run

    return run(target.index, target.archive, sql, limits or Limits(), cancel=cancel)


def archive(repo: Repo, before: str) -> dict[str, Any]:
    """Move events emitted before `before` (a date or ISO time) out of the live table into a
    Parquet file, after bringing the index up to date (so nothing unindexed is missed)."""
    from orchsync.index.archive import archive_events, cutoff_of
    from orchsync.index.database import Index
    from orchsync.lock import repo_lock

    cutoff = cutoff_of(before)
    with reader(repo):
        pass
    with repo_lock(repo):
        return archive_events(Index(repo.index_path), cutoff)


# --- listings --------------------------------------------------------------------------------


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, (_plain(v) for v in row), strict=True)) for row in cur.fetchall()]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if hasattr(value, "hex") and type(value).__name__ == "UUID":
        return str(value)
    return value


_READY_CTE = """
WITH deps AS (SELECT code, unnest(depends_on) AS dep FROM tasks),
     waiting AS (SELECT DISTINCT d.code FROM deps d LEFT JOIN tasks x ON x.code = d.dep
                 WHERE x.status IS DISTINCT FROM 'completed')
"""


def tasks(
    con: duckdb.DuckDBPyConnection,
    *,
    sprint: str | None = None,
    status: str | None = None,
    priority: str | None = None,
    agent: str | None = None,
    ready: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Tasks with filters; `ready` = pending tasks whose dependencies are all completed."""
    where, params = [], []
    for column, value in (
        ("sprint_code", sprint),
        ("status", status),
        ("priority", priority),
        ("agent", agent),
    ):
        if value:
            where.append(f"t.{column} = ?")
            params.append(value)
    if ready:
        where.append("t.status = 'pending' AND t.code NOT IN (SELECT code FROM waiting)")
    sql = (
        (_READY_CTE if ready else "")
        + """
        SELECT t.code AS task, t.sprint_code AS sprint, t.title, t.status, t.priority, t.agent,
               t.depends_on, t.valid, t.file_path AS path, t.updated_at
        FROM tasks t"""
        + (" WHERE " + " AND ".join(where) if where else "")
        + """
        ORDER BY t.sprint_code, t.priority NULLS LAST, t.code"""
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    return _rows(con, sql, params)


def sprints(con: duckdb.DuckDBPyConnection, *, status: str | None = None) -> list[dict[str, Any]]:
    sql = """
        SELECT s.code AS sprint, s.title, s.status, s.owner, s.start_date, s.end_date,
               count(t.code) AS tasks,
               count(t.code) FILTER (WHERE t.status = 'completed') AS completed,
               count(t.code) FILTER (WHERE t.status = 'in_progress') AS in_progress,
               count(t.code) FILTER (WHERE t.status = 'blocked') AS blocked,
               s.valid, s.file_path AS path
        FROM sprints s LEFT JOIN tasks t ON t.sprint_code = s.code"""
    params = []
    if status:
        sql += " WHERE s.status = ?"
        params.append(status)
    sql += " GROUP BY ALL ORDER BY s.code"
    return _rows(con, sql, params)


def events(
    con: duckdb.DuckDBPyConnection,
    *,
    type: str | None = None,
    entity: str | None = None,
    session: str | None = None,
    since: str | None = None,
    limit: int | None = 100,
    archived: bool = False,
) -> list[dict[str, Any]]:
    """Events newest last. `entity` is a key (`T:x`) or a path; `type` may omit the prefix."""
    from orchsync.parse.resolve import parse_key

    where, params = [], []
    if type:
        full = type if type.startswith("orchestration.") else f"orchestration.{type}"
        where.append("(event_type = ? OR event_type LIKE ?)")
        params += [full, full.rstrip("*") + "%" if full.endswith("*") else full]
    if entity:
        kind, code = parse_key(entity)
        if kind is None and ("/" in entity or "." in entity):
            where.append("path = ?")
            params.append(entity)
        else:
            from orchsync.model import Kind

            kind = kind or Kind.TASK
            etype = "task" if kind is Kind.TASK_AGENT else kind.value
            if kind.value in ("adr", "bug") and code.isdigit():
                code = f"{int(code):0{3 if kind.value == 'adr' else 4}d}"
            where.append("entity_type = ? AND entity_code = ?")
            params += [etype, code]
    if session:
        where.append("session_key = ?")
        params.append(session)
    if since:
        where.append("emitted_at >= ?::TIMESTAMP")
        params.append(parse_since(since))
    table = "orchestration_events_all" if archived else "events"
    sql = f"""SELECT id, emitted_at, event_type, level, entity_type, entity_code, agent, session_key,
                     correlation_id, "commit", seq, path, hash, payload
              FROM {table}""" + (" WHERE " + " AND ".join(where) if where else "")
    if limit:
        sql = f'SELECT * FROM ({sql} ORDER BY emitted_at DESC, "commit" DESC, seq DESC LIMIT {int(limit)}) ORDER BY emitted_at, "commit", seq'
    else:
        sql += ' ORDER BY emitted_at, "commit", seq'
    rows = _rows(con, sql, params)
    import json

    for row in rows:
        if isinstance(row.get("payload"), str):
            row["payload"] = json.loads(row["payload"])
    return rows


def stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Counts by status, and per sprint the throughput and cycle time from status events."""
    by_status = dict(
        con.execute("SELECT status, count(*) FROM tasks GROUP BY 1 ORDER BY 1").fetchall()
    )
    per_sprint = _rows(
        con,
        """
        WITH life AS (
            SELECT entity_code AS code,
                   min(emitted_at) FILTER (WHERE event_type = 'orchestration.task.started') AS started,
                   max(emitted_at) FILTER (WHERE event_type = 'orchestration.task.completed') AS completed
            FROM events WHERE entity_type = 'task' GROUP BY 1)
        SELECT t.sprint_code AS sprint, count(*) AS tasks,
               count(*) FILTER (WHERE t.status = 'pending') AS pending,
               count(*) FILTER (WHERE t.status = 'in_progress') AS in_progress,
               count(*) FILTER (WHERE t.status = 'blocked') AS blocked,
               count(*) FILTER (WHERE t.status = 'completed') AS completed,
               count(l.completed) AS completions_recorded,
               round(count(l.completed) / greatest(1, date_diff('day', min(l.completed), max(l.completed)) / 7.0), 2)
                   AS completed_per_week,
               round(median(epoch(l.completed - l.started)) FILTER (WHERE l.completed > l.started) / 3600.0, 2)
                   AS median_cycle_hours
        FROM tasks t LEFT JOIN life l ON l.code = t.code
        GROUP BY 1 ORDER BY 1""",
    )
    totals = con.execute("SELECT count(*) FROM events").fetchone()
    return {
        "tasks_by_status": by_status,
        "sprints": per_sprint,
        "events": totals[0] if totals else 0,
    }
