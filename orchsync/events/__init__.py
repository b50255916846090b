"""Events: derived from (old file, new file) by one pure function (`derive`), and kept in
the journal (`journal`) when they change no file (agent.initialized, context.assembled)."""

from orchsync.events.derive import (
    PREFIX,
    Event,
    FilePair,
    derive_events,
    event_key,
    pair_moves,
    stamp,
)

__all__ = ["PREFIX", "Event", "FilePair", "derive_events", "event_key", "pair_moves", "stamp"]
