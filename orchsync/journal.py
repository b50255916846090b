"""Events that change no file (agent.initialized, context.assembled) and so have no commit.

They are appended to `.git/orchsync/journal/<YYYY-MM>.jsonl` as well as to the index, so a
rebuild from git plus the journal loses nothing. Lines are written with O_APPEND in one
write each, so concurrent writers never interleave inside a line.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchsync.events import PREFIX, Event
from orchsync.model import entity_id

__all__ = ["append", "journal_event", "read_all"]


def journal_event(
    name: str,
    *,
    entity_type: str,
    entity_code: str | None,
    payload: dict[str, Any],
    agent: str | None = None,
    session: str | None = None,
    level: str = "info",
) -> Event:
    """An event stamped now, with an id that no commit-derived event can take."""
    key = uuid.uuid4()
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return Event(
        event_type=PREFIX + name,
        entity_type=entity_type,
        entity_id=entity_id(entity_type, entity_code) if entity_code else None,
        entity_code=entity_code,
        payload=payload,
        correlation_id=str(key),
        level=level,
        session_key=session,
        agent=agent,
        emitted_at=now,
        id=int.from_bytes(key.bytes[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF,
        source="journal",
    )


def append(journal_dir: Path, events: list[Event]) -> None:
    journal_dir.mkdir(parents=True, exist_ok=True)
    for ev in events:
        month = (ev.emitted_at or "")[:7] or "unknown"
        line = json.dumps(ev.to_row(), default=str, ensure_ascii=False) + "\n"
        fd = os.open(journal_dir / f"{month}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


def read_all(journal_dir: Path) -> Iterator[dict[str, Any]]:
    """Every journal row, oldest file first; a torn last line (a crash mid-write) is skipped."""
    if not journal_dir.is_dir():
        return
    for path in sorted(journal_dir.glob("*.jsonl")):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and "id" in row:
                    yield row
