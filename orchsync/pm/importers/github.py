"""Read GitHub issues, as `gh issue list --state all --json ...` exports them, into items.

    gh issue list --state all --limit 10000 \\
        --json number,title,body,labels,state,assignees,milestone,createdAt,closedAt,url

One JSON array of issues. Each issue becomes a task `issue-<number>`; milestones become
sprints, issues without one go to the sprint `issues`. The file is untrusted: its size is
capped, and every field's type is checked; an issue with a field of the wrong type is
skipped with the reason, the others are imported.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from orchsync.errors import UsageError
from orchsync.parse.layout import slugify
from orchsync.pm.importers.foreign import plain
from orchsync.pm.importers.items import Item, Source
from orchsync.pm.importers.mapping import (
    iso_date,
    labels_of,
    loose_checklist,
    name_of,
    one_line,
    priority_of,
)

__all__ = ["MAX_JSON", "SYSTEM", "read_github_issues"]

SYSTEM = "github"
MAX_JSON = 64 * 1024 * 1024
MAX_ISSUES = 100_000
MAX_BODY = 512 * 1024
NO_MILESTONE = "github:no-milestone"

_REPO = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/")
# label (lower, punctuation folded) -> status of an open issue
_OPEN_STATUS = {
    "blocked": "blocked",
    "in progress": "in_progress",
    "doing": "in_progress",
    "wip": "in_progress",
}
_PRIORITY_LABEL = re.compile(r"^(?:priority\W*)?(p[0-3]|critical|high|medium|low)(?:\W*priority)?$")


def read_github_issues(path: Path, *, single: str | None = None) -> Source:
    """Items of every issue (and milestone) in a `gh issue list --json` export."""
    data = _load(path)
    source = Source(SYSTEM, "github", str(path))
    sprints: dict[str, Item] = {}
    if single is not None:
        sprints[f"github:single:{single}"] = Item(
            "sprint", f"github:single:{single}", None, single, single
        )
    seen: dict[int, int] = {}
    for n, raw in enumerate(data):
        where = f"{path.name}[{n}]"
        problem = _problem(raw)
        if problem:
            source.skip(where, problem)
            continue
        number = raw["number"]
        where = f"{path.name}#{number}"
        if number in seen:
            source.skip(where, f"issue #{number} again (first at index {seen[number]})")
            continue
        seen[number] = n
        m = _REPO.match(raw.get("url") or "")
        if m and source.project == "github":
            source.project = m.group(1).lower()
        sprint = _sprint(raw, sprints, single)
        source.items.append(_issue(raw, where, sprint, source))
    source.items[:0] = list(sprints.values())
    return source


def _load(path: Path) -> list[Any]:
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path}: not a regular file (symbolic links are not followed)")
    if info.st_size > MAX_JSON:
        raise UsageError(f"{path}: {info.st_size:,} bytes, over the {MAX_JSON:,}-byte limit")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_JSON + 1)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not JSON ({' '.join(str(exc).split())[:200]})") from exc
    except RecursionError as exc:
        raise UsageError(f"{path}: JSON nested too deeply") from exc
    if not isinstance(data, list):
        raise UsageError(
            f"{path}: expected a JSON array of issues (gh issue list --json ...), "
            f"not {type(data).__name__}"
        )
    if len(data) > MAX_ISSUES:
        raise UsageError(f"{path}: {len(data):,} issues, more than {MAX_ISSUES:,}")
    return data


def _problem(raw: Any) -> str | None:
    """Why an issue cannot be imported (a field of the wrong type), or None."""
    if not isinstance(raw, dict):
        return f"not an issue object but {type(raw).__name__}"
    number = raw.get("number")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 10**9:
        return f"number {number!r} is not a positive whole number"
    checks = {
        "title": (str,),
        "body": (str, type(None)),
        "state": (str, type(None)),
        "labels": (list, type(None)),
        "assignees": (list, type(None)),
        "milestone": (dict, type(None)),
        "createdAt": (str, type(None)),
        "closedAt": (str, type(None)),
        "url": (str, type(None)),
    }
    for name, types in checks.items():
        if name == "title" and name not in raw:
            return "no title"
        if not isinstance(raw.get(name), types):
            return f"{name} is {type(raw.get(name)).__name__}, not {' or '.join(t.__name__ for t in types)}"
    if len(raw.get("body") or "") > MAX_BODY:
        return f"body is {len(raw['body']):,} characters, over {MAX_BODY:,}"
    milestone = raw.get("milestone")
    if milestone is not None and not isinstance(milestone.get("title"), str):
        return "milestone has no title"
    for name in ("labels", "assignees"):
        for entry in raw.get(name) or []:
            if not isinstance(entry, (dict, str)):
                return f"{name} holds a {type(entry).__name__}"
    return None


def _sprint(raw: dict[str, Any], sprints: dict[str, Item], single: str | None) -> str:
    if single is not None:
        return f"github:single:{single}"
    milestone = raw.get("milestone")
    title = one_line(milestone["title"]) if milestone else ""
    if not title:
        if NO_MILESTONE not in sprints:
            sprints[NO_MILESTONE] = Item("sprint", NO_MILESTONE, None, "issues", "Issues")
        return NO_MILESTONE
    key = f"milestone:{' '.join(title.lower().split())}"
    item = sprints.get(key)
    if item is None:
        item = Item("sprint", key, None, slugify(title), title)
        description = milestone.get("description")  # type: ignore[union-attr]
        if isinstance(description, str) and description.strip():
            item.body = description.strip().replace("\r\n", "\n")
            item.front["goal"] = one_line(item.body.split("\n\n")[0], 500)
        due = iso_date(milestone.get("dueOn"))  # type: ignore[union-attr]
        if due:
            item.front["end_date"] = due
        item.fields = plain({k: v for k, v in milestone.items() if k != "title"})  # type: ignore[union-attr]
        sprints[key] = item
    return key


def _issue(raw: dict[str, Any], where: str, sprint: str, source: Source) -> Item:
    number = raw["number"]
    labels = labels_of(raw.get("labels"))
    folded = {
        " ".join(re.sub(r"[^a-z0-9]+", " ", label.lower()).split()): label for label in labels
    }
    state = (raw.get("state") or "").upper()
    if state == "CLOSED":
        status = "completed"
    else:
        if state not in ("OPEN", ""):
            source.warn(where, f"state {one_line(state, 40)!r} is neither OPEN nor CLOSED: pending")
        status = next((_OPEN_STATUS[f] for f in folded if f in _OPEN_STATUS), "pending")
    priority = "P2"
    for name in folded:
        m = _PRIORITY_LABEL.match(name.replace(" ", "-"))
        if m:
            priority = priority_of(m.group(1))[0] or "P2"
            break
    agent = next((n for n in map(name_of, raw.get("assignees") or []) if n), None)
    body = (raw.get("body") or "").replace("\r\n", "\n").strip()
    front: dict[str, Any] = {"priority": priority, "agent": agent}
    if labels:
        front["labels"] = labels
    checklist = loose_checklist(body)
    if checklist:
        front["objectives"] = checklist
    return Item(
        "task",
        f"#{number}",
        where,
        f"issue-{number}",
        one_line(raw.get("title") or f"Issue {number}"),
        status,
        front=front,
        body=body,
        fields=plain({k: v for k, v in raw.items() if k not in ("title", "body")}),
        sprint=sprint,
    )
