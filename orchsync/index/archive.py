"""Archiving old events to Parquet, so the live table stays small and nothing is lost.

Archived events leave the `events` table for `.git/orchsync/archive/*.parquet`; the view
`orchestration_events_all` unions both, and a rebuild drops archived ids from the live table.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import datetime
from typing import Any

from orchsync.errors import UsageError
from orchsync.index import Index
from orchsync.repo import Repo

__all__ = ["archive_events"]


def archive_events(repo: Repo, before: str) -> dict[str, Any]:
    """Move events emitted before `before` (a date or ISO time) into a new Parquet file."""
    from orchsync.query import reader
    from orchsync.sync import lock_for

    try:
        cutoff = (
            datetime.fromisoformat(before.strip())
            .replace(tzinfo=None)
            .isoformat(timespec="seconds")
        )
    except ValueError as exc:
        raise UsageError(
            f"--before {before!r}: use a date such as 2025-10-01 or an ISO time"
        ) from exc
    with reader(repo):
        pass  # make sure the index exists and is current before moving rows out of it
    index = Index(repo.index_path)
    index.archive_dir.mkdir(parents=True, exist_ok=True)
    with lock_for(repo), index.writer() as con:
        row = con.execute(
            "SELECT count(*) FROM events WHERE emitted_at < ?::TIMESTAMP", [cutoff]
        ).fetchone()
        count = row[0] if row else 0
        if not count:
            return {"archived": 0, "file": None, "before": cutoff}
        target = (
            index.archive_dir
            / f"events-before-{cutoff.replace(':', '')}-{uuid.uuid4().hex[:8]}.parquet"
        )
        con.execute("BEGIN")
        try:
            con.execute(
                f"COPY (SELECT * FROM events WHERE emitted_at < TIMESTAMP '{cutoff}' ORDER BY emitted_at, id) "
                f"TO '{_sql(str(target))}' (FORMAT parquet)"
            )
            con.execute("DELETE FROM events WHERE emitted_at < ?::TIMESTAMP", [cutoff])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            target.unlink(missing_ok=True)
            raise
        # Read-only on disk: user SQL may read this file, and must never rewrite it.
        with suppress(OSError):
            target.chmod(0o444)
        index.refresh_views(con)
    return {"archived": int(count), "file": str(target), "before": cutoff}


def _sql(text: str) -> str:
    return text.replace("'", "''")
