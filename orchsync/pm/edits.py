"""Edit a task after it was created: title, priority, agent, dependencies, labels, any
front-matter value, and ticking checklist items. The board calls it; so will `task edit`
and the MCP tool.

The same discipline as `pm.update_task_status`: everything is validated before anything is
written, only the bytes of the changed values move (comments, key order, quoting, CRLF and
the body stay), the file is replaced only if it still has the bytes that were read, and the
one path is synced with the caller's actor and session, so the commit, its trailers and the
`task.updated` event come from the one sync function.

A caller that showed the file to someone passes `expected_hash` (the sha256 of the bytes it
showed): if the file changed since, `StaleWrite` is raised with the current hash and nothing
is written, so an editor's save is never overwritten by an edit made on an older view.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from orchsync.errors import StaleWrite, UnknownEntity, UsageError
from orchsync.model import PRIORITIES, Task, content_hash
from orchsync.parse import parse_file
from orchsync.parse.layout import DELEGATION
from orchsync.parse.resolve import task_target
from orchsync.pm.common import (
    PmResult,
    clean_title,
    sync_written,
    valid_choice,
    valid_code,
    writing,
)
from orchsync.pm.frontmatter_edit import (
    get_list,
    has_field,
    retitle_heading,
    set_field,
    set_list,
    tick_list_item,
    tick_section_item,
)
from orchsync.pm.writes import ConcurrentEdit, replace_if_unchanged
from orchsync.repo import Repo

__all__ = ["CHECKLISTS", "RESERVED_FIELDS", "checklist_ticks", "edit_task"]

log = logging.getLogger(__name__)

CHECKLISTS = ("objectives", "deliverables", "acceptance_criteria")
# Keys `set_fields` may not touch: each has its own argument or command (status: task status;
# the sprint: task move; code: the folder name).
RESERVED_FIELDS = frozenset(
    {"title", "priority", "agent", "depends_on", "labels", "status", "sprint", "code", *CHECKLISTS}
)
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_LABEL = 64
MAX_VALUE = 4096
MAX_DEPENDENCY_WALK = 100_000  # tasks visited looking for a cycle before giving up


def edit_task(
    repo: Repo,
    task: str,
    *,
    title: str | None = None,
    priority: str | None = None,
    agent: str | None = None,
    add_deps: Iterable[str] = (),
    rm_deps: Iterable[str] = (),
    labels: Sequence[str] | None = None,
    add_labels: Iterable[str] = (),
    rm_labels: Iterable[str] = (),
    set_fields: Mapping[str, str] | None = None,
    checklist: Iterable[tuple[str, int, bool]] | None = None,
    expected_hash: str | None = None,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """Change what is asked of TASK.md in one write and one commit.

    `agent=""` unassigns (writes `agent: null`). `labels` replaces the list; `add_labels` and
    `rm_labels` change it. `checklist` is a list of (section, index, checked): section is
    `objectives`, `deliverables` or `acceptance_criteria`, index counts from 0 in the order
    the items are shown, whether they are a front-matter list or a `- [ ]` Markdown section.
    Nothing to change writes nothing (`result.changed` is False).
    """
    code, path = task_target(repo, task)
    full = repo.root / path
    try:
        raw = full.read_bytes()
    except FileNotFoundError:
        raise UnknownEntity(f"unknown task {code!r} (no {path})") from None
    current = content_hash(raw)
    if expected_hash is not None:
        wanted = expected_hash.strip().lower().removeprefix("sha256:")
        if wanted != current:
            raise StaleWrite(path, expected_hash, current)
    before = parse_file(path, raw)
    entity = before.entity
    if not isinstance(entity, Task):  # pragma: no cover - _task_target resolves a TASK.md
        raise UsageError(f"{path} is not a task")

    new = raw
    changed: list[str] = []
    warnings: list[str] = []
    expect: dict[str, Any] = {}
    if title is not None:
        value = clean_title(title, code)
        expect["title"] = value
        if value != entity.title or not has_field(new, "title", path=path):
            new = set_field(new, "title", value, path=path, after=None)
            if entity.title:
                new = retitle_heading(new, entity.title, value, path=path)
            changed.append("title")
    if priority is not None:
        value = valid_choice(priority, PRIORITIES, "priority")
        expect["priority"] = value
        if value != entity.priority:
            new = set_field(new, "priority", value, path=path)
            changed.append("priority")
    if agent is not None:
        value_or_none = _agent(repo, agent, warnings)
        if value_or_none != entity.agent:
            expect["agent"] = value_or_none
            new = set_field(new, "agent", value_or_none, path=path, after="priority")
            changed.append("agent")
    adding, removing = _codes(add_deps), _codes(rm_deps)
    if adding or removing:
        new, deps = _dependencies(repo, code, path, new, entity, adding, removing)
        if deps is not None:
            expect["depends_on"] = deps
            changed.append("depends_on")
    if labels is not None or add_labels or rm_labels:
        new, got = _labels(path, new, labels, _texts(add_labels), _texts(rm_labels))
        if got is not None:
            expect["labels"] = got
            changed.append("labels")
    for key, value in (set_fields or {}).items():
        key, value = _field(key, value)
        new = set_field(new, key, value, path=path, after=None)
        expect[f"metadata.{key}"] = value
        changed.append(key)
    ticks: dict[tuple[str, int], bool] = {}
    for section, index, checked in checklist or ():
        name, idx = _section(section), _index(index)
        before_item = getattr(entity, name)
        if idx >= len(before_item):
            raise UsageError(
                f"{path}: {name.replace('_', ' ')} has no item {idx + 1} "
                f"(it has {len(before_item)}); nothing written"
            )
        if has_field(new, name, path=path):
            new = tick_list_item(new, name, idx, bool(checked), path=path)
        else:
            new = tick_section_item(new, name, idx, bool(checked), path=path)
        ticks[(name, idx)] = bool(checked)
        if before_item[idx].done != bool(checked):
            changed.append(f"{name}[{idx + 1}]")

    if new == raw:
        return PmResult(
            "task.edit",
            f"T:{code}",
            f"task {code}: nothing to change; nothing written",
            warnings=warnings,
            details={"changed": [], "hash": current},
        )
    after = _check(path, before, new, expect, ticks)
    with writing(repo, [path]) as claim:
        try:
            replace_if_unchanged(full, current, new)
        except ConcurrentEdit:
            now = content_hash(full.read_bytes()) if full.exists() else None
            raise StaleWrite(path, current, now) from None
        fields = sorted(dict.fromkeys(c.split("[")[0] for c in changed))
        result = PmResult(
            "task.edit",
            f"T:{code}",
            f"task {code}: changed {', '.join(fields)}",
            paths=[path],
            warnings=warnings,
            details={"changed": fields, "hash": after.hash, "previous_hash": current},
        )
        return sync_written(
            repo,
            result,
            [path],
            actor=actor,
            session=session,
            subject=f"task {code}: {', '.join(fields)} edited",
            claim=claim,
        )


def checklist_ticks(
    check: Iterable[str] = (), uncheck: Iterable[str] = ()
) -> list[tuple[str, int, bool]]:
    """`["objectives:2"]`, `["deliverables:1"]` -> `edit_task`'s checklist argument.

    Items are numbered from 1 here, as `task show` lists them; `edit_task` counts from 0.
    """
    out = []
    for items, done in ((check, True), (uncheck, False)):
        for item in items:
            section, sep, number = str(item).rpartition(":")
            if not sep or not number.strip().isdigit() or int(number) < 1:
                raise UsageError(
                    f"{'--check' if done else '--uncheck'} {item!r}: expected SECTION:N, "
                    f"e.g. objectives:2 (N from 1; sections: {', '.join(CHECKLISTS)})"
                )
            out.append((_section(section), int(number) - 1, done))
    return out


# --- validation -----------------------------------------------------------------------------------


def _agent(repo: Repo, agent: str, warnings: list[str]) -> str | None:
    """An agent name as `create_task` accepts it; "" unassigns. A missing profile warns."""
    if not agent.strip():
        return None
    name = valid_code(agent.strip(), "agent")
    if not any(
        (repo.root / DELEGATION / "agents" / f"{name}{ext}").is_file() for ext in (".yml", ".yaml")
    ):
        warnings.append(f"agent {name!r} has no profile in {DELEGATION}/agents/; assigned anyway")
    return name


def _codes(values: Iterable[str]) -> list[str]:
    out = []
    for v in values:
        code = str(v).strip().removeprefix("T:").removeprefix("t:").strip()
        if not code:
            raise UsageError("a dependency must not be empty")
        out.append(valid_code(code, "dependency"))
    return list(dict.fromkeys(out))


def _texts(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(_label(v) for v in values))


def _label(value: Any) -> str:
    text = " ".join(str(value).split())
    if not text:
        raise UsageError("a label must not be empty")
    if _CONTROL.search(text) or len(text) > MAX_LABEL:
        raise UsageError(
            f"label {text[:20]!r}...: at most {MAX_LABEL} characters, no control characters"
        )
    return text


def _field(key: str, value: Any) -> tuple[str, str]:
    key = str(key).strip()
    if not _KEY.match(key):
        raise UsageError(
            f"field name {key[:40]!r} is not valid: letters, digits, '_' and '-', starting with a letter"
        )
    if key in RESERVED_FIELDS:
        raise UsageError(f"{key!r} has its own option (or command); it cannot be set as a field")
    text = str(value)
    if "\x00" in text or len(text) > MAX_VALUE:
        raise UsageError(f"{key}: the value must be text of at most {MAX_VALUE} characters")
    return key, text


def _section(name: str) -> str:
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    if key not in CHECKLISTS:
        raise UsageError(f"unknown checklist {name!r}; valid: {', '.join(CHECKLISTS)}")
    return key


def _index(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"checklist index {value!r} must be a whole number from 0")
    return value


def _dependencies(
    repo: Repo,
    code: str,
    path: str,
    raw: bytes,
    entity: Task,
    add: list[str],
    rm: list[str],
) -> tuple[bytes, list[str] | None]:
    from orchsync.parse.resolve import task_codes

    written = get_list(raw, "depends_on", path=path) or []
    have = [d.removeprefix("T:") for d in written]
    missing = [d for d in rm if d not in have]
    if missing:
        raise UsageError(
            f"task {code!r} does not depend on {', '.join(repr(m) for m in missing)}; nothing written"
        )
    if code in add:
        raise UsageError(f"task {code!r} cannot depend on itself")
    fresh = [d for d in add if d not in have]
    if not fresh and not rm:
        return raw, None
    codes = task_codes(repo.root)
    unknown = [d for d in fresh if d not in codes]
    if unknown:
        raise UnknownEntity(
            f"unknown task {', '.join(repr(u) for u in unknown)} as a dependency; nothing written"
        )
    for dep in fresh:
        cycle = _cycle(repo, codes, code, dep)
        if cycle:
            raise UsageError(
                f"depending on {dep!r} would make a cycle: {' -> '.join(cycle)}; nothing written"
            )
    kept = [w for w, h in zip(written, have, strict=True) if h not in rm]
    return set_list(raw, "depends_on", kept + fresh, path=path), [
        *(h for h in have if h not in rm),
        *fresh,
    ]


def _cycle(repo: Repo, codes: dict[str, list[str]], start: str, dep: str) -> list[str] | None:
    """The path start -> dep -> ... -> start if `dep` (transitively) depends on `start`.

    Read from the files (the truth, and what `check` reads), visiting only what `dep` reaches.
    """
    parents: dict[str, str | None] = {dep: None}
    stack = [dep]
    while stack:
        node = stack.pop()
        if len(parents) > MAX_DEPENDENCY_WALK:  # pragma: no cover - a guard
            raise UsageError("too many dependencies to check for a cycle; nothing written")
        paths = codes.get(node) or []
        if not paths:
            continue
        try:
            parsed = parse_file(paths[0], (repo.root / paths[0]).read_bytes())
        except OSError:
            continue
        for nxt in getattr(parsed.entity, "depends_on", None) or []:
            if nxt == start:
                chain = [node]
                while parents[chain[-1]] is not None:
                    chain.append(parents[chain[-1]])  # type: ignore[arg-type]
                return [start, *reversed(chain), start]
            if nxt not in parents:
                parents[nxt] = node
                stack.append(nxt)
    return None


def _labels(
    path: str, raw: bytes, replace: Sequence[str] | None, add: list[str], rm: list[str]
) -> tuple[bytes, list[str] | None]:
    written = get_list(raw, "labels", path=path)
    base = written or []
    target = list(dict.fromkeys(_label(v) for v in replace)) if replace is not None else list(base)
    target = [t for t in target if t not in rm] + [a for a in add if a not in target]
    if written is not None and target == written:
        return raw, None
    if written is None and not target:
        return raw, None
    return set_list(raw, "labels", target, path=path), target


def _check(
    path: str,
    before: Any,
    new: bytes,
    expect: dict[str, Any],
    ticks: dict[tuple[str, int], bool],
) -> Any:
    """Parse what would be written; refuse if it is invalid or says anything else than asked."""
    after = parse_file(path, new)
    if before.valid and not after.valid:
        problems = "; ".join(str(d) for d in after.diagnostics if d.severity == "error")
        raise UsageError(f"the edit would make {path} invalid: {problems}; nothing written")
    e = after.entity
    if not isinstance(e, Task):  # pragma: no cover - a guard
        raise UsageError(f"{path}: could not edit safely; nothing written")
    wrong = []
    for key, value in expect.items():
        if key.startswith("metadata."):
            got = e.metadata.get(key.split(".", 1)[1])
            if str(got) != value and not (got is None and value in ("", "null", "~")):
                wrong.append(key)
        elif key == "labels":
            if [str(x) for x in e.metadata.get("labels") or []] != value:
                wrong.append(key)
        elif getattr(e, key) != value:
            wrong.append(key)
    for (name, idx), checked in ticks.items():
        items = getattr(e, name)
        if idx >= len(items) or items[idx].done != checked:
            wrong.append(f"{name}[{idx + 1}]")
    if wrong:  # a guard: e.g. `--set n=0x1F` would be read back as the number 31
        names = ", ".join(w.removeprefix("metadata.") for w in wrong)
        raise UsageError(
            f"{path}: {names} would not read back as written; nothing written (edit it by hand)"
        )
    return after
