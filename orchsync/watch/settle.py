"""Settling: raw file-system events in, batches of paths that are safe to sync out.

`settled_changes(root, ...)` is the watcher API, a generator in the style of `watchfiles.watch`:
it yields sets of repo-relative paths under `delegation/` whose writes have settled, and an
empty set at least every `tick_ms` when nothing happens, so a caller can look at git's state
between batches. The rule itself lives in `Settler`, a small state machine driven by the
clock value it is given, so it is tested with scripted change sets and no real file system.

The settling rule:

- a batch is due `debounce_ms` after its last change (a quiet window), but never later than
  `max_latency_ms` after its first change, so a continuous stream of writes still commits;
- when a batch is due every path is stat'ed again; a path whose stat changed since its last
  event (a file still being written, a save half way through its rename) is held back and
  re-checked every `step_ms`, the rest is released;
- what is released is the path, not the event: the caller looks at the disk (sync compares
  bytes with git), so an atomic save (temp file + rename over the original) is one
  modification of the real file, never a delete.

Raw events come from a `ChangeSource`. `NotifySource` wraps watchfiles' Rust notify backend
(inotify on Linux) and falls back to polling, with a warning, where native events cannot be
had (the inotify watch limit is reached, or `force_polling`).
"""

from __future__ import annotations

import logging
import math
import os
import stat as stat_module
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from watchfiles import Change

from orchsync.parse.layout import DELEGATION
from orchsync.watch.filters import NoiseFilter

__all__ = [
    "ChangeSource",
    "NotifySource",
    "RawChanges",
    "Settler",
    "StatKey",
    "settled_changes",
    "stat_key",
]

logger = logging.getLogger(__name__)

RawChanges = set[tuple[int, str]]
"""What a source returns: `(watchfiles.Change value, absolute path)` pairs."""

StatKey = tuple[int, int, int, int] | None
"""(file type, size, mtime_ns, inode) of a path, or None when it does not exist."""

DEFAULT_POLL_DELAY_MS = 1000
LIMIT_HINT = "raise fs.inotify.max_user_watches (sysctl) and restart `orchsync watch`"


class StopEvent(Protocol):
    def is_set(self) -> bool: ...


def stat_key(path: str | os.PathLike[str]) -> StatKey:
    """What "this path has not changed" is judged by; None when the path is missing.

    The path's own stat: a symbolic link is a file of the tree, never followed.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (stat_module.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino)


class Settler:
    """Groups changed paths into batches; see the module docstring for the rule.

    Feed it with `add(paths, now)`, ask `deadline()` when to come back, and `take(now)` the
    paths that are ready (an empty set when none are). Times are seconds on any monotonic clock.
    """

    def __init__(
        self,
        debounce_ms: int,
        max_latency_ms: int,
        *,
        step_ms: int = 50,
        stat: Callable[[str], StatKey],
    ) -> None:
        self.debounce = debounce_ms / 1000
        self.max_latency = max(max_latency_ms, debounce_ms) / 1000
        self.step = step_ms / 1000
        self._stat = stat
        self._seen: dict[str, StatKey] = {}  # path -> its stat when last seen
        self._first = 0.0
        self._due = 0.0
        self._held_since: float | None = None

    def __len__(self) -> int:
        return len(self._seen)

    @property
    def pending(self) -> list[str]:
        return sorted(self._seen)

    def add(self, paths: Iterable[str], now: float, *, age: float = 0.0) -> None:
        """Changes seen at `now`, made at least `age` seconds earlier (a source's quiet window)."""
        paths = list(paths)
        if not paths:
            return
        at = now - age
        if not self._seen:
            self._first = at
        for p in paths:
            self._seen[p] = self._stat(p)
        self._due = min(at + self.debounce, self._first + self.max_latency)

    def deadline(self) -> float | None:
        """When `take` may release something next; None when nothing is pending."""
        return self._due if self._seen else None

    def take(self, now: float, *, force: bool = False) -> set[str]:
        """The paths ready at `now` (all pending ones with `force`), removed from the batch."""
        if not self._seen or (not force and now < self._due):
            return set()
        if self._held_since is not None and now - self._held_since >= self.max_latency:
            force = True  # written to for that long: commit what is there, the next event follows
        ready: set[str] = set()
        held: dict[str, StatKey] = {}
        for p, before in self._seen.items():
            after = self._stat(p)
            if force or after == before:
                ready.add(p)
            else:
                held[p] = after
        self._seen = held
        if held:
            logger.debug("still being written, held back: %s", sorted(held))
            if self._held_since is None:
                self._held_since = now
            self._first = now
            self._due = now + self.step
        else:
            self._held_since = None
        return ready


class ChangeSource(Protocol):
    """Where raw changes come from: the Rust notify backend, or a script in tests."""

    mode: str  # "native" or "polling" (or anything a test source likes)
    warning: str | None  # why events are not native, for the log and `orchsync status`
    # Optional `quiet_ms: int`: the source returns changes only after that long without a
    # new one, so the quiet window of the settling rule is counted from that much earlier.

    def wait(self, timeout_ms: int, stop_event: StopEvent | None) -> RawChanges | None:
        """Changes seen within `timeout_ms` (an empty set if none); None once stopped."""
        ...

    def close(self) -> None: ...


def _rust_notify(
    path: str, force_polling: bool, poll_delay_ms: int, also: tuple[tuple[str, bool], ...] = ()
) -> Any:
    """A watcher of `path`'s tree that never enters a symbolically linked folder.

    On Linux, inotify read directly (`orchsync.watch.inotify`): no wake-ups while idle.
    Elsewhere, or to poll, watchfiles' Rust notify backend, as follows.

    notify's recursive watch follows links to folders when it starts (a link to `/` made
    it walk the whole file system for 7 s and take every inotify watch there is). So when
    the tree holds such a link, every real folder is watched on its own instead (they are
    listed without following links), and `NotifySource` re-opens the watcher when a
    folder is added. A link made while watching is not followed by notify; a folder moved
    in that holds one is, once, before `NotifySource` switches to folder by folder.
    """
    from orchsync.watch.inotify import InotifyWatch, available

    if not force_polling and available():
        return InotifyWatch(path, also)  # sleeps until an event comes; each folder alone
    from watchfiles._rust_notify import RustNotify

    folders = real_folders(path)
    if folders is None:
        return RustNotify([path], False, force_polling, poll_delay_ms, True, True)
    return _FolderWatch(
        RustNotify(folders, False, force_polling, poll_delay_ms, False, True), set(folders)
    )


class _FolderWatch:
    """A RustNotify of single folders, and which folders those are."""

    def __init__(self, notify: Any, folders: set[str]) -> None:
        self.notify, self.folders = notify, folders

    def watch(self, *args: Any) -> Any:
        return self.notify.watch(*args)

    def close(self) -> None:
        self.notify.close()


def real_folders(path: str | list[str], *, any_link: bool = False) -> list[str] | None:
    """Every real folder below `path` (itself included; or below each of several), or None
    when no folder there is a symbolic link (a recursive watch is then safe)."""
    roots = [path] if isinstance(path, str) else list(path)
    folders, linked, stack = list(roots), False, list(roots)
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.path)
                            stack.append(entry.path)
                        elif entry.is_symlink() and entry.is_dir():
                            linked = True
                            if any_link:
                                return folders
                    except OSError:
                        continue
        except OSError:
            continue
    return folders if linked else None


class NotifySource:
    """Raw changes below one folder, from watchfiles' Rust notify backend.

    - Native events (inotify) unless `force_polling`; if the backend cannot start natively
      or fails later (the inotify watch limit is reached while a new folder is added), it
      switches to polling, sets `warning`, and reports the whole folder as changed once, so
      no edit made meanwhile is missed.
    - If the folder is deleted or replaced (a checkout of a branch without it), the watch is
      re-created and the whole folder is reported as changed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        force_polling: bool = False,
        poll_delay_ms: int = DEFAULT_POLL_DELAY_MS,
        step_ms: int = 20,
        group_ms: int = 100,
        factory: Callable[[str, bool, int], Any] | None = None,
        also: tuple[tuple[str, bool], ...] = (),
    ) -> None:
        self.path = Path(path)
        self.poll_delay_ms = poll_delay_ms
        self.step_ms = step_ms
        # The backend returns changes after step_ms without a new one, so they are at least
        # that old (the settling rule counts from then). It also wakes every step_ms while
        # idle: 20 ms costs ~0.5% of a core, 50 ms ~0.3% but adds up to 50 ms a save.
        self.quiet_ms = step_ms
        self.group_ms = group_ms
        self.mode = "polling" if force_polling else "native"
        self.warning: str | None = (
            f"polling every {poll_delay_ms} ms was asked for (--poll); edits show up later"
            if force_polling
            else None
        )
        # `also`: git's folders, watched to wake the daemon when git's state changes (only
        # where the backend can: `wakes_on_git`); a test's factory is used as it is.
        self._factory = factory or (lambda p, poll, delay: _rust_notify(p, poll, delay, also))
        self._notify: Any = None
        self._ident: tuple[int, int] | None = None
        self._rescan = False
        self._open()

    def _open(self) -> None:
        self._ident = _ident(self.path)
        if self._ident is None:
            return  # the folder does not exist (yet): looked for again on every wait
        try:
            self._notify = self._factory(str(self.path), self.mode == "polling", self.poll_delay_ms)
        except FileNotFoundError:
            self._notify, self._ident = None, None
        except (OSError, RuntimeError) as exc:
            if self.mode == "polling":
                raise
            self._fall_back(exc)

    def _fall_back(self, exc: BaseException) -> None:
        self.close()
        self.mode = "polling"
        self.warning = (
            f"native file events are unavailable ({str(exc).strip()}); polling every "
            f"{self.poll_delay_ms} ms instead, so edits show up later and idle CPU is higher; "
            f"{LIMIT_HINT}"
        )
        logger.warning("%s", self.warning)
        self._rescan = True
        self._open()

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    @property
    def wakes_on_git(self) -> bool:
        """Whether changes to git's state (HEAD, refs, markers) come as events too."""
        return bool(getattr(self._notify, "wakes_on_git", False))

    def _whole_folder(self) -> RawChanges:
        return {(int(Change.modified), str(self.path))}

    def wait(self, timeout_ms: int, stop_event: StopEvent | None) -> RawChanges | None:
        if _ident(self.path) != self._ident:
            logger.info(
                "%s was %s; watching it afresh",
                self.path,
                "removed" if not self.path.exists() else "replaced",
            )
            self.close()
            self._open()
            return self._whole_folder()
        if self._rescan:
            self._rescan = False
            return self._whole_folder()
        if self._notify is None:
            _sleep(timeout_ms, stop_event)
            return None if stop_event is not None and stop_event.is_set() else set()
        # The backend checks its timeout once a step: steps that divide the timeout make it
        # wake on time (a settling deadline is not overslept by up to a step).
        timeout_ms = max(1, timeout_ms)
        step = max(1, timeout_ms // math.ceil(timeout_ms / self.step_ms))
        self.quiet_ms = step
        try:
            raw = self._notify.watch(self.group_ms, step, timeout_ms, stop_event)
        except (OSError, RuntimeError) as exc:
            if self.mode == "polling":
                raise
            self._fall_back(exc)
            return self._whole_folder()
        if raw == "stop":
            return None
        if raw == "signal":
            raise KeyboardInterrupt
        if raw == "timeout":
            return set()
        self._watch_new_folders(raw)
        return raw  # type: ignore[no-any-return]

    def _watch_new_folders(self, raw: RawChanges) -> None:
        """Re-open the watcher when a folder was added and the watch must change with it.

        Watching folder by folder (see `_rust_notify`), a new folder needs a watch of its own.
        Watching recursively, a folder that arrives holding a linked folder (moved in, or
        checked out) has been followed by notify already: from then on the tree is watched
        folder by folder, which also gives back the watches notify took beyond the link.
        Either way, what changed while the watcher was re-opened is found by a rescan.
        """
        folders = getattr(self._notify, "folders", None)
        tree = str(self.path)
        added = [
            p
            for change, p in raw
            if change == int(Change.added)
            and _below(p, tree)  # not git's folders, watched alongside (`also`)
            and (folders is None or p not in folders)
            and _is_real_folder(p)
        ]
        if not added:
            return
        if folders is None and real_folders(added, any_link=True) is None:
            return  # recursive, and no linked folder came with the new ones: nothing to do
        logger.info("watching %s folder by folder: a symbolic link to a folder is in it", self.path)
        self.close()
        self._open()
        self._rescan = True


def _is_real_folder(path: str) -> bool:
    try:
        return stat_module.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _ident(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat_module.S_ISDIR(st.st_mode) else None


def _sleep(timeout_ms: int, stop_event: StopEvent | None) -> None:
    end = time.monotonic() + timeout_ms / 1000
    while (left := end - time.monotonic()) > 0:
        if stop_event is not None and stop_event.is_set():
            return
        time.sleep(min(left, 0.2))


def _below(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


def _relative(
    root: Path, raw: RawChanges, watch_filter: Callable[[Change, str], bool] | None
) -> set[str]:
    """Repo-relative POSIX paths under delegation/ of the changes the filter keeps."""
    out: set[str] = set()
    base = str(root)
    for change, path in raw:
        if watch_filter is not None and not watch_filter(Change(change), path):
            continue
        rel = os.path.relpath(path, base)
        if os.sep != "/":
            rel = rel.replace(os.sep, "/")
        if rel == DELEGATION or rel.startswith(DELEGATION + "/"):
            out.add(rel)
    return out


def settled_changes(
    root: str | os.PathLike[str],
    *,
    debounce_ms: int = 300,
    max_latency_ms: int = 2000,
    stop_event: StopEvent | None = None,
    tick_ms: int | Callable[[], int] = 1000,
    step_ms: int = 50,
    force_polling: bool = False,
    watch_filter: Callable[[Change, str], bool] | None = None,
    source: ChangeSource | None = None,
    clock: Callable[[], float] = time.monotonic,
    stat: Callable[[str], StatKey] | None = None,
) -> Iterator[set[str]]:
    """Yield sets of repo-relative paths under `root`/delegation/ whose changes have settled.

    An empty set is yielded at least every `tick_ms` while nothing is ready (like watchfiles'
    `yield_on_timeout`), and at once when the source reports a change outside the tree
    (git's state, see `NotifySource`), so the caller can check git's state; `tick_ms` may
    be a function of no argument, asked before each wait. When `stop_event` is set (or the
    source stops), whatever is still pending is yielded once, then the generator returns.
    `source`, `clock` and `stat` are for tests: a scripted source and a fake clock make the
    loop deterministic. Without `source`, the delegation folder is watched with `NotifySource`.
    """
    root = Path(root)
    own = source is None
    if source is None:
        source = NotifySource(root / DELEGATION, force_polling=force_polling, step_ms=step_ms)
    keep = watch_filter if watch_filter is not None else NoiseFilter(root)
    settler = Settler(
        debounce_ms,
        max_latency_ms,
        step_ms=step_ms,
        stat=stat or (lambda rel: stat_key(root / rel)),
    )
    last_yield = clock()
    tree = str(root / DELEGATION)
    try:
        while stop_event is None or not stop_event.is_set():
            now = clock()
            due = settler.deadline()
            tick = (tick_ms() if callable(tick_ms) else tick_ms) / 1000
            wake = last_yield + tick if due is None else min(due, last_yield + tick)
            timeout = max(1, math.ceil((wake - now) * 1000 - 1e-6))
            raw = source.wait(timeout, stop_event)
            if raw is None:
                break
            now = clock()
            quiet = getattr(source, "quiet_ms", 0) / 1000  # of the wait that just returned
            settler.add(_relative(root, raw, keep), now, age=quiet)
            batch = settler.take(now)
            outside = any(not _below(p, tree) for _, p in raw)  # git's state changed
            if batch or outside or now - last_yield >= tick:
                last_yield = now
                yield batch
        rest = settler.take(clock(), force=True)
        if rest:
            yield rest
    finally:
        if own:
            source.close()
