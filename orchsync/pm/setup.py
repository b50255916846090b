"""`orchsync init` and `orchsync status`: setting a repository up, and saying how it stands."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchsync.config import CONFIG_FILE, load_config
from orchsync.repo import Repo

__all__ = ["DEFAULT_CONFIG", "init", "repo_status"]

DEFAULT_CONFIG = """\
# orchsync settings, shared by everyone who clones this repository.
# Every key is optional; these are the defaults.

# How long a file must stay quiet before the daemon snapshots it, and the most a change
# may wait while edits keep coming.
debounce_ms: 300
max_latency_ms: 2000

# Where snapshot commits land. null = the checked-out branch. A dedicated ref such as
# refs/orchsync/<branch> keeps automatic commits off a shared branch.
target_ref: null

# Run the repository's pre-commit and commit-msg hooks for snapshot commits.
run_hooks: false

# How long an assembled agent context may be served from cache (it is never served stale).
context_cache_seconds: 300

events:
  # debug | info | warning: events below this level are not recorded.
  min_level: debug
  # Per-type level overrides, e.g. orchestration.task.updated: debug
  levels: {}
  # Per-type sampling rates between 0 and 1, decided by content hash (a rebuild keeps
  # exactly the same events), e.g. orchestration.file.synced: 0.1
  sampling: {}
"""


def init(
    repo: Repo,
    *,
    merge_driver: bool = False,
    dry_run: bool = False,
    actor: str | None = None,
    agent: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Create `.git/orchsync/`, a default config if there is none, and the first snapshot.

    `agent`: also write a default agent profile `delegation/agents/<agent>.yml` (from the
    agent template) into that snapshot; without it, a tree with no profile gets a hint.
    `progress(done, total)` follows the files of a big first snapshot as they are parsed
    and written (a face draws a progress bar with it on a terminal).
    """
    actions: list[str] = []
    config_path = repo.root / CONFIG_FILE
    if not dry_run:
        repo.ensure_runtime()
    actions.append(f"runtime folder {repo.runtime}")
    if not os.path.lexists(config_path):
        actions.append(f"wrote {CONFIG_FILE} (defaults)")
        if not dry_run:
            from orchsync.pm.writes import atomic_write

            atomic_write(config_path, DEFAULT_CONFIG.encode(), exclusive=True, root=repo.root)
    if merge_driver:
        from orchsync.git.merge_driver import install_merge_driver

        written = install_merge_driver(
            repo.root, repo.git_dir, dry_run=dry_run, program=_driver_program()
        )
        actions.extend(written or ["merge driver already installed"])
    from orchsync.pm.agents import init_profile

    hints = init_profile(repo, agent, actor, dry_run, actions)
    commit = None
    if not dry_run:
        from orchsync.sync import sync

        # Not indexed here: the first query (or `orchsync watch`) builds the index.
        result = sync(
            repo,
            actor=actor,
            allow_unborn=True,
            raise_blocked=True,
            index=False,
            progress=progress,
        )
        commit = result.commit
        if commit:
            actions.append(f"snapshot {commit[:12]}: {result.subject}")
    return {"actions": actions, "commit": commit, "dry_run": dry_run, "hints": hints}


def _driver_program() -> str:
    """`orchsync` when git will find it on PATH, else this interpreter running the package.

    git runs the driver through the shell with the user's PATH; a venv that is not activated
    would make a bare `orchsync` fail on every merge.
    """
    import shlex
    import shutil
    import sys

    found = shutil.which("orchsync")
    if found and Path(found).parent == Path(sys.executable).parent:
        return "orchsync"
    return f"{shlex.quote(sys.executable)} -m orchsync"


def repo_status(repo: Repo) -> dict[str, Any]:
    """Pending changes and why they wait, the last snapshot, the index and the daemon."""
    from orchsync.git.store import GitStore
    from orchsync.index import Index
    from orchsync.sync import pending_changes, read_status

    config = load_config(repo.root)
    store = GitStore(repo, config.target_ref)
    blocked = store.blocked_reason()
    saved = read_status(repo)
    out: dict[str, Any] = {
        "repo": str(repo.root),
        "branch": store.branch(),
        "blocked": blocked,
        "config_problems": list(config.problems),
    }
    try:
        out["target_ref"] = store.target_ref()
        tip = store.tip()
    except Exception:  # detached HEAD without a target_ref
        out["target_ref"], tip = None, None
    out["tip"] = str(tip.id) if tip is not None else None
    out["last_snapshot"] = {"commit": saved.get("last_commit"), "at": saved.get("last_snapshot_at")}
    out["pending"] = pending_changes(repo) if not store.git.head_is_unborn else []
    index = Index(repo.index_path)
    meta: dict[str, str] = {}
    if index.exists():
        try:
            with index.reader(timeout=2.0) as con:
                meta = index.meta(con)
        except Exception as exc:  # a busy or broken index is a status, not an error
            meta = {"error": str(exc)}
    out["index"] = {
        "path": str(index.path),
        "exists": index.exists(),
        "last_commit": meta.get("last_commit"),
        "current": bool(meta) and meta.get("last_commit") == out["tip"],
        **({"error": meta["error"]} if "error" in meta else {}),
    }
    try:
        from orchsync.watch import daemon_status
    except ImportError:
        out["daemon"] = {"running": False}
    else:
        out["daemon"] = daemon_status(repo)
    return out
