"""Read a delegation tree from the work tree: list its files and parse them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from orchsync.layout import DELEGATION
from orchsync.model import ParsedFile
from orchsync.noise import is_noise
from orchsync.parse import parse_file

__all__ = ["list_files", "load_tree", "read_parsed"]


def list_files(root: Path, under: str = DELEGATION) -> list[str]:
    """Repo-relative POSIX paths of every non-noise file below `under`, sorted."""
    base = root / under
    if base.is_file():
        return [under]
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not is_noise(d))
        rel = Path(dirpath).relative_to(root).as_posix()
        out.extend(f"{rel}/{name}" for name in filenames if not is_noise(name))
    out.sort()
    return out


def read_parsed(root: Path, path: str) -> ParsedFile:
    return parse_file(path, (root / path).read_bytes())


def load_tree(root: Path, paths: Iterable[str] | None = None) -> list[ParsedFile]:
    """Parse the given paths (default: the whole delegation tree) from disk."""
    chosen = list_files(root) if paths is None else list(paths)
    return [read_parsed(root, p) for p in chosen]
