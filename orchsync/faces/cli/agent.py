"""`orchsync agent init` (and the `agent-init` alias): AGENT INIT from a shell;
`orchsync agent create`: a new agent profile."""

from __future__ import annotations

import click

from orchsync.faces.cli.common import complete_entity, emit_json, repo_option
from orchsync.faces.cli.pm import report, set_option, write_options
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
            click.argument("target", shell_complete=complete_entity),
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
    """Agent commands: `agent init T:<task>` (AGENT INIT), `agent create NAME` (a profile)."""


@agent.command("init", help=_HELP)
@_options
def init(repo: Repo, **kwargs: object) -> None:
    _run(repo, **kwargs)  # type: ignore[arg-type]


@click.command("agent-init", help=_HELP)
@_options
def agent_init_cmd(repo: Repo, **kwargs: object) -> None:
    _run(repo, **kwargs)  # type: ignore[arg-type]


@agent.command("create")
@click.argument("name")
@click.option("--role", help="What the agent does (default: made from the name).")
@click.option("--model", help="Model the agent runs on.")
@click.option("--description", help="A few sentences on how the agent works.")
@click.option("--capability", multiple=True, help="A capability (repeatable).")
@click.option("--tool", "tools", multiple=True, help="A tool the agent may use (repeatable).")
@click.option(
    "--template",
    default="default",
    show_default=True,
    help="Agent template (`orchsync templates list --kind agent`).",
)
@set_option
@write_options
@repo_option
def create(
    repo: Repo,
    name: str,
    role: str | None,
    model: str | None,
    description: str | None,
    capability: tuple[str, ...],
    tools: tuple[str, ...],
    template: str,
    assignments: tuple[str, ...],
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Create an agent profile, delegation/agents/NAME.yml, from a template and commit it.

    Tasks assigned to NAME (`task create --agent NAME`) start from this profile; a task's
    AGENT.yml is merged over it by AGENT INIT.
    """
    from orchsync import pm

    result = pm.create_agent(
        repo,
        name,
        template,
        role=role,
        model=model,
        description=description,
        capabilities=capability,
        tools_allowed=tools,
        variables=pm.parse_assignments(assignments),
        actor=actor,
        session=session,
    )
    report(result, as_json)
