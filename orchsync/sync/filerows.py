"""A file's rows in the index: its `files` row and its entity's row, with its lifetime.

Shared by the incremental catch-up, the streaming rebuild and `reindex --from-files`.
"""

from __future__ import annotations

from typing import Any

from orchsync.git.history import CommitChanges
from orchsync.index import Batch
from orchsync.index.schema import ENTITY_TABLES
from orchsync.model import Kind, ParsedFile, entity_id
from orchsync.parse.events import FilePair

__all__ = ["add_rows", "advance", "entity_row"]


def advance(life: dict[str, tuple[str, str, str]], pair: FilePair, cc: CommitChanges) -> None:
    """created_at survives edits and moves; updated_at is the last commit that touched the file."""
    ts = cc.time
    if pair.new is None:
        life.pop(pair.old.path, None)  # type: ignore[union-attr]
        return
    source = pair.old.path if pair.old is not None else pair.new.path
    created = life.pop(source)[0] if pair.old is not None and source in life else ts
    life[pair.new.path] = (created, ts, cc.commit)


def add_rows(
    batch: Batch, parsed: ParsedFile, created: str | None, updated: str | None, commit: str | None
) -> None:
    batch.files.append(
        {
            "path": parsed.path,
            "kind": parsed.kind.value,
            "code": parsed.entity.code if parsed.entity else None,
            "hash": parsed.hash,
            "size": parsed.size,
            "valid": parsed.valid,
            "diagnostics": [d.to_dict() for d in parsed.diagnostics],
            "commit": commit,
            "created_at": created,
            "updated_at": updated,
        }
    )
    row = entity_row(parsed, created, updated)
    if row is not None:
        table, values = row
        batch.entities.setdefault(table, []).append(values)


def entity_row(
    parsed: ParsedFile, created: str | None, updated: str | None
) -> tuple[str, dict[str, Any]] | None:
    """One entity as a row of its table (see index/schema.py for the columns)."""
    e = parsed.entity
    if e is None:
        return None
    f = e.fields()
    tail = {
        "hash": parsed.hash,
        "file_path": parsed.path,
        "valid": parsed.valid,
        "created_at": created,
        "updated_at": updated,
    }
    common = {
        "id": e.id,
        "title": e.title,
        "status": e.status,
        "context": e.context,
        "metadata": e.metadata,
    }
    kind = parsed.kind
    if kind is Kind.SPRINT:
        row = {
            **common,
            "code": e.code,
            "owner": f["owner"],
            "start_date": f["start_date"],
            "end_date": f["end_date"],
            "goal": f["goal"],
            "body": e.body,
        }
    elif kind is Kind.TASK:
        row = {
            **common,
            "code": e.code,
            "sprint_code": f["sprint"],
            "sprint_id": entity_id("sprint", f["sprint"]),
            "priority": f["priority"],
            "agent": f["agent"],
            "assignee": f["assignee"],
            "depends_on": f["depends_on"],
            "objectives": f["objectives"],
            "deliverables": f["deliverables"],
            "acceptance_criteria": f["acceptance_criteria"],
            "body": e.body,
        }
    elif kind is Kind.TASK_AGENT:
        sprint = parsed.path.split("/")[2]
        row = {
            "id": entity_id("task", e.code),
            "task_code": e.code,
            "sprint_code": sprint,
            "agent": f["agent"],
            "config": f["config"],
        }
    elif kind is Kind.AGENT:
        row = {
            **common,
            "name": e.code,
            "role": f["role"],
            "model": f["model"],
            "capabilities": f["capabilities"],
            "tools_allowed": f["tools_allowed"],
            "safety_rails": f["safety_rails"],
        }
        row.pop("status")
    elif kind is Kind.ADR:
        row = {**common, "number": f["number"], "date": f["date"], "body": e.body}
    elif kind is Kind.BUG:
        row = {
            **common,
            "number": f["number"],
            "priority": f["priority"],
            "sprint_code": f["sprint"],
            "reported_by": f["reported_by"],
            "body": e.body,
        }
    elif kind is Kind.SESSION:
        row = {
            **common,
            "key": e.code,
            "task_code": f["task"],
            "sprint_code": f["sprint"],
            "agent": f["agent"],
            "started_at": f["started_at"],
            "ended_at": f["ended_at"],
            "handoffs": f["handoffs"],
            "body": e.body,
        }
        row.pop("context")
    else:
        return None
    return ENTITY_TABLES[kind.value], {**row, **tail}
