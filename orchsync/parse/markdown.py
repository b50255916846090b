"""Checklists written as Markdown sections (`## Acceptance Criteria` + `- [ ] ...`).

People write objectives either in front matter or as sections in the body; both must parse
to the same lists, so this module turns sections into the same ChecklistItems.
"""

from __future__ import annotations

import re

from orchsync.model import ChecklistItem

__all__ = ["SECTION_FIELDS", "checklist_item", "checklist_positions", "first_heading", "sections"]

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

# `#{1,6} text`; closing hashes are stripped by `_heading` (a lazy `(.*?)\s*#*\s*$` in
# the regex did the same but cost ~2 us a heading in backtracking).
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_NOT_NAME = re.compile(r"[^a-z ]+")
_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$")
_BOX = re.compile(r"^\[([ xX✓])\]\s*(.*)$", re.DOTALL)


def checklist_item(text: str) -> ChecklistItem:
    """`[x] done thing` -> ChecklistItem('done thing', True); plain text is not done."""
    text = text.strip()
    m = _BOX.match(text)
    if m:
        return ChecklistItem(m.group(2).strip(), m.group(1) != " ")
    return ChecklistItem(text)


def _heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading line, without its closing hashes; else None."""
    if line[:1] != "#":
        return None
    m = _HEADING.match(line)
    if m is None:
        return None
    return len(m.group(1)), m.group(2).rstrip().rstrip("#").rstrip()


def first_heading(body: str) -> str | None:
    """The first level-1 heading, used as a title when front matter has none."""
    for line in body.split("\n"):
        h = _heading(line)
        if h is not None and h[0] == 1:
            return h[1].strip()
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

    # The substring tests in front of the regexes are cheap necessary conditions: most
    # lines are prose, and this runs for every task of a 10,000-task reindex.
    for line in body.split("\n"):
        if "```" in line and line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        h = _heading(line) if line[:1] == "#" else None
        if h is not None:
            depth = h[0]
            if current_field is not None and depth > level:
                continue  # a sub-heading inside a section stays in it
            flush()
            items = []
            name = _NOT_NAME.sub("", h[1].lower()).strip()
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


def checklist_positions(body: str) -> dict[str, list[int]]:
    """Where each item of `sections(body)` starts: field -> offsets into `body`, in item order.

    The offset is that of the item's text (after the bullet), where a `[ ]` box is or would
    go, so an edit can tick one item without touching any other byte. It walks the lines
    exactly as `sections` does (same fences, headings, bullets and wrapped lines), and an
    item that `sections` drops (empty text) is dropped here too, so index i here is item i
    there; `tests/test_pm_edit.py` checks the two agree.
    """
    out: dict[str, list[int]] = {}
    current_field: str | None = None
    level = 0
    offsets: list[int] = []
    texts: list[str] = []
    in_fence = False

    def flush() -> None:
        if current_field is not None:
            out.setdefault(current_field, []).extend(
                o for o, t in zip(offsets, texts, strict=True) if t.strip()
            )

    pos = 0
    for line in body.split("\n"):
        start, pos = pos, pos + len(line) + 1
        if "```" in line and line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        h = _heading(line) if line[:1] == "#" else None
        if h is not None:
            if current_field is not None and h[0] > level:
                continue
            flush()
            offsets, texts = [], []
            current_field = SECTION_FIELDS.get(_NOT_NAME.sub("", h[1].lower()).strip())
            level = h[0]
            continue
        if current_field is None:
            continue
        im = _ITEM.match(line)
        if im:
            offsets.append(start + im.start(2))
            texts.append(im.group(2))
        elif texts and line[:1] in (" ", "\t") and line.strip():
            texts[-1] += " " + line.strip()
    flush()
    return out
