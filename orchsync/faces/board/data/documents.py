"""ADRs and bugs (lists and pages), and the agent profiles on disk."""

from __future__ import annotations

import os
from typing import Any

from orchsync.errors import UnknownEntity
from orchsync.model import Kind
from orchsync.parse.layout import DELEGATION
from orchsync.repo import Repo


def documents(repo: Repo, kind: str) -> dict[str, Any]:
    """ADRs or bugs, read from the tree by number (pm.list_adrs / pm.list_bugs)."""
    from orchsync import pm

    rows = pm.list_adrs(repo) if kind == "adr" else pm.list_bugs(repo)
    for r in rows:
        r["number"] = int(r["id"].split("-")[1])
    return {"page": f"{kind}s", "kind": kind, "items": rows}


def document(repo: Repo, kind: str, number: str) -> dict[str, Any]:
    """One ADR or bug: its fields, rendered body and history."""
    from orchsync.faces.board.html import markdown_html
    from orchsync.parse import parse_file
    from orchsync.parse.resolve import resolve
    from orchsync.pm.timeline import entity_versions

    if not number.isdigit() or len(number) > 6:
        raise UnknownEntity(f"{kind} number {number[:20]!r} is not a number")
    prefix = "ADR" if kind == "adr" else "BUG"
    target = resolve(repo, f"{prefix}:{int(number)}")
    if target.kind is not (Kind.ADR if kind == "adr" else Kind.BUG):  # pragma: no cover
        raise UnknownEntity(f"unknown {kind} {number}")
    raw = (repo.root / target.path).read_bytes()
    parsed = parse_file(target.path, raw)
    f = parsed.entity.fields() if parsed.entity is not None else {}
    width = 3 if kind == "adr" else 4
    return {
        "page": kind,
        "kind": kind,
        "id": f"{prefix}-{int(number):0{width}d}",
        "key": target.key,
        "path": target.path,
        "hash": parsed.hash,
        "valid": parsed.valid,
        "diagnostics": [str(d) for d in parsed.diagnostics],
        "title": f.get("title"),
        "status": f.get("status"),
        "fields": {
            k: v
            for k, v in f.items()
            if k in ("priority", "sprint", "reported_by", "date") and v is not None
        },
        "body_html": markdown_html(f.get("body") or ""),
        "history": [v.to_dict() for v in reversed(entity_versions(repo, target.key))],
    }


def agent_names(repo: Repo) -> list[str]:
    """Profiles on disk (for the new-task form), without an index read."""
    base = repo.root / DELEGATION / "agents"
    try:
        return sorted(
            n.rsplit(".", 1)[0] for n in os.listdir(base) if n.endswith((".yml", ".yaml"))
        )
    except OSError:
        return []
