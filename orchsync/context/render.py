"""An assembled context as Markdown, ready to paste into an LLM's context window.

Headings an agent can navigate, checklists as `- [x]`, the bodies people wrote (their
headings moved down so they nest), and reference docs in fences. The per-item renderers are
public because the budget measures items with the same functions that print them.
"""

from __future__ import annotations

import re
from typing import Any

from orchsync.parse.markdown import SECTION_FIELDS

__all__ = ["render_event", "render_markdown", "render_reference", "render_task_line"]

_HEADING = re.compile(r"^(#{1,6})(\s+.*)$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`{3,}")
_CHECKLIST_TITLES = {
    "objectives": "Objectives",
    "deliverables": "Deliverables",
    "acceptance_criteria": "Acceptance criteria",
}
_LANG = {
    ".md": "markdown",
    ".py": "python",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".json": "json",
    ".toml": "toml",
    ".sh": "sh",
    ".sql": "sql",
    ".ts": "typescript",
    ".js": "javascript",
}


def _short(h: str | None) -> str:
    return h[:12] if h else "-"


def _demote(
    body: str, levels: int, *, drop_sections: bool = False, drop_title: bool = False
) -> str:
    """Move headings down `levels` (max 6); optionally drop checklist sections and a leading H1."""
    out: list[str] = []
    fence: str | None = None
    skip_level = 0
    seen_content = False
    for line in body.split("\n"):
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            if not skip_level:
                out.append(line)
            continue
        if m:
            fence = m.group(1)
            if not skip_level:
                out.append(line)
            continue
        h = _HEADING.match(line)
        if h:
            depth = len(h.group(1))
            if skip_level and depth > skip_level:
                continue
            skip_level = 0
            name = re.sub(r"[^a-z ]+", "", h.group(2).lower()).strip()
            if drop_sections and name in SECTION_FIELDS:
                skip_level = depth
                continue
            if drop_title and depth == 1 and not seen_content:
                seen_content = True
                continue
            seen_content = True
            out.append("#" * min(6, depth + levels) + h.group(2))
            continue
        if skip_level:
            continue
        if line.strip():
            seen_content = True
        out.append(line)
    text = "\n".join(_drop_empty_sections(out)).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text)


def _drop_empty_sections(lines: list[str]) -> list[str]:
    """Remove headings with nothing under them (a template's unfilled `## Done`)."""
    keep = [True] * len(lines)
    fence = False
    heads: list[tuple[int, int]] = []  # (line, level)
    content_after: dict[int, bool] = {}
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fence = not fence
        h = None if fence else _HEADING.match(line)
        if h:
            level = len(h.group(1))
            heads = [(j, lv) for j, lv in heads if lv < level]
            heads.append((i, level))
            content_after[i] = False
        elif line.strip():
            for j, _lv in heads:
                content_after[j] = True
    for i, has in content_after.items():
        if not has:
            keep[i] = False
    return [line for line, k in zip(lines, keep, strict=True) if k]


def _fenced(text: str, lang: str = "") -> str:
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"


def _checklist(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"- [{'x' if i.get('done') else ' '}] {i.get('text', '')}" for i in items)


def _join(values: list[str] | None) -> str:
    return ", ".join(values) if values else "none"


def render_reference(ref: dict[str, Any]) -> str:
    """One reference doc: its content in a fence, or one line saying why it is not there."""
    path, status = ref["path"], ref["status"]
    if ref.get("content") is None:
        reason = ref.get("reason") or status
        return f"- `{path}`: {status} ({reason})\n"
    ext = path[path.rfind(".") :].lower() if "." in path.rsplit("/", 1)[-1] else ""
    note = (
        f"\n\n_{status}: {ref['reason']}_"
        if status in ("truncated", "trimmed") and ref.get("reason")
        else ""
    )
    return f"### `{path}`\n\n{_fenced(ref['content'], _LANG.get(ext, ''))}{note}\n\n"


def render_task_line(item: dict[str, Any], current: str | None = None) -> str:
    """One task of a sprint: a checkbox (completed or not), code, title and state."""
    done = "x" if item.get("status") == "completed" else " "
    bits = [item.get("status") or "unknown"]
    if item.get("priority"):
        bits.append(item["priority"])
    if item.get("agent"):
        bits.append(item["agent"])
    progress = item.get("progress") or {}
    if progress.get("total"):
        bits.append(f"{progress['done']}/{progress['total']} items done")
    if item.get("depends_on"):
        bits.append("depends on " + ", ".join(f"`{d}`" for d in item["depends_on"]))
    mark = " **(this task)**" if current and item["code"] == current else ""
    line = f"- [{done}] `{item['code']}` {item.get('title') or ''} ({'; '.join(bits)}){mark}\n"
    if item.get("summary"):
        line += f"  {item['summary']}\n"
    return line


def render_event(event: dict[str, Any], own: str | None = None) -> str:
    """One event line; `own` (the session's key) is not repeated as the entity."""
    name = (event.get("event_type") or "").removeprefix("orchestration.")
    payload = event.get("payload") or {}
    detail = ""
    if "from" in payload and "to" in payload:
        detail = f" ({payload['from']} → {payload['to']})"
    elif isinstance(payload.get("changes"), dict):
        detail = f" (changed: {', '.join(sorted(payload['changes']))})"
    elif payload.get("title"):
        detail = f" ({payload['title']})"
    who = f" by {event['agent']}" if event.get("agent") else ""
    entity = f" {event['entity']}" if event.get("entity") and event["entity"] != own else ""
    return f"- {event.get('emitted_at') or ''} {name}{entity}{detail}{who}\n"


def render_markdown(data: dict[str, Any]) -> str:
    out: list[str] = []
    target = data["target"]
    prov = data.get("provenance") or {}
    out.append(f"# AGENT INIT {target['key']}\n\n")
    served = "served from cache" if data.get("cached") else "assembled"
    commit = f" at commit `{_short(prov.get('commit'))}`" if prov.get("commit") else ""
    out.append(
        f"Context {served} by orchsync{commit} ({prov.get('assembled_at', '')}); "
        f"correlation id `{prov.get('correlation_id', '')}`.\n\n"
    )
    for w in data.get("warnings") or []:
        out.append(f"> **Warning:** {w}\n")
    if data.get("warnings"):
        out.append("\n")
    if data.get("agent"):
        out.append(_agent(data["agent"]))
    if data.get("task"):
        out.append(_task(data["task"]))
        out.append(_sprint_for_task(data["sprint"], data["task"]))
    elif data.get("sprint"):
        out.append(_sprint_overview(data["sprint"]))
    if data.get("session"):
        out.append(_session(data["session"]))
    if data.get("references"):
        out.append("## Reference docs\n\n")
        out.extend(render_reference(r) for r in data["references"])
        out.append("\n")
    if data.get("budget"):
        out.append(_budget(data["budget"]))
    out.append(_provenance(prov))
    text = "".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def _agent(agent: dict[str, Any]) -> str:
    lines = [f"## Agent profile: {agent.get('name') or '(unnamed)'}\n"]
    if agent.get("role"):
        lines.append(f"- **Role:** {agent['role']}")
    if agent.get("model"):
        lines.append(f"- **Model:** {agent['model']}")
    if agent.get("assigned") and agent["assigned"] != agent.get("name"):
        lines.append(f"- **Assigned to:** {agent['assigned']} (initialized as {agent.get('name')})")
    lines.append(f"- **Capabilities:** {_join(agent.get('capabilities'))}")
    lines.append(f"- **Tools allowed:** {_join(agent.get('tools_allowed'))}")
    if agent.get("profile_missing"):
        lines.append("- **Profile:** missing (only the task's AGENT.yml applies)")
    text = "\n".join(lines) + "\n\n"
    if agent.get("description"):
        text += f"{agent['description'].strip()}\n\n"
    if agent.get("safety_rails"):
        text += "### Safety rails\n\n" + "\n".join(f"- {r}" for r in agent["safety_rails"]) + "\n\n"
    return text


def _task(task: dict[str, Any]) -> str:
    text = f"## Task: {task['title']}\n\n"
    # an invalid file (a link, no front matter) has no status: say so rather than "None"
    bits = [f"**Code:** `{task['code']}`", f"**Status:** {task['status'] or 'unknown'}"]
    if task.get("priority"):
        bits.append(f"**Priority:** {task['priority']}")
    if task.get("agent"):
        bits.append(f"**Agent:** {task['agent']}")
    text += "- " + " · ".join(bits) + "\n"
    text += f"- **File:** `{task['path']}`\n"
    if task.get("blocked"):
        waiting = [d["code"] for d in task.get("dependencies", []) if d["blocking"]]
        text += f"- **Blocked by:** {', '.join(f'`{c}`' for c in waiting)}\n"
    text += "\n"
    for key, title in _CHECKLIST_TITLES.items():
        if task.get(key):
            text += f"### {title}\n\n{_checklist(task[key])}\n\n"
    body = _demote(task.get("body") or "", 2, drop_sections=True, drop_title=True)
    if body.strip():
        text += f"### Description\n\n{body}\n\n"
    return text


def _sprint_for_task(sprint: dict[str, Any], task: dict[str, Any]) -> str:
    text = f"## Sprint context: {sprint.get('title') or sprint['code']}\n\n"
    text += f"- **Sprint:** `{sprint['code']}` · **Status:** {sprint.get('status') or 'unknown'}"
    if sprint.get("start_date") or sprint.get("end_date"):
        text += f" · **Dates:** {sprint.get('start_date') or '?'} → {sprint.get('end_date') or '?'}"
    text += "\n"
    if sprint.get("goal"):
        text += f"- **Goal:** {sprint['goal']}\n"
    text += "\n### Dependencies of this task\n\n"
    deps = task.get("dependencies") or []
    if not deps:
        text += "None.\n\n"
    for d in deps:
        if d.get("missing"):
            text += f"- `{d['code']}`: **missing** (no such task), blocks this task\n"
            continue
        state = "**blocks this task**" if d["blocking"] else "done"
        where = f" in sprint `{d['sprint']}`" if d.get("sprint") != sprint["code"] else ""
        text += f"- `{d['code']}` {d.get('title') or ''}{where}: {d['status']}, {state}\n"
    text += "\n### Tasks that depend on this task\n\n"
    dependents = task.get("dependents") or []
    if not dependents:
        text += "None.\n"
    for d in dependents:
        text += f"- `{d['code']}` {d.get('title') or ''} ({d['status']})\n"
    text += "\n### Tasks in this sprint\n\n"
    text += "".join(render_task_line(t, current=task["code"]) for t in sprint.get("tasks") or [])
    if sprint.get("omitted"):
        text += f"- ... {sprint['omitted']} more tasks omitted (budget)\n"
    if sprint.get("ready"):
        text += "\nReady to start (pending, every dependency completed): "
        text += ", ".join(f"`{c}`" for c in sprint["ready"]) + "\n"
    return text + "\n"


def _sprint_overview(sprint: dict[str, Any]) -> str:
    text = f"## Sprint: {sprint.get('title') or sprint['code']}\n\n"
    text += f"- **Sprint:** `{sprint['code']}` · **Status:** {sprint.get('status') or 'unknown'}"
    if sprint.get("owner"):
        text += f" · **Owner:** {sprint['owner']}"
    if sprint.get("start_date") or sprint.get("end_date"):
        text += f" · **Dates:** {sprint.get('start_date') or '?'} → {sprint.get('end_date') or '?'}"
    text += "\n"
    counts = sprint.get("counts") or {}
    if counts:
        text += "- **Tasks:** " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + "\n"
    if sprint.get("goal"):
        text += f"- **Goal:** {sprint['goal']}\n"
    text += "\n"
    body = _demote(sprint.get("body") or "", 2, drop_title=True)
    if body.strip():
        text += f"### Overview\n\n{body}\n\n"
    by_code = {t["code"]: t for t in sprint.get("tasks") or []}
    text += "### Ready tasks\n\n"
    ready = sprint.get("ready") or []
    text += (
        "".join(f"- `{c}` {by_code[c]['title'] if c in by_code else ''}\n" for c in ready)
        if ready
        else "None: every pending task waits on a dependency.\n"
    )
    text += "\n### Tasks\n\n"
    text += "".join(render_task_line(t) for t in sprint.get("tasks") or [])
    if sprint.get("omitted"):
        text += f"- ... {sprint['omitted']} more tasks omitted (budget)\n"
    return text + "\n"


def _session(session: dict[str, Any]) -> str:
    how = (
        "given with --session"
        if session.get("selected") == "explicit"
        else "latest open session of this task"
    )
    text = f"## Session memory: {session['key']}\n\n"
    text += (
        f"- **Status:** {session.get('status')} · **Agent:** {session.get('agent') or 'unknown'}"
    )
    text += f" · **Started:** {session.get('started_at') or '?'}"
    if session.get("ended_at"):
        text += f" · **Ended:** {session['ended_at']}"
    text += f"\n- **Resumed:** {how}\n\n"
    if session.get("handoffs"):
        text += "### Handoffs\n\n"
        for h in session["handoffs"]:
            note = f": {h['note']}" if h.get("note") else ""
            text += f"- {h.get('at') or ''} {h.get('from') or '?'} → {h.get('to') or '?'}{note}\n"
        text += "\n"
    notes = _demote(session.get("notes") or "", 1, drop_title=True)
    if notes.strip():
        has_headings = any(_HEADING.match(line) for line in notes.split("\n"))
        text += f"{notes}\n\n" if has_headings else f"### Notes\n\n{notes}\n\n"
    events = session.get("events") or []
    if events or session.get("events_omitted"):
        text += "### Events\n\n"
        if session.get("events_omitted"):
            text += f"- ... {session['events_omitted']} earlier events omitted\n"
        own = f"SESSION:{session['key']}"
        text += "".join(render_event(e, own) for e in events) + "\n"
    return text


def _budget(budget: dict[str, Any]) -> str:
    text = (
        f"## Budget\n\n- {budget['tokens']} tokens requested, about {budget['estimated_tokens']} used"
        f"{' (over budget: the task itself is never trimmed)' if budget.get('over_budget') else ''}\n"
    )
    for t in budget.get("trimmed") or []:
        text += f"- trimmed {t['part']}: {t['item']} ({t['action']}, {t['chars']} characters)\n"
    return text + "\n"


def _provenance(prov: dict[str, Any]) -> str:
    text = "## Provenance\n\n"
    text += (
        f"- commit `{prov.get('commit') or '-'}` on `{prov.get('ref') or '-'}`; "
        f"context hash `{_short(prov.get('context_hash'))}`\n"
    )
    for p in prov.get("parts") or []:
        text += f"- {p['part']}: `{p['path']}` sha256 `{_short(p.get('hash'))}`\n"
    return text
