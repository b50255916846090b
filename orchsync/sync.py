"""The one sync function: changed files under delegation/ become a commit, events and rows.

The daemon, `orchsync sync` and every write command call `sync`; nothing else commits.
Pipeline: collect changes -> read + hash -> parse -> pair moves -> derive events -> commit
(pygit2, compare-and-swap) -> update the user's git index -> catch the DuckDB index up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from orchsync.config import Config, load_config
from orchsync.errors import SnapshotBlocked, UsageError
from orchsync.events import Event, FilePair, derive_events, pair_moves, stamp
from orchsync.gitstore import GitStore, RefMoved, file_mode, open_git
from orchsync.indexer import CatchUp, ParseCache, catch_up, import_events
from orchsync.layout import DELEGATION
from orchsync.lock import FileLock
from orchsync.model import ParsedFile
from orchsync.noise import is_noise_path
from orchsync.parse import parse_file
from orchsync.repo import Repo
from orchsync.trailers import compose_message
from orchsync.tree import list_files

if TYPE_CHECKING:
    import pygit2

    from orchsync.warm import Warm

__all__ = ["SyncResult", "git_blob_id", "lock_for", "pending_changes", "read_status", "sync"]

logger = logging.getLogger(__name__)

MAX_RETRIES = 8


@dataclass(slots=True)
class SyncResult:
    commit: str | None = None
    ref: str | None = None
    files: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    subject: str | None = None
    blocked: str | None = None
    dry_run: bool = False
    index: CatchUp | None = None
    invalid: list[ParsedFile] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "commit": self.commit,
            "ref": self.ref,
            "files": self.files,
            "subject": self.subject,
            "blocked": self.blocked,
            "dry_run": self.dry_run,
            "events": [
                {"event_type": e.event_type, "entity": e.entity_code, "path": e.path}
                for e in self.events
            ],
            "invalid": [
                {"path": p.path, "diagnostics": [str(d) for d in p.diagnostics]}
                for p in self.invalid
            ],
        }


@dataclass(slots=True)
class _Change:
    path: str
    old_blob: str | None
    data: bytes | None  # None: deleted
    mode: int = 0o100644


def git_blob_id(data: bytes) -> str:
    """The id git gives these bytes as a blob, computed without git (sha1 of header + data)."""
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.hexdigest()


def lock_for(repo: Repo, timeout: float = 30.0) -> FileLock:
    return FileLock(repo.ensure_runtime() / "lock", timeout=timeout)


def sync(
    repo: Repo,
    paths: Iterable[str] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
    dry_run: bool = False,
    allow_unborn: bool = False,
    index: bool = True,
    subject: str | None = None,
    lock_timeout: float = 30.0,
    raise_blocked: bool = False,
    rollback: dict[str, str] | None = None,
    imported: str | None = None,
    warm: Warm | None = None,
    on_committed: Callable[[SyncResult], None] | None = None,
) -> SyncResult:
    """Commit what changed under delegation/ (all of it, or `paths`), then index it.

    A sync with nothing to commit makes no commit, but still catches the index up with
    commits made by other means (a pull, a plain `git commit`).

    `warm` holds what a long-lived caller (the daemon) keeps between syncs: a DuckDB
    instance and the user's git index, already read. `on_committed(result)` is called once
    the commit has landed and the user's git index follows it (or once there proved to be
    nothing to commit), with `events` derived, while the DuckDB index may still be catching
    up: the daemon answers a waiting client there. A reader that comes meanwhile finds the
    index behind the branch and waits while the sync holds the repo lock (`query.reader`).
    """
    config = load_config(repo.root)
    actor = actor or config.actor
    wanted = None if paths is None else [_normalize(repo, p) for p in paths]
    with lock_for(repo, lock_timeout):
        store = GitStore(repo, config.target_ref)
        reason = store.blocked_reason(allow_unborn)
        if reason:
            _write_status(repo, blocked=reason, pending=wanted)
            if raise_blocked:
                raise SnapshotBlocked(reason)
            return SyncResult(blocked=reason, dry_run=dry_run)
        ref = store.target_ref()
        if not dry_run:
            _finish_user_index_update(repo, store)  # a sync killed between commit and index update
        cache = ParseCache(store)
        result = SyncResult(ref=ref, dry_run=dry_run)
        update: _UserIndexUpdate | None = None
        for _attempt in range(MAX_RETRIES):
            tip = store.tip(ref)
            tree = tip.tree if tip is not None else None
            changes = _collect(repo, store, tree, wanted)
            if not changes:  # also on a retry: the commit that moved the ref took our changes
                result.files, result.subject, result.invalid = [], None, []
                break
            pairs, events, blobs = _prepare(store, cache, changes, config, dry_run)
            if imported:  # `orchsync import`: its event is derived from the trailer, as on replay
                events += stamp(
                    import_events(pairs, imported),
                    commit="pending",
                    emitted_at="",
                    agent=None,
                    session=None,
                    policy=config.events,
                )
            message = compose_message(
                pairs,
                events,
                agent=actor,
                session=session,
                subject=subject,
                rollback=rollback,
                time=datetime.now(UTC),
                imported=imported,
            )
            result.files = [c.path for c in changes]
            result.subject = message.split("\n", 1)[0]
            result.invalid = [p.new for p in pairs if p.new is not None and not p.new.valid]
            if dry_run:
                result.events = events
                return result
            if store.branch() == ref:
                store.wait_for_index_lock()
                _note_user_index_update(repo, ref, blobs, {c.path: c.old_blob for c in changes})
            try:
                snap = store.commit(
                    blobs,
                    message,
                    str(tip.id) if tip is not None else None,
                    ref,
                    run_hooks=config.run_hooks,
                )
            except RefMoved:
                continue  # someone committed meanwhile: recompute the changes on the new tip
            result.commit = snap.commit
            if on_committed is not None:
                result.events = _events_of(store, cache, config, snap.commit)
            if store.branch() == ref:
                update = _UserIndexUpdate(
                    store,
                    warm.index_git() if warm is not None else open_git(repo.root),
                    blobs,
                    {c.path: c.old_blob for c in changes},
                    on_committed and _once(on_committed, replace(result)),
                    when=_index_update_order(on_committed, warm),
                )
            break
        else:
            raise SnapshotBlocked(f"{ref} kept moving while orchsync tried to commit; try again")
        try:
            _write_status(repo, blocked=None, pending=None, last_commit=result.commit)
            if update is None and on_committed is not None:
                on_committed(replace(result))
            if index:
                result.index = catch_up(
                    repo, store, config, cache=cache, index=warm.index if warm else None
                )
                result.events = (
                    [e for e in result.index.new_events if e.commit == result.commit]
                    if result.commit
                    else []
                )
            elif result.commit and on_committed is None:
                result.events = _events_of(store, cache, config, result.commit)
        finally:
            if update is not None:
                update.wait()  # raises what the git-index update raised
        (repo.runtime / INDEX_UPDATE).unlink(missing_ok=True)
    return result


def _once(fn: Callable[[SyncResult], None], result: SyncResult) -> Callable[[], None]:
    return lambda: fn(result)


def _index_update_order(on_committed: object, warm: object) -> str:
    """When the user's git index follows the commit, relative to the DuckDB catch-up.

    - "now", before the catch-up, when a client waits for the answer (it is given then);
    - "after" it, in the daemon's own batches: the events reach the index sooner (beside it,
      the two compete for the GIL and both cores with DuckDB's threads);
    - "beside" it, in a thread, in a one-shot process: ~20 ms less wall time in all.
    """
    if on_committed is not None:
        return "now"
    return "after" if warm is not None else "beside"


class _UserIndexUpdate:
    """The git-index update a commit owes: before, beside or after the DuckDB catch-up.

    `when` (see `_index_update_order`): "now" runs it at once, "beside" in a thread (both
    spend their time in C with the GIL released: libgit2 reading and rewriting a
    20,000-entry index, ~55 ms cold and ~27 ms with the index kept read, and DuckDB loading
    rows), "after" in `wait()`. The update uses a repository object of its own (libgit2
    objects are not shared between threads) and `then` runs when it is done. A failure
    (git's index.lock held past the wait) is raised by `wait()`, in the caller.
    """

    def __init__(
        self,
        store: GitStore,
        git: pygit2.Repository,
        blobs: dict[str, tuple[str, int] | None],
        old: dict[str, str | None],
        then: Callable[[], None] | None,
        *,
        when: str,
    ) -> None:
        self.store, self.git, self.blobs, self.old, self.then = store, git, blobs, old, then
        self.error: BaseException | None = None
        self.pending = when == "after"
        self.thread = threading.Thread(target=self._run, name="git-index update", daemon=True)
        if when == "beside":
            with _RUNNING_GUARD:
                _RUNNING.add(self.thread)
            self.thread.start()
        elif when == "now":
            self._run()

    def _run(self) -> None:
        try:
            disk = {p: b[0] for p, b in self.blobs.items() if b is not None}
            self.store.update_user_index(self.blobs, self.old, disk, git=self.git)
        except BaseException as exc:
            self.error = exc
            return
        finally:
            with _RUNNING_GUARD:
                _RUNNING.discard(self.thread)
        if self.then is not None:
            try:
                self.then()
            except Exception:
                logger.exception("on_committed failed")

    def wait(self) -> None:
        if self.pending:
            self.pending = False
            self._run()
        if self.thread.ident is not None:
            self.thread.join()
        self.git = None  # type: ignore[assignment]
        if self.error is not None:
            raise self.error


_RUNNING: set[threading.Thread] = set()
_RUNNING_GUARD = threading.Lock()


def _finish_before_fork() -> None:
    """A fork (the catch-up's parse workers) must not copy libgit2 half way through a write."""
    with _RUNNING_GUARD:
        running = list(_RUNNING)
    for thread in running:
        if thread is not threading.current_thread():
            thread.join(30.0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_finish_before_fork)


def _events_of(store: GitStore, cache: ParseCache, config: Config, commit: str) -> list[Event]:
    from orchsync.history import commit_changes
    from orchsync.indexer import commit_events

    return commit_events(commit_changes(store, store.git[commit]), cache, config)[1]  # type: ignore[arg-type]


def _normalize(repo: Repo, path: str) -> str:
    rel = repo.rel(path).rstrip("/")
    if rel != DELEGATION and not rel.startswith(DELEGATION + "/"):
        raise UsageError(
            f"{path} is not under {DELEGATION}/; orchsync only snapshots the delegation tree"
        )
    return rel


def _collect(repo: Repo, store: GitStore, tree: object, wanted: list[str] | None) -> list[_Change]:
    """Files whose bytes differ from the target ref's tree (added, changed, deleted)."""
    if wanted is None or DELEGATION in wanted:
        on_disk = list_files(repo.root)
        in_tree = store.list_blobs(tree)  # type: ignore[arg-type]
    else:
        on_disk, in_tree = [], {}
        for p in wanted:
            full = repo.root / p
            if full.is_dir():
                on_disk.extend(list_files(repo.root, p))
                in_tree.update(store.list_blobs(tree, p))  # type: ignore[arg-type]
            else:
                if full.is_file() and not is_noise_path(p):
                    on_disk.append(p)
                blob = store.blob_id(tree, p)  # type: ignore[arg-type]
                if blob is not None:
                    in_tree[p] = blob
                else:
                    in_tree.update(store.list_blobs(tree, p))  # a folder that was deleted
    changes: dict[str, _Change] = {}
    for p in sorted(set(on_disk)):
        full = repo.root / p
        try:
            data = full.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            continue
        old = in_tree.get(p)
        if old is not None and git_blob_id(data) == old:
            continue
        if old is None and store.is_ignored(p):
            continue
        changes[p] = _Change(p, old, data, file_mode(full))
    present = set(on_disk)
    for p, blob in in_tree.items():
        if p not in present and not (repo.root / p).is_file():
            changes[p] = _Change(p, blob, None)
    return [changes[p] for p in sorted(changes)]


def _prepare(
    store: GitStore, cache: ParseCache, changes: list[_Change], config: Config, dry_run: bool
) -> tuple[list[FilePair], list[Event], dict[str, tuple[str, int] | None]]:
    """Parse both sides, derive events (for the message), and write the new blobs."""
    blobs: dict[str, tuple[str, int] | None] = {}
    pairs = []
    for c in changes:
        new = None
        if c.data is not None:
            blob = git_blob_id(c.data) if dry_run else store.write_blob(c.data)
            new = parse_file(c.path, c.data)
            cache.put(c.path, blob, new)
            blobs[c.path] = (blob, c.mode)
        else:
            blobs[c.path] = None
        pairs.append(FilePair(cache.get(c.path, c.old_blob), new))
    pairs = pair_moves(pairs)
    derived: list[Event] = []
    for pair in pairs:
        derived.extend(derive_events(pair))
    # Stamped only to apply the policy to the trailers; the index stamps the real commit.
    events = stamp(
        derived, commit="pending", emitted_at="", agent=None, session=None, policy=config.events
    )
    return pairs, events, blobs


def _write_status(
    repo: Repo, *, blocked: str | None, pending: list[str] | None, last_commit: str | None = None
) -> None:
    """What `orchsync status` shows: why changes wait, and the last snapshot."""
    path = repo.ensure_runtime() / "status.json"
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    if blocked:
        current.update({"blocked": blocked, "blocked_since": current.get("blocked_since") or now})
    else:
        current.pop("blocked", None)
        current.pop("blocked_since", None)
    if last_commit:
        current.update({"last_commit": last_commit, "last_snapshot_at": now})
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2), encoding="utf-8")
    tmp.replace(path)


INDEX_UPDATE = "index-update.json"


def _note_user_index_update(
    repo: Repo, ref: str, blobs: dict[str, tuple[str, int] | None], old: dict[str, str | None]
) -> None:
    """Record the git-index update a commit owes, before the ref moves (see below)."""
    entries = {p: [old.get(p), b[0] if b else None, b[1] if b else None] for p, b in blobs.items()}
    tmp = repo.ensure_runtime() / (INDEX_UPDATE + ".tmp")
    tmp.write_text(json.dumps({"ref": ref, "entries": entries}), encoding="utf-8")
    tmp.replace(repo.runtime / INDEX_UPDATE)


def _finish_user_index_update(repo: Repo, store: GitStore) -> None:
    """Finish the git-index update of a sync killed after its commit landed.

    Otherwise the index keeps the pre-commit blobs, which then look staged by the user: every
    later sync leaves them alone, and a plain `git commit` would revert the files.
    """
    marker = repo.runtime / INDEX_UPDATE
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        data = {}
    ref = data.get("ref")
    if ref and store.branch() == ref:
        tip = store.tip(ref)
        tree = tip.tree if tip is not None else None
        committed: dict[str, tuple[str, int] | None] = {}
        old_blobs: dict[str, str | None] = {}
        disk: dict[str, str] = {}
        for path, (old, new, mode) in (data.get("entries") or {}).items():
            if store.blob_id(tree, path) != new:
                continue  # that commit did not land (or was replaced): nothing is owed
            committed[path] = (new, mode) if new else None
            old_blobs[path] = old
            if new and (repo.root / path).is_file():
                disk[path] = git_blob_id((repo.root / path).read_bytes())
        if committed:
            store.update_user_index(committed, old_blobs, disk)
    marker.unlink(missing_ok=True)


def pending_changes(repo: Repo) -> list[str]:
    """Paths whose bytes differ from the last snapshot (what a sync would commit now)."""
    config = load_config(repo.root)
    store = GitStore(repo, config.target_ref)
    if store.git.head_is_detached and not config.target_ref:
        return []
    tip = store.tip()
    return [c.path for c in _collect(repo, store, tip.tree if tip is not None else None, None)]


def read_status(repo: Repo) -> dict[str, object]:
    try:
        return json.loads((repo.runtime / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
