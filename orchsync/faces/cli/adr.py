"""`orchsync adr create | list | status`."""

from __future__ import annotations

import click

from orchsync.faces.cli.common import output_options, render_rows, repo_option
from orchsync.faces.cli.pm import report, set_option, write_options
from orchsync.model import ADR_STATUSES
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

    render_rows(
        pm.list_adrs(repo), fmt, ["id", "status", "date", "title", "path"], mark_invalid=True
    )


@adr.command("status")
@click.argument("adr_key", metavar="ADR")
@click.argument("status", metavar="STATUS", type=click.Choice(ADR_STATUSES))
@click.option(
    "--superseded-by",
    metavar="ADR",
    help="The ADR that replaces this one (status superseded); both files are updated.",
)
@click.option(
    "--expect-hash", metavar="SHA256", help="Refuse if the file no longer has this content hash."
)
@write_options
@repo_option
def status(
    repo: Repo,
    adr_key: str,
    status: str,
    superseded_by: str | None,
    expect_hash: str | None,
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Set an ADR's STATUS (ADR is ADR:6, ADR-006 or 6); only the status line changes.

    `adr status 1 superseded --superseded-by 6` writes `superseded_by: ADR-006` into ADR-001
    and `supersedes: ADR-001` into ADR-006, in one commit.
    """
    from orchsync import pm

    result = pm.set_adr_status(
        repo,
        adr_key,
        status,
        superseded_by,
        expected_hash=expect_hash,
        actor=actor,
        session=session,
    )
    report(result, as_json)
