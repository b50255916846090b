"""The daemon: a loop around `orchsync.sync.sync`, fed by `settled_changes`.

    start:  take the daemon lock -> start watching -> sync the whole tree (catch-up)
    loop:   settled paths join the queue -> if git is busy or blocked, they wait;
            otherwise sync(queue) -> the queue is empty again
            HEAD or the branch moved (a commit by hand, a pull, a checkout): sync(queue or [])
            so the index catches up; files that now match the new tip are not re-committed
    stop:   SIGTERM / SIGINT -> the current batch is finished -> the lock is released

It holds no sync logic: which bytes differ from git, whether a snapshot may be made (merge in
progress, detached HEAD) and what the commit says are all decided by `sync`. The daemon only
decides *when* to call it. It never writes under delegation/ and never moves a ref itself.
Watching starts before the catch-up, and every edit is either in the queue or on disk for
the next start's catch-up, so a crash (even kill -9) loses nothing.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import logging.handlers
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from orchsync.config import load_config
from orchsync.errors import (
    RETRY_COMMAND,
    LockTimeout,
    OrchsyncError,
    StorageFault,
    as_fault,
    storage,
)
from orchsync.git.state import GitState, read_git_state
from orchsync.parse.layout import DELEGATION
from orchsync.repo import Repo
from orchsync.watch.control import (
    QUEUE_SHOWN,
    DaemonLock,
    DaemonRunning,
    holder_pid,
    is_running,
    log_path,
    now_iso,
    read_state,
    write_state,
)
from orchsync.watch.settle import ChangeSource, NotifySource, settled_changes

__all__ = ["Daemon", "run_daemon", "setup_logging", "start_detached"]

logger = logging.getLogger(__name__)

WHOLE_TREE_OVER = 2000  # more queued paths than this: one sync of the whole tree is cheaper
BLOCKED_RETRY = 30.0  # while blocked, sync is asked again when git's state changes, or this often
ERROR_BACKOFF = (2.0, 5.0, 15.0, 60.0)
FAULT_BACKOFF = (2.0, 5.0, 15.0)  # a disk freed is seen within 15 s
# An idle daemon's sleep: edits and git's changes wake it anyway. A tick costs ~50 ms of CPU
# at 10,000 tasks, so a 30 s tick alone came to 0.25 % idle CPU.
IDLE_TICK_MS = 60_000
COOL_AFTER = 2.0  # seconds without a sync before the DuckDB instance is dropped
FORGET_AFTER = 30.0  # ... and before the git index kept read is dropped too
SEARCH_WAIT = 30.0  # a handed-over search waits this long for a running sync, at most
STALE_LOCK = 120.0  # a git lock file older than this is reported as probably left by a crash
DETACHED_ENV = "ORCHSYNC_DAEMON_DETACHED"
POLL_ENV = "ORCHSYNC_WATCH_POLL"


class Daemon:
    """One watch session on one clone. `run()` returns when `stop_event` is set."""

    def __init__(
        self,
        repo: Repo,
        *,
        poll: bool = False,
        debounce_ms: int | None = None,
        max_latency_ms: int | None = None,
        stop_event: threading.Event | None = None,
        tick_ms: int = 1000,
        source: ChangeSource | None = None,
        sync: Callable[..., Any] | None = None,
        serve: bool = True,
    ) -> None:
        config = load_config(repo.root)
        self.repo = repo
        self.poll = poll
        self.debounce_ms = config.debounce_ms if debounce_ms is None else debounce_ms
        self.max_latency_ms = config.max_latency_ms if max_latency_ms is None else max_latency_ms
        self.target_ref = config.target_ref
        self.stop_event = stop_event or threading.Event()
        self.tick_ms = tick_ms
        self.source = source
        self._sync = sync
        self.queue: set[str] = set()
        self.waiting: str | None = None
        self._waiting_since: str | None = None
        self._head: str | None = None  # HEAD as of the last sync that caught the index up
        self._indexed_tip: str | None = None  # the tip the index reflects
        self._hold_key: tuple[object, ...] | None = None  # git state that blocked the last sync
        self._hold_until = 0.0
        self._errors = 0
        self._fault: dict[str, Any] | None = None  # the storage fault syncs run into, if any
        self._busy_until = 0.0
        self.commits = 0
        self._state: dict[str, Any] = {}
        self._written: dict[str, Any] | None = None
        self.serve = serve
        # One sync at a time: the watch loop's batches and the syncs write commands hand over
        # (`orchsync.watch.client`) run in different threads of this process.
        self._sync_lock = threading.Lock()
        self._claims: dict[str, int] = {}  # paths handed-over syncs will commit (`_claim`)
        self._requests = 0  # handed-over syncs in progress or waiting
        self._claim_guard = threading.Lock()
        self._warm: Any = None  # orchsync.sync.warm.Warm, made on the first library sync
        self._last_sync = time.monotonic()
        self._cooled = 0  # 1: DuckDB instance dropped (COOL_AFTER), 2: all dropped (FORGET_AFTER)
        self._sinks: Any = None  # orchsync.sinks.runner.SinkRunner, while running

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        with DaemonLock(self.repo), self._serving(), self._delivering():
            self._state = {
                "pid": os.getpid(),
                "started_at": now_iso(),
                "state": "starting",
                "mode": None,
                "warning": None,
                "debounce_ms": self.debounce_ms,
                "max_latency_ms": self.max_latency_ms,
                "last_commit": read_state(self.repo).get("last_commit"),
                "commits": 0,
                "log": str(log_path(self.repo)),
            }
            self._publish()
            try:
                self._run()
            finally:
                self._state.update(state="stopped", stopped_at=now_iso())
                self._publish()
                logger.info("stopped (pid %d)", os.getpid())

    def _run(self) -> None:
        source = self.source or NotifySource(
            self.repo.delegation, force_polling=self.poll, also=_git_folders(self.repo)
        )
        self._state.update(mode=source.mode, warning=source.warning)
        logger.info(
            "watching %s (%s events, debounce %d ms, max latency %d ms), pid %d",
            self.repo.delegation,
            source.mode,
            self.debounce_ms,
            self.max_latency_ms,
            os.getpid(),
        )
        if source.warning:
            logger.warning("%s", source.warning)
        # Watch first, then catch up: an edit made during the catch-up is an event, one made
        # before it is on disk; either way it is committed.
        self._state["state"] = "catching up"
        self._publish()
        self._build_index_apart()
        self.queue.add(DELEGATION)
        self.step(set(), force=True)
        self._state["state"] = "watching"
        self._publish()
        try:
            for batch in self.batches(source):
                if (source.mode, source.warning) != (
                    self._state.get("mode"),
                    self._state.get("warning"),
                ):
                    self._state.update(mode=source.mode, warning=source.warning)
                self.step(batch)
        finally:
            if self.source is None:
                source.close()
            self._state["state"] = "stopping"

    def _build_index_apart(self) -> None:
        """No index yet: build it in a child process (`orchsync reindex`), not here.

        A rebuild's heap (~250 MB at 10,000 tasks) would stay with the daemon for its whole
        life: Python keeps the memory of freed objects for reuse. The child gives it all
        back when it exits; the catch-up that follows finds the index current. If the
        child fails, that catch-up rebuilds here and reports what is wrong.
        """
        if self._sync is not None or self.repo.index_path.exists():
            return
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "orchsync", "--repo", str(self.repo.root), "reindex"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "ORCHSYNC_NO_DAEMON": "1"},
        )
        if proc.returncode == 0:
            logger.info("built the index in %.1f s", time.monotonic() - started)
        else:
            logger.warning("building the index apart failed: %s", proc.stderr.strip()[-500:])

    @contextlib.contextmanager
    def _serving(self) -> Iterator[None]:
        """The sync socket, while the daemon lock is held (see `orchsync.watch.client`)."""
        server = None
        if self.serve:
            from orchsync.watch.listener import SyncServer

            server = SyncServer(
                self.repo,
                self.serve_sync,
                state=self.live_state,
                claim=self.hold,
                search=self.serve_search,
            )
            if not server.start():
                server = None
        try:
            yield
        finally:
            if server is not None:
                server.close()
            if self._warm is not None:
                self._warm.close()

    @contextlib.contextmanager
    def _delivering(self) -> Iterator[None]:
        """The event sinks (`orchsync.sinks`): their own threads, woken after each sync."""
        from orchsync.sinks.runner import SinkRunner

        self._sinks = SinkRunner(self.repo)
        self._sinks.start()
        try:
            yield
        finally:
            self._sinks.stop()

    def batches(self, source: ChangeSource) -> Iterator[set[str]]:
        return settled_changes(
            self.repo.root,
            debounce_ms=self.debounce_ms,
            max_latency_ms=self.max_latency_ms,
            stop_event=self.stop_event,
            tick_ms=lambda: self._tick(source),
            source=_WarmingSource(source, self._warm_up),
        )

    def _tick(self, source: ChangeSource) -> int:
        """How long the loop may sleep without news: `tick_ms` while there is something to
        come back for (edits queued, a sync waiting or failing, memory still to give back),
        and while changes to git's state are not events; else IDLE_TICK_MS. An idle daemon
        then sleeps until an edit or git wakes it (and once a minute or so, in case)."""
        if not getattr(source, "wakes_on_git", False):
            return self.tick_ms
        if self.queue or self.waiting or self._fault or self._hold_key is not None:
            return self.tick_ms
        idle = time.monotonic() - self._last_sync
        if self._cooled < 2:  # the next cool-down stage, on time
            due = (COOL_AFTER if self._cooled < 1 else FORGET_AFTER) - idle
            return int(min(max(due * 1000, self.tick_ms), IDLE_TICK_MS))
        return IDLE_TICK_MS

    def _warm_up(self) -> None:
        """A change was seen: a sync follows within the quiet window, so get DuckDB ready."""
        warm = self._warm
        if warm is not None and self._cooled:
            self._cooled, self._last_sync = 0, time.monotonic()  # not idle any more
            threading.Thread(target=warm.warm_up, name="warm-up", daemon=True).start()

    def step(self, batch: set[str], *, force: bool = False) -> None:
        """One turn: queue the batch, then sync if git lets us and there is reason to."""
        try:
            self._step(batch, force)
        finally:
            self._cool_down()

    def _step(self, batch: set[str], force: bool) -> None:
        if batch:
            logger.debug("settled: %s", sorted(batch))
            self.queue |= batch
        now = time.monotonic()
        state = read_git_state(self.repo, self.target_ref)
        if state.busy:
            # A git command is half way (checkout, commit, merge): its work tree and refs are
            # not final yet. Ask again once it has been gone for a quiet window.
            self._busy_until = now + self.debounce_ms / 1000
            if self.queue:
                self._wait(_busy_reason(state.busy))
            self._publish()
            return
        if now < self._busy_until and not force:
            self._publish()
            return
        moved = state.head != self._head or state.tip != self._indexed_tip
        if not self.queue and not moved:
            self._publish()
            return
        if (
            self._hold_key is not None
            and state.key == self._hold_key
            and now < self._hold_until
            and not force
        ):
            self._publish()  # still blocked the same way: don't ask sync again yet
            return
        self._do_sync(state)
        self._publish()

    def hold(self, paths: list[str] | None) -> Callable[[], None]:
        """Leave `paths` to a write command that is about to write them (`client.claim`),
        until the returned function is called: its handed-over sync commits them, named."""
        claimed = self._add_claims(paths)
        return lambda: self._drop_claims(claimed)

    def _claim(self, paths: list[str] | None) -> list[str]:
        """Paths a handed-over sync will commit: the daemon's own batches leave them to it.

        A write command claims its paths before it writes (`hold`); this second claim covers
        a client that did not (an older one, `orchsync sync PATH`), and counts the request.
        """
        with self._claim_guard:
            self._requests += 1
        return self._add_claims(paths)

    def _unclaim(self, rel: list[str]) -> None:
        with self._claim_guard:
            self._requests -= 1
        self._drop_claims(rel)

    def _add_claims(self, paths: list[str] | None) -> list[str]:
        rel = [DELEGATION] if not paths else [self._rel(p) for p in paths]
        with self._claim_guard:
            for p in rel:
                self._claims[p] = self._claims.get(p, 0) + 1
        return rel

    def _drop_claims(self, rel: list[str]) -> None:
        with self._claim_guard:
            for p in rel:
                left = self._claims.get(p, 0) - 1
                if left > 0:
                    self._claims[p] = left
                else:
                    self._claims.pop(p, None)

    def _rel(self, path: str) -> str:
        try:
            return Path(os.path.relpath(path, self.repo.root)).as_posix()
        except ValueError:
            return path

    def _waiting_requests(self) -> int:
        """Handed-over syncs in this process now: this one and those waiting for it."""
        with self._claim_guard:
            return self._requests

    def _is_claimed(self, path: str) -> bool:
        """For the daemon's own sync, as it reads each file: claimed since it began?"""
        return not self._unclaimed([path])

    def _unclaimed(self, queued: list[str]) -> list[str]:
        """The queued paths no handed-over sync has claimed (nor a folder above them)."""
        with self._claim_guard:
            claims = set(self._claims)
        if not claims:
            return queued
        return [p for p in queued if not _under(p, claims)]

    def _do_sync(self, state: GitState) -> None:
        queued = sorted(self.queue)
        try:
            with self._sync_lock:
                # Decided under the lock: a write command's request that waited for it has
                # claimed its paths by now (`_claim`), and they are left to it.
                whole = DELEGATION in self.queue or len(queued) > WHOLE_TREE_OVER
                mine = self._unclaimed([DELEGATION] if whole else queued)
                if queued and (not mine or (whole and mine != [DELEGATION])):
                    return  # claimed by handed-over syncs: they commit these, named
                if whole:
                    paths = [str(self.repo.delegation)]
                else:
                    queued = mine
                    paths = [str(self.repo.root / p) for p in queued]
                result = self._call_sync(paths, skip=self._is_claimed)
        except StorageFault as exc:
            self._faulted(state, exc)
            return
        except (OrchsyncError, OSError) as exc:
            fault = as_fault(exc, self.repo.git_dir) if isinstance(exc, OSError) else None
            if fault is not None:
                self._faulted(state, fault)
            else:
                self._failed(state, str(exc))
            return
        except Exception as exc:  # a bug must not stop the watching; the queue is kept
            logger.exception("sync failed")
            self._failed(state, f"{type(exc).__name__}: {exc}")
            return
        self._recovered(len(queued))
        if result.blocked:
            if self.waiting != result.blocked:
                what = f"{len(queued)} path(s) wait" if queued else "the index catch-up waits"
                logger.warning("%s: %s", what, result.blocked)
            self._wait(result.blocked)
            self._hold_key, self._hold_until = state.key, time.monotonic() + BLOCKED_RETRY
            return
        self._errors = 0
        self._hold_key = None
        self.queue.difference_update(queued)
        if self.waiting:
            logger.info("no longer waiting (%s)", self.waiting)
        self.waiting = self._waiting_since = None
        self._head = state.head
        self._indexed_tip = result.index.tip if result.index is not None else result.commit
        for skipped in getattr(result, "skipped", ()):  # a FIFO, a file above the size limit
            logger.warning("%s is not synced: %s", skipped.path, skipped.message)
        if result.commit:
            self.commits += 1
            self._state.update(
                last_commit=result.commit, last_snapshot_at=now_iso(), commits=self.commits
            )
            logger.info(
                "committed %s (%d file%s): %s",
                result.commit[:10],
                len(result.files),
                "" if len(result.files) == 1 else "s",
                result.subject,
            )
            for bad in result.invalid:
                logger.warning(
                    "%s is invalid (committed and indexed as such): %s",
                    bad.path,
                    "; ".join(str(d) for d in bad.diagnostics[:3]),
                )
        elif result.index is not None and result.index.commits:
            logger.info(
                "index caught up with %d commit(s) made outside orchsync (tip %s)",
                result.index.commits,
                (result.index.tip or "")[:10],
            )

    def _call_sync(
        self,
        paths: list[str] | None,
        on_committed: Callable[[Any], None] | None = None,
        skip: Callable[[str], bool] | None = None,
        **options: Any,
    ) -> Any:
        """The library's sync with this process's warm index (a test's fake as it is)."""
        self._last_sync, self._cooled = time.monotonic(), 0
        try:
            if self._sync is not None:
                return self._sync(self.repo, paths, **options)
            from orchsync.sync import Syncer, SyncOptions
            from orchsync.sync.warm import Warm

            if self._warm is None:
                self._warm = Warm(self.repo)
            syncer = Syncer(self.repo, self._warm)
            syncer.skip = skip
            return syncer.run(paths, SyncOptions(**options), on_committed)
        finally:
            if self._sinks is not None:
                self._sinks.notify()  # committed and indexed: the sinks deliver, off this path

    def serve_sync(self, request: dict[str, Any], reply: Callable[[dict[str, Any]], None]) -> None:
        """A sync a write command handed over (`orchsync.watch.client`); runs in a server thread.

        The answer goes out as soon as the commit has landed and the git index follows it;
        indexing comes next, and a reader that comes meanwhile waits for it (query.reader).
        """
        from orchsync.watch.client import OPTIONS

        given = request.get("options") or {}
        options = {k: given[k] for k in OPTIONS if k in given}
        paths = request.get("paths")
        timeout = float(options.pop("lock_timeout", 30.0))
        started = time.monotonic()
        answered: list[float] = []

        def answer(result: Any) -> None:
            if not answered:
                answered.append(time.monotonic())
                reply({"ok": True, "result": result.to_dict()})

        claimed = self._claim(paths)
        try:
            if not self._sync_lock.acquire(timeout=timeout):
                raise LockTimeout(
                    f"the orchsync lock ({self.repo.runtime / 'lock'}) is held by another "
                    f"process; gave up after {timeout:.0f} s"
                )
            waited = time.monotonic() - started
            left = max(0.0, timeout - waited)
            if self._waiting_requests() > 1:
                # Others wait behind this one (a swarm of agents): commit, answer, and
                # leave the DuckDB catch-up to the last of them, which takes every commit
                # at once; until then a query catches up by itself.
                options["index"] = False
            try:
                result = self._call_sync(paths, on_committed=answer, lock_timeout=left, **options)
            finally:
                self._sync_lock.release()
        except OrchsyncError as exc:
            self._unclaim(claimed)
            logger.warning("handed-over sync failed: %s", exc)
            reply({"ok": False, "error": _error_of(exc)})
            return
        except BaseException:
            self._unclaim(claimed)
            raise
        self._unclaim(claimed)
        answer(result)
        if result.commit:
            logger.info(
                "committed %s (%d file%s) for %s, answered in %.0f ms (%.0f waiting for an "
                "earlier sync), indexed in %.0f ms: %s",
                result.commit[:10],
                len(result.files),
                "" if len(result.files) == 1 else "s",
                options.get("actor") or "a write command",
                (answered[0] - started) * 1000,
                waited * 1000,
                (time.monotonic() - started) * 1000,
                result.subject,
            )

    def serve_search(
        self, request: dict[str, Any], reply: Callable[[dict[str, Any]], None]
    ) -> None:
        """A search `orchsync search` handed over (`client.search_via_daemon`), in a server
        thread: answered with this process's DuckDB instance, which a one-shot command would
        first have to import and build (~50 ms). The same library call as in-process
        (`query.search.run`: the index is caught up with git first); between batches."""
        from orchsync.query.fresh import keep_warm
        from orchsync.query.search import check_arguments, run

        args = request.get("search")
        args = args if isinstance(args, dict) else {}
        text, kind, status = args.get("text"), args.get("kind"), args.get("status")
        limit = args.get("limit", 20)
        started = time.monotonic()
        try:
            check_arguments(text, kind, status, limit)  # the types too: they came as JSON
            if not self._sync_lock.acquire(timeout=SEARCH_WAIT):
                raise LockTimeout(f"the daemon was busy syncing for {SEARCH_WAIT:.0f} s")
            try:
                keep_warm()  # searches come again: attach the index to one kept instance
                self._last_sync, self._cooled = time.monotonic(), 0  # and cool it down later
                result = run(self.repo, str(text), kind=kind, status=status, limit=int(limit))
            finally:
                self._sync_lock.release()
        except OrchsyncError as exc:
            reply({"ok": False, "error": _error_of(exc)})
            return
        reply({"ok": True, "result": result.to_dict()})
        logger.debug(
            "searched %r for a command: %d hit(s) in %.0f ms",
            text,
            len(result.hits),
            (time.monotonic() - started) * 1000,
        )

    def _cool_down(self) -> None:
        """Idle for COOL_AFTER: drop the DuckDB instance and give the memory back.

        Between bursts of edits the daemon should not sit on a DuckDB instance (~15 MB at
        10,000 tasks) or a sync's peak heap. The git index it keeps read (~6 MB) stays for
        FORGET_AFTER, since re-reading it costs a sync ~25 ms. The next change seen warms
        DuckDB up again while it settles (`_warm_up`), and a handed-over sync does not need
        it before it answers.
        """
        idle = time.monotonic() - self._last_sync
        stage = 2 if idle >= FORGET_AFTER else 1 if idle >= COOL_AFTER else 0
        if stage <= self._cooled:
            return
        if not self._sync_lock.acquire(blocking=False):
            return  # a handed-over sync is running
        try:
            if self._warm is not None and stage == 1:
                self._warm.cool()
            elif self._warm is not None:
                self._warm.close()
            from orchsync.query.fresh import drop_warm

            drop_warm()  # the instance searches were answered with
            self._cooled = stage
        finally:
            self._sync_lock.release()
        _release_memory()

    def _faulted(self, state: GitState, exc: StorageFault) -> None:
        """A sync the storage refused: one log line per fault, then quiet retries with backoff.

        The queue is kept (the edits are on disk), `orchsync status` shows the fault, and the
        DuckDB instance and the git index kept read are dropped: a refused write may have
        left either unusable, and the next try starts clean.
        """
        delay = FAULT_BACKOFF[min(self._errors, len(FAULT_BACKOFF) - 1)]
        self._errors += 1
        what = f"{exc.reason} writing {exc.target}" if exc.reason else str(exc)
        if self._fault is None or self._fault["what"] != what:
            logger.error(
                "fault: %s; %s; %s on disk, not committed yet; retrying, every %.0f s at most",
                what,
                exc.remedy or "see the message above",
                _changes(len(self.queue)),
                FAULT_BACKOFF[-1],
            )
            self._fault = {"what": what, "since": now_iso(), "message": str(exc)}
        else:
            logger.debug("still %s; retrying in %.0f s", what, delay)
        self._fault.update(retry_seconds=delay, remedy=exc.remedy, attempts=self._errors)
        self._state["fault"] = dict(self._fault)
        self._wait(f"fault: {what}")
        self._hold_key, self._hold_until = state.key, time.monotonic() + delay
        if self._warm is not None:
            with contextlib.suppress(Exception):
                self._warm.close()

    def _recovered(self, committed: int) -> None:
        if self._fault is not None:
            logger.info(
                "fault cleared (%s, since %s); %s committed",
                self._fault["what"],
                self._fault["since"],
                _changes(committed),
            )
            self._fault = None
            self._state["fault"] = None

    def _failed(self, state: GitState, reason: str) -> None:
        delay = ERROR_BACKOFF[min(self._errors, len(ERROR_BACKOFF) - 1)]
        self._errors += 1
        logger.error("sync failed, retrying in %.0f s: %s", delay, reason)
        self._wait(f"the last sync failed: {reason}")
        self._hold_key, self._hold_until = state.key, time.monotonic() + delay

    def _wait(self, reason: str) -> None:
        if reason != self.waiting:
            self.waiting, self._waiting_since = reason, now_iso()

    def _publish(self) -> None:
        """Write daemon.json when what it says has changed."""
        queued = sorted(self.queue)
        self._state.update(
            queued=queued[:QUEUE_SHOWN],
            queued_count=len(queued),
            waiting=self.waiting if queued else None,
            waiting_since=self._waiting_since if queued else None,
        )
        if self._state.get("state") in ("watching", "waiting"):
            self._state["state"] = "waiting" if queued and self.waiting else "watching"
        if self._state != self._written:
            try:
                write_state(self.repo, self._state)
            except OSError as exc:  # the state is also served live (`live_state`)
                logger.debug("daemon.json not written: %s", exc)
                return
            self._written = dict(self._state)

    def live_state(self) -> dict[str, Any]:
        """What daemon.json says, asked over the socket: `orchsync status` reads it even
        when the disk refuses daemon.json (it reports the fault that is the reason)."""
        return dict(self._state)


class _WarmingSource:
    """A ChangeSource that calls `on_change()` whenever raw changes arrive."""

    def __init__(self, source: ChangeSource, on_change: Callable[[], None]) -> None:
        self._source = source
        self._on_change = on_change

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)  # mode, warning, quiet_ms, close

    def wait(self, timeout_ms: int, stop_event: Any) -> Any:
        raw = self._source.wait(timeout_ms, stop_event)
        if raw:
            self._on_change()
        return raw


def _git_folders(repo: Repo) -> tuple[tuple[str, bool], ...]:
    """git's folders whose changes the daemon must see at once: HEAD, the index, markers
    and locks (the git dir, alone), packed refs, and the branches (with their subfolders)."""
    common = repo.common_dir
    folders = [(str(repo.git_dir), False)]
    if common != repo.git_dir:
        folders.append((str(common), False))
    folders.append((str(common / "refs" / "heads"), True))
    config = load_config(repo.root)
    if config.target_ref and not config.target_ref.startswith("refs/heads/"):
        top = config.target_ref.split("/")[:2]  # refs/orchsync/<branch>: its folder
        folders.append((str(common.joinpath(*top)), True))
    return tuple((f, below) for f, below in folders if os.path.isdir(f))


def _changes(n: int) -> str:
    return f"{n} change{'' if n == 1 else 's'}"


def _live_pid(repo: Repo) -> int | None:
    from orchsync.watch.client import daemon_state

    live = daemon_state(repo, timeout=0.2)
    return live.get("pid") if live is not None else None


def _busy_reason(lock: str) -> str:
    try:
        age = time.time() - os.stat(lock).st_mtime
    except OSError:
        age = 0.0
    reason = f"a git command is running ({lock} exists)"
    if age > STALE_LOCK:
        reason += (
            f"; it is {age / 60:.0f} min old: if no git command is running, remove it yourself"
        )
    return reason


def _release_memory() -> None:
    """Give back what the last syncs used: an idle daemon should not keep their peak.

    Reference counting frees a sync's objects (`git.store.open_git` breaks pygit2's own
    cycle), but glibc keeps freed arenas mapped; one collection and a trim when the daemon
    goes idle (~15 ms, off every sync's path) return them to the system.
    """
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None  # not glibc (macOS, musl): gc.collect alone


_malloc_trim = _find_malloc_trim() if sys.platform.startswith("linux") else None


# --- running it ---------------------------------------------------------------------------------


class _LogFile(logging.handlers.RotatingFileHandler):
    """daemon.log, on a disk that may refuse it: a refused record is dropped, not a crash.

    logging's own `handleError` prints a traceback to stderr for every record it could not
    write; here the first refusal is one line on stderr, the next ones are silent, and a
    record written again ends the silence.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8", delay=True)
        self._refused = False
        self._failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)
        if self._refused and not self._failed_now:
            self._refused = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if not self._refused:
            self._refused = True
            with contextlib.suppress(Exception):
                sys.stderr.write(
                    f"orchsync: cannot write {self.baseFilename} ({sys.exc_info()[1]}); "
                    "log records are dropped until it can be written again\n"
                )


def setup_logging(repo: Repo, *, verbose: bool = False, to_stderr: bool = True) -> None:
    """daemon.log (rotated at 1 MB, 3 kept) and, in the foreground, stderr."""
    repo.ensure_runtime()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [_LogFile(log_path(repo))]
    if to_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger("orchsync")
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("watchfiles").setLevel(logging.WARNING)


def run_daemon(
    repo: Repo,
    *,
    poll: bool = False,
    debounce_ms: int | None = None,
    max_latency_ms: int | None = None,
    verbose: bool = False,
) -> None:
    """The foreground daemon: logging, signal handling, then `Daemon.run` until SIGTERM/SIGINT."""
    if is_running(repo):  # refuse before touching the running daemon's log
        _refuse(repo)
    setup_logging(repo, verbose=verbose, to_stderr=not os.environ.get(DETACHED_ENV))
    poll = poll or os.environ.get(POLL_ENV, "").lower() not in ("", "0", "false", "no")
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        if not stop.is_set():
            logger.info("%s received: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    Daemon(
        repo, poll=poll, debounce_ms=debounce_ms, max_latency_ms=max_latency_ms, stop_event=stop
    ).run()


def _refuse(repo: Repo) -> None:
    raise DaemonRunning(
        f"orchsync watch is already running for {repo.root} (pid {holder_pid(repo) or '?'})"
    )


def start_detached(repo: Repo, args: list[str], timeout: float = 15.0) -> int:
    """Start `orchsync watch ARGS` in its own session, wait until it holds the lock, return its pid."""
    if is_running(repo):
        _refuse(repo)
    with storage(log_path(repo), retry=RETRY_COMMAND):
        repo.ensure_runtime()
        log = open(log_path(repo), "ab")  # noqa: SIM115 - closed below, the child keeps its own
    with log:
        child = subprocess.Popen(
            [sys.executable, "-m", "orchsync", "--repo", str(repo.root), "watch", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, DETACHED_ENV: "1"},
            cwd=repo.root,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            if code == int(DaemonRunning.exit_code):
                _refuse(repo)
            raise OrchsyncError(
                f"orchsync watch exited with status {code} while starting; see {log_path(repo)}"
            )
        if read_state(repo).get("pid") == child.pid or _live_pid(repo) == child.pid:
            return child.pid  # (the live state, when the disk refuses daemon.json)
        time.sleep(0.05)
    raise OrchsyncError(
        f"orchsync watch (pid {child.pid}) did not start within {timeout:.0f} s; "
        f"see {log_path(repo)}"
    )


def _error_of(exc: OrchsyncError) -> dict[str, Any]:
    """An error as the client raises it again (`watch.client`), with its exit code."""
    from orchsync.watch.client import FAULT_PARTS

    error: dict[str, Any] = {
        "type": type(exc).__name__,
        "message": str(exc),
        "exit_code": int(exc.exit_code),
    }
    if isinstance(exc, StorageFault):
        error["fault"] = {k: getattr(exc, k) for k in FAULT_PARTS}
    return error


def _under(path: str, claims: set[str]) -> bool:
    """`path` or a folder above it is claimed (a lookup per level: an import claims
    thousands of paths at once)."""
    while path:
        if path in claims:
            return True
        path = path.rpartition("/")[0]
    return False
