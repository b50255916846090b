"""Parsed versions of files, by (path, blob id, is a link): each version is parsed once.

A sync parses the old and new versions of what it commits, the catch-up the versions its
commits touched; a rebuild parses every version in history, on every core (`prefetch`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

import pygit2

from orchsync.git.store import GitStore
from orchsync.model import ParsedFile
from orchsync.parse import parse_file
from orchsync.parse.parallel import map_chunks

__all__ = ["ParseCache", "Version"]

Version = tuple[str, str, bool]  # (path, blob id, is a symbolic link)


class ParseCache:
    """Parsed files by (path, blob id, is a link): each version of each file is parsed
    once per run. A link's blob is its link text, parsed as a link, never as the file."""

    def __init__(self, store: GitStore) -> None:
        self.store = store
        self.items: dict[Version, ParsedFile] = {}

    def get(self, path: str, blob: str | None, link: bool = False) -> ParsedFile | None:
        if blob is None:
            return None
        key = (path, blob, link)
        parsed = self.items.get(key)
        if parsed is None:
            parsed = parse_file(path, self.store.blob_bytes(blob), link=link)
            self.items[key] = parsed
        return parsed

    def put(self, path: str, blob: str, parsed: ParsedFile, link: bool = False) -> None:
        self.items[(path, blob, link)] = parsed

    def missing(self, versions: Iterable[tuple[str, str | None, bool]]) -> list[Version]:
        """The (path, blob, link) versions among `versions` not parsed yet, once each."""
        return [
            (path, blob, link)
            for path, blob, link in dict.fromkeys(versions)
            if blob is not None and (path, blob, link) not in self.items
        ]

    def prefetch(self, versions: Sequence[Version]) -> None:
        """Parse these versions now, on every core: workers read the blobs themselves."""
        parsed = map_chunks(partial(_parse_blobs, self.store.git.path), versions, min_items=0)
        self.items.update(zip(versions, parsed, strict=True))


def _parse_blobs(git_dir: str, versions: Sequence[Version]) -> list[ParsedFile]:
    # A repository of its own: this may run in a forked worker, which must not share the
    # parent's libgit2 handles.
    git = pygit2.Repository(git_dir)
    return [parse_file(path, git[blob].data, link=link) for path, blob, link in versions]  # type: ignore[attr-defined]
