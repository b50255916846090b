"""Events that change no file (agent.initialized, context.assembled) and so have no commit.

They are appended to `.git/orchsync/journal/<YYYY-MM>.jsonl` as well as to the index, so a
rebuild from git plus the journal loses nothing. Lines are written with O_APPEND in one
write each, so concurrent writers never interleave inside a line.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchsync.errors import RETRY_COMMAND, storage

if TYPE_CHECKING:
    from orchsync.parse.events import Event

__all__ = ["append", "is_behind", "journal_event", "read_all", "read_since", "sizes"]


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
    # Here, not at the top: a stored answer checks the journal's size (`sizes`) and must not
    # pay for the model.
    from orchsync.model import entity_id
    from orchsync.parse.events import PREFIX, Event

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
    """Append events, one line each; a disk that refuses them raises a `StorageFault`.

    A line the disk took only in part is a torn line, which `read_all` skips; the next
    append starts on a line of its own, so the torn one costs no other event.
    """
    with storage(journal_dir, retry=RETRY_COMMAND):
        journal_dir.mkdir(parents=True, exist_ok=True)
        for ev in events:
            month = (ev.emitted_at or "")[:7] or "unknown"
            line = (json.dumps(ev.to_row(), default=str, ensure_ascii=False) + "\n").encode()
            path = journal_dir / f"{month}.jsonl"
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # after a torn line
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
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


# --- the index's view of the journal: how far it has read each file ---------------------------


def sizes(journal_dir: Path) -> dict[str, int]:
    """{file name: bytes} of every journal file: one directory listing, no reads."""
    try:
        entries = list(os.scandir(journal_dir))
    except FileNotFoundError:
        return {}
    return {e.name: e.stat().st_size for e in entries if e.name.endswith(".jsonl")}


def is_behind(journal_dir: Path, read: dict[str, int]) -> bool:
    """True when a journal file holds bytes past what `read` (the index's positions) covers."""
    return any(read.get(name) != size for name, size in sizes(journal_dir).items() if size)


def read_since(
    journal_dir: Path, read: dict[str, int]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The rows appended after `read` ({file: offset}), and the new offsets.

    Only whole lines are taken (a line still being written waits for the next call); a file
    shorter than its offset was replaced, so it is read again from the start (event ids make
    re-reading harmless).
    """
    rows: list[dict[str, Any]] = []
    done: dict[str, int] = {}
    for name, size in sorted(sizes(journal_dir).items()):
        start = read.get(name, 0)
        if start > size:
            start = 0
        if start == size:
            done[name] = size
            continue
        with open(journal_dir / name, "rb") as fh:
            fh.seek(start)
            chunk = fh.read(size - start)
        end = chunk.rfind(b"\n") + 1
        done[name] = start + end
        for line in chunk[:end].splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "id" in row:
                rows.append(row)
    return rows, done
