"""The daemon's side of the sinks: one thread per sink, woken after each of its batches.

The daemon calls `notify()` when a sync has finished (committed and indexed), and that is
all it does: reading the index, sending, retrying and backing off happen in the sinks'
own threads, so a slow or dead receiver never delays a snapshot commit or the index. Each
thread also looks at the journal's file sizes every `POLL` seconds, for the events that
change no file (an AGENT INIT run by another process appends to the journal only).

A failing sink is tried again after a growing delay (1 s up to 5 min, or the receiver's
`Retry-After`), forever: its cursor stays where the last acknowledged batch left it, so
nothing is lost while it is down. The sinks are read again from `orchsync.yml` when the
file changes: a sink added starts, one removed or changed stops (a changed one restarts).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from orchsync.config import CONFIG_FILE, EventPolicy, load_config
from orchsync.errors import LockTimeout, OrchsyncError, SinkError
from orchsync.index.journal import sizes
from orchsync.repo import Repo
from orchsync.sinks.engine import Delivery, Reading, daemon_reader
from orchsync.sinks.settings import SinkSpec, load_sinks

__all__ = ["BACKOFF", "POLL", "SinkRunner"]

logger = logging.getLogger(__name__)

POLL = 5.0  # seconds between looks at the journal's sizes while idle
BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BUSY_RETRY = 2.0  # another process (`sinks flush`) holds the sink's lock
MAX_RETRY_AFTER = 3600.0  # a receiver's Retry-After is honoured up to an hour


class SinkRunner:
    """The sinks of one repository, delivered in the background while the daemon runs."""

    def __init__(self, repo: Repo, *, reading: Callable[[Repo], Any] = daemon_reader) -> None:
        self.repo = repo
        self._reading = reading
        self._workers: dict[str, _Worker] = {}
        self._stamp: tuple[int, int] | None = None
        self._guard = threading.Lock()
        self._started = False

    def start(self) -> None:
        with self._guard:
            self._started = True
            self._reload(force=True)

    def notify(self) -> None:
        """A batch was synced: every sink looks for new events now. Cheap; never blocks."""
        with self._guard:
            if not self._started:
                return
            try:
                self._reload()
            except Exception:  # a config that cannot be read now keeps the sinks running
                logger.debug("sinks not reloaded", exc_info=True)
            workers = list(self._workers.values())
        for worker in workers:
            worker.wake.set()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop every thread; one stuck in a send (until its timeout) is left behind:
        its batch was not acknowledged, so the next start sends it again."""
        with self._guard:
            self._started = False
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.halt()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def names(self) -> list[str]:
        return sorted(self._workers)

    def _reload(self, force: bool = False) -> None:
        stamp = _stamp(self.repo)
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        settings = load_sinks(self.repo)
        for d in settings.diagnostics:
            logger.warning("sink configuration: %s (that sink is not delivered to)", d)
        policy = load_config(self.repo.root).events
        wanted = {s.name: s for s in settings.sinks if s.enabled}
        for name, worker in list(self._workers.items()):
            if wanted.get(name) != worker.spec or worker.policy != policy:
                worker.halt()
                del self._workers[name]
        for name, spec in wanted.items():
            if name not in self._workers:
                worker = _Worker(self.repo, spec, policy, lambda: self._reading(self.repo))
                self._workers[name] = worker
                logger.info("sink %s (%s to %s): delivering", name, spec.type, spec.target())
                worker.thread.start()


def _stamp(repo: Repo) -> tuple[int, int] | None:
    try:
        st = os.lstat(repo.root / CONFIG_FILE)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class _Worker:
    """One sink's thread: rounds when woken, until caught up; backoff when it fails."""

    def __init__(self, repo: Repo, spec: SinkSpec, policy: EventPolicy, reading: Reading) -> None:
        self.repo = repo
        self.spec = spec
        self.policy = policy
        self.reading = reading
        self.wake = threading.Event()
        self.wake.set()  # a first round at start: whatever waited while the daemon was down
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"sink {spec.name}", daemon=True)
        self._errors = 0
        self._said: str | None = None

    def halt(self) -> None:
        self.stop.set()
        self.wake.set()

    def _run(self) -> None:
        delivery = Delivery(self.repo, self.spec, self.policy, stop=self.stop)
        retry_at = 0.0
        journal: dict[str, int] | None = None
        try:
            while not self.stop.is_set():
                timeout = POLL if not retry_at else max(0.0, retry_at - time.monotonic())
                woken = self.wake.wait(timeout)
                self.wake.clear()
                if self.stop.is_set():
                    break
                if retry_at and time.monotonic() < retry_at:
                    continue  # backing off: a new batch does not cut the wait short
                seen = sizes(self.repo.runtime / "journal")
                if not woken and not retry_at and seen == journal:
                    continue  # idle, and nothing appended to the journal
                journal, retry_at = seen, 0.0
                delay = self._deliver(delivery)
                if delay is not None:
                    retry_at = time.monotonic() + delay
        finally:
            delivery.close()

    def _deliver(self, delivery: Delivery) -> float | None:
        """Rounds until caught up; the delay before the next try when one failed."""
        try:
            while not self.stop.is_set():
                done = delivery.round(self.reading, lock_timeout=BUSY_RETRY)
                if done.error is not None:
                    raise done.error
                if not done.more:
                    delivery.rest()
                    break
        except LockTimeout:
            return BUSY_RETRY
        except SinkError as exc:
            return self._failed(str(exc), exc.retry_after)
        except (OrchsyncError, OSError) as exc:
            return self._failed(str(exc), None)
        except Exception as exc:  # a bug must not end the thread: the sink is retried
            logger.exception("sink %s: delivery failed", self.spec.name)
            return self._failed(f"{type(exc).__name__}: {exc}", None)
        if self._errors:
            logger.info(
                "sink %s delivers again (after %d failed attempt%s)",
                self.spec.name,
                self._errors,
                "" if self._errors == 1 else "s",
            )
        self._errors, self._said = 0, None
        return None

    def _failed(self, message: str, retry_after: float | None) -> float:
        base = BACKOFF[min(self._errors, len(BACKOFF) - 1)]
        self._errors += 1
        delay = base * random.uniform(0.8, 1.2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        if message != self._said:
            logger.warning("sink %s: %s; trying again in %.0f s", self.spec.name, message, delay)
            self._said = message
        else:
            logger.debug("sink %s still failing; next try in %.0f s", self.spec.name, delay)
        return delay
