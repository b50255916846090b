"""Checklists written as Markdown sections (`## Acceptance Criteria` + `- [ ] ...`).

People write objectives either in front matter or as sections in the body; both must parse
to the same lists, so this module turns sections into the same ChecklistItems.
"""

from __future__ import annotations

import re

from orchsync.model import ChecklistItem

__all__ = ["SECTION_FIELDS", "checklist_item", "first_heading", "sections"]

# Heading text (lower-cased, punctuation folded) -> entity field.
SECTION_FIELDS = {
    "objectives": "objectives",
    "objective": "objectives",
    "goals": "objectives",
    "deliverables": "deliverables",
    "deliverable": "deliverables",
    "acceptance criteria": "acceptance_criteria",
    "acceptance": "acceptance_criteria",
    "definition of done": "acceptance_criteria",
}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$")
_BOX = re.compile(r"^\[([ xX✓])\]\s*(.*)$", re.DOTALL)


def checklist_item(text: str) -> ChecklistItem:
    """`[x] done thing` -> ChecklistItem('done thing', True); plain text is not done."""
    text = text.strip()
    m = _BOX.match(text)
    if m:
        return ChecklistItem(m.group(2).strip(), m.group(1) != " ")
    return ChecklistItem(text)


def first_heading(body: str) -> str | None:
    """The first level-1 heading, used as a title when front matter has none."""
    for line in body.split("\n"):
        m = _HEADING.match(line)
        if m and len(m.group(1)) == 1:
            return m.group(2).strip()
    return None


def sections(body: str) -> dict[str, list[ChecklistItem]]:
    """Lists under the known headings; nested items count as items, wrapped lines join theirs."""
    out: dict[str, list[ChecklistItem]] = {}
    current: list[str] | None = None
    current_field: str | None = None
    level = 0
    items: list[str] = []
    in_fence = False

    def flush() -> None:
        if current_field is not None:
            out.setdefault(current_field, []).extend(checklist_item(t) for t in items if t.strip())

    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = _HEADING.match(line)
        if m:
            depth = len(m.group(1))
            if current_field is not None and depth > level:
                continue  # a sub-heading inside a section stays in it
            flush()
            items = []
            name = re.sub(r"[^a-z ]+", "", m.group(2).lower()).strip()
            current_field = SECTION_FIELDS.get(name)
            current = items if current_field else None
            level = depth
            continue
        if current is None:
            continue
        im = _ITEM.match(line)
        if im:
            items.append(im.group(2))
        elif items and line[:1] in (" ", "\t") and line.strip():
            items[-1] += " " + line.strip()  # a wrapped line continues its item
    flush()
    return out
