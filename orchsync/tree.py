"""Read a delegation tree from the work tree: list its files and parse them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

from orchsync.layout import DELEGATION
from orchsync.model import ParsedFile
from orchsync.noise import is_noise
from orchsync.parse import parse_file
from orchsync.parse.parallel import map_chunks

__all__ = ["list_files", "load_tree", "read_bytes", "read_parsed"]


def list_files(root: Path, under: str = DELEGATION) -> list[str]:
    """Repo-relative POSIX paths of every non-noise file below `under`, sorted.

    Walks with `os.scandir` and builds the paths as strings: `os.walk` plus a `Path` per
    folder cost ~0.25 s at 20,000 files. Same rules as `os.walk`: a symlink to a folder
    is listed nowhere (not followed), an unreadable folder is skipped.
    """
    base = root / under
    if base.is_file():
        return [under]
    out: list[str] = []
    stack: list[tuple[str, str | None]] = [(str(base), None)]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        if rel is None:
            rel = Path(folder).relative_to(root).as_posix()
        for entry in entries:
            name = entry.name
            if is_noise(name):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if not is_dir:
                out.append(f"{rel}/{name}")
            elif not entry.is_symlink():
                stack.append((entry.path, f"{rel}/{name}"))
    out.sort()
    return out


def read_bytes(root: Path | str, path: str) -> bytes:
    """A file's bytes by plain `os` calls: half the cost of `Path.read_bytes()` (which
    builds a Path and a buffered reader), which shows at 20,000 files."""
    fd = os.open(os.path.join(root, path), os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_parsed(root: Path, path: str) -> ParsedFile:
    return parse_file(path, read_bytes(root, path))


def _read_parse_all(root: Path, paths: Sequence[str]) -> list[ParsedFile]:
    base = str(root)
    return [parse_file(p, read_bytes(base, p)) for p in paths]


def load_tree(root: Path, paths: Iterable[str] | None = None) -> list[ParsedFile]:
    """Parse the given paths (default: the whole delegation tree) from disk.

    A big tree is parsed on every core (see orchsync.parse.parallel); workers read the
    files themselves, so only paths go out and parsed files come back.
    """
    chosen = list_files(root) if paths is None else list(paths)
    return map_chunks(partial(_read_parse_all, root), chosen)
