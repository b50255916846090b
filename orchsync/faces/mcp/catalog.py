"""Which resources exist: the entities of the work tree, listed by name, cheaply and in order.

`resources/list` pages, argument completion (each keystroke) and subscription checks all ask
"which tasks, sprints, ADRs, bugs, sessions and agents are there?". The work tree is the
truth (an entity written a moment ago and not yet committed is listed too), and listing it
costs folder listings and one `lstat` per task (~0.1 s at 10,000 tasks), no parsing, no
DuckDB, no git. A `Catalog` keeps the last listing for `MAX_AGE` seconds, and the
subscription watcher drops it as soon as a commit lands, so completion per keystroke is a
binary search over a sorted list.

Only what a resource can serve is listed: regular files (links are never read, so never
offered) below real folders (a linked `delegation/sprints` is not followed), with names a
URI can carry (`check_code`; `orchsync check` reports the others). Order is stable and
total: each sprint followed by its tasks, then ADRs, bugs, agents and sessions; a page
cursor is the sort key of the last item sent, so items created or deleted between pages
neither repeat nor shift the rest.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchsync.faces.mcp.uris import MIME_TYPES, BadUri, canonical_code, entity_key, uri_for
from orchsync.model import Kind
from orchsync.parse.layout import DELEGATION, classify

__all__ = [
    "MAX_AGE",
    "PAGE_SIZE",
    "BadCursor",
    "Catalog",
    "Item",
    "Snapshot",
    "decode_cursor",
    "describe",
    "encode_cursor",
    "scan",
]

MAX_AGE = 2.0  # seconds a listing is reused (a commit drops it at once)
PAGE_SIZE = 200  # resources per `resources/list` page
MAX_CURSOR = 1024  # characters of a cursor a client may send back
DESCRIBE_BYTES = 512 << 10  # a larger file is listed without a title (and is not served)

_RANK = {Kind.SPRINT: 1, Kind.TASK: 1, Kind.ADR: 2, Kind.BUG: 3, Kind.AGENT: 4, Kind.SESSION: 5}
SortKey = tuple[int, str, str]


class BadCursor(ValueError):
    """A `cursor` this server did not hand out."""


@dataclass(frozen=True, slots=True)
class Item:
    """One listed entity: its kind, canonical id, file, and place in the order."""

    kind: Kind
    code: str
    path: str
    sort: SortKey

    @property
    def uri(self) -> str:
        return uri_for(self.kind, self.code)

    @property
    def key(self) -> str:
        return entity_key(self.kind, self.code)


@dataclass(slots=True)
class Snapshot:
    """One listing of the tree, sorted; codes per kind for completion."""

    items: list[Item]
    keys: list[SortKey] = field(init=False)
    codes: dict[Kind, list[str]] = field(init=False)
    _folded: dict[Kind, list[str]] = field(init=False)
    _by_uri: dict[str, Item] = field(init=False)

    def __post_init__(self) -> None:
        self.items.sort(key=lambda i: i.sort)
        self.keys = [i.sort for i in self.items]
        self.codes, self._folded, self._by_uri = {}, {}, {}
        for item in self.items:
            self.codes.setdefault(item.kind, []).append(item.code)
            self._by_uri.setdefault(item.uri, item)
        for kind, codes in self.codes.items():
            codes.sort(key=str.lower)
            self._folded[kind] = [c.lower() for c in codes]

    def page(
        self, after: SortKey | None, size: int = PAGE_SIZE
    ) -> tuple[list[Item], SortKey | None]:
        """Up to `size` items after the sort key `after`, and the cursor key for the next page."""
        start = 0 if after is None else bisect.bisect_right(self.keys, after)
        chunk = self.items[start : start + size]
        more = start + size < len(self.items)
        return chunk, (chunk[-1].sort if more and chunk else None)

    def get(self, uri: str) -> Item | None:
        return self._by_uri.get(uri)

    def complete(self, kind: Kind, prefix: str, limit: int) -> tuple[list[str], int]:
        """Up to `limit` codes of `kind` starting with `prefix` (any case), and how many match."""
        folded = self._folded.get(kind, [])
        low = prefix.lower()
        start = bisect.bisect_left(folded, low)
        end = bisect.bisect_left(folded, low + "\U0010ffff", start)
        return self.codes[kind][start : min(end, start + limit)] if end > start else [], end - start


def scan(root: Path) -> Snapshot:
    """List the entities of the work tree at `root` (names and kinds only, nothing parsed)."""
    base = os.path.join(root, DELEGATION)
    items: list[Item] = []
    if not _real_dir(base):
        return Snapshot(items)
    sprints = os.path.join(base, "sprints")
    for sprint in _folders(sprints):
        if _ok(Kind.SPRINT, sprint.name) and _regular(os.path.join(sprint.path, "SPRINT.md")):
            path = f"{DELEGATION}/sprints/{sprint.name}/SPRINT.md"
            items.append(Item(Kind.SPRINT, sprint.name, path, (1, sprint.name, "")))
        for task in _folders(sprint.path):
            if _ok(Kind.TASK, task.name) and _regular(os.path.join(task.path, "TASK.md")):
                path = f"{DELEGATION}/sprints/{sprint.name}/{task.name}/TASK.md"
                items.append(Item(Kind.TASK, task.name, path, (1, sprint.name, task.name)))
    for folder in ("adr", "backlog", "agents", "sessions"):
        full = os.path.join(base, folder)
        for entry in _files(full):
            path = f"{DELEGATION}/{folder}/{entry.name}"
            loc = classify(path)
            if loc.kind not in _RANK:
                continue
            raw = str(loc.number) if loc.number is not None else (loc.code or "")
            try:
                code = canonical_code(loc.kind, raw)
            except BadUri:
                continue
            items.append(Item(loc.kind, code, path, (_RANK[loc.kind], code, entry.name)))
    return Snapshot(_unique(items))


def _unique(items: list[Item]) -> list[Item]:
    """One item per URI: a task code in two sprints, `x.yml` beside `x.yaml` (the first in order)."""
    seen: set[tuple[Kind, str]] = set()
    out = []
    for item in sorted(items, key=lambda i: i.sort):
        if (item.kind, item.code) not in seen:
            seen.add((item.kind, item.code))
            out.append(item)
    return out


def _ok(kind: Kind, code: str) -> bool:
    try:
        canonical_code(kind, code)
    except BadUri:
        return False
    return True


def _real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _folders(path: str) -> list[os.DirEntry[str]]:
    """The real sub-folders of a real folder (links to folders are files to git)."""
    if not _real_dir(path):
        return []
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _files(path: str) -> list[os.DirEntry[str]]:
    """The regular files of a real folder."""
    if not _real_dir(path):
        return []
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_file(follow_symlinks=False)]
    except OSError:
        return []


class Catalog:
    """The last listing of one repository's tree, shared by the threads of one server."""

    def __init__(self, root: Path, max_age: float = MAX_AGE) -> None:
        self.root = root
        self.max_age = max_age
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._taken = 0.0

    def get(self) -> Snapshot:
        """A listing at most `max_age` seconds old (taken now when the last one is older)."""
        with self._lock:
            if self._snapshot is None or time.monotonic() - self._taken > self.max_age:
                self._snapshot = scan(self.root)
                self._taken = time.monotonic()
            return self._snapshot

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None


def encode_cursor(key: SortKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str) -> SortKey:
    """The sort key a cursor carries; BadCursor for anything this server did not hand out."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
        raise BadCursor("invalid cursor: pass the nextCursor of the previous page, unchanged")
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        value = None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or type(value[0]) is not int
        or not all(isinstance(v, str) for v in value[1:])
    ):
        raise BadCursor("invalid cursor: pass the nextCursor of the previous page, unchanged")
    return (value[0], value[1], value[2])


def describe(root: Path, items: list[Item]) -> list[dict[str, Any]]:
    """`Resource` fields of a page: title and a one-line description from each file's front
    matter (read without following links, at most DESCRIBE_BYTES of it, never checked
    against the index)."""
    from orchsync.parse import parse_file
    from orchsync.parse.fsread import FILE, TOO_LARGE, Reader

    out = []
    with Reader(root, max_bytes=DESCRIBE_BYTES) as reader:
        for item in items:
            entry = reader.read(item.path)
            entity = None
            if entry.kind == FILE and entry.data is not None:
                try:
                    entity = parse_file(item.path, entry.data).entity
                except Exception:  # a file that breaks the parser is still a resource
                    entity = None
            title = (getattr(entity, "title", "") or "").strip()
            resource: dict[str, Any] = {
                "uri": item.uri,
                "name": item.key,
                "title": f"{item.key} {title}" if title else item.key,
                "description": _summary(item, entity),
                "mime_type": MIME_TYPES[item.kind],
            }
            if entry.kind in (FILE, TOO_LARGE):
                resource["size"] = entry.size
            out.append(resource)
    return out


def _summary(item: Item, entity: Any) -> str:
    """`task · in_progress · P1 · S:sprint · backend-engineer`, from what the file says."""
    parts = [item.kind.value]
    if entity is None:
        return " · ".join(parts)
    role = getattr(entity, "role", None)
    values = [
        getattr(entity, "status", None),
        getattr(entity, "priority", None),
        getattr(entity, "sprint", None) and f"S:{entity.sprint}",
        getattr(entity, "task", None) and f"T:{str(entity.task).removeprefix('T:')}",
        getattr(entity, "agent", None),
        role,
    ]
    parts += [str(v) for v in values if v]
    return " · ".join(parts)[:200]
