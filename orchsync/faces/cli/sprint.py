"""`orchsync sprint create | status | start | complete | list`."""

from __future__ import annotations

from typing import Any

import click

from orchsync.faces.cli.common import complete_sprint, repo_option
from orchsync.faces.cli.index import sprints
from orchsync.faces.cli.pm import report, set_option, write_options
from orchsync.model import SPRINT_STATUSES
from orchsync.repo import Repo

__all__ = ["sprint"]

_SPRINT = click.argument("sprint_code", metavar="SPRINT", shell_complete=complete_sprint)
_FORCE = click.option(
    "--force", is_flag=True, help="Complete the sprint even if some of its tasks are not completed."
)
_EXPECT = click.option(
    "--expect-hash", metavar="SHA256", help="Refuse if SPRINT.md no longer has this content hash."
)


@click.group()
def sprint() -> None:
    """Create and list sprints, start and complete them."""


sprint.add_command(sprints, name="list")  # `orchsync sprint list` is `orchsync sprints`


@sprint.command("create")
@click.option(
    "--id",
    "code",
    help="Sprint code: the folder name under delegation/sprints/; default: made from --title.",
)
@click.option(
    "--template",
    default="default",
    show_default=True,
    help="Sprint template (`orchsync templates list`).",
)
@click.option("--title", help="Title (default: made from the id).")
@click.option("--owner", help="Owner (default: the actor).")
@click.option("--start", metavar="DATE", help="Start date, YYYY-MM-DD (default: today).")
@click.option("--end", metavar="DATE", help="End date, YYYY-MM-DD.")
@set_option
@write_options
@repo_option
def create(
    repo: Repo,
    code: str | None,
    template: str,
    title: str | None,
    owner: str | None,
    start: str | None,
    end: str | None,
    assignments: tuple[str, ...],
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Create a sprint from a template and commit it.

    Writes delegation/sprints/ID/SPRINT.md and ID/.hash (the sprint's tracking id, written once).
    """
    from orchsync import pm

    result = pm.create_sprint(
        repo,
        code,
        template,
        title=title,
        owner=owner,
        start=start,
        end=end,
        variables=pm.parse_assignments(assignments),
        actor=actor,
        session=session,
    )
    report(result, as_json)


@sprint.command("status")
@_SPRINT
@click.argument("status", metavar="STATUS", type=click.Choice(SPRINT_STATUSES))
@_FORCE
@_EXPECT
@write_options
@repo_option
def status(
    repo: Repo, sprint_code: str, status: str, force: bool, expect_hash: str | None, **who: Any
) -> None:
    """Set a sprint's STATUS: planning, active or completed.

    Only the status line changes (plus start_date/end_date when the sprint has none).
    Completing a sprint with unfinished tasks is refused unless --force.
    """
    _set(repo, sprint_code, status, force, expect_hash, **who)


@sprint.command("start")
@_SPRINT
@_EXPECT
@write_options
@repo_option
def start(repo: Repo, sprint_code: str, expect_hash: str | None, **who: Any) -> None:
    """Start a sprint: status active (and start_date today if it has none)."""
    _set(repo, sprint_code, "active", False, expect_hash, **who)


@sprint.command("complete")
@_SPRINT
@_FORCE
@_EXPECT
@write_options
@repo_option
def complete(
    repo: Repo, sprint_code: str, force: bool, expect_hash: str | None, **who: Any
) -> None:
    """Complete a sprint: status completed (and end_date today if it has none).

    Refused while any of its tasks is not completed (they are listed); --force completes
    it anyway and warns about each one.
    """
    _set(repo, sprint_code, "completed", force, expect_hash, **who)


def _set(
    repo: Repo,
    code: str,
    status: str,
    force: bool,
    expect_hash: str | None,
    *,
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    from orchsync import pm

    result = pm.set_sprint_status(
        repo, code, status, force=force, expected_hash=expect_hash, actor=actor, session=session
    )
    report(result, as_json)
