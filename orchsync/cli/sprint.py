"""`orchsync sprint create`: a sprint folder from a template."""

from __future__ import annotations

import click

from orchsync.cli.common import repo_option
from orchsync.cli.index import sprints
from orchsync.cli.pm import report, set_option, write_options
from orchsync.repo import Repo

__all__ = ["sprint"]


@click.group()
def sprint() -> None:
    """Create and list sprints."""


sprint.add_command(sprints, name="list")  # `orchsync sprint list` is `orchsync sprints`


@sprint.command("create")
@click.option(
    "--id", "code", required=True, help="Sprint code: the folder name under delegation/sprints/."
)
@click.option(
    "--template",
    default="default",
    show_default=True,
    help="Sprint template (`orchsync templates list`).",
)
@click.option("--title", help="Title (default: from the id).")
@click.option("--owner", help="Owner (default: the actor).")
@click.option("--start", metavar="DATE", help="Start date, YYYY-MM-DD (default: today).")
@click.option("--end", metavar="DATE", help="End date, YYYY-MM-DD.")
@set_option
@write_options
@repo_option
def create(
    repo: Repo,
    code: str,
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
