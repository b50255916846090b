"""The `orchsync://` URIs of resources: one stable address per entity, and nothing else.

    orchsync://task/<code>      T:<code>        TASK.md
    orchsync://sprint/<code>    S:<code>        SPRINT.md
    orchsync://adr/<n>          ADR:<n>         ADR-<nnn>-<slug>.md
    orchsync://bug/<n>          BUG:<n>         BUG-<nnnn>-<slug>.md
    orchsync://session/<key>    SESSION:<key>   sessions/<key>.md
    orchsync://agent/<name>     A:<name>        agents/<name>.yml

A URI comes from a client that may pass what an attacker wrote, so it is parsed strictly
before anything touches the disk: the exact scheme, one kind from the table, one id. A code,
key or name must pass `check_code` (ASCII letters, digits, `.`, `-`, `_`; one path segment;
not `.`/`..`), so `..`, `/`, `\\`, `%2F`, `?`, `#`, NUL and white space are refused as they
are, never decoded. ADR and bug numbers are digits; their canonical form is zero-padded
like the file names (`orchsync://adr/1` reads ADR-001, and is announced as `adr/001`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from orchsync.errors import InvalidId
from orchsync.model import Kind
from orchsync.parse.layout import check_code, classify

__all__ = [
    "KINDS",
    "MAX_URI",
    "MIME_TYPES",
    "SCHEME",
    "TEMPLATES",
    "BadUri",
    "Template",
    "canonical_code",
    "entity_key",
    "parse_uri",
    "uri_for",
    "uri_of_path",
]

SCHEME = "orchsync://"
MAX_URI = 256  # scheme + kind + a 100-character code, with room to spare
_WIDTH = {Kind.ADR: 3, Kind.BUG: 4}
KINDS: dict[str, Kind] = {
    "task": Kind.TASK,
    "sprint": Kind.SPRINT,
    "adr": Kind.ADR,
    "bug": Kind.BUG,
    "session": Kind.SESSION,
    "agent": Kind.AGENT,
}
_NAMES = {kind: name for name, kind in KINDS.items()}
_KEY_PREFIX = {
    Kind.TASK: "T",
    Kind.SPRINT: "S",
    Kind.ADR: "ADR",
    Kind.BUG: "BUG",
    Kind.SESSION: "SESSION",
    Kind.AGENT: "A",
}


class BadUri(ValueError):
    """A URI that names no orchsync resource; the message says why."""


@dataclass(frozen=True, slots=True)
class Template:
    """A resource template of `resources/templates/list`, and its one variable."""

    kind: Kind
    variable: str
    title: str
    description: str
    mime_type: str

    @property
    def uri_template(self) -> str:
        return f"{SCHEME}{_NAMES[self.kind]}/{{{self.variable}}}"

    @property
    def name(self) -> str:
        return _NAMES[self.kind]


TEMPLATES = (
    Template(
        Kind.TASK, "code", "Task", "A task's TASK.md (front matter included)", "text/markdown"
    ),
    Template(Kind.SPRINT, "code", "Sprint", "A sprint's SPRINT.md", "text/markdown"),
    Template(Kind.ADR, "number", "ADR", "An architecture decision record", "text/markdown"),
    Template(Kind.BUG, "number", "Bug", "A bug report from the backlog", "text/markdown"),
    Template(Kind.SESSION, "key", "Session", "Session memory: notes and handoffs", "text/markdown"),
    Template(Kind.AGENT, "name", "Agent profile", "An agent profile (YAML)", "application/yaml"),
)
MIME_TYPES = {t.kind: t.mime_type for t in TEMPLATES}


@lru_cache(maxsize=1 << 16)  # a listing checks every code again; errors are not cached
def canonical_code(kind: Kind, code: str) -> str:
    """The id as URIs carry it: a checked code, or a zero-padded number (raises BadUri)."""
    if kind in _WIDTH:
        if not code.isascii() or not code.isdigit() or len(code) > 9:
            raise BadUri(f"{_NAMES[kind]} number {code!r} is not a number")
        return f"{int(code):0{_WIDTH[kind]}d}"
    try:
        return check_code(code, f"{_NAMES[kind]} id")
    except InvalidId as exc:
        raise BadUri(str(exc)) from None


def uri_for(kind: Kind, code: str) -> str:
    return f"{SCHEME}{_NAMES[kind]}/{canonical_code(kind, code)}"


def parse_uri(uri: object) -> tuple[Kind, str]:
    """(kind, canonical id) of an `orchsync://<kind>/<id>` URI; BadUri for anything else."""
    if not isinstance(uri, str):
        raise BadUri("a resource URI is a string")
    if len(uri) > MAX_URI:
        raise BadUri(f"the URI is {len(uri)} characters; orchsync URIs have at most {MAX_URI}")
    if not uri.startswith(SCHEME):
        raise BadUri(f"{uri!r} is not an orchsync:// URI")
    name, sep, code = uri[len(SCHEME) :].partition("/")
    kind = KINDS.get(name)
    if kind is None or not sep:
        kinds = ", ".join(f"{SCHEME}{k}/..." for k in KINDS)
        raise BadUri(f"{uri!r} names no resource kind; use {kinds}")
    return kind, canonical_code(kind, code)


def entity_key(kind: Kind, code: str) -> str:
    """The key `orchsync.parse.resolve` takes: `T:x`, `ADR:1`, `SESSION:k`, `A:name`, ..."""
    if kind in _WIDTH:
        return f"{_KEY_PREFIX[kind]}:{int(code)}"
    return f"{_KEY_PREFIX[kind]}:{code}"


def uri_of_path(path: str) -> str | None:
    """The URI of the entity a repo-relative path holds, or None (AGENT.yml, README, ...)."""
    loc = classify(path)
    if loc.kind not in _NAMES:
        return None
    code = str(loc.number) if loc.number is not None else loc.code
    try:
        return uri_for(loc.kind, code or "")
    except BadUri:
        return None  # a name no URI can carry (`orchsync check` reports it)
