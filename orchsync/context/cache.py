"""Assembled contexts kept on disk (`.git/orchsync/cache/context/`) and never served stale.

An entry is keyed by the request (target, --agent, --session) and holds the context plus
its `Deps`: every file it was built from with the hash then seen, each reference glob's
matches, and the commit the index reflected. A hit re-hashes those files (a few, read
directly from disk), re-runs the globs and compares the branch tip read from ref files, so
it needs neither DuckDB nor pygit2. When the tip has moved, one `git diff --name-only`
between the two commits tells whether any commit touched something the context depends on
(see `Deps`); if nothing did, the entry is kept and moved to the new tip.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from orchsync import __version__
from orchsync.context.refs import expand, hash_file
from orchsync.context.types import Context, Deps, Request
from orchsync.parse.layout import DELEGATION
from orchsync.repo import Repo

__all__ = ["CACHE_VERSION", "MAX_ENTRIES", "load", "store"]

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # 2: bodies without template placeholders
MAX_ENTRIES = 512
_GIT_TIMEOUT = 10.0


def _folder(repo: Repo) -> Path:
    return repo.runtime / "cache" / "context"


def _entry_path(repo: Repo, request: Request) -> Path:
    blob = json.dumps([CACHE_VERSION, __version__, request.to_dict()], sort_keys=True)
    return _folder(repo) / f"{hashlib.sha256(blob.encode()).hexdigest()[:32]}.json"


def load(
    repo: Repo, request: Request, *, ttl: float, ref: str | None, tip: str | None
) -> Context | None:
    """The cached context for this request if it is younger than `ttl` and nothing it was
    built from has changed since; None otherwise."""
    if ttl <= 0:
        return None
    path = _entry_path(repo, request)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(entry, dict)
        or entry.get("v") != CACHE_VERSION
        or entry.get("request") != request.to_dict()
    ):
        return None
    if time.time() - float(entry.get("created", 0)) > ttl:
        return None
    deps = Deps.from_dict(entry.get("deps") or {})
    if deps.ref != ref or not _files_unchanged(repo, deps):
        return None
    if deps.tip != tip:
        if deps.tip is None or tip is None or not _commits_irrelevant(repo, deps, tip):
            return None
        deps.tip = tip  # nothing it depends on changed: keep it, checked against the new tip
        entry["deps"] = deps.to_dict()
        _write(path, entry)
    return Context(entry["data"], deps)


def store(repo: Repo, request: Request, context: Context) -> None:
    """Keep a freshly assembled context; a cache that cannot be written is only slower."""
    entry = {
        "v": CACHE_VERSION,
        "request": request.to_dict(),
        "created": time.time(),
        "deps": context.deps.to_dict(),
        "data": context.data,
    }
    folder = _folder(repo)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write(_entry_path(repo, request), entry)
        entries = list(folder.glob("*.json"))
        if len(entries) > MAX_ENTRIES:
            entries.sort(key=lambda p: p.stat().st_mtime)
            for old in entries[: len(entries) - MAX_ENTRIES // 2]:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("context cache not written: %s", exc)


def _write(path: Path, entry: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(entry, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink()
        log.debug("context cache not written: %s", exc)


def _files_unchanged(repo: Repo, deps: Deps) -> bool:
    root = repo.root
    for rel, digest in deps.files.items():
        if hash_file(root, rel) != digest:
            return False
    return all(expand(root, pattern)[0] == matches for pattern, matches in deps.globs.items())


def _git(repo: Repo, *args: str) -> str | None:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "-C", str(repo.root), *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def _commits_irrelevant(repo: Repo, deps: Deps, tip: str) -> bool:
    """True when no commit between the entry's tip and `tip` touched anything it depends on."""
    changed = _git(
        repo, "diff", "--name-only", "--no-renames", "-z", deps.tip or "", tip, "--", DELEGATION
    )
    if changed is None:
        return False
    for path in filter(None, changed.split("\0")):
        if _relevant(repo, deps, path):
            return False
    if deps.session:
        sessions = _git(
            repo,
            "log",
            "--format=%(trailers:key=Orchsync-Session,valueonly,separator=%x2C)",
            f"{deps.tip}...{tip}",
        )
        if sessions is None:
            return False
        found = {s.strip() for line in sessions.splitlines() for s in line.split(",")}
        if deps.session in found:
            return False
    return True


def _relevant(repo: Repo, deps: Deps, path: str) -> bool:
    if path in deps.files or any(path.startswith(p) for p in deps.prefixes):
        return True
    parts = path.split("/")
    name = parts[-1]
    if name == "TASK.md" and len(parts) >= 3:
        code = parts[-2]
        if code in deps.codes or (deps.prefix_of and code.startswith(deps.prefix_of)):
            return True
    if deps.mentions and (name == "TASK.md" or path.startswith(f"{DELEGATION}/sessions/")):
        from orchsync.parse.fsread import read_entry

        try:
            data = read_entry(repo.root, path).data  # a link's text, never its target
        except (OSError, ValueError):
            return False
        if data is None:
            return False
        return any(m.encode("utf-8") in data for m in deps.mentions)
    return False
