"""The task page (the file as it is on disk, with history and events) and one version of it."""

from __future__ import annotations

from typing import Any

from orchsync import query
from orchsync.errors import OrchsyncError, UnknownEntity
from orchsync.faces.board.data.rows import (
    BOOKKEEPING,
    commit_id,
    disk,
    event_row,
    labels,
    resolve_task,
)
from orchsync.model import PRIORITIES, TASK_STATUSES
from orchsync.repo import Repo

CHECKLIST_LABELS = {
    "objectives": "Objectives",
    "deliverables": "Deliverables",
    "acceptance_criteria": "Acceptance criteria",
}


def task(repo: Repo, code: str) -> dict[str, Any]:
    """A task as it is on disk, with its AGENT.yml, history from git and events."""
    from orchsync.faces.board.html import markdown_html
    from orchsync.parse import parse_file
    from orchsync.pm.timeline import entity_versions

    code, path = resolve_task(repo, code)
    raw = disk(repo, path)
    if raw is None:
        raise UnknownEntity(f"task {code}: {path} is not a regular file")
    parsed = parse_file(path, raw)
    e = parsed.entity
    fields = e.fields() if e is not None else {}
    checklists: list[dict[str, Any]] = [
        {
            "name": name,
            "label": label,
            "items": [
                {"index": i, "text": item["text"], "done": item["done"]}
                for i, item in enumerate(fields.get(name) or [])
            ],
        }
        for name, label in CHECKLIST_LABELS.items()
    ]
    for cl in checklists:
        cl["done"] = sum(1 for i in cl["items"] if i["done"])
        cl["total"] = len(cl["items"])
    agent_path = path.rsplit("/", 1)[0] + "/AGENT.yml"
    agent_raw = disk(repo, agent_path)
    deps = list(getattr(e, "depends_on", []) or [])
    with query.reader(repo) as con:
        indexed = query.tasks_by_code(con, [code]).get(code)
        events = [
            event_row(r)
            for r in query.events(
                con, entity=f"T:{code}", exclude=BOOKKEEPING, limit=200, newest_first=True
            )
        ]
        dependents = [r["code"] for r in query.dependents(con, code)]
        ready = query.readiness(
            fields.get("status"), deps, query.tasks_by_code(con, deps), valid=parsed.valid
        )
        profiles = [a["name"] for a in query.agents(con)["agents"] if a["profile"]]
    history = [v.to_dict() for v in reversed(entity_versions(repo, f"T:{code}"))]
    metadata = fields.get("metadata") or {}
    return {
        "page": "task",
        "code": code,
        "key": f"T:{code}",
        "sprint": path.split("/")[2],
        "path": path,
        "hash": parsed.hash,
        "synced": indexed is not None and indexed["hash"] == parsed.hash,
        "valid": parsed.valid,
        "diagnostics": [str(d) for d in parsed.diagnostics],
        "title": fields.get("title") or code,
        "status": fields.get("status"),
        "priority": fields.get("priority"),
        "agent": fields.get("agent"),
        "labels": labels(metadata.get("labels")),
        "dependencies": ready["dependencies"],
        "waiting_on": ready["waiting_on"],
        "ready": ready["ready"],
        "dependents": dependents,
        "metadata": {k: v for k, v in metadata.items() if k != "labels"},
        "context": fields.get("context") or [],
        "body": fields.get("body") or "",
        "body_html": markdown_html(fields.get("body") or "", skip_checklists=True),
        "checklists": checklists,
        "agent_yml": None
        if agent_raw is None
        else {"path": agent_path, "text": agent_raw.decode("utf-8", errors="replace")},
        "history": history,
        "events": events,
        "statuses": list(TASK_STATUSES),
        "priorities": list(PRIORITIES),
        "profiles": profiles,
    }


def task_version(repo: Repo, code: str, rev: str) -> dict[str, Any]:
    """One version of a task from git, and the diff from the version before it."""
    import difflib

    from orchsync.pm.timeline import entity_versions, show

    code, _path = resolve_task(repo, code)
    rev = commit_id(rev)
    versions = entity_versions(repo, f"T:{code}")
    index = next((i for i, v in enumerate(versions) if v.commit.startswith(rev)), None)
    if index is None:
        raise UnknownEntity(f"{rev} is not a version of task {code}")
    version = versions[index]
    this = show(repo, f"T:{code}", at=version.commit)
    try:  # what this commit changed: the version at its parent (ordering by time can tie)
        before = show(repo, f"T:{code}", at=f"{version.commit}^")
    except OrchsyncError:
        before = None
    old_text = before["text"] if before else ""
    diff = list(
        difflib.unified_diff(
            old_text.splitlines(),
            this["text"].splitlines(),
            fromfile=before["path"] if before else "/dev/null",
            tofile=this["path"],
            lineterm="",
        )
    )
    return {
        "page": "version",
        "code": code,
        "key": f"T:{code}",
        "version": version.to_dict(),
        "previous": before["commit"] if before else None,
        "path": this["path"],
        "hash": this["hash"],
        "text": this["text"],
        "diff": [{"kind": _diff_kind(line), "text": line} for line in diff],
    }


def _diff_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "ctx")
