"""Turn one file's bytes into its entity, whatever state the file is in."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from orchsync.model import (
    Adr,
    AgentProfile,
    Bug,
    ChecklistItem,
    Diagnostic,
    Entity,
    Kind,
    ParsedFile,
    Session,
    Sprint,
    Task,
    TaskAgentConfig,
    content_hash,
)
from orchsync.parse.layout import (
    InvalidId,
    Location,
    check_code,
    check_segment,
    classify,
    misplaced,
)
from orchsync.parse.markdown import checklist_item, first_heading, sections
from orchsync.parse.validate import validate
from orchsync.parse.yamldoc import Document, Problem, decode, load_yaml, split_front_matter

__all__ = ["parse_file", "parse_text_kind"]

_CHECKLISTS = ("objectives", "deliverables", "acceptance_criteria")
_YAML_KINDS = {Kind.TASK_AGENT, Kind.AGENT, Kind.CONFIG}


def parse_file(path: str, raw: bytes, *, link: bool = False) -> ParsedFile:
    """Parse any file under delegation/; plain files get a hash and no entity.

    With `link`, `raw` is a symbolic link's text (git mode 120000): it is never read as
    the entity, which becomes an invalid stub saying so.
    """
    loc = classify(path)
    parsed = ParsedFile(
        path=path, kind=loc.kind, hash=content_hash(raw), size=len(raw), entity=None
    )
    if link:
        return _link(loc, parsed, raw)
    if loc.kind is Kind.FILE:
        why = misplaced(path)
        if why is not None:
            parsed.diagnostics = [Diagnostic(path, None, "name", why)]
        return parsed
    problems: list[Problem] = []
    text, decode_problems = decode(raw)
    problems.extend(decode_problems)
    doc = Document()
    if text is not None:
        if loc.kind in _YAML_KINDS:
            load_yaml(text, doc)
        else:
            doc = split_front_matter(text)
            if (
                not doc.has_front_matter
                and not doc.problems
                and loc.kind in (Kind.SPRINT, Kind.TASK)
            ):
                doc.problems.append(
                    Problem(1, None, "no front matter: start the file with a '---' YAML block")
                )
        problems.extend(doc.problems)
        if "<<<<<<<" in text or ">>>>>>>" in text:
            problems.extend(_conflict_markers(text, doc, loc.kind in _YAML_KINDS))
    data = doc.data
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        problems.append(
            Problem(
                doc.line((), 1),
                None,
                f"{'the file' if loc.kind in _YAML_KINDS else 'front matter'} must be a"
                f" mapping of keys, not a {_yaml_type(data)}",
            )
        )
        data = {}
    else:
        problems.extend(validate(loc.kind.value, doc))
    parsed.lines = doc.top_lines()
    if loc.kind is Kind.CONFIG:
        parsed.diagnostics = _diagnostics(path, problems)
        return parsed
    entity = _BUILDERS[loc.kind](loc, path, data, doc, problems)
    _check_code(entity, data, doc, problems)
    entity.valid = not any(p.severity == "error" for p in problems)
    parsed.entity = entity
    parsed.diagnostics = _diagnostics(path, problems)
    return parsed


def _link(loc: Location, parsed: ParsedFile, raw: bytes) -> ParsedFile:
    """A symbolic link where a file was expected: recorded as git does, never followed."""
    problems = [
        Problem(
            None,
            "symlink",
            f"not read: a symbolic link (to {os.fsdecode(raw)!r}); orchsync never follows "
            "links: replace it with a regular file",
        )
    ]
    if loc.kind not in (Kind.FILE, Kind.CONFIG):
        doc = Document()
        entity = _BUILDERS[loc.kind](loc, parsed.path, {}, doc, problems)
        entity.status = None  # nothing was read: no status, not even the default one
        _check_code(entity, {}, doc, problems)
        entity.valid = False
        parsed.entity = entity
    parsed.diagnostics = _diagnostics(parsed.path, problems)
    return parsed


# Git's conflict markers: 7 characters at the start of a line. `<<<<<<<` and `>>>>>>>` (alone
# or before a label) are markers anywhere; `=======` and diff3's `|||||||` only between them,
# since a line of seven '=' also underlines a Markdown heading.
_MARKER = re.compile(r"^(?:(<{7}|>{7}|\|{7})(?:[ \t].*)?|(={7}))$", re.MULTILINE)


def _conflict_markers(text: str, doc: Document, yaml_file: bool) -> list[Problem]:
    """Conflict markers left from a merge, stash pop or rebase, each with its line."""
    problems = []
    inside = False
    for m in _MARKER.finditer(text):
        mark = m.group(1) or m.group(2)
        if mark[0] == "<":
            inside = True
        elif mark[0] == ">":
            inside = False
        elif not inside:
            continue
        line = text.count("\n", 0, m.start()) + 1
        if yaml_file:
            where = "file"
        elif doc.has_front_matter and line < doc.body_line:
            where = "front matter"
        else:
            where = "body"
        problems.append(
            Problem(
                line,
                where,
                f"merge conflict marker {mark!r} left in the file; resolve the conflict and "
                "remove the markers",
            )
        )
    return problems


def parse_text_kind(kind: Kind, text: str) -> Document:
    """Front matter of a text as a Document (for writers that re-check what they produce)."""
    if kind in _YAML_KINDS:
        return load_yaml(text, Document())
    return split_front_matter(text)


def _diagnostics(path: str, problems: list[Problem]) -> list[Diagnostic]:
    ordered = sorted(problems, key=lambda p: p.line or 0)
    return [Diagnostic(path, p.line, p.field, p.message, p.severity) for p in ordered]


def _yaml_type(value: Any) -> str:
    return "list" if isinstance(value, list) else f"scalar ({type(value).__name__})"


@lru_cache(maxsize=1 << 16)
def _code_problem(value: str, what: str, rule: str = "code") -> str | None:
    """The naming rule's verdict, remembered: a task's TASK.md and AGENT.yml, and every
    version of a file in history, ask about the same code (8% of parsing otherwise)."""
    try:
        (check_code if rule == "code" else check_segment)(value, what)
    except InvalidId as exc:
        return str(exc)
    return None


_CODE_NAMES = {
    Kind.SPRINT: "sprint folder",
    Kind.TASK: "task folder",
    Kind.TASK_AGENT: "task folder",
    Kind.AGENT: "agent name",
    Kind.SESSION: "session key",
}


def _check_code(
    entity: Entity, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> None:
    """The folder and file names an entity's code comes from obey the write commands' rule
    (`layout.check_code`): what the CLI would refuse to create, `check` reports."""
    kind = entity.kind
    if kind in (Kind.ADR, Kind.BUG):  # the code is the number; the name is still one segment
        problem = _code_problem(entity.path.rsplit("/", 1)[-1], "file name", "segment")
    else:
        problem = _code_problem(entity.code, _CODE_NAMES.get(kind, f"{kind.value} code"))
    if problem is not None:
        problems.append(Problem(None, "code", problem))
    sprint = getattr(entity, "sprint", None) if kind is Kind.TASK else None
    if kind is Kind.TASK_AGENT:
        sprint = entity.path.split("/")[2]
    if sprint:
        problem = _code_problem(sprint, "sprint folder")
        if problem is not None:
            problems.append(Problem(None, "sprint", problem))
    declared = data.get("code")
    if (
        entity.kind in (Kind.SPRINT, Kind.TASK)
        and declared is not None
        and str(declared) != entity.code
    ):
        problems.append(
            Problem(
                doc.line(("code",)),
                "code",
                f"code {declared!r} does not match its folder {entity.code!r}; rename one of them",
            )
        )


# --- field helpers: tolerant readers for what people write --------------------------------


def _str(data: dict[str, Any], key: str, default: str | None = None) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, (dict, list)):
        return default
    return str(value)


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    return [str(value)]


def _checklist(value: Any) -> list[ChecklistItem]:
    items = []
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, dict) and v.get("text"):
            items.append(ChecklistItem(str(v["text"]), bool(v.get("done", False))))
        elif isinstance(v, (str, int, float)) and str(v).strip():
            items.append(checklist_item(str(v)))
    return items


def _task_code(value: str) -> str:
    return value[2:] if value.startswith("T:") else value


def _common(
    loc: Location,
    path: str,
    data: dict[str, Any],
    doc: Document,
    known: frozenset[str],
    default_status: str | None,
) -> dict[str, Any]:
    title = _str(data, "title") or first_heading(doc.body) or (loc.code or "")
    return {
        "code": loc.code or "",
        "path": path,
        "title": title,
        "status": _str(data, "status", default_status),
        "body": doc.body,
        "context": _str_list(data.get("context")),
        "metadata": {k: v for k, v in data.items() if k not in known},
    }


_BASE_KEYS = frozenset({"code", "title", "status", "context"})
# Front matter keys each kind reads into fields; the others go to `metadata`.
_SPRINT_KEYS = _BASE_KEYS | {"owner", "start_date", "end_date", "goal"}
_TASK_KEYS = _BASE_KEYS | {"sprint", "priority", "agent", "assignee", "depends_on", *_CHECKLISTS}
_ADR_KEYS = _BASE_KEYS | {"date"}
_BUG_KEYS = _BASE_KEYS | {"priority", "sprint", "reported_by"}
_SESSION_KEYS = _BASE_KEYS.union(
    {"key", "task", "sprint", "agent", "started_at", "ended_at", "handoffs"}
)
_AGENT_KEYS = frozenset(
    {
        "name",
        "title",
        "role",
        "model",
        "capabilities",
        "tools_allowed",
        "tools",
        "safety_rails",
        "context",
    }
)


def _sprint(
    loc: Location, path: str, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> Entity:
    known = _SPRINT_KEYS
    goal = _str(data, "goal") or ""
    if not goal:
        goal = " ".join(i.text for i in sections(doc.body).get("objectives", []))
    return Sprint(
        **_common(loc, path, data, doc, known, "planning"),
        owner=_str(data, "owner"),
        start_date=_str(data, "start_date"),
        end_date=_str(data, "end_date"),
        goal=goal.strip(),
    )


def _task(
    loc: Location, path: str, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> Entity:
    known = _TASK_KEYS
    body_lists = sections(doc.body) if any(k not in data for k in _CHECKLISTS) else {}
    lists = {k: _checklist(data[k]) if k in data else body_lists.get(k, []) for k in _CHECKLISTS}
    declared_sprint = _str(data, "sprint")
    if declared_sprint and declared_sprint != loc.sprint:
        problems.append(
            Problem(
                doc.line(("sprint",)),
                "sprint",
                f"sprint {declared_sprint!r} does not match the folder it sits in ({loc.sprint!r})",
                "warning",
            )
        )
    return Task(
        **_common(loc, path, data, doc, known, "pending"),
        sprint=loc.sprint or "",
        priority=_str(data, "priority"),
        agent=_str(data, "agent") or _str(data, "assignee"),
        assignee=_str(data, "assignee"),
        depends_on=[_task_code(d) for d in _str_list(data.get("depends_on"))],
        objectives=lists["objectives"],
        deliverables=lists["deliverables"],
        acceptance_criteria=lists["acceptance_criteria"],
    )


def _task_agent(
    loc: Location, path: str, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> Entity:
    return TaskAgentConfig(
        code=loc.code or "",
        path=path,
        title=_str(data, "role") or "",
        task=loc.code or "",
        agent=_str(data, "agent"),
        context=_str_list(data.get("context")),
        config=dict(data),
    )


def _agent(
    loc: Location, path: str, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> Entity:
    known = _AGENT_KEYS
    return AgentProfile(
        code=loc.code or "",
        path=path,
        title=_str(data, "title") or _str(data, "name") or (loc.code or ""),
        role=_str(data, "role"),
        model=_str(data, "model"),
        capabilities=_str_list(data.get("capabilities")),
        tools_allowed=_str_list(data.get("tools_allowed", data.get("tools"))),
        safety_rails=_str_list(data.get("safety_rails")),
        context=_str_list(data.get("context")),
        metadata={k: v for k, v in data.items() if k not in known},
    )


def _adr(
    loc: Location, path: str, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> Entity:
    return Adr(
        **_common(loc, path, data, doc, _ADR_KEYS, "proposed"),
        number=loc.number or 0,
        date=_str(data, "date"),
    )


def _bug(
    loc: Location, path: str, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> Entity:
    known = _BUG_KEYS
    return Bug(
        **_common(loc, path, data, doc, known, "open"),
        number=loc.number or 0,
        priority=_str(data, "priority"),
        sprint=_str(data, "sprint"),
        reported_by=_str(data, "reported_by"),
    )


def _session(
    loc: Location, path: str, data: dict[str, Any], doc: Document, problems: list[Problem]
) -> Entity:
    known = _SESSION_KEYS
    handoffs = data.get("handoffs")
    task = _str(data, "task")
    return Session(
        **_common(loc, path, data, doc, known, "open"),
        task=_task_code(task) if task else None,
        sprint=_str(data, "sprint"),
        agent=_str(data, "agent"),
        started_at=_str(data, "started_at"),
        ended_at=_str(data, "ended_at"),
        handoffs=[h for h in handoffs if isinstance(h, dict)] if isinstance(handoffs, list) else [],
    )


_BUILDERS: dict[
    Kind, Callable[[Location, str, dict[str, Any], Document, list[Problem]], Entity]
] = {
    Kind.SPRINT: _sprint,
    Kind.TASK: _task,
    Kind.TASK_AGENT: _task_agent,
    Kind.AGENT: _agent,
    Kind.ADR: _adr,
    Kind.BUG: _bug,
    Kind.SESSION: _session,
}
