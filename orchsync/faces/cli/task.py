"""`orchsync task create | status | move | show | edit`."""

from __future__ import annotations

from typing import Any

import click

from orchsync.errors import UsageError
from orchsync.faces.cli.common import complete_sprint, complete_task, emit_json, repo_option
from orchsync.faces.cli.pm import report, set_option, write_options
from orchsync.model import PRIORITIES
from orchsync.repo import Repo

__all__ = ["task"]


@click.group()
def task() -> None:
    """Create, show and edit tasks, change their status, move them between sprints."""


@task.command("create")
@click.option(
    "--sprint", required=True, help="Sprint the task belongs to.", shell_complete=complete_sprint
)
@click.option(
    "--id",
    "code",
    help="Task code, unique across sprints (the folder name); default: made from --title.",
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
    code: str | None,
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
    Without --id the code is made from --title: "Cache eviction" -> cache-eviction
    (cache-eviction-2 when that is taken).
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
@click.argument("task_arg", metavar="TASK", required=False, shell_complete=complete_task)
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
@click.argument("task_code", metavar="TASK", shell_complete=complete_task)
@click.option(
    "--to-sprint",
    required=True,
    help="Sprint to move the task into.",
    shell_complete=complete_sprint,
)
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


@task.command("show")
@click.argument("task_code", metavar="TASK", shell_complete=complete_task)
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
@repo_option
def show(repo: Repo, task_code: str, as_json: bool) -> None:
    """Show a task: fields, checklists, AGENT.yml, dependencies and dependents with their
    status, whether it is ready, whether its file is valid, its hash and its last commit."""
    from orchsync.query.task_show import show_task

    info = show_task(repo, task_code)
    if as_json:
        emit_json(info)
    else:
        click.echo(render_task(info), nl=False)


@task.command("edit")
@click.argument("task_code", metavar="TASK", shell_complete=complete_task)
@click.option("--title", help="New title.")
@click.option("--priority", type=click.Choice(list(PRIORITIES)), help="New priority.")
@click.option("--agent", help="Assign to this agent ('' unassigns).")
@click.option("--add-dep", multiple=True, metavar="TASK", help="Add a dependency (repeatable).")
@click.option("--rm-dep", multiple=True, metavar="TASK", help="Remove a dependency (repeatable).")
@click.option("--label", multiple=True, help="Add a label (repeatable).")
@click.option("--rm-label", multiple=True, metavar="LABEL", help="Remove a label (repeatable).")
@click.option(
    "--set", "fields", multiple=True, metavar="KEY=VALUE", help="Set a front-matter field."
)
@click.option("--check", "ticks", multiple=True, metavar="SECTION:N", help="Tick item N (from 1).")
@click.option("--uncheck", "unticks", multiple=True, metavar="SECTION:N", help="Untick item N.")
@click.option(
    "--expect-hash", metavar="SHA256", help="Refuse if the file no longer has this content hash."
)
@write_options
@repo_option
def edit(
    repo: Repo,
    task_code: str,
    fields: tuple[str, ...],
    ticks: tuple[str, ...],
    unticks: tuple[str, ...],
    expect_hash: str | None,
    as_json: bool,
    **changes: Any,
) -> None:
    """Change a task's title, priority, agent, dependencies, labels, fields or checklists.

    One write and one commit; comments, key order and every other byte of TASK.md stay.
    SECTION is objectives, deliverables or acceptance_criteria. Nothing to change writes
    nothing.
    """
    from orchsync import pm
    from orchsync.pm.edits import checklist_ticks

    result = pm.edit_task(
        repo,
        task_code,
        title=changes["title"],
        priority=changes["priority"],
        agent=changes["agent"],
        add_deps=changes["add_dep"],
        rm_deps=changes["rm_dep"],
        add_labels=changes["label"],
        rm_labels=changes["rm_label"],
        set_fields=pm.parse_fields(fields),
        checklist=checklist_ticks(ticks, unticks),
        expected_hash=expect_hash,
        actor=changes["actor"],
        session=changes["session"],
    )
    report(result, as_json)


def render_task(info: dict[str, Any]) -> str:
    """`task show` for people: a header line, then one line per fact."""

    def state(rows: list[dict[str, Any]]) -> str:
        return ", ".join(f"{r['code']} ({r['status'] or 'missing'})" for r in rows) or "none"

    lines = [
        f"T:{info['task']}  {info['title']}",
        f"status: {info['status']} · priority: {info['priority'] or '-'} · "
        f"agent: {info['agent'] or '-'} · sprint: {info['sprint']}",
        f"file: {info['path']} (sha256:{info['hash'][:16]}, "
        + ("valid)" if info["valid"] else "INVALID: run `orchsync check`)"),
    ]
    lines += [f"  {d['path']}:{d['line'] or ''}: {d['message']}" for d in info["diagnostics"]]
    if info["agent_config"]:
        lines.append(f"agent config: {info['agent_config']['path']}")
    lines.append(f"depends on: {state(info['dependencies'])}")
    lines.append(f"dependents: {state(info['dependents'])}")
    ready = "yes" if info["ready"] else "no"
    if info["waiting_on"]:
        ready += f" (waiting for {', '.join(info['waiting_on'])})"
    lines.append(f"ready: {ready}")
    if info.get("metadata", {}).get("labels"):
        lines.append(f"labels: {', '.join(map(str, info['metadata']['labels']))}")
    for name in ("objectives", "deliverables", "acceptance_criteria"):
        items = info.get(name) or []
        if items:
            done = sum(1 for i in items if i["done"])
            lines.append(f"{name.replace('_', ' ')}: {done}/{len(items)} done")
            lines += [
                f"  {n}. [{'x' if i['done'] else ' '}] {i['text']}" for n, i in enumerate(items, 1)
            ]
    last = info["last_commit"]
    if last:
        who = f" by {last['agent']}" if last["agent"] else ""
        lines.append(
            f"last commit: {last['commit'][:12]} {last['time']}{who} ({', '.join(last['events'])})"
        )
    return "\n".join(lines) + "\n"
