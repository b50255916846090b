"""`orchsync session start | note | handoff | end | list`: session memory from a shell."""

from __future__ import annotations

import click

from orchsync.faces.cli.common import output_options, render_rows, repo_option
from orchsync.repo import Repo

__all__ = ["session"]

_AGENT = click.option(
    "--agent",
    metavar="NAME",
    envvar="ORCHSYNC_ACTOR",
    help="Who acts (default $ORCHSYNC_ACTOR, else the session's agent).",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.group()
def session() -> None:
    """Session memory: notes and handoffs an agent leaves for whoever resumes the work.

    A session is delegation/sessions/<key>.md. `orchsync agent init T:x --session KEY`
    reads it back: notes, handoffs and every event committed in that session.
    """


@session.command("start")
@click.argument("target")
@_AGENT
@click.option("--title", help="A title (default: '<task> - <agent>').")
@click.option("--note", "note_text", help="A first note.")
@_JSON
@repo_option
def start(
    repo: Repo,
    target: str,
    agent: str | None,
    title: str | None,
    note_text: str | None,
    as_json: bool,
) -> None:
    """Open a session on TARGET (T:<task> or S:<sprint>); prints its key.

    The key is `<task>-<agent>-<yyyymmdd-hhmm>`, with `-2`, `-3`... when taken.
    """
    from orchsync.faces.cli.pm import report
    from orchsync.pm import sessions

    report(sessions.start(repo, target, agent, title=title, note_text=note_text), as_json)


@session.command("note")
@click.argument("key")
@click.argument("text")
@_AGENT
@_JSON
@repo_option
def note(repo: Repo, key: str, text: str, agent: str | None, as_json: bool) -> None:
    """Append a timestamped note to session KEY."""
    from orchsync.faces.cli.pm import report
    from orchsync.pm import sessions

    report(sessions.note(repo, key, text, agent=agent), as_json)


@session.command("handoff")
@click.argument("key")
@click.option("--to", "to", required=True, metavar="AGENT", help="The agent who takes over.")
@click.option("--note", "note_text", help="What the next agent needs to know.")
@_AGENT
@_JSON
@repo_option
def handoff(
    repo: Repo, key: str, to: str, note_text: str | None, agent: str | None, as_json: bool
) -> None:
    """Hand session KEY to another agent (status handed_off; the new agent owns it)."""
    from orchsync.faces.cli.pm import report
    from orchsync.pm import sessions

    report(sessions.handoff(repo, key, to, note_text=note_text, agent=agent), as_json)


@session.command("end")
@click.argument("key")
@click.option("--note", "note_text", help="A last note.")
@_AGENT
@_JSON
@repo_option
def end(repo: Repo, key: str, note_text: str | None, agent: str | None, as_json: bool) -> None:
    """End session KEY (status ended, ended_at now)."""
    from orchsync.faces.cli.pm import report
    from orchsync.pm import sessions

    report(sessions.end(repo, key, note_text=note_text, agent=agent), as_json)


@session.command("list")
@click.option("--task", metavar="TASK", help="Only sessions of this task.")
@click.option(
    "--open", "open_only", is_flag=True, help="Only sessions not ended (open or handed_off)."
)
@output_options
@repo_option
def list_cmd(repo: Repo, task: str | None, open_only: bool, fmt: str) -> None:
    """List sessions, newest first."""
    from orchsync.pm import sessions

    rows = sessions.list_sessions(repo, task=task, open_only=open_only)
    render_rows(
        rows,
        fmt,
        columns=["key", "status", "task", "agent", "started_at", "ended_at", "handoffs"],
        empty="(no sessions)",
        mark_invalid=True,
    )
