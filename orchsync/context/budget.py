"""Fit a context into a token budget, trimming in a fixed order and saying what went.

Tokens are estimated as characters / 4 of the Markdown rendering (what an agent reads).
Order: reference docs first (the last-listed first; the doc that crosses the line is cut
short rather than dropped), then the sprint's task list (for a sprint: the summaries, then
task lines that are not ready; for a task: the other tasks' lines), then session events
(oldest first). The agent profile, the task, the sprint header, the session's notes and
handoffs are never trimmed; when they alone exceed the budget the response says so.
"""

from __future__ import annotations

import copy
from typing import Any

from orchsync.context.render import (
    render_event,
    render_markdown,
    render_reference,
    render_task_line,
)

__all__ = ["CHARS_PER_TOKEN", "apply_budget", "estimate_tokens"]

CHARS_PER_TOKEN = 4
_MIN_KEEP = 400  # a reference cut shorter than this is dropped instead
_BUDGET_NOTE = 600  # room for the Budget section itself


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def apply_budget(data: dict[str, Any], tokens: int) -> dict[str, Any]:
    """A copy of `data` trimmed to about `tokens`, with `budget` saying what was trimmed."""
    out = copy.deepcopy(data)
    limit = max(0, tokens * CHARS_PER_TOKEN - _BUDGET_NOTE)
    trimmed: list[dict[str, Any]] = []
    over = len(render_markdown(out)) - limit

    def note(part: str, item: str, action: str, chars: int) -> None:
        trimmed.append({"part": part, "item": item, "action": action, "chars": chars})

    # 1. reference docs, last first
    for ref in reversed(out.get("references") or []):
        if over <= 0:
            break
        content = ref.get("content")
        if content is None:
            continue
        before = len(render_reference(ref))
        keep = len(content) - over - 80
        if keep >= _MIN_KEEP:
            ref["content"] = content[:keep].rstrip() + "\n…"
            ref["status"] = "trimmed"
            ref["reason"] = f"cut to {keep:,} of {len(content):,} characters by --budget"
            action = "cut short"
        else:
            ref["content"] = None
            ref["status"] = "trimmed"
            ref["reason"] = f"{len(content):,} characters left out by --budget"
            action = "left out"
        saved = before - len(render_reference(ref))
        over -= saved
        note("reference", ref["path"], action, saved)

    # 2. the sprint's tasks: summaries first, then whole lines (ready tasks and this task last)
    sprint = out.get("sprint") or {}
    tasks = sprint.get("tasks") or []
    current = (out.get("task") or {}).get("code")
    if over > 0 and tasks:
        saved = 0
        for item in reversed(tasks):
            if over - saved <= 0:
                break
            if item.get("summary"):
                before = len(render_task_line(item, current))
                item["summary"] = None
                saved += before - len(render_task_line(item, current))
        if saved:
            over -= saved
            note("sprint.tasks", "summaries", "left out", saved)
    if over > 0 and tasks:
        keep_codes = set(sprint.get("ready") or []) | {current}
        removed, saved = 0, 0
        for item in reversed(list(tasks)):
            if over - saved <= 0:
                break
            if item["code"] in keep_codes:
                continue
            saved += len(render_task_line(item, current))
            tasks.remove(item)
            removed += 1
        if removed:
            sprint["omitted"] = sprint.get("omitted", 0) + removed
            over -= saved
            note("sprint.tasks", f"{removed} task lines", "left out", saved)

    # 3. session events, oldest first
    session = out.get("session") or {}
    events = session.get("events") or []
    if over > 0 and events:
        removed, saved = 0, 0
        while events and over - saved > 0:
            saved += len(render_event(events.pop(0)))
            removed += 1
        session["events_omitted"] = session.get("events_omitted", 0) + removed
        over -= saved
        note("session.events", f"{removed} oldest events", "left out", saved)

    out["budget"] = {
        "tokens": tokens,
        "estimated_tokens": 0,
        "over_budget": False,
        "trimmed": trimmed,
    }
    used = estimate_tokens(render_markdown(out))
    out["budget"].update(estimated_tokens=used, over_budget=used > tokens)
    return out
