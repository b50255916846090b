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
    "check_code",
    "check_segment",
    "misplaced",
    "session_path",
    "slugify",
    "sprint_path",
    "task_dir",
]

DELEGATION = "delegation"

# DOTALL: a name with a newline in its slug is still an ADR (listed, and invalid by its name)
# rather than silently no entity at all. ASCII digits only: `int()` takes other scripts' too.
_ADR_NAME = re.compile(r"^ADR-([0-9]{3,})(?:-(.*))?\.md$", re.DOTALL)
_BUG_NAME = re.compile(r"^BUG-([0-9]{4,})(?:-(.*))?\.md$", re.DOTALL)
# Sprint and task codes, agent names and session keys: what the write commands create.
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
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


def check_code(value: str, what: str = "code") -> str:
    """The one rule for sprint and task codes, agent names and session keys.

    The write commands refuse a code that breaks it, and `orchsync check` reports a folder
    or file name that breaks it, with the same message. A code is one path segment
    (`check_segment`) of ASCII letters, digits, '.', '-' and '_', starting with a letter or
    a digit: it is typed on command lines, put in URLs and git trailers, and compared
    byte for byte across file systems that normalise Unicode differently.
    """
    check_segment(value, what)
    if not _CODE.fullmatch(value):
        raise InvalidId(
            f"{what} {value!r} may only hold ASCII letters, digits, '.', '-' and '_' "
            "(starting with a letter or digit)"
        )
    return value


# Where each entity folder's naming rule is stated, for files in it that are not entities.
_NOT_AN_ENTITY = {
    "adr": "not an ADR: name must be ADR-<nnn>-<slug>.md (3 or more digits), directly in "
    f"{DELEGATION}/adr/",
    "backlog": "not a bug: name must be BUG-<nnnn>-<slug>.md (4 or more digits), directly in "
    f"{DELEGATION}/backlog/",
    "agents": f"not an agent profile: name must be <name>.yml, directly in {DELEGATION}/agents/",
    "sessions": f"not a session: name must be <session-key>.md, directly in {DELEGATION}/sessions/",
}
_ENTITY_FILES = {"task.md": "TASK.md", "sprint.md": "SPRINT.md", "agent.yml": "AGENT.yml"}
_ENTITY_FILES["agent.yaml"] = "AGENT.yml"
_PLACES = {
    "TASK.md": f"a task is {DELEGATION}/sprints/<sprint>/<task>/TASK.md",
    "SPRINT.md": f"a sprint is {DELEGATION}/sprints/<sprint>/SPRINT.md",
    "AGENT.yml": f"a task's agent config is {DELEGATION}/sprints/<sprint>/<task>/AGENT.yml",
}


def misplaced(path: str) -> str | None:
    """Why a file under delegation/ that is no entity should be one, or None when it may be.

    `classify` found no entity at `path`. Such a file is still committed, but no listing
    shows it, so a name that looks meant as an entity is reported rather than left out:

    - in the entity folders (`adr/`, `backlog/`, `agents/`, `sessions/`) every file is an
      entity of that folder, except a README;
    - a file directly in `sprints/` is not a sprint (a sprint is a folder);
    - `TASK.md`, `SPRINT.md` or `AGENT.yml` (in any letter case, or `AGENT.yaml`) anywhere
      but in their place, or misspelt in their place.

    Everything else is quiet: other files in a sprint or task folder (notes, attachments,
    context docs), `.templates/`, other folders under delegation/, and READMEs.
    """
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != DELEGATION:
        return None
    rest = parts[1:]
    name = rest[-1]
    if name.lower().startswith("readme") or rest[0] == ".templates":
        return None
    proper = _ENTITY_FILES.get(name.lower())
    if proper is not None:
        if proper != name and classify("/".join([*parts[:-1], proper])).kind is not Kind.FILE:
            return f"name must be exactly {proper}"
        return f"{name} here is not read: {_PLACES[proper]}"
    for folder in rest[:-1]:
        if folder.lower() in _ENTITY_FILES:
            return f"{'/'.join(parts[: parts.index(folder) + 1])} is a folder; it must be a file"
    top = rest[0]
    if len(rest) >= 2 and top in _NOT_AN_ENTITY:
        return _NOT_AN_ENTITY[top]
    if top == "sprints" and len(rest) == 2:
        return f"not a sprint: a sprint is a folder {DELEGATION}/sprints/<code>/ holding SPRINT.md"
    return None


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
