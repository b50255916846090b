"""What a long-lived process (the daemon) keeps warm between syncs.

- `WarmIndex`: the DuckDB index file, attached per batch to one instance kept open;
- a pygit2 repository used only for the user's git index, which it re-reads only when the
  file changed since it last wrote it (~25 ms saved a sync at 20,000 entries).

The daemon's `Syncer(repo, Warm(repo))` uses both. One-shot commands (`sync()`) keep nothing: they would pay
for an instance and a first read either way.

The DuckDB instance:

Every `duckdb.connect` builds a whole database instance first (buffer manager, thread pool,
built-in extensions): 15-20 ms on the reference machine, more under load, and a connect
refused because a reader holds the file costs as much again. A process that syncs again
and again keeps one in-memory instance instead and attaches the index file to it for each
batch: ~2 ms, and ~0.4 ms for an attempt refused by a reader. Detaching checkpoints and
releases the file lock exactly as closing does, so other processes see the same file, and
the index is held read-write only for the length of one batch, as DESIGN.md requires.

`WarmIndex` is an `Index` whose `writer()` works that way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from orchsync.errors import LockTimeout
from orchsync.git.store import open_git
from orchsync.index.database import READ_TIMEOUT, WRITER_LOCK, Index
from orchsync.index.duck import duckdb
from orchsync.repo import FileLock, Repo

__all__ = ["Warm", "WarmIndex"]

ALIAS = "orchsync_index"


class Warm:
    """Resources kept between the syncs of one repository.

    `cool()` drops the DuckDB instance (~15 MB resident at 10,000 tasks; `warm_up()` makes
    it again in ~20 ms, e.g. while a save settles); `close()` drops everything.
    """

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.index = WarmIndex(repo.index_path)
        self._git: Any = None

    def index_git(self) -> Any:
        """The repository whose `.index` the user's git-index updates go through."""
        if self._git is None:
            self._git = open_git(self.repo.root)
        return self._git

    def warm_up(self) -> None:
        self.index.warm_up()

    def cool(self) -> None:
        self.index.close()

    def close(self) -> None:
        self.index.close()
        self._git = None


class WarmIndex(Index):
    """The index file, attached per batch to one DuckDB instance this object keeps.

    Callers serialise batches (the repo lock); the instance itself is created on first use.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._db: duckdb.DuckDBPyConnection | None = None
        self._guard = threading.Lock()

    def _instance(self) -> duckdb.DuckDBPyConnection:
        with self._guard:
            if self._db is None:
                self._db = duckdb.connect(":memory:")
            return self._db

    def warm_up(self) -> None:
        """Create the instance now (safe from any thread), so the next batch does not wait."""
        self._instance()

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the index, released (detached) on exit."""
        with self.faults():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._instance().cursor()
            # Readers (query.reader) wait on this lock rather than race the attach.
            writing = FileLock(self.path.parent / WRITER_LOCK, timeout=READ_TIMEOUT)
            try:
                with writing:
                    _attach(con, self.path)
                    try:
                        con.execute(f"USE {ALIAS}")
                        yield con
                    finally:
                        con.execute("USE memory")
                        con.execute(f"DETACH {ALIAS}")
            except BaseException:
                # A write the disk refused can leave the instance unusable ("invalidated"):
                # the next batch starts from a new one.
                con.close()
                self.close()
                raise
            finally:
                con.close()

    def close(self) -> None:
        """Drop the instance (the next batch makes a new one)."""
        with self._guard:
            db, self._db = self._db, None
        if db is not None:
            with suppress(duckdb.Error):  # an instance a refused write left broken
                db.close()


def _attach(con: Any, path: Path) -> None:
    """ATTACH read-write, retried while a reader in another process has the file open."""
    sql = f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS {ALIAS}"
    deadline = time.monotonic() + READ_TIMEOUT
    delay = 0.002
    while True:
        try:
            con.execute(sql)
            return
        except duckdb.Error as exc:
            text = str(exc).lower()
            if "lock" not in text and "conflicting" not in text and "being used" not in text:
                raise
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"the index {path} stayed open in another process for {READ_TIMEOUT:.0f} s"
                ) from exc
        time.sleep(delay)  # a refused attach is cheap: ask again soon
        delay = min(delay * 1.5, 0.01)
