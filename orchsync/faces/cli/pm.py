"""What the PM write commands share: `--actor`, `--session`, `--json` and one way to report."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchsync.errors import ExitCode
from orchsync.faces.cli.common import emit_json

if TYPE_CHECKING:
    from orchsync.pm import PmResult

__all__ = ["report", "set_option", "write_options"]

F = TypeVar("F", bound=Callable[..., Any])


def write_options(fn: F) -> F:
    """`--actor` (default $ORCHSYNC_ACTOR, else git's user.name), `--session`, `--json`."""

    @click.option(
        "--actor", envvar="ORCHSYNC_ACTOR", help="Who makes the change (Orchsync-Agent trailer)."
    )
    @click.option(
        "--session", envvar="ORCHSYNC_SESSION", help="Session key (Orchsync-Session trailer)."
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def set_option(fn: F) -> F:
    """`--set NAME=VALUE` (repeatable): extra variables for the template."""
    return click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="NAME=VALUE",
        help="A template variable (repeatable).",
    )(fn)


def report(result: PmResult, as_json: bool) -> None:
    """Print what was written and the commit (or the JSON result); exit 1 if git was busy."""
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.message)
        for path in result.paths:
            click.echo(f"wrote {path}")
        if result.commit:
            click.echo(f"committed {result.commit[:12]}: {result.subject}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.blocked:
        click.echo(f"written, not committed: {result.blocked}", err=True)
        raise SystemExit(int(ExitCode.FINDINGS))
