"""`orchsync bug report | list | status | close`."""

from __future__ import annotations

import sys
from typing import Any

import click

from orchsync.faces.cli.common import output_options, render_rows, repo_option
from orchsync.faces.cli.pm import report, set_option, write_options
from orchsync.model import BUG_STATUSES
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

    render_rows(
        pm.list_bugs(repo),
        fmt,
        ["id", "priority", "status", "sprint", "title", "path"],
        mark_invalid=True,
    )


_BUG = click.argument("bug_key", metavar="BUG")
_NOTE = click.option("--note", help="Append a dated line to the bug's ## Notes section.")
_EXPECT = click.option(
    "--expect-hash", metavar="SHA256", help="Refuse if the file no longer has this content hash."
)


@bug.command("status")
@_BUG
@click.argument("status", metavar="STATUS", type=click.Choice(BUG_STATUSES))
@_NOTE
@_EXPECT
@write_options
@repo_option
def status(
    repo: Repo, bug_key: str, status: str, note: str | None, expect_hash: str | None, **who: Any
) -> None:
    """Set a bug's STATUS (BUG is BUG:1, BUG-0001 or 1); only the status line changes."""
    _set(repo, bug_key, status, note, expect_hash, **who)


@bug.command("close")
@_BUG
@_NOTE
@_EXPECT
@write_options
@repo_option
def close(repo: Repo, bug_key: str, note: str | None, expect_hash: str | None, **who: Any) -> None:
    """Close a bug (status closed), with an optional dated note."""
    _set(repo, bug_key, "closed", note, expect_hash, **who)


def _set(
    repo: Repo,
    key: str,
    status: str,
    note: str | None,
    expect_hash: str | None,
    *,
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    from orchsync import pm

    result = pm.set_bug_status(
        repo, key, status, note, expected_hash=expect_hash, actor=actor, session=session
    )
    report(result, as_json)
