"""What a sink has not been delivered yet: events of the index past its cursor, in order.

Two streams, each with its own position in the cursor:

- events of commits, read from the index, for the commits `git rev-list <index tip> --not
  <heads>` names, parents first, each commit's events by `seq`. Only commits the index
  holds are read (its `last_commit` and ancestors), so a batch never runs ahead of the
  index. A position in git's terms survives what a counter would not: a rebuilt index (the
  ids and seqs are the same), a pull of older commits, a merge, a branch switched back.
- events that change no file (agent.initialized, context.assembled), read from the journal
  files themselves by byte offset: they are append-only, and the index holds them too.

The index's event policy applies to the journal rows as it does when the index loads them.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchsync.config import EventPolicy
from orchsync.errors import SinkError
from orchsync.index.journal import sizes
from orchsync.index.schema import TABLES
from orchsync.query.commits import commits_after, fold_heads
from orchsync.repo import Repo
from orchsync.sinks.ledger import Cursor, now_iso
from orchsync.sinks.settings import EventFilter

__all__ = ["COLUMNS", "Pending", "initial_cursor", "lag", "read_pending", "wire"]

COLUMNS = [c for c, _ in TABLES["events"]]
_JOURNAL_CHUNK = 16 * 2**20  # bytes of one journal file read at once


@dataclass(slots=True)
class Pending:
    """A batch to deliver: the events, and the cursor to save once they are acknowledged."""

    events: list[dict[str, Any]]
    cursor: Cursor
    resumed: str | None = None  # a commit whose first events went in an earlier batch
    more: bool = False  # more events wait past this batch


def index_tip(con: Any) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = 'last_commit'").fetchone()
    return (row[0] or None) if row else None


def initial_cursor(repo: Repo, con: Any, start: str) -> Cursor:
    """Where a sink seen for the first time starts: now (`latest`) or at the beginning."""
    if start == "all":
        return Cursor(since=now_iso())
    tip = index_tip(con)
    return Cursor(
        heads=[tip] if tip else [], journal=sizes(repo.runtime / "journal"), since=now_iso()
    )


def read_pending(
    repo: Repo, con: Any, cursor: Cursor, policy: EventPolicy, limit: int, *, git: Any = None
) -> Pending:
    """Up to `limit` events of commits and up to `limit` journal events past `cursor`."""
    commits, tip = _pending_commits(repo, con, cursor, git)
    rows = _commit_events(con, commits, cursor.partial, limit + 1)
    more = len(rows) > limit
    taken = rows[:limit]
    after = Cursor(list(cursor.heads), cursor.partial, dict(cursor.journal), cursor.since)
    if commits:
        after.heads, after.partial = _advance(repo, cursor, commits, rows, limit, tip, git)
    journal, after.journal, more_journal = _journal_rows(
        repo.runtime / "journal", cursor.journal, policy, limit
    )
    resumed = cursor.partial[0] if cursor.partial and taken else None
    if resumed and taken[0]["commit"] != resumed:
        resumed = None
    return Pending([wire(r) for r in taken] + journal, after, resumed, more=more or more_journal)


def lag(
    repo: Repo, con: Any, cursor: Cursor, policy: EventPolicy, flt: EventFilter, *, git: Any = None
) -> tuple[int, str | None]:
    """(events the sink will take that wait past its cursor, the oldest one's time)."""
    commits, _tip = _pending_commits(repo, con, cursor, git)
    count, oldest = 0, None
    if commits:
        pc, ps = cursor.partial or ("", -1)
        groups = con.execute(
            f"""SELECT event_type, level, entity_type, count(*), min(emitted_at)
                FROM orchestration_events_all e JOIN ({_PENDING}) p ON e."commit" = p.c
                WHERE NOT (e."commit" = ? AND e.seq <= ?)
                GROUP BY ALL""",
            [[c for c, _ in commits], list(range(len(commits))), pc, ps],
        ).fetchall()
        for kind, level, etype, n, first in groups:
            if flt.matches({"event_type": kind, "level": level, "entity_type": etype}):
                count += n
                oldest = min(filter(None, [oldest, _iso(first)]), default=None)
    journal, _pos, _more = _journal_rows(repo.runtime / "journal", cursor.journal, policy, None)
    for row in journal:
        if flt.matches(row):
            count += 1
            oldest = min(filter(None, [oldest, row["emitted_at"]]), default=None)
    return count, oldest


# --- events of commits -----------------------------------------------------------------------

_PENDING = "SELECT unnest(?::VARCHAR[]) AS c, unnest(?::INTEGER[]) AS pos"


def _pending_commits(
    repo: Repo, con: Any, cursor: Cursor, git: Any
) -> tuple[list[tuple[str, tuple[str, ...]]], str | None]:
    tip = index_tip(con)
    if tip is None:
        return [], None
    _history_check(repo, con, cursor, git)
    return commits_after(repo, tip, cursor.heads, git=git), tip


def _history_check(repo: Repo, con: Any, cursor: Cursor, git: Any) -> None:
    """An index rebuilt from the files (`reindex --from-files` of a missing index) holds no
    events of the commits before it: a sink that has not had them must not move past them."""
    meta = dict(con.execute("SELECT key, value FROM meta WHERE key LIKE 'history%'").fetchall())
    if meta.get("history") != "skipped":
        return
    base = meta.get("history_from")
    if base and not commits_after(repo, base, cursor.heads, git=git):
        return  # the sink is past that point: every later commit has its events
    raise SinkError(
        "the index holds no events of the commits before it was rebuilt from the files "
        "(`orchsync reindex --from-files`); run `orchsync reindex` so this sink gets the "
        "events it has not had"
    )


def _commit_events(
    con: Any, commits: list[tuple[str, tuple[str, ...]]], partial: tuple[str, int] | None, n: int
) -> list[dict[str, Any]]:
    if not commits:
        return []
    pc, ps = partial or ("", -1)
    cols = ", ".join(f'e."{c}"' for c in COLUMNS)
    cur = con.execute(
        f"""SELECT {cols}, p.pos AS _pos
            FROM orchestration_events_all e JOIN ({_PENDING}) p ON e."commit" = p.c
            WHERE NOT (e."commit" = ? AND e.seq <= ?)
            ORDER BY p.pos, e.seq LIMIT {int(n)}""",
        [[c for c, _ in commits], list(range(len(commits))), pc, ps],
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _advance(
    repo: Repo,
    cursor: Cursor,
    commits: list[tuple[str, tuple[str, ...]]],
    rows: list[dict[str, Any]],
    limit: int,
    tip: str | None,
    git: Any,
) -> tuple[list[str], tuple[str, int] | None]:
    """The cursor's (heads, partial) once the first `limit` rows are delivered.

    The commits delivered whole are a prefix of the parents-first list, so they and their
    ancestors are exactly the ancestors of that prefix's last commits: those become heads.
    """
    if len(rows) <= limit:  # everything up to the index tip
        done, partial = len(commits), None
    else:
        last, following = rows[limit - 1], rows[limit]
        if following["commit"] == last["commit"]:
            done, partial = last["_pos"], (last["commit"], int(last["seq"]))
        else:
            done, partial = following["_pos"], None
    prefix = commits[:done]
    if not prefix:
        return list(cursor.heads), partial
    parents = {p for _, ps in prefix for p in ps}
    tops = [c for c, _ in prefix if c not in parents]
    heads = [h for h in cursor.heads if h not in parents] + tops
    if done == len(commits) and tip is not None:
        heads = [h for h in heads if h not in tops] + [tip]
    return fold_heads(repo, heads, git=git), partial


# --- journal events --------------------------------------------------------------------------


def _journal_rows(
    journal_dir: Path, read: dict[str, int], policy: EventPolicy, limit: int | None
) -> tuple[list[dict[str, Any]], dict[str, int], bool]:
    """(rows past `read`, the offsets after them, whether more wait). Whole lines only: a
    line still being written waits; a file shorter than its offset is read again."""
    rows: list[dict[str, Any]] = []
    done = dict(read)
    for name, size in sorted(sizes(journal_dir).items()):
        start = read.get(name, 0)
        if start > size:
            start = 0
        pos = start
        while pos < size:
            if limit is not None and len(rows) >= limit:
                return rows, done, True
            with open(journal_dir / name, "rb") as fh:
                fh.seek(pos)
                chunk = fh.read(min(size - pos, _JOURNAL_CHUNK))
            end = chunk.rfind(b"\n") + 1
            if end == 0:
                break  # a line still being written (or one longer than a chunk: skipped below)
            for line in chunk[:end].splitlines(keepends=True):
                if limit is not None and len(rows) >= limit:
                    done[name] = pos
                    return rows, done, True
                pos += len(line)
                row = _journal_row(line, policy)
                if row is not None:
                    rows.append(row)
            done[name] = pos
        if pos == start and size - start > _JOURNAL_CHUNK:
            done[name] = size  # one line longer than a chunk: no event, never read again
    return rows, done, False


def _journal_row(line: bytes, policy: EventPolicy) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None  # a torn line (a crash mid-write): the journal's readers skip it too
    if not isinstance(row, dict) or "id" not in row:
        return None
    if not policy.keeps(str(row.get("event_type", "")), str(row.get("correlation_id") or "")):
        return None
    return wire({c: row.get(c) for c in COLUMNS})


# --- the wire format -------------------------------------------------------------------------


def wire(row: dict[str, Any]) -> dict[str, Any]:
    """An event as every sink sends it: the index's columns, JSON-ready.

    `id` is the event's stable id (63-bit: the same in every rebuild of the index; the key a
    receiver deduplicates by), `emitted_at` is UTC with microseconds and a `Z`, `payload` an
    object.
    """
    out = {c: row.get(c) for c in COLUMNS}
    payload = out.get("payload")
    if isinstance(payload, str):
        with contextlib.suppress(ValueError):
            out["payload"] = json.loads(payload)
    if out.get("correlation_id") is not None:
        out["correlation_id"] = str(out["correlation_id"])
    out["emitted_at"] = _iso(out.get("emitted_at"))
    return out


def _iso(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.removesuffix("Z"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return str(value)
