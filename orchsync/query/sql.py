"""User SQL: the index caught up, then handed to a sandboxed, bounded child process.

See `index/sandbox.py` (the engine's walls) and `index/worker.py` (the process and its limits).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchsync.repo import Repo

if TYPE_CHECKING:
    from orchsync.index.worker import Limits

from orchsync.query.fresh import index_at, reader

__all__ = ["SqlTarget", "run_sql", "sql_target"]


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
    if at is not None:
        return SqlTarget(index_at(repo, at).path)
    with reader(repo):
        pass  # catches the index up with git (and the journal) when it is behind
    from orchsync.index.database import Index

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
