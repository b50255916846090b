"""`orchsync task create | status | move`."""

from __future__ import annotations

import click

from orchsync.cli.common import repo_option
from orchsync.cli.pm import report, set_option, write_options
from orchsync.errors import UsageError
from orchsync.repo import Repo

__all__ = ["task"]


@click.group()
def task() -> None:
    """Create tasks, change their status, move them between sprints."""


@task.command("create")
@click.option("--sprint", required=True, help="Sprint the task belongs to.")
@click.option(
    "--id", "code", required=True, help="Task code, unique across sprints (the folder name)."
)
@click.option(
    "--template",
    default="default",
    show_default=True,
    help="Task template (`orchsync templates list`).",
)
@click.option("--title", help="Title (default: from the id).")
@click.option("--priority", default="P2", show_default=True, help="P0, P1, P2 or P3.")
@click.option(
    "--depends-on",
    "depends_on",
    multiple=True,
    metavar="TASK",
    help="A task this one waits for (repeatable).",
)
@click.option("--agent", help="Agent profile the task is assigned to.")
@set_option
@write_options
@repo_option
def create(
    repo: Repo,
    sprint: str,
    code: str,
    template: str,
    title: str | None,
    priority: str,
    depends_on: tuple[str, ...],
    agent: str | None,
    assignments: tuple[str, ...],
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Create a task (TASK.md + AGENT.yml) and commit it.

    Files go to delegation/sprints/SPRINT/ID/; the task code must be unique across sprints.
    """
    from orchsync import pm

    result = pm.create_task(
        repo,
        sprint,
        code,
        template,
        title=title,
        priority=priority,
        depends_on=list(depends_on),
        agent=agent,
        variables=pm.parse_assignments(assignments),
        actor=actor,
        session=session,
    )
    report(result, as_json)


@task.command("status")
@click.argument("task_arg", metavar="TASK", required=False)
@click.argument("status_arg", metavar="STATUS", required=False)
@click.option("--task", "task_opt", metavar="TASK", help="Same as the TASK argument.")
@click.option("--status", "status_opt", metavar="STATUS", help="Same as the STATUS argument.")
@click.option("--note", help="Append a dated line to the task's ## Notes section.")
@write_options
@repo_option
def status(
    repo: Repo,
    task_arg: str | None,
    status_arg: str | None,
    task_opt: str | None,
    status_opt: str | None,
    note: str | None,
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Set a task's STATUS (pending, in_progress, completed, blocked).

    TASK is `T:code`, a code or an unambiguous prefix of one. Only the `status:` line of
    TASK.md changes; comments, key order and the body stay byte for byte.
    """
    from orchsync import pm

    which = _one(task_arg, task_opt, "TASK")
    new = _one(status_arg, status_opt, "STATUS")
    report(pm.update_task_status(repo, which, new, note, actor=actor, session=session), as_json)


def _one(argument: str | None, option: str | None, name: str) -> str:
    if argument and option and argument != option:
        raise UsageError(
            f"{name} given twice ({argument!r} and --{name.lower()} {option!r}); give it once"
        )
    value = argument or option
    if not value:
        raise UsageError(
            f"missing {name}: `orchsync task status TASK STATUS` or --{name.lower()}=..."
        )
    return value


@task.command("move")
@click.argument("task_code", metavar="TASK")
@click.option("--to-sprint", required=True, help="Sprint to move the task into.")
@write_options
@repo_option
def move(
    repo: Repo,
    task_code: str,
    to_sprint: str,
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Move a task to another sprint (one commit, one task.moved event)."""
    from orchsync import pm

    report(pm.move_task(repo, task_code, to_sprint, actor=actor, session=session), as_json)
