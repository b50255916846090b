"""Bug reports into the backlog: `BUG-<nnnn>-<slug>.md`, auto-numbered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchsync.errors import UsageError
from orchsync.model import PRIORITIES, Kind
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
    valid_choice,
)
from orchsync.pm.numbered import create_numbered, list_numbered, numbers
from orchsync.pm.templates import find_template
from orchsync.repo import Repo

__all__ = ["report_bug", "list_bugs"]


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
