"""Which raw file-system changes matter: everything under delegation/ except editor noise.

A filter is a callable `(change, path) -> bool`, as watchfiles expects. `NoiseFilter` keeps
watchfiles' own defaults (`__pycache__`, `.git`, `*.swp`...) and adds orchsync's noise list
(`orchsync.parse.noise`: vim's `4913` probe, emacs lock links, JetBrains `___jb_tmp___`, our
`.orchsync-tmp` temps...), the same list the sync engine and the tree scanner use, so the
watcher never wakes for a file that sync would skip anyway.
"""

from __future__ import annotations

import logging
import os

from watchfiles import Change, DefaultFilter

from orchsync.parse.noise import is_noise

__all__ = ["NoiseFilter"]

logger = logging.getLogger(__name__)


class NoiseFilter(DefaultFilter):
    """watchfiles' `DefaultFilter` plus orchsync's editor-noise patterns.

    With `root`, only the path segments below it are checked, so a checkout that happens to
    live in a folder named like noise (`~/backup~/repo`) is still watched.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.root = os.path.abspath(root) if root is not None else None

    def __call__(self, change: Change, path: str) -> bool:
        rel = path
        if self.root is not None:
            if path != self.root and not path.startswith(self.root + os.sep):
                return False
            rel = path[len(self.root) :].lstrip(os.sep)
        parts = [p for p in rel.split(os.sep) if p]
        if any(is_noise(p) for p in parts):
            return False
        return super().__call__(change, rel if self.root is not None else path) if parts else True
