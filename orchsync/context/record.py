"""Recording events that change no file: to the journal, which the index then loads.

`record_events` appends to `.git/orchsync/journal/` (one O_APPEND write per event) and does
nothing else, so a cached AGENT INIT imports no DuckDB. The index loads journal rows it has
not seen on the next read or catch-up (`orchsync.index.journal_tail`), and a rebuild replays the
whole journal, so the events are in `orchestration_events` for every reader.
"""

from __future__ import annotations

import logging
from typing import Any

from orchsync.config import EventPolicy
from orchsync.index.journal import append, journal_event
from orchsync.parse.events import Event
from orchsync.repo import Repo

__all__ = ["make_event", "record_events"]

log = logging.getLogger(__name__)


def make_event(
    name: str,
    *,
    entity_type: str,
    entity_code: str | None,
    payload: dict[str, Any],
    correlation: str,
    agent: str | None = None,
    session: str | None = None,
) -> Event:
    """A journal event carrying the call's correlation id (shared by the events of one call)."""
    ev = journal_event(
        name,
        entity_type=entity_type,
        entity_code=entity_code,
        payload=payload,
        agent=agent,
        session=session,
    )
    ev.correlation_id = correlation
    return ev


def record_events(repo: Repo, events: list[Event], policy: EventPolicy) -> list[Event]:
    """Append the events the policy keeps to the journal; returns those kept.

    Never raises for a journal that cannot be written (a read-only clone still answers
    AGENT INIT); the failure is logged.
    """
    kept = []
    for ev in events:
        ev.level = policy.level_of(ev.event_type)
        if policy.keeps(ev.event_type, ev.correlation_id):
            kept.append(ev)
    if kept:
        try:
            append(repo.runtime / "journal", kept)
        except OSError as exc:  # pragma: no cover - a read-only .git
            log.warning("could not write the journal: %s", exc)
    return kept
