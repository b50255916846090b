"""Place imported items in the tree, render them, compare them with an earlier import, commit.

`plan` decides everything and writes nothing (what `--dry-run` prints);
`orchsync.pm.importers.apply.run_import` plans and writes under the numbering lock, and commits
every file in one snapshot.

Idempotent by source id. Each file written keeps, under `source:`, the source's system,
project, id and path, what has no field of ours (`fields`), and `hash`: the sha256 of the
file's data as imported (front matter without that hash, and body). A re-run finds earlier
imports by (system, project, id), renders each item again, and:

- writes nothing if the rendering hashes to the recorded hash (the source did not change);
- rewrites the file if the source changed and the file still hashes to its recorded hash;
- keeps the file, and reports it, if the source changed but the file was edited in orchsync
  since (its hash differs), unless `overwrite`.

Existing items keep their code and path (a task moved to another sprint stays there); new
ones get codes by the write commands' rules, made unique with `-2`, `-3`...
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchsync.model import content_hash
from orchsync.parse import parse_file
from orchsync.parse.events import Event
from orchsync.parse.layout import DELEGATION, adr_path, slugify, sprint_path, task_dir
from orchsync.parse.yamldoc import decode, split_front_matter
from orchsync.pm.importers.foreign import MAX_FILE
from orchsync.pm.importers.items import KINDS, Finding, Item, Source
from orchsync.pm.importers.mapping import unique
from orchsync.repo import Repo

__all__ = ["ImportResult", "Planned", "plan"]

DOCS = f"{DELEGATION}/docs"
_PREFIX = {"sprint": "S", "task": "T", "adr": "ADR"}


@dataclass(slots=True)
class Planned:
    """One item's fate: `create`, `update`, `unchanged`, `kept` (edited in orchsync since),
    `adopt` (an existing sprint the tasks go into, left as it is) or `skipped`."""

    item: Item
    action: str
    code: str
    path: str
    status: str | None = None
    data: bytes | None = None
    expected: str | None = None  # sha256 of the file an update replaces

    @property
    def key(self) -> str:
        prefix = _PREFIX.get(self.item.kind)
        return f"{prefix}:{self.code}" if prefix else self.path

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.item.kind,
            "source_id": self.item.source_id,
            "source_path": self.item.source_path,
            "key": self.key,
            "path": self.path,
            "status": self.status,
            "action": self.action,
        }


@dataclass(slots=True)
class ImportResult:
    system: str
    project: str
    location: str
    dry_run: bool
    planned: list[Planned] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    commit: str | None = None
    subject: str | None = None
    blocked: str | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(1 for f in self.findings if f.level == "skipped")

    def counts(self) -> dict[str, dict[str, int]]:
        """Per kind, the items by status once imported (`-` for documents)."""
        out: dict[str, Counter[str]] = {}
        for p in self.planned:
            if p.action != "skipped":
                out.setdefault(p.item.kind, Counter())[p.status or "-"] += 1
        return {k: dict(sorted(out[k].items())) for k in KINDS if k in out}

    def actions(self) -> dict[str, int]:
        return dict(Counter(p.action for p in self.planned))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": {"system": self.system, "project": self.project, "path": self.location},
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "actions": self.actions(),
            "items": [p.to_dict() for p in self.planned],
            "findings": [f.to_dict() for f in self.findings],
            "skipped": self.skipped,
            "commit": self.commit,
            "subject": self.subject,
            "blocked": self.blocked,
            "events": [
                {"event_type": e.event_type, "entity": e.entity_code, "path": e.path}
                for e in self.events
            ],
        }


# --- what an earlier import left --------------------------------------------------------------


@dataclass(slots=True)
class _Existing:
    kind: str
    code: str
    path: str
    recorded: str | None  # source.hash
    current: str | None  # the hash of the file's data now (None: unreadable)
    sha: str  # sha256 of its bytes


def _canonical(data: dict[str, Any], body: str) -> str:
    """sha256 of a file's data without `source.hash`: what the recorded hash covers."""
    front = dict(data)
    source = front.get("source")
    if isinstance(source, dict):
        front["source"] = {k: v for k, v in source.items() if k != "hash"}
    blob = json.dumps([front, body.strip()], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _read_ours(raw: bytes) -> tuple[dict[str, Any], str] | None:
    """(front matter, body) of a file in the tree, or None if it has no readable front matter."""
    text, _ = decode(raw)
    if text is None:
        return None
    doc = split_front_matter(text)
    if not doc.has_front_matter or not isinstance(doc.data, dict) or doc.problems:
        return None
    return doc.data, doc.body


def _candidates(root: Path) -> list[tuple[str, str, str]]:
    """(kind, code, path) of every file an import may have written."""
    out: list[tuple[str, str, str]] = []
    sprints = root / DELEGATION / "sprints"
    for s in _dirs(sprints):
        out.append(("sprint", s, sprint_path(s)))
        for t in _dirs(sprints / s):
            out.append(("task", t, f"{task_dir(s, t)}/TASK.md"))
    for kind, folder in (("adr", "adr"), ("doc", "docs")):
        try:
            names = sorted(e.name for e in os.scandir(root / DELEGATION / folder) if e.is_file())
        except OSError:
            names = []
        for name in names:
            if name.endswith(".md"):
                code = name.split("-")[1] if kind == "adr" and name.count("-") >= 1 else name[:-3]
                out.append((kind, code, f"{DELEGATION}/{folder}/{name}"))
    return out


def _dirs(path: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _existing(repo: Repo, system: str, project: str) -> dict[tuple[str, str], _Existing]:
    """Files of an earlier import of this source, by (kind, source id)."""
    out: dict[tuple[str, str], _Existing] = {}
    marker = system.encode()
    for kind, code, path in _candidates(repo.root):
        full = repo.root / path
        try:
            if full.is_symlink() or not full.is_file():
                continue
            raw = full.read_bytes()
        except OSError:
            continue
        if b"source:" not in raw or marker not in raw:
            continue
        read = _read_ours(raw)
        source = read[0].get("source") if read else None
        if not isinstance(source, dict) or source.get("system") != system:
            continue
        if source.get("project") != project or not isinstance(source.get("id"), str):
            continue
        recorded = source.get("hash")
        out.setdefault(
            (kind, source["id"]),
            _Existing(
                kind,
                code,
                path,
                recorded if isinstance(recorded, str) else None,
                _canonical(*read) if read else None,
                content_hash(raw),
            ),
        )
    return out


# --- rendering ---------------------------------------------------------------------------------


def _render(item: Item, front: dict[str, Any], heading: str | None) -> tuple[bytes, str]:
    """The file's bytes and the hash recorded in it (see `_canonical`)."""

    def text(source_hash: str) -> str:
        data = {**front, "source": {**front["source"], "hash": source_hash}}
        dumped = yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096
        )
        body = item.body.strip()
        if heading:
            body = f"# {heading}\n\n{body}" if body else f"# {heading}"
        return f"---\n{dumped}---\n\n{body}\n"

    draft = text("0" * 64)
    read = _read_ours(draft.encode("utf-8"))
    assert read is not None, draft[:500]
    digest = _canonical(*read)
    final = text(digest).encode("utf-8")
    return final, digest


def _front(
    item: Item, status: str | None, source: dict[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    front: dict[str, Any] = {"title": item.title}
    if status is not None:
        front["status"] = status
    front.update(extra)
    front.update({k: v for k, v in item.front.items() if v not in (None, "", [])})
    if item.kind != "doc":
        front["context"] = []
    front["source"] = source
    return front


# --- planning ------------------------------------------------------------------------------------


def plan(repo: Repo, source: Source, *, overwrite: bool = False) -> ImportResult:
    """What importing `source` would write: each item's code, path, status and action."""
    result = ImportResult(source.system, source.project, source.location, dry_run=True)
    result.findings = list(source.findings)
    existing = _existing(repo, source.system, source.project)
    placer = _Placer(repo, existing)
    items = sorted(source.items, key=lambda i: KINDS.index(i.kind))
    places = {(i.kind, i.source_id): placer.place(i) for i in items}
    sprint_of = {i.source_id: places[("sprint", i.source_id)] for i in items if i.kind == "sprint"}
    tasks = [i for i in items if i.kind == "task"]
    for item in tasks:  # a new task's folder is its sprint's
        code, path = places[("task", item.source_id)]
        if ("task", item.source_id) not in existing:
            sprint_code = sprint_of[item.sprint][0] if item.sprint in sprint_of else "backlog"
            places[("task", item.source_id)] = (code, f"{task_dir(sprint_code, code)}/TASK.md")
    deps = _dependencies(
        tasks, {i.source_id: places[("task", i.source_id)][0] for i in tasks}, result
    )
    statuses: dict[str, list[str]] = {}
    for item in tasks:
        statuses.setdefault(item.sprint or "", []).append(item.status or "pending")
    for item in items:
        code, path = places[(item.kind, item.source_id)]
        ex = existing.get((item.kind, item.source_id))
        if item.kind == "sprint" and ex is None and placer.adopted(item, code):
            result.planned.append(Planned(item, "adopt", code, path))
            continue
        status = item.status
        extra: dict[str, Any] = {}
        heading: str | None = item.title
        if item.kind == "sprint":
            status = _sprint_status(statuses.get(item.source_id, []))
            heading = f"Sprint: {item.title}"
        elif item.kind == "task":
            extra = {"priority": item.front.get("priority", "P2")}
            if item.front.get("agent"):
                extra["agent"] = item.front["agent"]
            extra["depends_on"] = deps.get(item.source_id, [])
        elif item.kind == "adr":
            heading = f"ADR-{code}: {item.title}"
        else:
            heading = None
        record = {
            "system": source.system,
            "project": source.project,
            "id": item.source_id,
            "path": item.source_path,
            "fields": item.fields,
        }
        front = _front(item, status, record, extra)
        result.planned.append(
            _decide(item, code, path, status, front, heading, ex, overwrite, result)
        )
        if item.kind == "task" and ex is not None:
            _note_sprint(item, ex, sprint_of, result)
    return result


class _Placer:
    """Codes and paths: earlier imports keep theirs, new items get free ones."""

    def __init__(self, repo: Repo, existing: dict[tuple[str, str], _Existing]) -> None:
        from orchsync.parse.resolve import task_codes

        self.repo = repo
        self.existing = existing
        root = repo.root / DELEGATION
        self.taken: dict[str, set[str]] = {
            "sprint": set(_dirs(root / "sprints")),
            "task": set(task_codes(repo.root)),
            "doc": {n[:-3] for n in _names(root / "docs") if n.endswith(".md")},
        }
        from orchsync.model import Kind
        from orchsync.pm.numbered import numbers

        self.numbers = set(numbers(repo, Kind.ADR))

    def place(self, item: Item) -> tuple[str, str]:
        ex = self.existing.get((item.kind, item.source_id))
        if ex is not None:
            return ex.code, ex.path
        if item.kind == "adr":
            number = item.number
            if number is None or number in self.numbers:
                number = max(self.numbers, default=0) + 1
            self.numbers.add(number)
            return f"{number:03d}", adr_path(number, slugify(item.title))
        if item.kind == "sprint" and item.source_id.split(":")[1:2] == ["single"]:
            return item.code, sprint_path(item.code)  # named by the user: taken as it is
        code = unique(item.code, self.taken[item.kind])
        if item.kind == "sprint":
            return code, sprint_path(code)
        if item.kind == "doc":
            return code, f"{DOCS}/{code}.md"
        return code, ""  # a task's path comes with its sprint

    def adopted(self, item: Item, code: str) -> bool:
        """A sprint named with `single:` that exists already (not from this import)."""
        return (
            item.source_id.split(":")[1:2] == ["single"]
            and (self.repo.root / sprint_path(code)).is_file()
        )


def _names(path: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(path)]
    except OSError:
        return []


def _dependencies(
    tasks: list[Item], code_of: dict[str, str], result: ImportResult
) -> dict[str, list[str]]:
    """depends_on per task (source id -> codes): its dependencies, and for a parent task its
    subtasks (a parent is done when they are). References to tasks not in the source are
    left out and reported (they stay in `source.fields`); so is a parent link that would
    make a cycle with the dependencies the source declares."""
    deps: dict[str, list[str]] = {}
    for item in tasks:
        out: list[str] = []
        for ref in item.depends_on:
            if ref == item.source_id:
                result.findings.append(
                    Finding("warning", item.where, "depends on itself: left out")
                )
            elif ref not in code_of:
                result.findings.append(
                    Finding(
                        "warning",
                        item.where,
                        f"depends on {ref}, which is not in the source: left out "
                        "(kept in source.fields)",
                    )
                )
            elif code_of[ref] not in out:
                out.append(code_of[ref])
        deps[item.source_id] = out
    graph = {code_of[i.source_id]: list(deps[i.source_id]) for i in tasks}
    for item in tasks:
        if item.parent is None:
            continue
        if item.parent not in code_of:
            result.findings.append(
                Finding(
                    "warning",
                    item.where,
                    f"parent task {item.parent} is not in the source: no link "
                    "(kept in source.fields)",
                )
            )
            continue
        parent, child = code_of[item.parent], code_of[item.source_id]
        if parent == child or child in graph[parent]:
            continue
        if _reaches(graph, child, parent):
            result.findings.append(
                Finding(
                    "warning",
                    item.where,
                    f"subtask of {item.parent} and (through its dependencies) a dependency "
                    "of it: the parent link is left out",
                )
            )
            continue
        graph[parent].append(child)
        deps[item.parent].append(child)
    return deps


def _reaches(graph: dict[str, list[str]], start: str, goal: str) -> bool:
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in graph.get(node, []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _sprint_status(statuses: list[str]) -> str:
    if statuses and all(s == "completed" for s in statuses):
        return "completed"
    if any(s in ("in_progress", "completed", "blocked") for s in statuses):
        return "active"
    return "planning"


def _decide(
    item: Item,
    code: str,
    path: str,
    status: str | None,
    front: dict[str, Any],
    heading: str | None,
    ex: _Existing | None,
    overwrite: bool,
    result: ImportResult,
) -> Planned:
    try:
        data, digest = _render(item, front, heading)
    except (yaml.YAMLError, RecursionError) as exc:
        result.findings.append(Finding("skipped", item.where, f"cannot be written: {exc}"))
        return Planned(item, "skipped", code, path, status)
    if len(data) > MAX_FILE:
        result.findings.append(
            Finding("skipped", item.where, f"would be {len(data):,} bytes, over {MAX_FILE:,}")
        )
        return Planned(item, "skipped", code, path, status)
    problems = [str(d) for d in parse_file(path, data).diagnostics if d.severity == "error"]
    if problems:
        result.findings.append(
            Finding("skipped", item.where, "would not be a valid file: " + "; ".join(problems))
        )
        return Planned(item, "skipped", code, path, status)
    if ex is None:
        return Planned(item, "create", code, path, status, data)
    edited = ex.current != ex.recorded
    if digest == ex.recorded:  # the source did not change since the last import
        action = "update" if overwrite and edited else "unchanged"
    elif not edited or overwrite:
        action = "update"
    else:
        result.findings.append(
            Finding(
                "kept",
                item.where,
                f"changed in the source, and {path} was edited in orchsync since the last "
                "import: kept orchsync's version (--overwrite takes the source's)",
            )
        )
        return Planned(item, "kept", code, path, status)
    if action == "unchanged":
        return Planned(item, action, code, path, status)
    return Planned(item, action, code, path, status, data, ex.sha)


def _note_sprint(
    item: Item, ex: _Existing, sprint_of: dict[str, tuple[str, str]], result: ImportResult
) -> None:
    planned = result.planned[-1]
    wanted = sprint_of.get(item.sprint or "")
    current = ex.path.split("/")[2]
    if planned.action in ("update", "kept") and wanted is not None and wanted[0] != current:
        result.findings.append(
            Finding(
                "warning",
                item.where,
                f"the source puts it in sprint {wanted[0]}; it stays in {current} "
                f"(orchsync task move {planned.code} --to-sprint {wanted[0]})",
            )
        )
