"""`orchsync agent init` (and the `agent-init` alias): AGENT INIT from a shell."""

from __future__ import annotations

import click

from orchsync.cli.common import emit_json, repo_option
from orchsync.repo import Repo

__all__ = ["agent", "agent_init_cmd", "init"]

_HELP = """Assemble an agent's whole working context for a sprint or a task.

TARGET is S:<sprint> or T:<task> (a unique task-code prefix is enough; `t:` works too).
The chat command `AGENT INIT T:x` is `orchsync agent init T:x`.

The context holds the agent profile (delegation/agents/<name>.yml with the task's AGENT.yml
merged over it), the task with its checklists, the sprint (goal, other tasks, dependencies,
dependents, ready tasks), the session being resumed (--session, else the latest open
session of the task) with its notes, handoffs and events, the reference docs named in
`context` fields, and provenance (content hashes, commit, correlation id). It is cached
(`context_cache_seconds`) until any file it was built from changes.
"""


def _options(fn):  # type: ignore[no-untyped-def]
    for option in reversed(
        [
            click.argument("target"),
            click.option(
                "--agent",
                "agent_name",
                metavar="NAME",
                help="Initialize as this agent (wins over AGENT.yml).",
            ),
            click.option("--session", "session_key", metavar="KEY", help="Resume this session."),
            click.option(
                "--format",
                "fmt",
                type=click.Choice(["md", "json"]),
                default="md",
                show_default=True,
                help="Markdown for an LLM context, or JSON (schemas/agent_init.json).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Same as --format json."),
            click.option(
                "--budget",
                type=click.IntRange(min=1),
                metavar="TOKENS",
                help="Fit into about this many tokens (4 characters each), trimming reference docs, "
                "then other tasks, then session events.",
            ),
            click.option(
                "--no-cache", is_flag=True, help="Assemble afresh (and refresh the cache)."
            ),
            repo_option,
        ]
    ):
        fn = option(fn)
    return fn


def _run(
    repo: Repo,
    target: str,
    agent_name: str | None,
    session_key: str | None,
    fmt: str,
    as_json: bool,
    budget: int | None,
    no_cache: bool,
) -> None:
    from orchsync.context import assemble

    ctx = assemble(
        repo, target, agent=agent_name, session=session_key, budget=budget, use_cache=not no_cache
    )
    if as_json or fmt == "json":
        emit_json(ctx.to_json())
    else:
        click.echo(ctx.to_markdown(), nl=False)


@click.group()
def agent() -> None:
    """Agent commands: `orchsync agent init T:<task>`."""


@agent.command("init", help=_HELP)
@_options
def init(repo: Repo, **kwargs: object) -> None:
    _run(repo, **kwargs)  # type: ignore[arg-type]


@click.command("agent-init", help=_HELP)
@_options
def agent_init_cmd(repo: Repo, **kwargs: object) -> None:
    _run(repo, **kwargs)  # type: ignore[arg-type]
