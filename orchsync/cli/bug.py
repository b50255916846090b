"""`orchsync bug report | list`."""

from __future__ import annotations

import sys

import click

from orchsync.cli.common import output_options, render_rows, repo_option
from orchsync.cli.pm import report, set_option, write_options
from orchsync.repo import Repo

__all__ = ["bug"]


@click.group()
def bug() -> None:
    """Bug reports in delegation/backlog/."""


@bug.command("report")
@click.option("--title", required=True, help="One-line summary.")
@click.option("--priority", required=True, help="P0, P1, P2 or P3.")
@click.option("--sprint", help="Sprint the bug belongs to.")
@click.option("--body", help="Description (Markdown); '-' reads it from stdin.")
@click.option(
    "--template",
    default="default",
    show_default=True,
    help="Bug template (`orchsync templates list`).",
)
@set_option
@write_options
@repo_option
def report_cmd(
    repo: Repo,
    title: str,
    priority: str,
    sprint: str | None,
    body: str | None,
    template: str,
    assignments: tuple[str, ...],
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Report a bug (status open) and commit it.

    Writes delegation/backlog/BUG-NNNN-slug.md with the next free number.
    """
    from orchsync import pm

    if body == "-":
        body = sys.stdin.read()
    result = pm.report_bug(
        repo,
        title,
        priority,
        sprint=sprint,
        body=body,
        template=template,
        variables=pm.parse_assignments(assignments),
        actor=actor,
        session=session,
    )
    report(result, as_json)


@bug.command("list")
@output_options
@repo_option
def list_(repo: Repo, fmt: str) -> None:
    """List bugs by number."""
    from orchsync import pm

    render_rows(pm.list_bugs(repo), fmt, ["id", "priority", "status", "sprint", "title", "path"])
