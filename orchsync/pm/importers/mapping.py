"""Turning a foreign tracker's values into orchsync's: codes, statuses, priorities, dates.

Every function is pure and says whether the value mapped cleanly, so the importers can
report each value they had to guess at, default or drop.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from orchsync.errors import InvalidId
from orchsync.parse.layout import MAX_SEGMENT, check_segment
from orchsync.parse.markdown import SECTION_FIELDS

__all__ = [
    "adr_status",
    "iso_date",
    "labels_of",
    "loose_checklist",
    "name_of",
    "one_line",
    "priority_of",
    "safe_code",
    "task_status",
    "unique",
]

MAX_TITLE = 300


def one_line(value: Any, limit: int = MAX_TITLE) -> str:
    """Any value as one line of text (newlines and runs of spaces become one space)."""
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_code(raw: Any, fallback: str) -> str:
    """A code for orchsync from a foreign id: lower case letters, digits, '.', '-' and '_',
    one safe path segment (`../x` -> `x`, `TASK-42` -> `task-42`); `fallback` if nothing
    of it is usable."""
    text = unicodedata.normalize("NFKD", str(raw or "")).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9._-]+", "-", text.lower())
    text = re.sub(r"\.{2,}", ".", text).strip("-._")[: MAX_SEGMENT - 10].strip("-._")
    for candidate in (text, fallback):
        try:
            check_segment(candidate, "code")
        except InvalidId:
            continue
        if re.fullmatch(r"[a-z0-9][a-z0-9._-]*", candidate):
            return candidate
    raise ValueError(f"fallback code {fallback!r} is not safe")  # pragma: no cover - a bug


def unique(code: str, taken: set[str]) -> str:
    """`code`, or `code-2`, `code-3`... the first not in `taken` (which it is added to)."""
    candidate, n = code, 1
    while candidate in taken:
        n += 1
        candidate = f"{code}-{n}"
    taken.add(candidate)
    return candidate


def name_of(raw: Any) -> str | None:
    """An agent name from an assignee (`@alice`, `Alice Smith`, `{login: alice}`)."""
    if isinstance(raw, dict):
        raw = raw.get("login") or raw.get("name")
    if not isinstance(raw, str) or not raw.strip().lstrip("@"):
        return None
    return safe_code(raw.strip().lstrip("@"), "agent")


def labels_of(raw: Any) -> list[str]:
    """Label names, one line each, without duplicates (strings or `{name: ...}` mappings)."""
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    out: list[str] = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("name")
        if isinstance(item, (str, int, float)) and not isinstance(item, bool):
            text = one_line(item, 100)
            if text and text not in out:
                out.append(text)
    return out


_PRIORITIES = {
    "critical": "P0",
    "urgent": "P0",
    "highest": "P0",
    "blocker": "P0",
    "high": "P1",
    "medium": "P2",
    "normal": "P2",
    "low": "P3",
    "lowest": "P3",
    "p0": "P0",
    "p1": "P1",
    "p2": "P2",
    "p3": "P3",
}


def priority_of(raw: Any) -> tuple[str | None, bool]:
    """(P0..P3, mapped cleanly): high/medium/low -> P1/P2/P3, critical -> P0, P0..P3 as is.
    None for no priority at all (the caller's default applies, cleanly)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, True
    key = re.sub(r"[^a-z0-9]+", "", str(raw).lower())
    mapped = _PRIORITIES.get(key)
    return (mapped, True) if mapped else (None, False)


def _norm(status: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", status.lower()).split())


_DONE = {"done", "completed", "complete", "closed", "finished", "resolved", "shipped", "merged"}
_TODO = {"to do", "todo", "backlog", "new", "open", "draft", "ready", "planned", "not started"}
_DOING = {"in progress", "doing", "wip", "started", "active", "review", "in review", "testing"}


def task_status(raw: Any, configured: list[str]) -> tuple[str, bool]:
    """(pending | in_progress | completed | blocked, mapped cleanly).

    Common names are read for what they say (`Done`, `Blocked`, `In Review`...). Any other
    name the project's configuration lists is read by its place there: the first column is
    still to do, the last is done, the ones between are in progress; that is how a renamed
    board (`Icebox`, `Hacking`, `Landed`) maps. A name the configuration does not know
    becomes pending, and is reported.
    """
    if raw is None or not str(raw).strip():
        return "pending", True
    name = _norm(str(raw))
    if name in _DONE:
        return "completed", True
    if "block" in name or name in {"waiting", "on hold", "stuck"}:
        return "blocked", True
    if name in _TODO:
        return "pending", True
    if name in _DOING:
        return "in_progress", True
    order = [_norm(s) for s in configured]
    if name in order:
        i = order.index(name)
        if i == 0:
            return "pending", True
        if i == len(order) - 1:
            return "completed", True
        return "in_progress", True
    return "pending", False


_ADR = {
    "proposed": "proposed",
    "draft": "proposed",
    "accepted": "accepted",
    "approved": "accepted",
    "rejected": "rejected",
    "deprecated": "deprecated",
    "superseded": "superseded",
}


def adr_status(raw: Any) -> tuple[str, bool]:
    """(an ADR status, mapped cleanly); unknown ones are `proposed`."""
    if raw is None or not str(raw).strip():
        return "proposed", True
    mapped = _ADR.get(_norm(str(raw)))
    return (mapped, True) if mapped else ("proposed", False)


def iso_date(raw: Any) -> str | None:
    """`2025-06-04`, `2025-06-04 19:51` or `2025-06-04T19:51:00Z` -> `2025-06-04`; None if
    it is no date (`31/02/2025`, `2025-02-30`, `soon`)."""
    text = str(raw or "").strip()
    m = re.match(r"^(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.+\-Z]*)?$", text)
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1)).isoformat()
    except ValueError:
        return None


_BOX = re.compile(r"^\s*[-*+]\s+\[([ xX])\]\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def loose_checklist(body: str) -> list[dict[str, Any]]:
    """Checkbox items (`- [ ] x`) that are not under a heading orchsync reads itself
    (`## Acceptance Criteria`, `## Objectives`...): what a GitHub task list holds."""
    out: list[dict[str, Any]] = []
    known_level: int | None = None
    fence = False
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        h = _HEADING.match(line)
        if h:
            level = len(h.group(1))
            if known_level is not None and level > known_level:
                continue
            name = re.sub(r"[^a-z ]+", "", h.group(2).lower()).strip()
            known_level = level if name in SECTION_FIELDS else None
            continue
        m = _BOX.match(line)
        if m and known_level is None and m.group(2).strip():
            out.append({"text": one_line(m.group(2), 500), "done": m.group(1) != " "})
    return out
