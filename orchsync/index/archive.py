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

__all__ = ["archive_events", "cutoff_of"]


def cutoff_of(before: str) -> str:
    """`--before` as a naive-UTC ISO time (a date or an ISO time)."""
    try:
        return (
            datetime.fromisoformat(before.strip())
            .replace(tzinfo=None)
            .isoformat(timespec="seconds")
        )
    except ValueError as exc:
        raise UsageError(
            f"--before {before!r}: use a date such as 2025-10-01 or an ISO time"
        ) from exc


def archive_events(index: Index, cutoff: str) -> dict[str, Any]:
    """Move events emitted before `cutoff` into a new Parquet file. The caller holds the repo
    lock and has brought the index up to date (`orchsync.query.archive`)."""
    index.archive_dir.mkdir(parents=True, exist_ok=True)
    with index.writer() as con:
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
