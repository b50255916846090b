"""The index's side of the journal: which journal bytes it holds, and the rows it lacks.

Journal events (agent.initialized, context.assembled) are appended to the journal only, so a
cached AGENT INIT needs no DuckDB. The index records in `meta` how far it has read each
journal file; every reader and every catch-up loads what was appended since (event ids make
a second load of the same row a no-op). A rebuild reads the whole journal again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchsync.config import EventPolicy
from orchsync.index.journal import is_behind, read_since

__all__ = ["JOURNAL_META", "pending", "positions", "tail"]

JOURNAL_META = "journal"


def positions(meta: dict[str, str]) -> dict[str, int]:
    """{journal file: offset read} as recorded in the index's meta table."""
    try:
        value = json.loads(meta.get(JOURNAL_META) or "{}")
    except ValueError:
        return {}
    return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}


def pending(journal_dir: Path, meta: dict[str, str]) -> bool:
    """True when the journal holds rows the index has not loaded (a listing, no reads)."""
    return is_behind(journal_dir, positions(meta))


def tail(
    journal_dir: Path, policy: EventPolicy, meta: dict[str, str], *, full: bool = False
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(event rows to load, meta to record): everything when `full`, else what is new."""
    rows, done = read_since(journal_dir, {} if full else positions(meta))
    kept = [
        r
        for r in rows
        if policy.keeps(str(r.get("event_type", "")), str(r.get("correlation_id") or ""))
    ]
    return kept, {JOURNAL_META: json.dumps(done, sort_keys=True)}
