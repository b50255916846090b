"""Sprints: `create_sprint` writes SPRINT.md from a template and its `.hash` tracking id."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from orchsync.errors import UsageError
from orchsync.model import SPRINT_STATUSES
from orchsync.parse.layout import (
    DELEGATION,
    sprint_path,
)
from orchsync.pm.common import (
    PmResult,
    base_variables,
    check_variables,
    clean_title,
    default_actor,
    now,
    numbering_lock,
    render_checked,
    require_sprint,
    sync_written,
    today,
    unique_code,
    valid_choice,
    valid_code,
    valid_date,
    write_new,
    writing,
)
from orchsync.pm.templates import find_template
from orchsync.pm.writes import atomic_write
from orchsync.repo import Repo

__all__ = ["create_sprint", "set_sprint_status", "unfinished_tasks"]


def create_sprint(
    repo: Repo,
    id: str | None,
    template: str = "default",
    title: str | None = None,
    owner: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """`delegation/sprints/<id>/SPRINT.md` from a template, plus its `.hash` tracking id.

    Without an `id` the code is made from the title, unique among the sprints (`-2`...).
    """
    code = valid_code(id, "sprint id") if id is not None else None
    if code is None and not (title or "").strip():
        raise UsageError("give the sprint an --id, or a --title to make one from")
    values = check_variables(variables)
    start_s, end_s = valid_date(start, "--start") or today(), valid_date(end, "--end")
    if end_s is not None and end_s < start_s:
        given = "" if start else " (the default: today)"
        raise UsageError(f"--end {end_s} is before --start {start_s}{given}")
    tmpl = find_template(repo, "sprint", template)
    actor = actor or default_actor(repo)
    with numbering_lock(repo):
        if code is None:
            code = unique_code(title or "", _sprint_folders(repo), "sprint id")
        path = sprint_path(code)
        values |= base_variables(actor, session) | {
            "id": code,
            "code": code,
            "sprint": code,
            "title": clean_title(title, code),
            "owner": owner or actor,
            "start": start_s,
            "end": end_s,
        }
        if (repo.root / path).exists():
            raise UsageError(f"sprint {code!r} already exists ({path}); pick another --id")
        files = render_checked(tmpl, values, {"SPRINT.md": path})
        hash_path = f"{DELEGATION}/sprints/{code}/.hash"
        with writing(repo, [path, hash_path]) as claim:
            write_new(repo, files)
            tracking = _tracking_id(repo, hash_path, f"S:{code}", files[path])
            result = PmResult(
                "sprint.create",
                f"S:{code}",
                f"created sprint {code} from template {tmpl.ref}",
                paths=[path, hash_path],
                details={"tracking_id": tracking, "template": tmpl.ref},
            )
            return sync_written(
                repo,
                result,
                result.paths,
                actor=actor,
                session=session,
                subject=f"sprint {code}: created from template {tmpl.ref}",
                claim=claim,
            )


def _tracking_id(repo: Repo, rel: str, key: str, content: bytes) -> str:
    """sha256(entity id + timestamp + initial content), written once to `.hash` and never again."""
    import hashlib

    from orchsync.parse.fsread import read_entry

    full = repo.root / rel
    kept = read_entry(repo.root, rel)
    if kept.kind == "file" and kept.data is not None:  # never a link's target
        text = kept.data.decode("utf-8", errors="replace").strip()
        if re.fullmatch(r"[0-9a-f]{64}", text):
            return text
    digest = hashlib.sha256(f"{key}\n{now()}\n".encode() + content).hexdigest()
    atomic_write(full, f"{digest}\n".encode(), exclusive=True, root=repo.root)
    return digest


def _sprint_folders(repo: Repo) -> list[str]:
    """Every name taken under delegation/sprints/ (a folder without SPRINT.md too)."""
    import os

    try:
        return [e.name for e in os.scandir(repo.root / DELEGATION / "sprints")]
    except FileNotFoundError:
        return []


def set_sprint_status(
    repo: Repo,
    sprint: str,
    status: str,
    *,
    force: bool = False,
    expected_hash: str | None = None,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """Set a sprint's status: planning, active (`sprint start`) or completed (`sprint complete`).

    Starting writes `start_date: <today>` when the sprint has none; completing writes
    `end_date: <today>` when it has none. Completing a sprint whose tasks are not all
    completed is refused (the error lists them) unless `force`: then it is done and the
    result warns about each unfinished task. Only those lines of SPRINT.md change.
    """
    from orchsync.pm.fieldedit import edit_fields, read_current, write_edits
    from orchsync.pm.frontmatter_edit import get_field

    status = valid_choice(status, SPRINT_STATUSES, "sprint status")
    code = require_sprint(repo, sprint.strip().removeprefix("S:").removeprefix("s:"))
    path = sprint_path(code)
    raw = read_current(repo, path, expected_hash)
    old = get_field(raw, "status", path=path)
    warnings: list[str] = []
    if status == "completed":
        open_tasks = unfinished_tasks(repo, code)
        if open_tasks and not force:
            shown = ", ".join(f"{c} ({s})" for c, s in open_tasks[:10])
            more = f" and {len(open_tasks) - 10} more" if len(open_tasks) > 10 else ""
            raise UsageError(
                f"sprint {code} has {_count(len(open_tasks), 'unfinished task')}: {shown}{more}; "
                "complete or move them first, or pass --force to complete the sprint anyway"
            )
        warnings += [f"task {c} is {s} in the completed sprint {code}" for c, s in open_tasks]
    values: dict[str, str | None] = {"status": status}
    if status == "active" and not get_field(raw, "start_date", path=path):
        values["start_date"] = today()
    if status == "completed" and not get_field(raw, "end_date", path=path):
        values["end_date"] = today()
    if old == status and len(values) == 1:
        return PmResult(
            "sprint.status",
            f"S:{code}",
            f"sprint {code} is already {status}; nothing written",
            warnings=warnings,
            details={"from": old, "to": status},
        )
    edit = edit_fields(path, raw, values, after={"start_date": "status", "end_date": "start_date"})
    with writing(repo, [path]) as claim:
        write_edits(repo, [edit])
        actor = actor or default_actor(repo)
        result = PmResult(
            "sprint.status",
            f"S:{code}",
            f"sprint {code}: {old} -> {status}",
            paths=[path],
            warnings=warnings,
            details={
                "from": old,
                "to": status,
                "unfinished": len(warnings),
                "hash": edit.after.hash,
                **{k: v for k, v in values.items() if k != "status"},
            },
        )
        return sync_written(repo, result, [path], actor=actor, session=session, claim=claim)


def unfinished_tasks(repo: Repo, sprint: str) -> list[tuple[str, str]]:
    """(code, status) of the sprint's tasks that are not completed, read from the files.

    A task whose file cannot be read counts as unfinished, with status "invalid".
    """
    import os

    from orchsync.parse.worktree import read_parsed

    base = repo.root / DELEGATION / "sprints" / sprint
    out = []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        rel = f"{DELEGATION}/sprints/{sprint}/{entry.name}/TASK.md"
        parsed = read_parsed(repo.root, rel)
        if parsed is None:
            continue
        e = parsed.entity
        state = e.status if e is not None and parsed.valid else "invalid"
        if state != "completed":
            out.append((entry.name, state or "pending"))
    return out


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
