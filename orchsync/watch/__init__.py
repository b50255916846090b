"""`orchsync watch`: every settled save under delegation/ becomes a snapshot commit and index rows.

- `settle`    the watcher API: `settled_changes(root, ...)` yields batches of settled paths
- `filters`   `NoiseFilter`, watchfiles' `DefaultFilter` plus orchsync's editor-noise list
- (`git.state.read_git_state`: cheap reads of HEAD, refs, lock files and in-progress markers)
- `daemon`    the loop around `orchsync.sync.sync`, logging, signals, `--detach`
- `control`   the daemon lock, daemon.json, `daemon_status`, `stop_daemon` (light imports)
- `listener`  the socket write commands hand their syncs to; `client` is their side

Importing this package is cheap: `daemon_status`, `stop_daemon` and `is_running` pull in no
watchfiles, pygit2 or duckdb; the rest is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from orchsync.watch.control import (
    DaemonNotRunning,
    DaemonRunning,
    daemon_status,
    is_running,
    stop_daemon,
)

__all__ = [
    "Daemon",
    "DaemonNotRunning",
    "DaemonRunning",
    "NoiseFilter",
    "Settler",
    "daemon_status",
    "is_running",
    "run_daemon",
    "settled_changes",
    "start_detached",
    "stop_daemon",
]

_LAZY = {
    "Daemon": "daemon",
    "run_daemon": "daemon",
    "start_detached": "daemon",
    "NoiseFilter": "filters",
    "Settler": "settle",
    "settled_changes": "settle",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'orchsync.watch' has no attribute {name!r}")
    return getattr(importlib.import_module(f"orchsync.watch.{module}"), name)
