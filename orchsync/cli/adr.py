"""`orchsync adr create | list`."""

from __future__ import annotations

import click

from orchsync.cli.common import output_options, render_rows, repo_option
from orchsync.cli.pm import report, set_option, write_options
from orchsync.repo import Repo

__all__ = ["adr"]


@click.group()
def adr() -> None:
    """Architecture decision records in delegation/adr/."""


@adr.command("create")
@click.option("--title", required=True, help='Title; "ADR-006: Title" asks for number 6.')
@click.option(
    "--template",
    default="default",
    show_default=True,
    help="ADR template (`orchsync templates list`).",
)
@set_option
@write_options
@repo_option
def create(
    repo: Repo,
    title: str,
    template: str,
    assignments: tuple[str, ...],
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Create the next ADR (status proposed) and commit it."""
    from orchsync import pm

    result = pm.create_adr(
        repo,
        title,
        template,
        variables=pm.parse_assignments(assignments),
        actor=actor,
        session=session,
    )
    report(result, as_json)


@adr.command("list")
@output_options
@repo_option
def list_(repo: Repo, fmt: str) -> None:
    """List ADRs by number."""
    from orchsync import pm

    render_rows(pm.list_adrs(repo), fmt, ["id", "status", "date", "title", "path"])
