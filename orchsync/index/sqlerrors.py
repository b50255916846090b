"""DuckDB's error text, as one line a person can act on.

DuckDB reports a bad query over several lines: the error class, the message, candidate
names, then the query again with a caret under the spot. A command prints one line on
stderr (`Error: SQL error: ...`), so this keeps what helps (the message, a few candidates,
the line) and drops the rest. The index's tables and the seed's views name the same columns
differently (`tasks.code` is `orchestration_tasks.task_code`); a query that mixes them up gets
a hint.
"""

from __future__ import annotations

import re

__all__ = ["sql_message"]

_KIND = re.compile(r"^[A-Za-z ]*(Error|Exception):\s*")
_CANDIDATES = re.compile(r"^Candidate bindings:\s*(.*)$", re.MULTILINE)
_DID_YOU_MEAN = re.compile(r"^(Did you mean .*?)$", re.MULTILINE)
_LINE = re.compile(r"^LINE (\d+):", re.MULTILINE)
_MISSING_COLUMN = re.compile(r'column "([^"]+)" not found', re.IGNORECASE)

# (column asked for, a word the query holds) -> the hint
_TASKS = "tasks.code is orchestration_tasks.task_code"
_SPRINTS = "sprints.code is orchestration_sprints.sprint_code"
_RENAMED = [
    ("task_code", "tasks", _TASKS),
    ("sprint_code", "sprints", _SPRINTS),
    ("code", "orchestration_tasks", _TASKS),
    ("code", "orchestration_sprints", _SPRINTS),
]
MAX_CANDIDATES = 5


def sql_message(text: str, sql: str = "") -> str:
    """`Binder Error: Referenced column "x" not found ...\\nCandidate bindings: ...\\nLINE 1: ...`
    -> `Referenced column "x" not found in FROM clause (candidates: a, b; line 1)`."""
    text = str(text).strip()
    first = _KIND.sub("", text.split("\n", 1)[0]).strip().rstrip("!").strip()
    notes = []
    found = _CANDIDATES.search(text)
    if found:
        names = [n.strip().strip('"') for n in found.group(1).split(",") if n.strip()]
        shown = ", ".join(names[:MAX_CANDIDATES]) + (", ..." if len(names) > MAX_CANDIDATES else "")
        notes.append(f"candidates: {shown}")
    mean = _DID_YOU_MEAN.search(text)
    if mean:
        notes.append(mean.group(1).strip())
    line = _LINE.search(text)
    if line:
        notes.append(f"line {line.group(1)}")
    missing = _MISSING_COLUMN.search(first)
    if missing:
        words = set(re.findall(r"[a-z_]+", sql.lower()))
        notes += [
            hint for col, word, hint in _RENAMED if missing.group(1) == col and word in words
        ][:1]
    return first + (f" ({'; '.join(notes)})" if notes else "")
