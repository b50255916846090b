"""Reading files orchsync did not write, from a tree nobody vetted.

Foreign Markdown is read with `python-frontmatter` (YAML, JSON or TOML front matter, whatever
the file uses; a file without front matter is a body only), while orchsync's own files keep
their fast parser. Everything here assumes hostile input:

- a walk never follows a symbolic link (it is reported instead) and never leaves the folder
  it was given;
- a file over `MAX_FILE` bytes, one that is not UTF-8, or one that is not a regular file is
  refused with the reason;
- YAML aliases are refused (a "billion laughs" document expands from a few lines), the
  number of YAML nodes is capped, and dates stay the text they were written as (a bad date
  is a string to report, not a crash);
- every value comes back as plain JSON data: strings, numbers, booleans, lists, mappings.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MAX_FILE",
    "ForeignDoc",
    "ForeignError",
    "load_yaml",
    "parse_markdown",
    "plain",
    "read_text",
    "walk",
]

MAX_FILE = 1024 * 1024  # bytes, as for orchsync's own files
MAX_NODES = 20_000
MAX_DEPTH = 32
MAX_FILES = 100_000  # per walk


class ForeignError(Exception):
    """A file that cannot be read at all; the message says why (it is skipped, and reported)."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases, with a node budget, and without timestamps."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not allowed (refused to expand them)", mark
            )
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_NODES:,} YAML nodes", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


def load_yaml(text: str, first_line: int = 1) -> Any:
    """YAML text to plain data, with the limits above; ForeignError with the reason (and
    the line, counted from `first_line`)."""
    loader = _Loader(text)
    try:
        return plain(loader.get_single_data())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + first_line}" if mark is not None else ""
        what = " ".join(str(exc.problem or exc.context or "").split())
        raise ForeignError(f"YAML error{where}: {what}") from exc
    except yaml.YAMLError as exc:
        raise ForeignError(f"YAML error: {' '.join(str(exc).split())}") from exc
    except RecursionError as exc:
        raise ForeignError("YAML nested too deeply") from exc
    finally:
        loader.dispose()


def plain(value: Any, depth: int = 0) -> Any:
    """JSON-safe data: mappings with string keys, lists, strings, finite numbers, booleans."""
    if depth > MAX_DEPTH:
        return str(value)[:200]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((plain(v, depth + 1) for v in value), key=str)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def read_text(path: Path) -> str:
    """A regular file's text: no symlink, at most MAX_FILE bytes, UTF-8 (a BOM and CRLF
    line ends are dropped)."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise ForeignError(f"cannot read it: {exc.strerror}") from exc
    if stat.S_ISLNK(info.st_mode):
        raise ForeignError("a symbolic link (not followed)")
    if not stat.S_ISREG(info.st_mode):
        raise ForeignError("not a regular file")
    if info.st_size > MAX_FILE:
        raise ForeignError(f"{info.st_size:,} bytes, over the {MAX_FILE:,}-byte limit")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ForeignError(f"cannot read it: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        raise ForeignError(f"over the {MAX_FILE:,}-byte limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ForeignError(f"not UTF-8 text (byte {exc.start})") from exc
    if "\x00" in text:
        raise ForeignError("binary content (NUL bytes)")
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


@dataclass(slots=True)
class ForeignDoc:
    meta: dict[str, Any]
    body: str
    has_front_matter: bool


def parse_markdown(text: str) -> ForeignDoc:
    """Front matter (YAML, JSON or TOML, as python-frontmatter detects it) and body."""
    from frontmatter.default_handlers import JSONHandler, TOMLHandler, YAMLHandler

    class _YAMLHandler(YAMLHandler):  # type: ignore[misc]
        def load(self, fm: str, **kwargs: object) -> Any:
            return load_yaml(fm)  # `fm` starts with the newline after `---`

    handlers = [
        _YAMLHandler(),
        JSONHandler(),
        *([TOMLHandler()] if TOMLHandler is not None else []),
    ]
    stripped = text.strip()
    handler = next((h for h in handlers if h.detect(stripped)), None)
    if handler is None:
        return ForeignDoc({}, stripped, False)
    try:
        front, body = handler.split(stripped)
    except ValueError:  # an opening delimiter and no closing one
        return ForeignDoc({}, stripped, False)
    try:
        meta = handler.load(front)
    except ForeignError:
        raise
    except RecursionError as exc:
        raise ForeignError("front matter nested too deeply") from exc
    except Exception as exc:  # JSON or TOML errors: the libraries raise their own types
        raise ForeignError(f"front matter: {' '.join(str(exc).split())[:300]}") from exc
    loaded = {} if meta is None else plain(meta)
    if not isinstance(loaded, dict):
        raise ForeignError("front matter is not a mapping of keys")
    body = body.strip()
    return ForeignDoc(loaded, body, True)


def walk(root: Path, folder: str, *, recursive: bool = False) -> tuple[list[str], list[str]]:
    """(Markdown files, symbolic links met) under root/folder, as paths relative to root,
    sorted. Links are never followed, neither to files nor to folders; a missing folder is
    empty. At most MAX_FILES files."""
    files: list[str] = []
    links: list[str] = []
    base = root / folder
    try:
        if base.is_symlink():
            return [], [folder]
        if not base.is_dir():
            return [], []
    except OSError:
        return [], []
    stack = [folder]
    while stack:
        rel = stack.pop()
        try:
            with os.scandir(root / rel) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = f"{rel}/{entry.name}"
            if entry.is_symlink():
                links.append(path)
            elif entry.is_dir(follow_symlinks=False):
                if recursive:
                    stack.append(path)
            elif entry.name.endswith(".md") and entry.is_file(follow_symlinks=False):
                files.append(path)
                if len(files) > MAX_FILES:
                    raise ForeignError(f"{folder}: more than {MAX_FILES:,} files")
    return sorted(files), sorted(links)
