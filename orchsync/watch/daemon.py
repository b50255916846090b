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
from typing import Any

from orchsync.config import load_config
from orchsync.errors import OrchsyncError
from orchsync.layout import DELEGATION
from orchsync.repo import Repo
from orchsync.watch.gitstate import GitState, read_git_state
from orchsync.watch.settle import ChangeSource, NotifySource, settled_changes
from orchsync.watch.state import (
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

__all__ = ["Daemon", "run_daemon", "setup_logging", "start_detached"]

logger = logging.getLogger(__name__)

WHOLE_TREE_OVER = 2000  # more queued paths than this: one sync of the whole tree is cheaper
BLOCKED_RETRY = 30.0  # while blocked, sync is asked again when git's state changes, or this often
ERROR_BACKOFF = (2.0, 5.0, 15.0, 60.0)
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
        self._busy_until = 0.0
        self.commits = 0
        self._state: dict[str, Any] = {}
        self._written: dict[str, Any] | None = None

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        with DaemonLock(self.repo):
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
        source = self.source or NotifySource(self.repo.delegation, force_polling=self.poll)
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

    def batches(self, source: ChangeSource) -> Iterator[set[str]]:
        return settled_changes(
            self.repo.root,
            debounce_ms=self.debounce_ms,
            max_latency_ms=self.max_latency_ms,
            stop_event=self.stop_event,
            tick_ms=self.tick_ms,
            source=source,
        )

    def step(self, batch: set[str], *, force: bool = False) -> None:
        """One turn: queue the batch, then sync if git lets us and there is reason to."""
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

    def _do_sync(self, state: GitState) -> None:
        queued = sorted(self.queue)
        if DELEGATION in self.queue or len(queued) > WHOLE_TREE_OVER:
            paths = [str(self.repo.delegation)]
        else:
            paths = [str(self.repo.root / p) for p in queued]
        sync = self._sync or _library_sync()
        try:
            result = sync(self.repo, paths)
        except (OrchsyncError, OSError) as exc:
            self._failed(state, str(exc))
            return
        except Exception as exc:  # a bug must not stop the watching; the queue is kept
            logger.exception("sync failed")
            self._failed(state, f"{type(exc).__name__}: {exc}")
            return
        finally:
            _release_memory()
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
            write_state(self.repo, self._state)
            self._written = dict(self._state)


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
    """Give back what a sync used: a long-lived process should not keep its peak.

    Each sync opens a pygit2 repository (index and pack maps) and a DuckDB database; left to
    the cyclic collector they pile up ~5 MB a sync on a 10,000-task tree, and glibc keeps
    freed arenas. Collecting and trimming after each sync costs ~15 ms and holds RSS flat.
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


def _library_sync() -> Callable[..., Any]:
    from orchsync.sync import sync

    return sync


# --- running it ---------------------------------------------------------------------------------


def setup_logging(repo: Repo, *, verbose: bool = False, to_stderr: bool = True) -> None:
    """daemon.log (rotated at 1 MB, 3 kept) and, in the foreground, stderr."""
    repo.ensure_runtime()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.handlers.RotatingFileHandler(
            log_path(repo), maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        ),
    ]
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
    repo.ensure_runtime()
    with open(log_path(repo), "ab") as log:
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
        if read_state(repo).get("pid") == child.pid:
            return child.pid
        time.sleep(0.05)
    raise OrchsyncError(
        f"orchsync watch (pid {child.pid}) did not start within {timeout:.0f} s; "
        f"see {log_path(repo)}"
    )
