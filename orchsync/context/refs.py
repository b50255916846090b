"""Reference docs: the files a task's, agent's and sprint's `context` fields name.

Patterns are repo-relative paths or globs (`delegation/adr/*.md`, `docs/**/*.md`), read from
the work tree. A pattern that is absolute, climbs out with `..`, reaches into `.git`, or
resolves (through a symlink) outside the repository is refused; a file that is not there is
reported as missing. Neither is an error: the response says so and goes on.
"""

from __future__ import annotations

import glob as _glob
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["MAX_DOC_CHARS", "MAX_MATCHES", "Reference", "expand", "hash_file", "read_references"]

MAX_DOC_CHARS = 256 * 1024  # per document, before any --budget: a context is not a file dump
MAX_MATCHES = 100  # files per glob pattern
_GLOB_CHARS = set("*?[")


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


def hash_file(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it is not a readable regular file."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None


def _refusal(pattern: str) -> str | None:
    p = pattern.replace("\\", "/")
    if p.startswith("/") or p.startswith("~") or (len(p) > 1 and p[1] == ":"):
        return "absolute paths are refused; name files relative to the repository root"
    parts = [s for s in p.split("/") if s not in ("", ".")]
    if ".." in parts:
        return "outside the repository ('..' is refused)"
    if ".git" in parts:
        return "files inside .git are refused"
    if not parts:
        return "empty path"
    return None


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except (ValueError, OSError):
        return False


def expand(root: Path, pattern: str) -> tuple[list[str], str | None]:
    """(matching repo-relative files, refusal reason). A literal path matches itself."""
    why = _refusal(pattern)
    if why:
        return [], why
    clean = "/".join(s for s in pattern.replace("\\", "/").split("/") if s not in ("", "."))
    if not _GLOB_CHARS & set(clean):
        return [clean], None
    found = sorted(
        Path(m).relative_to(root).as_posix()
        for m in _glob.iglob(str(root / clean), recursive=True)
        if os.path.isfile(m)
    )
    return [f for f in found if "/.git/" not in f"/{f}"][:MAX_MATCHES], None


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
            ref = refs.get(path)
            if ref is None:
                ref = refs[path] = _read(root, path)
            _note(ref, pattern, source)
    return list(refs.values())


def _note(ref: Reference, pattern: str, source: str) -> None:
    if pattern not in ref.patterns:
        ref.patterns.append(pattern)
    if source not in ref.sources:
        ref.sources.append(source)


def _read(root: Path, path: str) -> Reference:
    full = root / path
    if full.is_dir():
        return Reference(path, status="missing", reason="is a directory; name files or a glob")
    if not full.exists():
        return Reference(path, status="missing", reason="no such file")
    if not _inside(root, full):
        return Reference(path, status="refused", reason="resolves outside the repository (symlink)")
    try:
        with open(full, "rb") as fh:
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
