"""How each sink is doing: `orchsync sinks status`, and the lines `orchsync status` adds.

`sink_status` reads the index once (caught up with git first) to measure every sink's lag;
`problems` reads only the sinks' state files and the config, cheap enough for every
`orchsync status`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from orchsync.config import load_config
from orchsync.errors import SinkError
from orchsync.repo import Repo
from orchsync.sinks.ledger import DEAD_LETTER_MAX, Ledger
from orchsync.sinks.settings import SinkSpec, load_sinks
from orchsync.sinks.source import lag

__all__ = ["problems", "sink_status"]


def sink_status(repo: Repo) -> dict[str, Any]:
    """{"sinks": [...], "problems": [...]}: per sink its cursor, lag (events and seconds),
    backlog (dead letters), last success and last error; config problems as text."""
    settings = load_sinks(repo)
    policy = load_config(repo.root).events
    rows = [_row(repo, spec) for spec in settings.sinks]
    measured = [r for r in rows if r["cursor"] is not None]
    if measured:
        _measure(repo, settings.sinks, measured, policy)
    for row, spec in zip(rows, settings.sinks, strict=True):
        row["state"] = _state(row, spec)
    return {"sinks": rows, "problems": [str(d) for d in settings.diagnostics]}


def problems(repo: Repo) -> list[str]:
    """One line per sink that fails, is refused or is misconfigured (no index read)."""
    settings = load_sinks(repo)
    out = [f"sink configuration: {d}" for d in settings.diagnostics]
    for spec in settings.sinks:
        if not spec.enabled:
            continue
        state = Ledger(repo, spec.name).read_state()
        error = state.get("last_error")
        if error:
            out.append(
                f"sink {spec.name} failing since {state.get('failing_since') or error.get('at')}: "
                f"{error.get('message')}"
            )
        if state.get("dropped_events"):
            out.append(
                f"sink {spec.name}: dead-letter file full, {state['dropped_events']} refused "
                "event(s) dropped"
            )
    return out


def _row(repo: Repo, spec: SinkSpec) -> dict[str, Any]:
    ledger = Ledger(repo, spec.name)
    cursor = ledger.read_cursor()
    state = ledger.read_state()
    try:
        dead_bytes = os.path.getsize(ledger.dead_letter_path())
    except OSError:
        dead_bytes = 0
    return {
        "name": spec.name,
        "type": spec.type,
        "target": spec.target(),
        "enabled": spec.enabled,
        "cursor": cursor.to_dict() if cursor else None,
        "lag_events": None,
        "lag_seconds": None,
        "max_backlog": spec.max_backlog,
        "backlog": {
            "dead_letter": str(ledger.dead_letter_path()) if dead_bytes else None,
            "dead_letter_events": int(state.get("dead_letter_events") or 0),
            "dead_letter_bytes": dead_bytes,
            "dead_letter_max_bytes": DEAD_LETTER_MAX,
            "dropped_events": int(state.get("dropped_events") or 0),
        },
        "delivered": int(state.get("delivered") or 0),
        "last_success": state.get("last_success"),
        "last_batch": state.get("last_batch"),
        "last_error": state.get("last_error"),
        "failing_since": state.get("failing_since"),
    }


def _measure(
    repo: Repo, specs: tuple[SinkSpec, ...], rows: list[dict[str, Any]], policy: Any
) -> None:
    from orchsync import query
    from orchsync.query.commits import open_history
    from orchsync.sinks.ledger import Cursor

    by_name = {s.name: s for s in specs}
    git = open_history(repo)
    now = datetime.now(UTC).replace(tzinfo=None)
    with query.reader(repo) as con:
        for row in rows:
            spec = by_name[row["name"]]
            try:
                count, oldest = lag(
                    repo, con, Cursor.from_dict(row["cursor"]), policy, spec.filter, git=git
                )
            except SinkError as exc:  # the index cannot say what the sink lacks
                row["last_error"] = row["last_error"] or {"message": str(exc), "status": None}
                continue
            row["lag_events"] = count
            row["oldest_pending"] = oldest
            if oldest:
                then = datetime.fromisoformat(oldest.removesuffix("Z"))
                row["lag_seconds"] = round(max(0.0, (now - then).total_seconds()), 1)
            else:
                row["lag_seconds"] = 0.0


def _state(row: dict[str, Any], spec: SinkSpec) -> str:
    """disabled | not started | failing | behind | ok"""
    if not spec.enabled:
        return "disabled"
    if row["cursor"] is None:
        return "not started"
    if row["last_error"]:
        return "failing"
    if row["lag_events"] is not None and row["lag_events"] > spec.max_backlog:
        return "behind"
    return "ok"
