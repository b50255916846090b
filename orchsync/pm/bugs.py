"""Bug reports into the backlog: `BUG-<nnnn>-<slug>.md`, auto-numbered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchsync.errors import UsageError
from orchsync.model import BUG_STATUSES, PRIORITIES, Kind
from orchsync.parse.layout import (
    bug_path,
    slugify,
)
from orchsync.pm.common import (
    PmResult,
    base_variables,
    check_variables,
    default_actor,
    numbering_lock,
    require_sprint,
    sync_written,
    today,
    valid_choice,
    writing,
)
from orchsync.pm.numbered import create_numbered, list_numbered, numbered_target, numbers
from orchsync.pm.templates import find_template
from orchsync.repo import Repo

__all__ = ["report_bug", "list_bugs", "set_bug_status"]


def report_bug(
    repo: Repo,
    title: str,
    priority: str,
    sprint: str | None = None,
    body: str | None = None,
    template: str = "default",
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """`delegation/backlog/BUG-<nnnn>-<slug>.md`, status open: derives `bug.reported`."""
    text = " ".join((title or "").split())
    if not text:
        raise UsageError("--title must not be empty")
    priority = valid_choice(priority, PRIORITIES, "priority")
    if sprint is not None:
        sprint = require_sprint(repo, sprint)
    values = check_variables(variables)
    tmpl = find_template(repo, "bug", template)
    actor = actor or default_actor(repo)
    with numbering_lock(repo):
        number = max(numbers(repo, Kind.BUG), default=0) + 1
        path = bug_path(number, slugify(text))
        values |= base_variables(actor, session) | {
            "number": number,
            "code": f"{number:04d}",
            "id": f"BUG-{number:04d}",
            "title": text,
            "priority": priority,
            "sprint": sprint,
            "body": (body or "").strip() or None,
            "status": "open",
        }
        result = PmResult(
            "bug.report",
            f"BUG:{number:04d}",
            f"reported BUG-{number:04d}: {text}",
            paths=[path],
            details={"number": number, "template": tmpl.ref},
        )
        return create_numbered(repo, tmpl, values, "BUG.md", result, actor=actor, session=session)


def list_bugs(repo: Repo) -> list[dict[str, Any]]:
    """Bugs read from the tree, by number: id, title, status, priority, sprint, reported_by, path."""
    return list_numbered(repo, Kind.BUG, "BUG-{:04d}", ("priority", "sprint", "reported_by"))


def set_bug_status(
    repo: Repo,
    bug: str,
    status: str,
    note: str | None = None,
    *,
    expected_hash: str | None = None,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """Set a bug's status (open, triaged, in_progress, fixed, closed, wontfix); only the
    `status:` line changes, plus a dated line under `## Notes` when `note` is given.

    `bug close` is this with `closed`. Derives `bug.status_updated` from the one sync.
    """
    from orchsync.pm.fieldedit import edit_fields, read_current, write_edits

    status = valid_choice(status, BUG_STATUSES, "bug status")
    if note is not None and not note.strip():
        raise UsageError("--note must not be empty")
    number, path = numbered_target(repo, bug, Kind.BUG)
    label = f"BUG-{number:04d}"
    raw = read_current(repo, path, expected_hash)
    actor = actor or default_actor(repo)
    old = _status_of(path, raw)
    if old == status and note is None:
        return PmResult(
            "bug.status",
            f"BUG:{number:04d}",
            f"{label} is already {status}; nothing written",
            details={"from": old, "to": status},
        )
    who = f" ({actor})" if actor else ""
    line = f"{today()} {old} -> {status}{who}: {note}" if note is not None else None
    edit = edit_fields(path, raw, {"status": status}, note=line)
    with writing(repo, [path]) as claim:
        write_edits(repo, [edit])
        result = PmResult(
            "bug.status",
            f"BUG:{number:04d}",
            f"{label}: {old} -> {status}",
            paths=[path],
            details={"from": old, "to": status, "note": note, "hash": edit.after.hash},
        )
        return sync_written(repo, result, [path], actor=actor, session=session, claim=claim)


def _status_of(path: str, raw: bytes) -> str | None:
    from orchsync.parse import parse_file

    parsed = parse_file(path, raw)
    return parsed.entity.status if parsed.entity is not None else None
