"""Files that are editor or OS noise, never content: swap files, backups, lock links.

One list, used by the tree scanner, the sync engine and the watcher's filter alike.
"""

from __future__ import annotations

import re

__all__ = ["is_noise", "is_noise_path"]

_NOISE = re.compile(
    r"""^(
        \.DS_Store | Thumbs\.db | desktop\.ini
      | 4913                       # vim's write-permission probe
      | \.\#.*                     # emacs lock links
      | \#.*\#                     # emacs autosave
      | .*\.sw[a-p] | .*\.swx      # vim swap
      | .*~                        # backups
      | .*___jb_(tmp|old)___       # JetBrains safe-write
      | .*\.tmp | .*\.orchsync-tmp.*  # generic and our own atomic-write temps
      | \.git
    )$""",
    re.VERBOSE,
)


def is_noise(name: str) -> bool:
    """True for a base name an editor or OS leaves behind."""
    return bool(_NOISE.match(name))


def is_noise_path(path: str) -> bool:
    """True when any segment of a POSIX path is noise (so `.git/` inside a tree is skipped)."""
    return any(is_noise(part) for part in path.split("/"))
