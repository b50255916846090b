"""Live updates: tell every open page when a commit lands, by any route.

A commit moves the branch (or the configured snapshot ref) whoever makes it: the daemon, a
CLI or MCP write, this board, `git commit` or `git pull`. So the board does not need the
daemon to tell it anything: each open page holds one Server-Sent Events stream, and the
stream looks at the ref every `INTERVAL` seconds (two small file reads, no git library, no
DuckDB) and at the journal folder's listing (events such as agent.initialized change no
file). When either moved, it sends `change`; the page fetches its own view again and moves
the cards (or prepends the activity rows) without a reload.

Edits saved on disk that nobody has synced yet move no ref, so they show after the next sync
(the daemon makes one within its debounce; without it, `orchsync sync`). A page opened or
refreshed meanwhile shows them already: cards and task pages read the files themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

from orchsync.config import load_config
from orchsync.query.freshness import expected_tip
from orchsync.repo import Repo

__all__ = ["INTERVAL", "changes", "stamp"]

INTERVAL = 0.25  # seconds between looks at the ref: a commit shows within ~0.3 s


def stamp(repo: Repo, config: Any) -> tuple[Any, ...]:
    """What changes when a commit lands or a journal event is appended."""
    ref, tip = expected_tip(repo, config)
    journal = repo.runtime / "journal"
    try:
        with os.scandir(journal) as entries:
            appended = tuple(sorted((e.name, e.stat().st_size) for e in entries))
    except OSError:
        appended = ()
    return ref, tip, appended


async def changes(
    repo: Repo, is_disconnected: Any, interval: float = INTERVAL
) -> AsyncIterator[dict[str, str]]:
    """SSE messages: `hello` with the current tip, then `change` each time it moves."""
    config = load_config(repo.root)
    last = stamp(repo, config)
    seq = 0
    yield {"event": "hello", "data": json.dumps({"tip": last[1], "seq": seq})}
    while True:
        await asyncio.sleep(interval)
        if await is_disconnected():
            return
        now = stamp(repo, config)
        if now != last:
            seq += 1
            kind = "commit" if now[:2] != last[:2] else "journal"
            last = now
            yield {"event": "change", "data": json.dumps({"tip": now[1], "seq": seq, "kind": kind})}
