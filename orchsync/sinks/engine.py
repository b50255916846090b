"""Delivering one sink: read what is pending, send it, move the cursor once acknowledged.

One round, under the sink's lock (`Ledger.lock`): read the next batch from the index (the
connection is closed again before anything is sent, so a slow receiver never holds the
index), send it, and only when the receiver acknowledged it write the cursor. A crash
anywhere sends the batch again (same events, same ids, same `delivery` id); nothing is
skipped. A batch the receiver refused for good goes to the sink's dead-letter file and the
cursor moves past it; any other failure leaves the cursor where it was, for a later try.

`flush` is `orchsync sinks flush`: rounds until every sink is caught up (or fails), with
no daemon. The daemon runs the same rounds in its own threads (`orchsync.sinks.runner`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from orchsync.config import EventPolicy, load_config
from orchsync.errors import LockTimeout, OrchsyncError, SinkError, UsageError
from orchsync.repo import Repo
from orchsync.sinks.batch import Batch, Sink
from orchsync.sinks.ledger import Ledger, now_iso
from orchsync.sinks.settings import SinkSpec, load_sinks
from orchsync.sinks.source import initial_cursor, read_pending

__all__ = [
    "Batch",
    "Delivery",
    "Round",
    "Sink",
    "daemon_reader",
    "flush",
    "open_sink",
]

logger = logging.getLogger(__name__)

Reading = Callable[[], AbstractContextManager[Any]]


def open_sink(repo: Repo, spec: SinkSpec, stop: threading.Event) -> Sink:
    """The sink of `spec`'s type; `stop` cuts waits between retries short."""
    if spec.type == "jsonl":
        from orchsync.sinks.jsonl import JsonlSink

        return JsonlSink(repo, spec)
    if spec.type == "webhook":
        from orchsync.sinks.webhook import WebhookSink

        return WebhookSink(spec, stop)
    from orchsync.sinks.otlp import OtlpSink

    return OtlpSink(repo, spec)


@dataclass(slots=True)
class Round:
    """What one or more rounds did."""

    delivered: int = 0  # events the receiver acknowledged
    skipped: int = 0  # events the sink's filter left out (the cursor moved past them)
    refused: int = 0  # events in batches refused for good (dead-lettered, or dropped if full)
    more: bool = False  # events still wait
    error: SinkError | None = None
    batches: list[float] = field(default_factory=list)  # send times, ms

    def add(self, other: Round) -> None:
        self.delivered += other.delivered
        self.skipped += other.skipped
        self.refused += other.refused
        self.more, self.error = other.more, other.error
        self.batches += other.batches


class Delivery:
    """The rounds of one sink, with its receiver kept open between them."""

    def __init__(
        self,
        repo: Repo,
        spec: SinkSpec,
        policy: EventPolicy,
        *,
        stop: threading.Event | None = None,
        opener: Callable[[Repo, SinkSpec, threading.Event], Sink] = open_sink,
    ) -> None:
        self.repo = repo
        self.spec = spec
        self.policy = policy
        self.ledger = Ledger(repo, spec.name)
        self.stop = stop or threading.Event()
        self._opener = opener
        self._sink: Sink | None = None
        self._git: Any = None

    def round(self, reading: Reading, *, lock_timeout: float = 30.0) -> Round:
        """Deliver the next batch (if any). Storage faults and lock timeouts propagate."""
        from orchsync.query.commits import open_history

        out = Round()
        if self._git is None:
            self._git = open_history(self.repo)
        with self.ledger.lock(lock_timeout):
            cursor = self.ledger.read_cursor()
            with reading() as con:
                if con is None:
                    return out  # no index yet: nothing to deliver
                if cursor is None:
                    cursor = initial_cursor(self.repo, con, self.spec.start)
                    self.ledger.write_cursor(cursor)
                    logger.info("sink %s starts at %s", self.spec.name, _where(cursor))
                try:
                    pending = read_pending(
                        self.repo, con, cursor, self.policy, self.spec.batch_size, git=self._git
                    )
                except SinkError as exc:  # the index cannot say what comes next
                    out.error = exc
                    self._failed(exc)
                    return out
            kept = [e for e in pending.events if self.spec.filter.matches(e)]
            out.skipped = len(pending.events) - len(kept)
            out.more = pending.more
            if kept:
                batch = Batch(self.spec.name, kept, pending.resumed)
                try:
                    started = time.perf_counter()
                    self._receiver().send(batch)
                    out.batches.append((time.perf_counter() - started) * 1000)
                except SinkError as exc:
                    if not exc.permanent:
                        out.error = exc
                        self._failed(exc)
                        return out
                    out.refused = len(kept)
                    self._refused(batch, exc)
                else:
                    out.delivered = len(kept)
            if pending.cursor != cursor:
                self.ledger.write_cursor(pending.cursor)
            if out.delivered:
                self._succeeded(out)
        return out

    def _receiver(self) -> Sink:
        if self._sink is None:
            self._sink = self._opener(self.repo, self.spec, self.stop)
        return self._sink

    def rest(self) -> None:
        """Caught up: drop the git handle (its caches are megabytes on a big history); the
        next round opens it again in a few ms."""
        self._git = None

    def close(self) -> None:
        if self._sink is not None:
            try:
                self._sink.close()
            except Exception:  # closing a broken connection must not stop the daemon
                logger.debug("closing sink %s failed", self.spec.name, exc_info=True)
            self._sink = None
        self._git = None

    # --- the state file -------------------------------------------------------------------

    def _succeeded(self, out: Round) -> None:
        state = self.ledger.read_state()
        self.ledger.update_state(
            delivered=int(state.get("delivered") or 0) + out.delivered,
            last_success=now_iso(),
            last_batch={"events": out.delivered, "ms": round(out.batches[-1], 1)},
            last_error=None,
            failing_since=None,
            attempts=0,
        )

    def _failed(self, exc: SinkError) -> None:
        state = self.ledger.read_state()
        self.ledger.update_state(
            last_error={"at": now_iso(), "message": str(exc), "status": exc.status},
            failing_since=state.get("failing_since") or now_iso(),
            attempts=int(state.get("attempts") or 0) + 1,
        )

    def _refused(self, batch: Batch, exc: SinkError) -> None:
        """Refused for good: to the dead-letter file (bounded), and say so in the state."""
        record = {
            "at": now_iso(),
            "sink": batch.sink,
            "delivery": batch.delivery,
            "status": exc.status,
            "error": str(exc),
            "events": batch.events,
        }
        kept = self.ledger.dead_letter(record)
        state = self.ledger.read_state()
        key = "dead_letter_events" if kept else "dropped_events"
        self.ledger.update_state(
            **{key: int(state.get(key) or 0) + len(batch.events)},
            last_error={
                "at": now_iso(),
                "message": f"{exc}; the batch of {len(batch.events)} event(s) was "
                + (
                    f"moved to {self.ledger.dead_letter_path()}"
                    if kept
                    else "dropped: the dead-letter file is full"
                ),
                "status": exc.status,
                "permanent": True,
            },
            failing_since=state.get("failing_since") or now_iso(),
        )
        logger.error(
            "sink %s refused a batch of %d event(s) for good (%s); %s",
            batch.sink,
            len(batch.events),
            exc,
            "dead-lettered" if kept else "dropped (dead-letter file full)",
        )


def _where(cursor: Any) -> str:
    if cursor.heads:
        return f"commit {cursor.heads[-1][:12]}"
    return "the beginning of history"


@contextmanager
def daemon_reader(repo: Repo) -> Iterator[Any]:
    """The index read-only, in the daemon's process: between two of its own writes.

    The daemon attaches the index read-write per batch holding `WRITER_LOCK`; DuckDB
    refuses a second handle on the same file in one process, so a sink's read takes that
    flock too (a few ms). No catch-up here: the daemon's own syncs keep the index current.
    Yields None when there is no index yet.
    """
    from orchsync.index import Index, IndexMissing
    from orchsync.index.database import READ_TIMEOUT, WRITER_LOCK
    from orchsync.repo import FileLock

    index = Index(repo.index_path)
    if not index.exists():
        yield None
        return
    writer = FileLock(repo.runtime / WRITER_LOCK, timeout=READ_TIMEOUT, what="the index lock")
    with writer, ExitStack() as stack:
        try:
            con = stack.enter_context(index.reader())
        except IndexMissing:
            con = None
        yield con


@contextmanager
def _fresh_reader(repo: Repo) -> Iterator[Any]:
    """The index caught up with git first (a one-shot command's read)."""
    from orchsync import query

    with query.reader(repo) as con:
        yield con


def flush(
    repo: Repo,
    names: list[str] | None = None,
    *,
    timeout: float = 60.0,
    opener: Callable[[Repo, SinkSpec, threading.Event], Sink] = open_sink,
) -> list[dict[str, Any]]:
    """Deliver every enabled sink (or those `names`) until caught up, without a daemon.

    Returns one result per sink: delivered, skipped and refused counts, whether it caught
    up, and the error that stopped it. A sink still busy after `timeout` seconds stops
    there (its cursor is where the last acknowledged batch left it).
    """
    settings = load_sinks(repo)
    wanted = [s for s in settings.sinks if s.enabled and (not names or s.name in names)]
    unknown = sorted(set(names or ()) - {s.name for s in settings.sinks})
    if unknown:
        raise UsageError(
            f"no sink named {', '.join(unknown)} in delegation/orchsync.yml"
            + (f" (sinks: {', '.join(s.name for s in settings.sinks)})" if settings.sinks else "")
        )
    policy = load_config(repo.root).events
    deadline = time.monotonic() + timeout
    results = []
    for spec in wanted:
        delivery = Delivery(repo, spec, policy, opener=opener)
        # A receiver that keeps failing is retried with backoff inside one round: the stop
        # event ends those waits at the deadline, not only between rounds.
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), delivery.stop.set)
        timer.daemon = True
        timer.start()
        total = Round()
        message = None
        try:
            while True:
                left = max(1.0, deadline - time.monotonic())
                total.add(delivery.round(lambda: _fresh_reader(repo), lock_timeout=left))
                if total.error or not total.more or time.monotonic() >= deadline:
                    break
        except LockTimeout:
            message = "busy: another process (the daemon?) is delivering to it; try again"
        except OrchsyncError as exc:
            message = str(exc)
        finally:
            timer.cancel()
            delivery.close()
        if total.error is not None:
            message = str(total.error)
        results.append(
            {
                "sink": spec.name,
                "type": spec.type,
                "delivered": total.delivered,
                "skipped": total.skipped,
                "refused": total.refused,
                "caught_up": message is None and not total.more,
                "error": message,
            }
        )
    return results
