"""The `jsonl` sink: one JSON object per line, appended to a file, rotated by size.

A batch is acknowledged once its lines are written and fsynced (`fsync: false` skips the
fsync, trading a power cut's last batch for speed). The file is opened without following
a link at its own name, must be a regular file, and, when not empty, must already hold
JSON Lines: a config cannot turn the sink on a file it did not write. The folder is
checked again at every write (`settings.jsonl_path_problem`), so a folder later replaced
by a link into delegation/ or .git is refused too. Rotation renames `events.jsonl` to
`events.jsonl.1` (`.1` to `.2`, ...) and keeps `keep` of them.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

from orchsync.errors import SinkError
from orchsync.repo import Repo
from orchsync.sinks.batch import Batch
from orchsync.sinks.settings import SinkSpec, jsonl_path_problem

__all__ = ["JsonlSink", "encode_lines"]


def encode_lines(batch: Batch) -> bytes:
    return "".join(
        json.dumps(e, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        for e in batch.events
    ).encode()


class JsonlSink:
    def __init__(self, repo: Repo, spec: SinkSpec) -> None:
        self.repo = repo
        self.name = spec.name
        self.path: Path = spec.options["path"]
        self.max_bytes: int = spec.options["max_bytes"]
        self.keep: int = spec.options["keep"]
        self.fsync: bool = spec.options["fsync"]

    def send(self, batch: Batch) -> None:
        why = jsonl_path_problem(self.path, self.repo)
        if why:
            raise SinkError(f"sink {self.name}: {why}")
        data = encode_lines(batch)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = self._open()
            try:
                size = os.fstat(fd).st_size
                if size and size + len(data) > self.max_bytes:
                    os.close(fd)
                    fd = -1
                    self._rotate()
                    fd = self._open()
                    size = 0
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # after a line a crash left unfinished
                _write_all(fd, data)
                if self.fsync:
                    os.fsync(fd)
            finally:
                if fd >= 0:
                    os.close(fd)
        except SinkError:
            raise
        except OSError as exc:
            raise SinkError(
                f"sink {self.name}: cannot write {self.path}: {exc.strerror or exc}"
            ) from exc

    def close(self) -> None:
        pass

    def _open(self) -> int:
        try:
            fd = os.open(
                self.path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
                0o600,
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SinkError(
                    f"sink {self.name}: {self.path} is a symbolic link; the sink does not follow links"
                ) from exc
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise SinkError(f"sink {self.name}: {self.path} is not a regular file")
        if st.st_size and not _looks_like_jsonl(fd):
            os.close(fd)
            raise SinkError(
                f"sink {self.name}: {self.path} already holds something other than JSON Lines; "
                "not appending to it (choose another path, or move that file away)"
            )
        os.set_blocking(fd, True)
        return fd

    def _rotate(self) -> None:
        if self.keep == 0:
            self.path.unlink(missing_ok=True)
            return
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists() or older.is_symlink():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))


def _looks_like_jsonl(fd: int) -> bool:
    """The file starts with a JSON object (a line a crash tore is allowed after it)."""
    head = os.pread(fd, 1, 0)
    return head == b"{"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]
