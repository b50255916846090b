"""Read a Backlog.md project (`backlog/`) into import items.

Backlog.md keeps one Markdown file per task with YAML front matter (`id`, `title`, `status`,
`assignee`, `labels`, `milestone`, `dependencies`, `parent_task_id`, `priority`, dates,
`ordinal`, ...) and sections in the body (`## Description`, `## Acceptance Criteria` between
`<!-- AC:BEGIN -->` markers, `## Implementation Plan`, `## Implementation Notes`, ...):

    backlog/config.yml                      statuses (renamable), default status, project name
    backlog/tasks/, completed/, drafts/     tasks (drafts and completed ones kept with their status)
    backlog/archive/tasks/, archive/drafts/ archived tasks
    backlog/milestones/*.md                 milestones (also named by tasks, or in config.yml)
    backlog/decisions/*.md                  decisions -> ADRs
    backlog/docs/**.md                      documents -> delegation/docs/

The mapping is in README.md ("Import"). Everything a file holds that has no orchsync field
is kept under `source.fields`; whatever had to be defaulted or dropped is a warning, and a
file that cannot be read at all is skipped with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchsync.errors import UsageError
from orchsync.parse.layout import slugify
from orchsync.pm.importers.foreign import ForeignError, load_yaml, parse_markdown, read_text, walk
from orchsync.pm.importers.items import Item, Source
from orchsync.pm.importers.mapping import (
    adr_status,
    iso_date,
    labels_of,
    name_of,
    one_line,
    priority_of,
    safe_code,
    task_status,
)

__all__ = ["SYSTEM", "read_backlog", "sprint_mode"]

SYSTEM = "backlog.md"
DEFAULT_STATUSES = ["To Do", "In Progress", "Done"]

# folder -> where its tasks go when sprints come from milestones (None: their milestone's)
TASK_FOLDERS = {
    "tasks": None,
    "completed": None,
    "drafts": "drafts",
    "archive/tasks": "archive",
    "archive/drafts": "archive",
}
# catch-all sprints: source id -> (code, title)
CATCH_ALL = {
    "backlog:no-milestone": ("backlog", "Backlog"),
    "backlog:drafts": ("drafts", "Drafts"),
    "backlog:archive": ("archive", "Archive"),
}

_FILE_ID = re.compile(r"^([A-Za-z]+-\d+(?:\.\d+)*)")
_MARKER = re.compile(r"^\s*<!--\s*[A-Z_]+(?::[A-Z_]+)?:(?:BEGIN|END)\s*-->\s*$")
_SECTION = re.compile(r"^##\s+(.+?)\s*#*\s*$")
_NUMBERED_BOX = re.compile(r"^(\s*[-*+]\s+\[[ xX]\]\s+)#\d+\s+")
# Backlog.md section -> the heading it gets in TASK.md (orchsync reads `Objectives`,
# `Acceptance Criteria` and `Definition of Done` as checklists).
SECTION_HEADINGS = {
    "acceptance criteria": "Acceptance Criteria",
    "definition of done": "Definition of Done",
    "implementation plan": "Objectives",
    "implementation notes": "Notes",
}


def sprint_mode(value: str) -> str | None:
    """`milestone` -> None; `single:<code>` -> that sprint code (checked)."""
    if value == "milestone":
        return None
    kind, sep, code = value.partition(":")
    if kind != "single" or not sep or not code:
        raise UsageError(f"--sprint-from {value!r}: use milestone or single:<sprint-code>")
    from orchsync.pm.common import valid_code

    return valid_code(code, "--sprint-from single:<code>")


def find_backlog(path: Path) -> Path:
    """The `backlog/` folder of a project root, or the folder itself."""
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder")
    for candidate in (path / "backlog", path / ".backlog", path):
        if (
            candidate.is_dir()
            and not candidate.is_symlink()
            and ((candidate / "tasks").is_dir() or (candidate / "config.yml").is_file())
        ):
            return candidate
    raise UsageError(
        f"{path}: no Backlog.md project here (no backlog/ folder with tasks/ or config.yml)"
    )


def read_backlog(path: Path, *, single: str | None = None) -> Source:
    """Items of every task, milestone, decision and document of a Backlog.md project."""
    root = find_backlog(path)
    reader = _Reader(root, single)
    return reader.read()


class _Reader:
    def __init__(self, root: Path, single: str | None) -> None:
        self.root = root
        self.single = single
        self.config_problem: str | None = None
        self.config = self._config()
        project = one_line(self.config.get("project_name") or root.resolve().parent.name, 100)
        self.source = Source(SYSTEM, project or "backlog", str(root))
        statuses = self.config.get("statuses")
        self.statuses = (
            [str(s) for s in statuses if isinstance(s, (str, int))]
            if isinstance(statuses, list) and statuses
            else DEFAULT_STATUSES
        )
        prefix = self.config.get("task_prefix")
        self.prefix = prefix.lower() if isinstance(prefix, str) and prefix.isalpha() else "task"
        self.milestones: dict[str, Item] = {}  # id and title (lower case) -> sprint item
        self.sprints: dict[str, Item] = {}  # source id -> sprint item

    # --- files ------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        path = self.root / "config.yml"
        if not path.exists() and not path.is_symlink():
            return {}
        try:
            data = load_yaml(read_text(path))
        except ForeignError as exc:
            self.config_problem = f"{exc}; the default statuses apply"
            return {}
        return data if isinstance(data, dict) else {}

    def _files(self, folder: str, recursive: bool = False) -> list[tuple[str, Any]]:
        """(relative path, ForeignDoc) of each readable file; the rest reported as skipped."""
        try:
            paths, links = walk(self.root, folder, recursive=recursive)
        except ForeignError as exc:
            self.source.skip(self._rel(folder), str(exc))
            return []
        for link in links:
            self.source.skip(self._rel(link), "a symbolic link (not followed)")
        out = []
        for rel in paths:
            try:
                out.append((rel, parse_markdown(read_text(self.root / rel))))
            except ForeignError as exc:
                self.source.skip(self._rel(rel), str(exc))
        return out

    def _rel(self, rel: str) -> str:
        return f"{self.root.name}/{rel}"

    # --- the whole project -----------------------------------------------------------------

    def read(self) -> Source:
        if self.config_problem:
            self.source.warn(self._rel("config.yml"), self.config_problem)
        if self.single is not None:
            self._sprint(f"backlog:single:{self.single}", self.single, self.single, None)
        else:
            self._milestones()
        seen: dict[str, str] = {}
        for folder, catch_all in TASK_FOLDERS.items():
            for rel, doc in self._files(folder):
                item = self._task(rel, doc, folder, catch_all)
                if item is None:
                    continue
                if item.source_id in seen and folder.startswith("archive/"):
                    # Backlog.md gives an archived task's id to the next new task: the
                    # archived one is told apart by its folder, and keeps its own code
                    item.source_id = f"archive:{item.source_id}"
                    item.code = safe_code(f"{item.code}-archived", "task")
                if item.source_id in seen:
                    self.source.skip(
                        item.where, f"id {item.source_id} again (first in {seen[item.source_id]})"
                    )
                    continue
                seen[item.source_id] = item.where
                self.source.items.append(item)
        for rel, doc in self._files("decisions"):
            self._decision(rel, doc)
        for rel, doc in self._files("docs", recursive=True):
            self._document(rel, doc)
        self.source.items[:0] = list(self.sprints.values())
        return self.source

    # --- milestones -> sprints --------------------------------------------------------------

    def _sprint(self, source_id: str, code: str, title: str, path: str | None) -> Item:
        item = self.sprints.get(source_id)
        if item is None:
            item = Item("sprint", source_id, path, code, title)
            self.sprints[source_id] = item
        return item

    def _milestones(self) -> None:
        for folder in ("milestones", "archive/milestones"):
            for rel, doc in self._files(folder):
                meta = doc.meta
                raw_id = meta.get("id") or _file_id(rel)
                title = one_line(meta.get("title") or raw_id or Path(rel).stem)
                key = _key(raw_id or title)
                description = _sections(doc.body)[1].get("description", doc.body).strip()
                item = self._sprint(f"milestone:{key}", slugify(title), title, self._rel(rel))
                item.body = description
                item.front["goal"] = (
                    one_line(description.split("\n\n")[0], 500) if description else ""
                )
                item.fields = {k: v for k, v in meta.items() if k != "title"}
                if folder.startswith("archive"):
                    item.fields["archived"] = True
                self.milestones[key] = item
                self.milestones[_key(title)] = item
        for name in self.config.get("milestones") or []:
            if isinstance(name, (str, int)) and str(name).strip():
                self._milestone(str(name))

    def _milestone(self, name: str) -> Item:
        known = self.milestones.get(_key(name))
        if known is not None:
            return known
        title = one_line(name)
        item = self._sprint(f"milestone:{_key(name)}", slugify(title), title, None)
        self.milestones[_key(name)] = item
        return item

    def _sprint_of(self, meta: dict[str, Any], catch_all: str | None) -> str:
        if self.single is not None:
            return f"backlog:single:{self.single}"
        if catch_all is not None:
            source_id = f"backlog:{catch_all}"
        else:
            milestone = meta.get("milestone")
            if isinstance(milestone, (str, int)) and str(milestone).strip():
                return self._milestone(str(milestone)).source_id
            source_id = "backlog:no-milestone"
        code, title = CATCH_ALL[source_id]
        return self._sprint(source_id, code, title, None).source_id

    # --- tasks ---------------------------------------------------------------------------------

    def _task(self, rel: str, doc: Any, folder: str, catch_all: str | None) -> Item | None:
        meta, where = doc.meta, self._rel(rel)
        if not doc.has_front_matter:
            self.source.warn(where, "no front matter: id and title taken from the file name")
        raw_id = meta.get("id")
        if not isinstance(raw_id, (str, int)) or not str(raw_id).strip():
            raw_id = _file_id(rel) or Path(rel).stem
            if doc.has_front_matter:
                self.source.warn(
                    where, f"no id in the front matter: took {raw_id!r} from the file name"
                )
        key = self._ref(raw_id)
        title = one_line(meta.get("title") or _file_title(rel) or raw_id)
        raw_status = meta.get("status")
        status, clean = task_status(raw_status, self.statuses)
        if not clean:
            self.source.warn(
                where,
                f"status {one_line(raw_status, 60)!r} is none of the configured statuses "
                f"({', '.join(self.statuses)}): read as pending",
            )
        priority, clean = priority_of(meta.get("priority"))
        if not clean:
            self.source.warn(
                where,
                f"priority {one_line(meta.get('priority'), 60)!r} is not high, medium or low: P2",
            )
        assignees = meta.get("assignee")
        assignees = assignees if isinstance(assignees, list) else [assignees] if assignees else []
        agent = next((n for n in map(name_of, assignees) if n), None)
        front: dict[str, Any] = {"priority": priority or "P2", "agent": agent}
        labels = labels_of(meta.get("labels"))
        if labels:
            front["labels"] = labels
        for name in ("created_date", "updated_date", "due_date"):
            value = meta.get(name)
            if value not in (None, "") and iso_date(value) is None:
                self.source.warn(
                    where, f"{name} {one_line(value, 60)!r} is not a date: kept as written"
                )
        deps = meta.get("dependencies")
        deps = deps if isinstance(deps, list) else [deps] if deps else []
        parent = meta.get("parent_task_id") or meta.get("parent")
        return Item(
            "task",
            key,
            where,
            safe_code(key, "task"),
            title,
            status,
            front=front,
            body=_task_body(doc.body),
            fields={"folder": folder, **{k: v for k, v in meta.items() if k != "title"}},
            sprint=self._sprint_of(meta, catch_all),
            depends_on=[self._ref(d) for d in deps if isinstance(d, (str, int)) and str(d).strip()],
            parent=self._ref(parent)
            if isinstance(parent, (str, int)) and str(parent).strip()
            else None,
        )

    def _ref(self, raw: Any) -> str:
        """How a task id is matched: lower case; a bare number gets the task prefix."""
        text = str(raw).strip().lower()
        return f"{self.prefix}-{text}" if text.isdigit() else text

    # --- decisions and documents -----------------------------------------------------------

    def _decision(self, rel: str, doc: Any) -> None:
        meta, where = doc.meta, self._rel(rel)
        raw_id = str(meta.get("id") or _file_id(rel) or Path(rel).stem)
        title = one_line(meta.get("title") or _file_title(rel) or raw_id)
        status, clean = adr_status(meta.get("status"))
        if not clean:
            self.source.warn(
                where, f"status {one_line(meta.get('status'), 60)!r} is no ADR status: proposed"
            )
        front: dict[str, Any] = {}
        raw_date = meta.get("date")
        if raw_date not in (None, ""):
            day = iso_date(raw_date)
            if day is None:
                self.source.warn(where, f"date {one_line(raw_date, 60)!r} is not a date: left out")
            else:
                front["date"] = day
        digits = re.findall(r"\d+", raw_id)
        self.source.items.append(
            Item(
                "adr",
                _key(raw_id),
                where,
                "",
                title,
                status,
                front=front,
                body=_strip_markers(doc.body),
                fields={k: v for k, v in meta.items() if k != "title"},
                number=int(digits[-1]) if digits and 0 < int(digits[-1]) < 100_000 else None,
            )
        )

    def _document(self, rel: str, doc: Any) -> None:
        meta, where = doc.meta, self._rel(rel)
        raw_id = str(meta.get("id") or _file_id(rel) or Path(rel).stem)
        title = one_line(meta.get("title") or _file_title(rel) or raw_id)
        code = safe_code(f"{raw_id}-{slugify(title)}" if meta.get("id") else raw_id, "doc")
        self.source.items.append(
            Item(
                "doc",
                _key(raw_id),
                where,
                code,
                title,
                body=doc.body,
                fields={k: v for k, v in meta.items() if k != "title"},
            )
        )


def _key(raw: Any) -> str:
    return " ".join(str(raw).lower().split())


def _file_id(rel: str) -> str | None:
    m = _FILE_ID.match(Path(rel).name)
    return m.group(1) if m else None


def _file_title(rel: str) -> str | None:
    """`task-42 - Some-title.md` -> `Some title`."""
    name = Path(rel).stem
    _, sep, rest = name.partition(" - ")
    return rest.replace("-", " ").strip() or None if sep else None


def _strip_markers(body: str) -> str:
    return "\n".join(line for line in body.split("\n") if not _MARKER.match(line)).strip()


def _sections(body: str) -> tuple[str, dict[str, str], list[tuple[str, str]]]:
    """(text before the first `## `, section name (lower) -> text, [(heading, text)])."""
    preamble: list[str] = []
    ordered: list[tuple[str, list[str]]] = []
    fence = False
    for line in _strip_markers(body).split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
        m = None if fence else _SECTION.match(line)
        if m:
            ordered.append((m.group(1), []))
        elif ordered:
            ordered[-1][1].append(line)
        else:
            preamble.append(line)
    sections = [(h, "\n".join(lines).strip()) for h, lines in ordered]
    return "\n".join(preamble).strip(), {h.lower(): t for h, t in sections}, sections


def _task_body(body: str) -> str:
    """The task's body for TASK.md: the description first, then each section under the
    heading orchsync reads it by (see SECTION_HEADINGS), checklist numbers (`#1`) dropped."""
    preamble, _, sections = _sections(body)
    lead = [preamble]
    parts = []
    for heading, text in sections:
        name = heading.lower()
        if name == "description":
            lead.append(text)
            continue
        if name in ("acceptance criteria", "definition of done"):
            text = "\n".join(_NUMBERED_BOX.sub(r"\1", line) for line in text.split("\n"))
        parts.append(f"## {SECTION_HEADINGS.get(name, heading)}\n\n{text}".rstrip())
    return "\n\n".join(p for p in [*lead, *parts] if p.strip())
