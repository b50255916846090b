"""Where things live in a delegation tree, and which paths and ids are safe to use.

The tree is fixed by DESIGN.md; this module is the one place that knows it, so renaming a
folder is a one-line change and nothing else parses paths by hand.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from orchsync.errors import InvalidId
from orchsync.model import Kind

__all__ = [
    "DELEGATION",
    "InvalidId",
    "Location",
    "adr_path",
    "bug_path",
    "classify",
    "check_segment",
    "session_path",
    "slugify",
    "sprint_path",
    "task_dir",
]

DELEGATION = "delegation"
CONFIG_FILE = f"{DELEGATION}/orchsync.yml"

_ADR_NAME = re.compile(r"^ADR-(\d{3,})(?:-(.*))?\.md$")
_BUG_NAME = re.compile(r"^BUG-(\d{4,})(?:-(.*))?\.md$")
_RESERVED = {".", "..", "con", "prn", "aux", "nul", ".git", ".templates"}
MAX_SEGMENT = 100


@dataclass(frozen=True, slots=True)
class Location:
    """What a path is and the code it implies (folder or file name)."""

    kind: Kind
    code: str | None = None
    sprint: str | None = None  # for tasks and their AGENT.yml
    number: int | None = None  # for ADRs and bugs


def classify(path: str) -> Location:
    """Map a repo-relative POSIX path under delegation/ to its kind; anything else is a file."""
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != DELEGATION:
        return Location(Kind.FILE)
    rest = parts[1:]
    if rest == ["orchsync.yml"]:
        return Location(Kind.CONFIG)
    top = rest[0]
    if top == "sprints":
        if len(rest) == 3 and rest[2] == "SPRINT.md":
            return Location(Kind.SPRINT, code=rest[1])
        if len(rest) == 4 and rest[3] == "TASK.md":
            return Location(Kind.TASK, code=rest[2], sprint=rest[1])
        if len(rest) == 4 and rest[3] == "AGENT.yml":
            return Location(Kind.TASK_AGENT, code=rest[2], sprint=rest[1])
    elif top == "agents" and len(rest) == 2:
        name = rest[1]
        for ext in (".yml", ".yaml"):
            if name.endswith(ext) and len(name) > len(ext):
                return Location(Kind.AGENT, code=name[: -len(ext)])
    elif top == "adr" and len(rest) == 2:
        m = _ADR_NAME.match(rest[1])
        if m:
            return Location(Kind.ADR, code=m.group(1), number=int(m.group(1)))
    elif top == "backlog" and len(rest) == 2:
        m = _BUG_NAME.match(rest[1])
        if m:
            return Location(Kind.BUG, code=m.group(1), number=int(m.group(1)))
    elif top == "sessions" and len(rest) == 2 and rest[1].endswith(".md") and len(rest[1]) > 3:
        return Location(Kind.SESSION, code=rest[1][:-3])
    return Location(Kind.FILE)


def check_segment(value: str, what: str = "id") -> str:
    """Refuse ids that would escape their folder or confuse a file system; return it unchanged."""
    if not isinstance(value, str) or not value:
        raise InvalidId(f"{what} must not be empty")
    if len(value) > MAX_SEGMENT:
        raise InvalidId(f"{what} {value!r} is longer than {MAX_SEGMENT} characters")
    if "/" in value or "\\" in value:
        raise InvalidId(f"{what} {value!r} must not contain '/' or '\\' (one path segment)")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidId(f"{what} {value!r} must not contain control characters")
    if value.lower() in _RESERVED or value.startswith(".") or value.startswith("-"):
        raise InvalidId(f"{what} {value!r} is reserved; use letters, digits, '-' and '_'")
    if value != value.strip():
        raise InvalidId(f"{what} {value!r} must not start or end with white space")
    return value


def slugify(title: str, max_len: int = 60) -> str:
    """A file-name-safe slug of a title: `Use Event Sourcing` -> `use-event-sourcing`."""
    norm = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", norm.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "untitled"


def sprint_path(sprint: str) -> str:
    return f"{DELEGATION}/sprints/{sprint}/SPRINT.md"


def task_dir(sprint: str, task: str) -> str:
    return f"{DELEGATION}/sprints/{sprint}/{task}"


def adr_path(number: int, slug: str) -> str:
    return f"{DELEGATION}/adr/ADR-{number:03d}-{slug}.md"


def bug_path(number: int, slug: str) -> str:
    return f"{DELEGATION}/backlog/BUG-{number:04d}-{slug}.md"


def session_path(key: str) -> str:
    return f"{DELEGATION}/sessions/{key}.md"
