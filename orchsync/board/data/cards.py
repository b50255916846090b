"""The board and the sprint page: a card per task, checked against its file on disk.

A card carries the hash of its file as it is now (a write is checked against the bytes on
disk), and a file edited on disk but not synced yet is shown as it is on disk, marked
`synced: false`.
"""

from __future__ import annotations

from typing import Any

from orchsync import query
from orchsync.board.data.rows import diagnostics, disk, fetch, labels
from orchsync.errors import UnknownEntity
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
    """A task row of the index, checked against its file on disk (hash, unsynced edits)."""
    raw = disk(repo, row["path"])
    card = {
        "code": row["code"],
        "title": row["title"] or row["code"],
        "status": row["status"],
        "priority": row["priority"],
        "agent": row["agent"],
        "labels": labels(row.get("labels")),
        "depends_on": list(row.get("depends_on") or []),
        "valid": bool(row["valid"]),
        "diagnostics": diagnostics(row.get("diagnostics")) if not row["valid"] else [],
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


_TASK_COLUMNS = """
    SELECT t.code, t.sprint_code AS sprint, t.title, t.status, t.priority, t.agent, t.depends_on,
           t.valid, t.hash, t.file_path AS path, t.metadata->'labels' AS labels, t.updated_at
    FROM tasks t"""


def task_rows(con: Any, where: str, params: list[Any], order: str) -> list[dict[str, Any]]:
    """Task rows, with the diagnostics of the invalid ones (a second, rare query)."""
    rows = fetch(con, f"{_TASK_COLUMNS} WHERE {where} ORDER BY {order}", params)
    invalid = [r["path"] for r in rows if not r["valid"]]
    if invalid:
        found = dict(
            con.execute(
                "SELECT path, diagnostics FROM files WHERE path IN (SELECT unnest(?::VARCHAR[]))",
                [invalid],
            ).fetchall()
        )
        for r in rows:
            r["diagnostics"] = found.get(r["path"])
    return rows


def dependency_states(con: Any, cards: list[dict[str, Any]]) -> dict[str, str | None]:
    wanted = sorted({d for c in cards for d in c["depends_on"]})
    if not wanted:
        return {}
    found = dict(
        con.execute(
            "SELECT code, status FROM tasks WHERE code IN (SELECT unnest(?::VARCHAR[]))", [wanted]
        ).fetchall()
    )
    return {d: found.get(d) for d in wanted}


def badges(cards: list[dict[str, Any]], states: dict[str, str | None]) -> None:
    """Dependency badges, and `ready`: pending with every dependency completed (an unknown
    dependency is not), the rule of `query.tasks(ready=True)`; a test holds them equal. The
    board computes it from the dependencies it shows rather than asking that query, which
    unnests every task of the repository (~15 ms at 10,000 tasks)."""
    for c in cards:
        c["dependencies"] = [
            {"code": d, "status": states.get(d), "done": states.get(d) == "completed"}
            for d in c["depends_on"]
        ]
        c["waiting_on"] = [d["code"] for d in c["dependencies"] if not d["done"]]
        c["ready"] = c["status"] == "pending" and not c["waiting_on"]


def _pick_sprint(sprints: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    if wanted:
        return next((s for s in sprints if s["sprint"] == wanted), None)
    for status in ("active", "planning"):
        for s in sprints:
            if s["status"] == status:
                return s
    return sprints[-1] if sprints else None


# query.sprints with only what the board shows (its GROUP BY ALL over the join costs ~13 ms
# at 10,000 tasks; this ~3 ms)
_SPRINTS = """
    SELECT s.code AS sprint, s.title, s.status, s.owner, s.start_date, s.end_date,
           coalesce(c.tasks, 0) AS tasks, coalesce(c.completed, 0) AS completed,
           coalesce(c.in_progress, 0) AS in_progress, coalesce(c.blocked, 0) AS blocked,
           s.valid, s.file_path AS path
    FROM sprints s LEFT JOIN (
        SELECT sprint_code, count(*) AS tasks,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
               count(*) FILTER (WHERE status = 'blocked') AS blocked
        FROM tasks GROUP BY 1) c ON c.sprint_code = s.code
    ORDER BY s.code"""


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
    sprints = fetch(con, _SPRINTS)
    chosen = _pick_sprint(sprints, sprint)
    if sprint and chosen is None:
        raise UnknownEntity(f"unknown sprint {sprint!r}")
    cards: list[dict[str, Any]] = []
    if chosen is not None:
        rows = task_rows(
            con, "t.sprint_code = ?", [chosen["sprint"]], "t.priority NULLS LAST, t.code"
        )
        cards = [card(r, repo) for r in rows]
        badges(cards, dependency_states(con, cards))
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
    from orchsync.board.graph import layout

    row = next((s for s in fetch(con, _SPRINTS) if s["sprint"] == code), None)
    if row is None:
        raise UnknownEntity(f"unknown sprint {code!r}")
    detail = fetch(
        con,
        "SELECT goal, body, owner, start_date, end_date, file_path AS path FROM sprints WHERE code = ?",
        [code],
    )[0]
    tasks = task_rows(con, "t.sprint_code = ?", [code], "t.code")
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
        "sprint": row,
        "goal": detail["goal"],
        "path": detail["path"],
        "counts": counts,
        "total": total,
        "progress": round(100 * counts.get("completed", 0) / total) if total else 0,
        "stats": stats,
        "graph": layout(nodes),
    }
