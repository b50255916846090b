"""The events of a commit: derived from its file pairs, stamped with its id, time and trailers.

One function for the catch-up (which finds the pairs by diffing trees) and for a sync
(which knows them: it has just committed them), so a live index and a rebuilt one hold
the same events. No DuckDB here: a one-shot sync returns its events without opening it.
"""

from __future__ import annotations

from orchsync.config import Config
from orchsync.git.history import CommitChanges
from orchsync.git.trailers import Trailers
from orchsync.model import correlation_id, entity_id
from orchsync.parse.events import PREFIX, Event, FilePair, derive_events, pair_moves, stamp
from orchsync.sync.parsecache import ParseCache

__all__ = ["commit_events", "import_events", "rollback_events", "stamp_commit"]


def commit_events(
    cc: CommitChanges, cache: ParseCache, config: Config
) -> tuple[list[FilePair], list[Event]]:
    """The file pairs and stamped events of one commit: shared by live sync and rebuild."""
    pairs = [
        FilePair(
            cache.get(path, old, cc.is_link(path, old)), cache.get(path, new, cc.is_link(path, new))
        )
        for path, (old, new) in sorted(cc.changes.items())
    ]
    pairs = pair_moves(pairs)
    derived: list[Event] = []
    for pair in pairs:
        derived.extend(derive_events(pair))
    return pairs, stamp_commit(pairs, derived, cc.commit, cc.time, cc.trailers, config)


def stamp_commit(
    pairs: list[FilePair],
    derived: list[Event],
    commit: str,
    time: str,
    trailers: Trailers,
    config: Config,
) -> list[Event]:
    """Events derived from a commit's (move-paired) file pairs, plus its rollbacks and its
    import, stamped."""
    events = (
        derived
        + rollback_events(pairs, trailers.rollback)
        + import_events(pairs, trailers.imported)
    )
    return stamp(
        events,
        commit=commit,
        emitted_at=time,
        agent=trailers.agent,
        session=trailers.session,
        policy=config.events,
    )


def rollback_events(pairs: list[FilePair], rollback: dict[str, str]) -> list[Event]:
    """`<kind>.rolled_back` for files a rollback commit restored (named in its trailers)."""
    out = []
    for pair in pairs:
        target = rollback.get(pair.path)
        if target is None or pair.new is None:
            continue
        for ev in derive_events(FilePair(None, pair.new))[:1]:
            kind = ev.event_type.split(".")[1]
            ev.event_type = f"orchestration.{kind}.rolled_back"
            ev.payload = {"path": pair.new.path, "to": target, "hash": pair.new.hash}
            out.append(ev)
    return out


def import_events(pairs: list[FilePair], imported: str | None) -> list[Event]:
    """`import.completed` for a commit `orchsync import` made (its `Orchsync-Import` trailer):
    the source, and the files it created and updated by kind, counted from the commit."""
    if not imported:
        return []
    system, _, project = imported.partition(" ")
    created: dict[str, int] = {}
    updated: dict[str, int] = {}
    for pair in pairs:
        if pair.new is not None:
            counts = created if pair.old is None else updated
            counts[pair.new.kind.value] = counts.get(pair.new.kind.value, 0) + 1
    hashes = sorted(p.new.hash for p in pairs if p.new is not None)
    payload = {
        "source": system,
        "project": project,
        "files": len(pairs),
        "created": created,
        "updated": updated,
    }
    return [
        Event(
            PREFIX + "import.completed",
            "import",
            entity_id("import", system),
            system,
            payload,
            correlation_id("import:" + ",".join(hashes)),
        )
    ]
