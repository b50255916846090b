"""Template placeholders: the hints a new file comes with, until someone writes the real text.

The shipped templates write each hint as a Markdown comment on a line of its own:

    ## Goal

    <!-- placeholder: What this sprint delivers, in one or two sentences. -->

A comment is what an editor shows and a Markdown viewer hides, so the hint is read where it
is needed and nowhere else. It counts as *untouched* while its section (from its heading to
the next heading) holds nothing but placeholders and blank lines: writing the section's text
is all it takes to answer it, whether the comment line is then deleted or left where it is.

`orchsync check` warns about each untouched placeholder (a warning: the file is valid), and
AGENT INIT leaves every placeholder line out of what it hands an agent, saying so, so a
template's hint is never taken for a sprint's goal. Text inside fenced code is never a
placeholder. A repository's own templates may use the same marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchsync.model import Diagnostic

__all__ = ["MARKER", "Placeholder", "find", "strip", "untouched"]

MARKER = "placeholder:"
_LINE = re.compile(
    r"^[ \t]{0,3}<!--[ \t]*placeholder:[ \t]*(.*?)[ \t]*-->[ \t]*\r?$", re.IGNORECASE
)
_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*?)[ \t#]*\r?$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")


@dataclass(frozen=True, slots=True)
class Placeholder:
    line: int  # 1-based, in the text given
    section: str | None  # the heading above it (None: before any heading)
    hint: str
    untouched: bool


def find(text: str) -> list[Placeholder]:
    """Every placeholder line of a Markdown text, with whether its section is still empty."""
    lines = text.split("\n")
    start = _body_start(lines)
    found: list[tuple[int, str | None, str, int]] = []  # (line, section, hint, section id)
    filled: dict[int, bool] = {}
    section: str | None = None
    section_id = 0
    fence: str | None = None
    for n in range(start, len(lines)):
        line = lines[n]
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            filled[section_id] = True
            continue
        if m:
            fence = m.group(1)
            filled[section_id] = True
            continue
        h = _HEADING.match(line)
        if h:
            section, section_id = h.group(2).strip(), section_id + 1
            continue
        p = _LINE.match(line)
        if p:
            found.append((n + 1, section, p.group(1), section_id))
        elif line.strip():
            filled[section_id] = True
    return [Placeholder(n, s, hint, not filled.get(sid, False)) for n, s, hint, sid in found]


def untouched(path: str, text: str) -> list[Diagnostic]:
    """A warning for each placeholder whose section holds nothing else yet (`orchsync check`)."""
    out = []
    for p in find(text):
        if not p.untouched:
            continue
        where = f"section {p.section!r}" if p.section else "the text"
        out.append(
            Diagnostic(
                path,
                p.line,
                "placeholder",
                f"{where} has only the template's placeholder ({_short(p.hint)}); "
                "write it or delete the line",
                "warning",
            )
        )
    return out


def strip(text: str) -> tuple[str, int]:
    """The text without its placeholder lines (outside code fences), and how many there were."""
    if MARKER not in text.lower():
        return text, 0
    drop = {p.line - 1 for p in find(text)}
    if not drop:
        return text, 0
    lines = text.split("\n")
    return "\n".join(line for n, line in enumerate(lines) if n not in drop), len(drop)


def _body_start(lines: list[str]) -> int:
    """The first line after a front-matter block (`---` ... `---`), else 0."""
    if not lines or lines[0].lstrip("\ufeff").rstrip("\r") != "---":
        return 0
    for n in range(1, len(lines)):
        if lines[n].rstrip("\r") in ("---", "..."):
            return n + 1
    return 0


def _short(hint: str, limit: int = 60) -> str:
    hint = " ".join(hint.split())
    return f'"{hint}"' if len(hint) <= limit else f'"{hint[: limit - 1]}…"'
