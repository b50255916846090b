"""The board and the sprint page: a card per task, checked against its file on disk.

A card carries the hash of its file as it is now (a write is checked against the bytes on
disk), and a file edited on disk but not synced yet is shown as it is on disk, marked
`synced: false`.
"""

from __future__ import annotations

from typing import Any

from orchsync import query
from orchsync.errors import UnknownEntity
from orchsync.faces.board.data.rows import diagnostics, disk, labels
from orchsync.model import PRIORITIES, content_hash
from orchsync.repo import Repo

# Board columns, in the order work moves through them.
COLUMNS = ("pending", "in_progress", "blocked", "completed")
STATUS_LABELS = {
    "pending": "Pending",
    "in_progress": "In progress",
    "blocked": "Blocked",
    "completed": "Completed",
}


def card(row: dict[str, Any], repo: Repo) -> dict[str, Any]:
    """A task row of `query.task_cards`, checked against its file on disk (its hash now, and
    an edit not synced yet shown as it is on disk)."""
    raw = disk(repo, row["path"])
    card = {
        "code": row["code"],
        "title": row["title"] or row["code"],
        "status": row["status"],
        "priority": row["priority"],
        "agent": row["agent"],
        "labels": labels(row["labels"]),
        "depends_on": row["depends_on"],
        "dependencies": row["dependencies"],
        "waiting_on": row["waiting_on"],
        "ready": row["ready"],
        "valid": bool(row["valid"]),
        "diagnostics": diagnostics(row["diagnostics"]) if not row["valid"] else [],
        "path": row["path"],
        "hash": None if raw is None else content_hash(raw),
        "synced": raw is not None and content_hash(raw) == row["hash"],
        "on_disk": raw is not None,
        "updated_at": row.get("updated_at"),
    }
    if raw is not None and not card["synced"]:
        overlay(card, row["path"], raw)
    return card


def overlay(card: dict[str, Any], path: str, raw: bytes) -> None:
    """Show a file edited on disk (not synced yet) as it is on disk."""
    from orchsync.parse import parse_file

    parsed = parse_file(path, raw)
    e = parsed.entity
    card["valid"] = parsed.valid
    card["diagnostics"] = [
        str(d).removeprefix(f"{path}:").lstrip(": ")
        for d in parsed.diagnostics
        if d.severity == "error"
    ]
    if e is not None:
        card |= {
            "title": e.title or card["code"],
            "status": e.status,
            "priority": getattr(e, "priority", None),
            "agent": getattr(e, "agent", None),
            "labels": labels(e.metadata.get("labels")),
            "depends_on": list(getattr(e, "depends_on", []) or []),
        }


def _pick_sprint(sprints: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    if wanted:
        return next((s for s in sprints if s["sprint"] == wanted), None)
    for status in ("active", "planning"):
        for s in sprints:
            if s["status"] == status:
                return s
    return sprints[-1] if sprints else None


def board(
    repo: Repo,
    con: Any,
    *,
    sprint: str | None = None,
    agent: str | None = None,
    priority: str | None = None,
    q: str | None = None,
) -> dict[str, Any]:
    """The board of one sprint: a column per status, a card per task (filters applied)."""
    sprints = query.sprints(con)
    chosen = _pick_sprint(sprints, sprint)
    if sprint and chosen is None:
        raise UnknownEntity(f"unknown sprint {sprint!r}")
    cards: list[dict[str, Any]] = []
    if chosen is not None:
        cards = [card(r, repo) for r in query.task_cards(con, chosen["sprint"])]
    agents = sorted({c["agent"] for c in cards if c["agent"]})
    needle = (q or "").strip().lower()
    shown = [
        c
        for c in cards
        if (not agent or c["agent"] == agent)
        and (not priority or c["priority"] == priority)
        and (
            not needle
            or needle in c["code"].lower()
            or needle in (c["title"] or "").lower()
            or any(needle in label.lower() for label in c["labels"])
        )
    ]
    columns: list[dict[str, Any]] = [
        {
            "status": status,
            "label": STATUS_LABELS[status],
            "cards": [c for c in shown if c["status"] == status],
        }
        for status in COLUMNS
    ]
    other = [c for c in shown if c["status"] not in COLUMNS]
    if other:  # a status no column has (a typo in a file): shown, never hidden
        columns.append({"status": "other", "label": "Other status", "cards": other})
    for col in columns:
        col["count"] = len(col["cards"])
    return {
        "page": "board",
        "sprint": chosen,
        "sprints": [
            {k: s[k] for k in ("sprint", "title", "status", "tasks", "completed")} for s in sprints
        ],
        "filters": {"agent": agent or "", "priority": priority or "", "q": q or ""},
        "agents": agents,
        "priorities": list(PRIORITIES),
        "statuses": list(COLUMNS),
        "total": len(cards),
        "shown": len(shown),
        "columns": columns,
    }


def sprint(repo: Repo, con: Any, code: str) -> dict[str, Any]:
    """A sprint's progress, counts, throughput and cycle time, and its dependency graph."""
    from orchsync.faces.board.graph import layout

    row = query.sprint(con, code)
    tasks = sorted(query.task_cards(con, code), key=lambda t: t["code"])
    stats = next((s for s in query.stats(con)["sprints"] if s["sprint"] == code), None)
    counts = {s: 0 for s in COLUMNS}
    for t in tasks:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    nodes = [
        {
            "code": t["code"],
            "title": t["title"],
            "status": t["status"],
            "depends_on": t["depends_on"] or [],
        }
        for t in tasks
    ]
    total = len(tasks)
    return {
        "page": "sprint",
        "sprint": {k: v for k, v in row.items() if k not in ("goal", "body")},
        "goal": row["goal"],
        "path": row["path"],
        "counts": counts,
        "total": total,
        "progress": round(100 * counts.get("completed", 0) / total) if total else 0,
        "stats": stats,
        "graph": layout(nodes),
    }
