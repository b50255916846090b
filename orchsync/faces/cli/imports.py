"""`orchsync import backlog | github-issues`: bring existing work in, in one commit."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchsync.errors import ExitCode
from orchsync.faces.cli.common import emit_json, repo_option
from orchsync.faces.cli.pm import write_options
from orchsync.repo import Repo

if TYPE_CHECKING:
    from orchsync.pm.importers.plan import ImportResult

__all__ = ["import_group"]

F = TypeVar("F", bound=Callable[..., Any])


@click.group("import")
def import_group() -> None:
    """Import a Backlog.md project or GitHub issues as sprints, tasks and ADRs.

    One snapshot commit for the whole import. Run it again after the source changed: only
    what changed there is written, and files edited in orchsync since are kept.
    """


def import_options(fn: F) -> F:
    @click.option(
        "--sprint-from",
        default="milestone",
        show_default=True,
        metavar="milestone|single:<code>",
        help="One sprint per milestone, or every task in sprint <code>.",
    )
    @click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
    @click.option(
        "--overwrite",
        is_flag=True,
        help="Take the source's version even of files edited in orchsync since.",
    )
    @write_options
    @repo_option
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@import_group.command("backlog")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@import_options
def backlog(repo: Repo, path: Path, sprint_from: str, **options: Any) -> None:
    """Import a Backlog.md project (its folder, or the backlog/ folder in it)."""
    from orchsync.pm.importers.backlog import read_backlog, sprint_mode

    source = read_backlog(path, single=sprint_mode(sprint_from))
    _run(repo, source, **options)


@import_group.command("github-issues")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@import_options
def github_issues(repo: Repo, file: Path, sprint_from: str, **options: Any) -> None:
    """Import GitHub issues exported by `gh issue list --state all --json ...`."""
    from orchsync.pm.importers.backlog import sprint_mode
    from orchsync.pm.importers.github import read_github_issues

    source = read_github_issues(file, single=sprint_mode(sprint_from))
    _run(repo, source, **options)


def _run(
    repo: Repo,
    source: Any,
    *,
    dry_run: bool,
    overwrite: bool,
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    from orchsync.pm.importers.apply import run_import

    result = run_import(
        repo, source, dry_run=dry_run, overwrite=overwrite, actor=actor, session=session
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        _print(result)
    if result.blocked:
        click.echo(f"written, not committed: {result.blocked}", err=True)
    if result.skipped or result.blocked:
        raise SystemExit(int(ExitCode.FINDINGS))


def _print(result: ImportResult) -> None:
    counts = result.counts()
    total = sum(sum(c.values()) for c in counts.values())
    click.echo(f"{result.system} {result.project} ({result.location}): {total} items")
    for kind, by_status in counts.items():
        detail = ", ".join(f"{s} {n}" for s, n in by_status.items() if s != "-")
        click.echo(f"  {kind:<7}{sum(by_status.values()):>5}  {detail}".rstrip())
    actions = result.actions()
    click.echo(", ".join(f"{a} {n}" for a, n in sorted(actions.items())) or "nothing to import")
    for finding in result.findings:
        click.echo(str(finding))
    if result.dry_run:
        click.echo("dry run: nothing written")
    elif result.commit:
        click.echo(f"committed {result.commit[:12]}: {result.subject}")
    elif not result.blocked:
        click.echo("nothing changed in the source since the last import: nothing written")
