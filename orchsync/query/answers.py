"""Memoized answers of read commands, keyed by everything that could change them.

Agents call `orchsync tasks --ready --json` in loops, and importing DuckDB alone costs more
than the 150 ms a query may take. An answer is stored as JSON under a key made of the
command and its arguments, the schema version, the ref and commit the index must reflect
(read from ref files), and the index file's mtime and size. Any sync, pull, journal event
or rebuild changes one of those, so a stale answer is never served; a hit needs no DuckDB.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from orchsync.repo import Repo

__all__ = ["cached"]

MAX_ENTRIES = 256


def _state(repo: Repo) -> list[Any] | None:
    from orchsync.config import load_config
    from orchsync.index.schema import SCHEMA_VERSION
    from orchsync.query.freshness import expected_tip

    try:
        st = repo.index_path.stat()
    except FileNotFoundError:
        return None
    from orchsync.index.journal import sizes

    ref, tip = expected_tip(repo, load_config(repo.root))
    # journal events (agent init) reach the index on its next read: a grown journal is a change
    return [SCHEMA_VERSION, ref, tip, st.st_mtime_ns, st.st_size, sizes(repo.runtime / "journal")]


def cached(repo: Repo, name: str, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """compute() on a miss (it opens the index, which may catch up first); the JSON on a hit."""
    folder = repo.runtime / "cache"
    before = _state(repo)
    if before is not None:
        hit = _read(folder / f"q-{_key(name, params, before)}.json")
        if hit is not None:
            return hit["value"]
    value = compute()
    after = _state(repo)
    if after is not None:
        _write(folder, f"q-{_key(name, params, after)}.json", value)
    return value


def _key(name: str, params: dict[str, Any], state: list[Any]) -> str:
    blob = json.dumps([name, params, state], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(folder: Path, name: str, value: Any) -> None:
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            tmp.write_text(
                json.dumps({"value": value}, default=str, ensure_ascii=False), encoding="utf-8"
            )
            tmp.replace(folder / name)
        except OSError:
            with suppress(OSError):  # not even a temp file left behind on a full disk
                tmp.unlink()
            raise
        entries = list(folder.glob("q-*.json"))
        if len(entries) > MAX_ENTRIES:
            entries.sort(key=lambda p: p.stat().st_mtime)
            for old in entries[: len(entries) - MAX_ENTRIES // 2]:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written is only slower
