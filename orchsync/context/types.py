"""What an AGENT INIT asks for, what it answers, and what the answer was built from.

`Context.data` is the JSON document described by `schemas/agent_init.json`; `Context.deps`
lists every input it was assembled from, which is what the cache validates on a hit.
Nothing here imports DuckDB, pygit2 or click.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from orchsync.errors import UsageError
from orchsync.model import Kind
from orchsync.parse.resolve import parse_key

__all__ = ["FORMAT", "Context", "Deps", "Request", "parse_chat_command"]

FORMAT = "orchsync.agent_init/v1"

_CHAT = re.compile(r"^\s*AGENT\s+INIT\s+(\S+)\s*(.*)$", re.IGNORECASE)
_CHAT_OPTION = re.compile(r"--?(agent|session|budget)[ =](\S+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Request:
    """One AGENT INIT: a sprint or task key (as typed), and the caller's explicit choices."""

    kind: Kind
    code: str  # as typed: a task code may be a unique prefix
    agent: str | None = None
    session: str | None = None

    @classmethod
    def parse(cls, target: str, agent: str | None = None, session: str | None = None) -> Request:
        """`T:x`, `t:x`, `S:x`, `task:x`, or a bare task code."""
        text = target.strip()
        m = _CHAT.match(text)
        if m:
            text = m.group(1)
        kind, code = parse_key(text)
        kind = kind or Kind.TASK
        if kind not in (Kind.TASK, Kind.SPRINT) or not code:
            raise UsageError(f"AGENT INIT takes S:<sprint> or T:<task>, not {target!r}")
        for value, what in ((agent, "--agent"), (session, "--session")):
            if value is not None and (not value.strip() or "/" in value or value.startswith(".")):
                raise UsageError(f"{what} {value!r} is not a valid name")
        return cls(kind, code, agent or None, session or None)

    @property
    def key(self) -> str:
        return f"{'S' if self.kind is Kind.SPRINT else 'T'}:{self.code}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "code": self.code,
            "agent": self.agent,
            "session": self.session,
        }


def parse_chat_command(text: str) -> dict[str, Any]:
    """`AGENT INIT T:x --agent qa-engineer` (as typed in a chat) -> the CLI's arguments.

    Returns {"target": "T:x", "agent": ..., "session": ..., "budget": ...}; raises UsageError
    for text that is not an AGENT INIT command.
    """
    m = _CHAT.match(text)
    if not m:
        raise UsageError(f"not an AGENT INIT command: {text!r} (expected `AGENT INIT T:<task>`)")
    out: dict[str, Any] = {"target": m.group(1), "agent": None, "session": None, "budget": None}
    for name, value in _CHAT_OPTION.findall(m.group(2)):
        out[name.lower()] = int(value) if name.lower() == "budget" and value.isdigit() else value
    return out


@dataclass(slots=True)
class Deps:
    """Every input of an assembled context, as the cache validates it.

    files:    repo path -> sha256 of the bytes used (None: the path must not exist). Index parts
              carry the hash the index holds; reference docs the hash of the bytes read.
    globs:    reference pattern -> the files it matched (a new match invalidates).
    ref/tip:  the branch and commit the index reflected.
    prefixes: a commit touching a path under one of these (the sprint folder) invalidates.
    codes:    a commit touching a TASK.md whose folder name is one of these (or starts with
              `prefix_of`) invalidates: a new task with that code, a missing dependency created.
    mentions: a commit touching a TASK.md or session file whose bytes contain one of these
              invalidates: a new dependent, a new session for the task.
    session:  a commit made in this session (Orchsync-Session trailer) invalidates.
    """

    files: dict[str, str | None] = field(default_factory=dict)
    globs: dict[str, list[str]] = field(default_factory=dict)
    ref: str | None = None
    tip: str | None = None
    prefixes: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    prefix_of: str | None = None
    mentions: list[str] = field(default_factory=list)
    session: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deps:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(slots=True)
class Context:
    """An assembled context: the JSON document and what it was built from."""

    data: dict[str, Any]
    deps: Deps

    @property
    def cached(self) -> bool:
        return bool(self.data.get("cached"))

    def to_json(self) -> dict[str, Any]:
        return self.data

    def to_markdown(self) -> str:
        from orchsync.context.render import render_markdown

        return render_markdown(self.data)
