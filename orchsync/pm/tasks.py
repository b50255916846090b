"""Tasks: create one from a template, change its status, move it to another sprint."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from orchsync.errors import StaleWrite, UnknownEntity, UsageError
from orchsync.model import PRIORITIES, TASK_STATUSES, content_hash
from orchsync.parse import parse_file
from orchsync.parse.fsread import is_beyond_link
from orchsync.parse.layout import (
    DELEGATION,
    classify,
    task_dir,
)
from orchsync.parse.resolve import task_target
from orchsync.pm.common import (
    PmResult,
    base_variables,
    check_variables,
    clean_title,
    default_actor,
    numbering_lock,
    render_checked,
    require_sprint,
    sync_written,
    today,
    unique_code,
    valid_choice,
    valid_code,
    write_new,
    writing,
)
from orchsync.pm.frontmatter_edit import append_note, get_field, set_field
from orchsync.pm.templates import find_template
from orchsync.pm.writes import ConcurrentEdit, LinkRefused, read_for_edit, replace_if_unchanged
from orchsync.repo import Repo

__all__ = ["create_task", "task_target", "update_task_status", "move_task"]


def create_task(
    repo: Repo,
    sprint: str,
    id: str | None,
    template: str = "default",
    title: str | None = None,
    priority: str = "P2",
    depends_on: Sequence[str] = (),
    agent: str | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """TASK.md (and AGENT.yml, when the template has one) in `delegation/sprints/<sprint>/<id>/`.

    Without an `id` the code is made from the title (`Cache eviction` -> `cache-eviction`,
    `cache-eviction-2` when taken), under the numbering lock so two callers never pick the same.
    """
    from orchsync.parse.resolve import task_codes

    sprint = require_sprint(repo, sprint)
    code = valid_code(id, "task id") if id is not None else None
    if code is None and not (title or "").strip():
        raise UsageError("give the task an --id, or a --title to make one from")
    priority = valid_choice(priority, PRIORITIES, "priority")
    values = check_variables(variables)
    deps = list(dict.fromkeys(d.removeprefix("T:").strip() for d in depends_on))
    warnings: list[str] = []
    if agent is not None:
        agent = valid_code(agent, "agent")
        if not any(
            (repo.root / DELEGATION / "agents" / f"{agent}{ext}").is_file()
            for ext in (".yml", ".yaml")
        ):
            warnings.append(
                f"agent {agent!r} has no profile in {DELEGATION}/agents/; the task is created "
                f"anyway (make one with `orchsync agent create {agent}`)"
            )
    tmpl = find_template(repo, "task", template)
    actor = actor or default_actor(repo)
    with numbering_lock(repo):
        codes = task_codes(repo.root)
        if code is None:
            in_sprint = [e.name for e in os.scandir(repo.root / task_dir(sprint, ""))]
            code = unique_code(title or "", [*codes, *in_sprint], "task id")
        folder = task_dir(sprint, code)
        values |= base_variables(actor, session) | {
            "id": code,
            "code": code,
            "sprint": sprint,
            "title": clean_title(title, code),
            "priority": priority,
            "agent": agent,
            "depends_on": deps,
            "status": "pending",
        }
        if code in codes:
            raise UsageError(
                f"task code {code!r} is already used by {codes[code][0]}; task codes are unique across sprints"
            )
        if (repo.root / folder).exists():
            raise UsageError(f"{folder} already exists; pick another --id")
        if code in deps:
            raise UsageError(f"task {code!r} cannot depend on itself")
        unknown = [d for d in deps if d not in codes]
        if unknown:
            raise UnknownEntity(
                f"--depends-on: unknown task {', '.join(repr(u) for u in unknown)}; create it first"
            )
        targets = {name: f"{folder}/{name}" for name in tmpl.files}
        files = render_checked(tmpl, values, targets)
        with writing(repo, files) as claim:
            write_new(repo, files)
            result = PmResult(
                "task.create",
                f"T:{code}",
                f"created task {code} in sprint {sprint} from template {tmpl.ref}",
                paths=list(files),
                warnings=warnings,
                details={"sprint": sprint, "template": tmpl.ref},
            )
            return sync_written(
                repo,
                result,
                result.paths,
                actor=actor,
                session=session,
                subject=f"task {code}: created in sprint {sprint} from template {tmpl.ref}",
                claim=claim,
            )


def update_task_status(
    repo: Repo,
    task: str,
    status: str,
    note: str | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
    expected_hash: str | None = None,
) -> PmResult:
    """Change only the `status` line of TASK.md (and append a dated note if given).

    `expected_hash`: the sha256 of the bytes the caller showed; if the file changed since,
    `StaleWrite` is raised and nothing is written (the board's drag and drop passes it).
    """
    status = valid_choice(status, TASK_STATUSES, "status")
    if note is not None and not note.strip():
        raise UsageError("--note must not be empty")
    code, path = task_target(repo, task)
    full = repo.root / path
    raw = read_for_edit(repo.root, path)
    expected = content_hash(raw)
    if expected_hash is not None and expected_hash.lower().removeprefix("sha256:") != expected:
        raise StaleWrite(path, expected_hash, expected)
    current = parse_file(path, raw)
    old = current.entity.status if current.entity is not None else None
    if old == status and get_field(raw, "status", path=path) is not None:
        return PmResult(
            "task.status",
            f"T:{code}",
            f"task {code} is already {status}; nothing written",
            details={"from": old, "to": status},
        )
    actor = actor or default_actor(repo)
    new = set_field(raw, "status", status, path=path)
    if note is not None:
        who = f" ({actor})" if actor else ""
        new = append_note(new, f"{today()} {old} -> {status}{who}: {note}", path=path)
    after = parse_file(path, new)
    if after.entity is None or after.entity.status != status:  # pragma: no cover - a guard
        raise UsageError(f"{path}: could not set status safely; nothing written")
    with writing(repo, [path]) as claim:
        try:
            replace_if_unchanged(full, expected, new, root=repo.root)
        except ConcurrentEdit:
            if expected_hash is None:
                raise
            now = content_hash(full.read_bytes()) if full.exists() else None
            raise StaleWrite(path, expected_hash, now) from None
        result = PmResult(
            "task.status",
            f"T:{code}",
            f"task {code}: {old} -> {status}",
            paths=[path],
            details={"from": old, "to": status, "note": note},
        )
        return sync_written(repo, result, [path], actor=actor, session=session, claim=claim)


def move_task(
    repo: Repo, task: str, to_sprint: str, *, actor: str | None = None, session: str | None = None
) -> PmResult:
    """Move a task's folder to another sprint: one commit, one `task.moved` event."""
    code, path = task_target(repo, task)
    to_sprint = require_sprint(repo, to_sprint)
    loc = classify(path)
    src, dst = task_dir(loc.sprint or "", code), task_dir(to_sprint, code)
    if loc.sprint == to_sprint:
        return PmResult(
            "task.move",
            f"T:{code}",
            f"task {code} is already in sprint {to_sprint}; nothing written",
            details={"from_sprint": loc.sprint, "to_sprint": to_sprint},
        )
    actor = actor or default_actor(repo)
    with numbering_lock(repo):
        if (repo.root / dst).exists():
            raise UsageError(f"{dst} already exists; nothing moved")
        raw = read_for_edit(repo.root, path)
        linked = is_beyond_link(repo.root, f"{dst}/TASK.md")
        if linked is not None:
            raise LinkRefused(f"{linked} is a symbolic link; orchsync does not move into links")
        retarget = None
        if get_field(raw, "sprint", path=path) is not None:  # keep a declared sprint in step
            retarget = set_field(raw, "sprint", to_sprint, path=path)
        with writing(repo, [src, dst]) as claim:
            os.rename(repo.root / src, repo.root / dst)
            if retarget is not None:
                replace_if_unchanged(
                    repo.root / dst / "TASK.md", content_hash(raw), retarget, root=repo.root
                )
            from orchsync.parse.worktree import list_files

            result = PmResult(
                "task.move",
                f"T:{code}",
                f"moved task {code}: {loc.sprint} -> {to_sprint}",
                paths=list_files(repo.root, dst),
                details={
                    "from_sprint": loc.sprint,
                    "to_sprint": to_sprint,
                    "from_path": src,
                    "to_path": dst,
                },
            )
            return sync_written(
                repo,
                result,
                [src, dst],
                actor=actor,
                session=session,
                subject=f"task {code}: moved from sprint {loc.sprint} to {to_sprint}",
                claim=claim,
            )
