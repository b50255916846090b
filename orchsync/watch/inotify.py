"""Native file events on Linux from inotify itself: an idle daemon sleeps until one comes.

watchfiles' Rust backend collects events in a thread of its own, and its `watch` wakes
every `step_ms` to look at what it collected (and to check signals and the stop event):
50 wake-ups a second at the 20 ms that keeps a save's latency low. Each costs little,
but on a small virtual machine an idle daemon spent ~1% of a core on them. Here the
daemon blocks in `select` on the inotify descriptor until an event (or its tick) comes,
and groups a burst with the same quiet window as before.

It is watchfiles' `RustNotify` as far as `NotifySource` is concerned (`watch` returns a
set of `(Change, path)`, or "timeout" / "stop"), and safer with links: every real folder
is watched on its own (`IN_ONLYDIR | IN_DONT_FOLLOW`), found without following any link,
so a linked folder, moved in or made later, is never entered. A folder that appears is
watched at once and whatever it already holds is reported as added (it may have been
filled before its watch existed). A full event queue reports the whole tree as changed,
so the daemon looks at everything. The watch limit raises `OSError`, as `RustNotify`
does, and `NotifySource` falls back to polling.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
import time
from typing import Any

__all__ = ["InotifyWatch", "available"]

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
IN_DONT_FOLLOW = 0x2000000
IN_EXCL_UNLINK = 0x4000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
)
ADDED, MODIFIED, DELETED = 1, 2, 3  # watchfiles.Change values
_EVENT = struct.Struct("iIII")

_libc: Any = None


def _lib() -> Any:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        lib = ctypes.CDLL(name, use_errno=True)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        _libc = lib
    return _libc


def available() -> bool:
    """Whether inotify can be used here (Linux, with a libc that has it)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return hasattr(_lib(), "inotify_init1")
    except OSError:
        return False


class InotifyWatch:
    """Every real folder below `root`, watched; `watch()` blocks until events come.

    `also`: (folder, with its subfolders) outside the tree whose changes wake `watch` too,
    reported by their paths (git's own folder and its branch refs: HEAD moved, a commit, a
    merge begun), so
    a caller learns of them at once and needs no frequent tick to look. In the main
    thread, a signal wakes `watch` too (`signal.set_wakeup_fd`), so the daemon's SIGTERM
    handler is seen at once rather than at the next tick.
    """

    wakes_on_git = True

    def __init__(self, root: str, also: tuple[tuple[str, bool], ...] = ()) -> None:
        self.root = root
        self.fd = _lib().inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify: {os.strerror(err)}")
        self.paths: dict[int, str] = {}  # watch descriptor -> folder
        self.folders: set[str] = set()
        self._buffer = b""
        self._wakeup: tuple[int, int] | None = None
        self._trees = [root + "/"] + [folder + "/" for folder, below in also if below]
        try:
            self._add_tree(root, report=None)
            for folder, below in also:
                if below:
                    self._add_tree(folder, report=None)
                else:
                    self._add(folder)
        except BaseException:
            self.close()
            raise
        self._wake_on_signals()

    def _wake_on_signals(self) -> None:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except (ValueError, OSError):
            os.close(r)
            os.close(w)
            return
        if previous != -1:  # someone else's (an event loop): leave theirs in place
            signal.set_wakeup_fd(previous)
            os.close(r)
            os.close(w)
            return
        self._wakeup = (r, w)

    # --- watches ----------------------------------------------------------------------------

    def _add(self, folder: str) -> bool:
        wd = _lib().inotify_add_watch(self.fd, os.fsencode(folder), MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC:
                raise OSError(err, "OS file watch limit reached (inotify max_user_watches)")
            return False  # gone meanwhile, a link (IN_DONT_FOLLOW), not a folder any more
        old = self.paths.get(wd)
        if old is not None:
            self.folders.discard(old)
        self.paths[wd] = folder
        self.folders.add(folder)
        return True

    def _add_tree(self, top: str, report: set[tuple[int, str]] | None) -> None:
        """Watch `top` and every real folder below it; report what they hold as added."""
        stack = [top]
        while stack:
            folder = stack.pop()
            if not self._add(folder):
                continue
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                continue
            for entry in entries:
                if report is not None:
                    report.add((ADDED, entry.path))
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                except OSError:
                    continue

    def _forget(self, folder: str) -> None:
        """A folder removed or moved away: stop watching it and what was below it."""
        prefix = folder + "/"
        for wd, path in list(self.paths.items()):
            if path == folder or path.startswith(prefix):
                del self.paths[wd]
                self.folders.discard(path)
                _lib().inotify_rm_watch(self.fd, wd)

    # --- events ------------------------------------------------------------------------------

    def _read(self, out: set[tuple[int, str]]) -> int:
        """Read every event waiting into `out`; how many there were."""
        count = 0
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return count
            except InterruptedError:
                continue
            if not chunk:
                return count
            data = self._buffer + chunk
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, size = _EVENT.unpack_from(data, offset)
                end = offset + _EVENT.size + size
                if end > len(data):
                    break
                name = data[offset + _EVENT.size : end].rstrip(b"\0")
                offset = end
                count += 1
                self._event(wd, mask, os.fsdecode(name), out)
            self._buffer = data[offset:]

    def _event(self, wd: int, mask: int, name: str, out: set[tuple[int, str]]) -> None:
        if mask & IN_Q_OVERFLOW:
            out.add((MODIFIED, self.root))  # events were lost: look at everything
            return
        folder = self.paths.get(wd)
        if mask & IN_IGNORED:
            if folder is not None:
                del self.paths[wd]
                self.folders.discard(folder)
            return
        if folder is None:
            return
        path = f"{folder}/{name}" if name else folder
        if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
            out.add((DELETED, folder))
            return
        if mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
            out.add((ADDED, path))
            if any(path.startswith(top) for top in self._trees):
                self._add_tree(path, out)  # not in a folder watched alone (git's own)
        elif mask & IN_ISDIR and mask & (IN_DELETE | IN_MOVED_FROM):
            out.add((DELETED, path))
            self._forget(path)
        elif mask & (IN_CREATE | IN_MOVED_TO):
            out.add((ADDED, path))
        elif mask & (IN_DELETE | IN_MOVED_FROM):
            out.add((DELETED, path))
        else:
            out.add((MODIFIED, path))

    def watch(
        self, debounce_ms: int, step_ms: int, timeout_ms: int, stop_event: Any
    ) -> set[tuple[int, str]] | str:
        """Changes once they have been quiet for `step_ms` (or after `debounce_ms` of them),
        "timeout" when none came within `timeout_ms`, "stop" when `stop_event` is set.

        While nothing happens this sleeps in `select` for the whole timeout: a signal (the
        daemon's SIGTERM handler sets `stop_event`) is seen when it returns, at the next tick.
        """
        now = time.monotonic()
        deadline = now + timeout_ms / 1000
        changes: set[tuple[int, str]] = set()
        first = last = 0.0
        while True:
            if stop_event is not None and stop_event.is_set():
                return "stop"
            now = time.monotonic()
            if changes:
                wait = min(last + step_ms / 1000, first + debounce_ms / 1000) - now
                if wait <= 0:
                    return changes
            else:
                wait = deadline - now
                if wait <= 0:
                    return "timeout"
            fds = [self.fd] if self._wakeup is None else [self.fd, self._wakeup[0]]
            ready, _, _ = select.select(fds, [], [], wait)
            if self._wakeup is not None and self._wakeup[0] in ready:
                with contextlib.suppress(OSError):
                    os.read(self._wakeup[0], 512)  # a signal: its handler has run by now
                continue
            if ready and self._read(changes) and changes:
                last = time.monotonic()  # the quiet window starts again at every event
                first = first or last

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None:
            import signal

            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(-1)
            os.close(wakeup[0])
            os.close(wakeup[1])
        self.paths.clear()
        self.folders.clear()
