"""Find the schemas/ and templates/ that ship with the package.

In a wheel they sit in `orchsync/_data/`; in a source checkout (`pip install -e .`) they sit
at the repository root beside the package. Both are looked up here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_dir"]

_PACKAGE = Path(__file__).resolve().parents[1]  # the orchsync package folder


def data_dir(name: str) -> Path:
    """The shipped `schemas` or `templates` folder."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"orchsync is installed without its {name}/ folder")
