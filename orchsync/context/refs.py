"""Reference docs: the files a task's, agent's and sprint's `context` fields name.

Patterns are repo-relative paths or globs (`delegation/adr/*.md`, `docs/**/*.md`), read from
the work tree. The text is an agent's to write, so it never leads out of the repository:

- a pattern that is absolute, climbs out with `..`, reaches into `.git` or holds control
  characters is refused;
- nothing is read through a symbolic link (see `orchsync.parse.fsread`): a linked file, or a
  path through a linked folder, is refused (even when it points inside the repository:
  one rule is easier to trust than a check of where a link leads), and `**` and `*` never
  walk into a linked folder; a linked folder the walk would have entered is reported;
- FIFOs and devices are never opened.

A file that is not there is reported as missing. None of this is an error: the response
says so and goes on.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from orchsync.parse.fsread import DIR, LINK, MISSING, SPECIAL, Reader

__all__ = ["MAX_DOC_CHARS", "MAX_MATCHES", "Reference", "expand", "hash_file", "read_references"]

MAX_DOC_CHARS = 256 * 1024  # per document, before any --budget: a context is not a file dump
MAX_MATCHES = 100  # files per glob pattern
MAX_VISITED = 100_000  # folder entries one glob may look at: `**/*` over a huge tree stops
_GLOB_CHARS = set("*?[")
_LINK_REASON = "a symbolic link; orchsync does not follow links"


@dataclass(slots=True)
class Reference:
    path: str
    patterns: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | truncated | trimmed | missing | refused | binary
    hash: str | None = None
    size: int | None = None
    content: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "patterns": self.patterns,
            "sources": self.sources,
            "status": self.status,
            "hash": self.hash,
            "size": self.size,
            "content": self.content,
            "reason": self.reason,
        }


def hash_file(root: Path, rel: str) -> str | None:
    """sha256 of what git would record at `rel`: a regular file's bytes, a link's text.

    None when there is no such file (or it lies beyond a linked folder, or is a FIFO...).
    The same hash the index holds for the file, so a context can tell an edit apart.
    """
    try:
        with Reader(root) as reader:
            opened = reader.open_regular(rel)
            if isinstance(opened, tuple):
                fd = opened[0]
                with os.fdopen(fd, "rb") as fh:
                    return hashlib.file_digest(fh, "sha256").hexdigest()
            if opened.kind == LINK:
                entry = reader.read(rel)
                return hashlib.sha256(entry.data).hexdigest() if entry.data is not None else None
            return None
    except (OSError, ValueError):
        return None


def _refusal(pattern: str) -> str | None:
    p = pattern.replace("\\", "/")
    if p.startswith("/") or p.startswith("~") or (len(p) > 1 and p[1] == ":"):
        return "absolute paths are refused; name files relative to the repository root"
    if not p.isprintable():
        return "control characters are refused"
    parts = [s for s in p.split("/") if s not in ("", ".")]
    if ".." in parts:
        return "outside the repository ('..' is refused)"
    if any(s.lower() == ".git" for s in parts):
        return "files inside .git are refused"
    if not parts:
        return "empty path"
    return None


def expand(root: Path, pattern: str) -> tuple[list[str], str | None]:
    """(matching repo-relative files, refusal reason). A literal path matches itself.

    A glob walks real folders only; the matches include symbolic links (files or folders)
    it met where it would have read or entered, so that the caller reports them refused.
    """
    why = _refusal(pattern)
    if why:
        return [], why
    clean = "/".join(s for s in pattern.replace("\\", "/").split("/") if s not in ("", "."))
    if not _GLOB_CHARS & set(clean):
        return [clean], None
    found: set[str] = set()
    _Walk(os.fspath(root), found).walk("", clean.split("/"), 0)
    return sorted(found)[:MAX_MATCHES], None


@lru_cache(maxsize=256)
def _segment(seg: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(seg), re.DOTALL)


class _Walk:
    """One glob's walk: `*`, `?`, `[...]` within a name, `**` for any folders (as `glob`
    does, names starting with '.' only match a segment starting with '.'); links are
    collected, never entered; `.git` is never entered."""

    def __init__(self, root: str, found: set[str]) -> None:
        self.root, self.found, self.visited = root, found, 0

    def _entries(self, rel: str) -> list[os.DirEntry[str]]:
        if self.visited >= MAX_VISITED:
            return []
        try:
            with os.scandir(os.path.join(self.root, rel) if rel else self.root) as it:
                entries = [e for e in it if e.name != ".git"]
        except OSError:
            return []
        self.visited += len(entries)
        return entries

    def walk(self, rel: str, parts: list[str], i: int) -> None:
        seg, last = parts[i], i == len(parts) - 1
        join = (lambda name: f"{rel}/{name}") if rel else (lambda name: name)
        if seg == "**":
            if last:
                self._all_files(rel)
                return
            self.walk(rel, parts, i + 1)  # zero folders
            for e in self._entries(rel):
                if e.name.startswith("."):
                    continue
                if e.is_dir(follow_symlinks=False):
                    self.walk(join(e.name), parts, i)
                elif e.is_symlink():
                    self.found.add(join(e.name))  # a linked folder `**` does not enter
            return
        if not _GLOB_CHARS & set(seg):
            self._visit(join(seg), parts, i, last)
            return
        match = _segment(seg).match
        for e in self._entries(rel):
            if e.name.startswith(".") and not seg.startswith("."):
                continue
            if match(e.name):
                self._visit(join(e.name), parts, i, last)

    def _visit(self, path: str, parts: list[str], i: int, last: bool) -> None:
        try:
            st = os.lstat(os.path.join(self.root, path))
        except OSError:
            return
        if stat.S_ISLNK(st.st_mode):
            self.found.add(path)  # refused when read
        elif last:
            if stat.S_ISREG(st.st_mode):
                self.found.add(path)
        elif stat.S_ISDIR(st.st_mode):
            self.walk(path, parts, i + 1)

    def _all_files(self, rel: str) -> None:
        """`**` at the end: every file below, through real folders only."""
        stack = [rel]
        while stack:
            folder = stack.pop()
            for e in self._entries(folder):
                if e.name.startswith("."):
                    continue
                path = f"{folder}/{e.name}" if folder else e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append(path)
                elif e.is_symlink() or e.is_file(follow_symlinks=False):
                    self.found.add(path)


def read_references(
    root: Path, wanted: list[tuple[str, str]], globs: dict[str, list[str]]
) -> list[Reference]:
    """Read every (pattern, source) pair's files once; `globs` records each glob's matches."""
    root = root.resolve()
    refs: dict[str, Reference] = {}
    for pattern, source in wanted:
        pattern = pattern.strip()
        if not pattern:
            continue
        paths, why = expand(root, pattern)
        if why:
            ref = refs.setdefault(
                f"refused:{pattern}", Reference(pattern, status="refused", reason=why)
            )
            _note(ref, pattern, source)
            continue
        if _GLOB_CHARS & set(pattern):
            globs[pattern] = paths
            if not paths:
                ref = refs.setdefault(
                    f"missing:{pattern}",
                    Reference(pattern, status="missing", reason="no file matches"),
                )
                _note(ref, pattern, source)
                continue
        for path in paths:
            found = refs.get(path)
            if found is None:
                found = refs[path] = _read(root, path)
            _note(found, pattern, source)
    return list(refs.values())


def _note(ref: Reference, pattern: str, source: str) -> None:
    if pattern not in ref.patterns:
        ref.patterns.append(pattern)
    if source not in ref.sources:
        ref.sources.append(source)


def _read(root: Path, path: str) -> Reference:
    try:
        with Reader(root) as reader:
            opened = reader.open_regular(path)
    except (OSError, ValueError) as exc:
        return Reference(path, status="missing", reason=f"unreadable: {exc}")
    if not isinstance(opened, tuple):
        return _not_a_file(path, opened)
    fd, _st = opened
    try:
        with os.fdopen(fd, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
            size = fh.tell()
            fh.seek(0)
            head = fh.read(MAX_DOC_CHARS * 4)
    except OSError as exc:
        return Reference(path, status="missing", reason=f"unreadable: {exc.strerror or exc}")
    if b"\x00" in head[:8192]:
        return Reference(
            path, status="binary", hash=digest, size=size, reason="binary file; not included"
        )
    text = head.decode("utf-8", errors="replace").replace("\r\n", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    ref = Reference(path, hash=digest, size=size, content=text)
    if len(text) > MAX_DOC_CHARS or size > len(head):
        ref.content = text[:MAX_DOC_CHARS]
        ref.status = "truncated"
        ref.reason = f"first {MAX_DOC_CHARS:,} characters of {size:,} bytes"
    return ref


def _not_a_file(path: str, entry: Any) -> Reference:
    if entry.kind == LINK:
        return Reference(path, status="refused", reason=_LINK_REASON)
    if entry.kind == MISSING and entry.reason:  # beyond a linked folder
        return Reference(path, status="refused", reason=entry.reason)
    if entry.kind == MISSING:
        return Reference(path, status="missing", reason="no such file")
    if entry.kind == DIR:
        return Reference(path, status="missing", reason="is a directory; name files or a glob")
    if entry.kind == SPECIAL:
        return Reference(path, status="refused", reason=f"{entry.reason}; not read")
    return Reference(path, status="missing", reason=f"unreadable: {entry.reason}")
