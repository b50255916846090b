"""One daemon per clone: its lock, its state file, `daemon_status` and `stop_daemon`.

- `.git/orchsync/daemon.lock` is flocked by the running daemon; the kernel releases it when
  the process dies, however it dies, so "is a daemon running" is "is that lock held".
- `.git/orchsync/daemon.json` is what the daemon tells the world: pid, start time, watch mode
  (native or polling, with the reason), last commit, and the paths it holds back and why.
  It is informative only: liveness is always judged by the lock.
- `.git/orchsync/daemon.log` is its log.

Nothing here imports watchfiles, pygit2 or duckdb, so `orchsync status` and `orchsync stop`
stay cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchsync.errors import ExitCode, OrchsyncError
from orchsync.repo import FileLock, Repo, read_info

__all__ = [
    "DaemonLock",
    "DaemonNotRunning",
    "DaemonRunning",
    "daemon_status",
    "is_running",
    "log_path",
    "read_state",
    "stop_daemon",
    "write_state",
]

QUEUE_SHOWN = 50  # paths listed in daemon.json; the count is always exact


class DaemonRunning(OrchsyncError):
    """Another `orchsync watch` holds this clone's daemon lock."""

    exit_code = ExitCode.USAGE


class DaemonNotRunning(OrchsyncError):
    """`orchsync stop` found no daemon to stop."""

    exit_code = ExitCode.FINDINGS


def lock_path(repo: Repo) -> Path:
    return repo.runtime / "daemon.lock"


def state_path(repo: Repo) -> Path:
    return repo.runtime / "daemon.json"


def log_path(repo: Repo) -> Path:
    return repo.runtime / "daemon.log"


def now_iso() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


class DaemonLock:
    """The flock that makes a process *the* daemon of a clone."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.lock = FileLock(lock_path(repo), timeout=0, what="the daemon lock")

    def acquire(self) -> DaemonLock:
        self.repo.ensure_runtime()
        # Retried briefly: `is_running` probes take the lock for an instant.
        deadline = time.monotonic() + 0.5
        while not self.lock.try_acquire():
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            pid = holder_pid(self.repo)
            raise DaemonRunning(
                f"orchsync watch is already running for {self.repo.root} (pid {pid or '?'})"
            )
        self.lock.write_info(json.dumps({"pid": os.getpid(), "started_at": now_iso()}))
        return self

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> DaemonLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def is_running(repo: Repo) -> bool:
    """True while some process holds the daemon lock (probing it takes it for an instant)."""
    path = lock_path(repo)
    if not path.exists():
        return False
    probe = FileLock(path, timeout=0)
    if probe.try_acquire():
        probe.release()
        return False
    return True


def holder_pid(repo: Repo, wait: float = 0.5) -> int | None:
    """The pid the lock holder recorded (it writes it right after taking the lock).

    A daemon whose disk refused those few bytes is asked over its socket instead.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            pid = int(json.loads(read_info(lock_path(repo)) or "{}").get("pid") or 0)
        except (ValueError, AttributeError):
            pid = 0
        if pid:
            return pid
        from orchsync.watch.client import daemon_state  # socket and json only

        live = daemon_state(repo)
        if live is not None and live.get("pid"):
            return int(live["pid"])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def read_state(repo: Repo) -> dict[str, Any]:
    try:
        data = json.loads(state_path(repo).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(repo: Repo, state: dict[str, Any]) -> None:
    """Replace daemon.json atomically (a reader never sees half a file)."""
    repo.ensure_runtime()
    path = state_path(repo)
    tmp = path.with_name(f".daemon.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def daemon_status(repo: Repo) -> dict[str, Any]:
    """What `orchsync status` shows about the daemon; a stable, JSON-ready shape.

    Keys: running, pid, started_at, uptime_seconds, mode ("native" | "polling" | None),
    warning (why events are polled, or None), state ("starting", "catching up", "watching",
    "waiting", "stopping"), last_commit, last_snapshot_at, commits (made by this run),
    queued (up to 50 paths), queued_count, waiting (why queued paths wait, or None),
    waiting_since, fault (a storage fault syncs run into: {"what", "since", "retry_seconds",
    "remedy", "message", "attempts"}, or None), warnings (the polling warning and the wait
    reason, as lines to show),
    log (path of daemon.log). Without a running daemon only `running`,
    `log` and, when known, `last_pid`/`stopped_at` are meaningful.
    """
    running = is_running(repo)
    state = read_state(repo)
    out: dict[str, Any] = {
        "running": running,
        "pid": None,
        "started_at": None,
        "uptime_seconds": None,
        "mode": None,
        "warning": None,
        "state": None,
        "last_commit": state.get("last_commit"),
        "last_snapshot_at": state.get("last_snapshot_at"),
        "commits": None,
        "queued": [],
        "queued_count": 0,
        "waiting": None,
        "waiting_since": None,
        "fault": None,
        "warnings": [],
        "log": str(log_path(repo)),
    }
    if not running:
        if state.get("pid"):
            out["last_pid"] = state.get("pid")
            out["stopped_at"] = state.get("stopped_at")
        return out
    pid = holder_pid(repo)
    from orchsync.watch.client import daemon_state  # socket and json only

    live = daemon_state(repo)
    if live is not None and (pid is None or live.get("pid") == pid):
        state = live  # fresher than daemon.json, which the disk may be refusing
        pid = live.get("pid")
    if state.get("pid") != pid:
        out["pid"] = pid  # the holder has not written its state yet
        out["state"] = "starting"
        return out
    for key in (
        "pid",
        "started_at",
        "mode",
        "warning",
        "state",
        "commits",
        "queued",
        "queued_count",
        "waiting",
        "waiting_since",
        "fault",
    ):
        out[key] = state.get(key, out.get(key))
    if out["warning"]:
        out["warnings"].append(out["warning"])
    if out["waiting"] and not out["fault"]:
        out["warnings"].append(f"{out['queued_count']} change(s) wait: {out['waiting']}")
    try:
        started = datetime.fromisoformat(str(state.get("started_at")))
        out["uptime_seconds"] = round(
            (datetime.now(UTC).replace(tzinfo=None) - started).total_seconds()
        )
    except ValueError:
        pass
    return out


def stop_daemon(repo: Repo, timeout: float = 30.0) -> int:
    """SIGTERM the daemon holding this clone's lock and wait until it let go; returns its pid."""
    if not is_running(repo):
        raise DaemonNotRunning(f"no orchsync watch is running for {repo.root}")
    pid = holder_pid(repo)
    if pid is None:
        raise DaemonNotRunning(
            f"the daemon lock of {repo.root} is held, but its holder left no pid"
        )
    with contextlib.suppress(ProcessLookupError):  # it exited between the check and the signal
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_running(repo):
        if time.monotonic() >= deadline:
            raise DaemonNotRunning(
                f"orchsync watch (pid {pid}) did not stop within {timeout:.0f} s; "
                f"see {log_path(repo)}"
            )
        time.sleep(0.05)
    return pid
