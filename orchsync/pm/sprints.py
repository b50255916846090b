"""Sprints: `create_sprint` writes SPRINT.md from a template and its `.hash` tracking id."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from orchsync.errors import UsageError
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
    preflight,
    render_checked,
    sync_written,
    today,
    valid_code,
    valid_date,
    write_new,
)
from orchsync.pm.templates import find_template
from orchsync.pm.writes import atomic_write
from orchsync.repo import Repo

__all__ = ["create_sprint"]


def create_sprint(
    repo: Repo,
    id: str,
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
    """`delegation/sprints/<id>/SPRINT.md` from a template, plus its `.hash` tracking id."""
    code = valid_code(id, "sprint id")
    values = check_variables(variables)
    start_s, end_s = valid_date(start, "--start") or today(), valid_date(end, "--end")
    if end_s is not None and end_s < start_s:
        given = "" if start else " (the default: today)"
        raise UsageError(f"--end {end_s} is before --start {start_s}{given}")
    tmpl = find_template(repo, "sprint", template)
    actor = actor or default_actor(repo)
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
    with numbering_lock(repo):
        if (repo.root / path).exists():
            raise UsageError(f"sprint {code!r} already exists ({path}); pick another --id")
        files = render_checked(tmpl, values, {"SPRINT.md": path})
        preflight(repo)
        write_new(repo, files)
        hash_path = f"{DELEGATION}/sprints/{code}/.hash"
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
