"""The `orchsync` command: a thin face over the library.

Subcommands live in small modules and are imported only when invoked, so `orchsync --help`
and cheap commands never pay for duckdb, pygit2, watchfiles, jinja2 or mcp.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from orchsync import __version__
from orchsync.errors import ExitCode, OrchsyncError

__all__ = ["main"]

# command name -> "module:attribute" (relative to orchsync.faces.cli), with a one-line help shown
# by `orchsync --help` without importing the module.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("sync:init", "Set a repository up: runtime folder, default config, first snapshot."),
    "sync": ("sync:sync", "Commit changed files under delegation/ (the next query indexes them)."),
    "status": ("sync:status", "Pending changes and why they wait, the last snapshot, the daemon."),
    "fix-ids": ("sync:fix_ids", "Rename the newer of duplicated task codes, ADR and bug numbers."),
    "log": ("history:log", "History of one entity from git: commit, time, events, hash."),
    "show": ("history:show", "An entity's file as of a revision or a content hash."),
    "rollback": ("history:rollback", "Write an earlier version's bytes back as a new commit."),
    "replay": ("history:replay", "The sequence of versions and events of an entity."),
    "reindex": ("index:reindex", "Rebuild the index from git history (or from the files)."),
    "tasks": ("index:tasks", "List tasks (filters, --ready)."),
    "sprints": ("index:sprints", "List sprints with task counts."),
    "events": (
        "index:events",
        "List or follow events; `events archive` moves old ones to Parquet.",
    ),
    "query": ("index:query", "Read-only SQL over the index."),
    "sinks": ("sinks:sinks", "Event sinks (JSON Lines, webhook, OTLP): flush, status."),
    "stats": ("index:stats", "Counts by status, throughput and cycle time per sprint."),
    "search": (
        "search:search",
        "Ranked full-text search over sprints, tasks, ADRs, bugs, sessions.",
    ),
    "import": (
        "imports:import_group",
        "Import a Backlog.md project or GitHub issues (one commit).",
    ),
    "check": ("check:check", "Parse the tree and report invalid files and broken references."),
    "sprint": ("sprint:sprint", "Create a sprint from a template; start and complete it."),
    "task": ("task:task", "Create, show and edit a task; change its status; move it."),
    "adr": ("adr:adr", "Create and list architecture decision records; set their status."),
    "bug": ("bug:bug", "Report and list bugs in the backlog; set their status, close them."),
    "templates": ("templates:templates", "List the templates in force (shipped and repo)."),
    "agent": (
        "agent:agent",
        "AGENT INIT: `agent init T:<task>`, an agent's whole context; `agent create`.",
    ),
    "agent-init": ("agent:agent_init_cmd", "Same as `agent init` (the chat command AGENT INIT)."),
    "session": ("session:session", "Session memory: start, note, handoff, end, list."),
    "merge-file": ("merge:merge_file_cmd", "Git merge driver: merge files field by field."),
    "watch": ("watch:watch", "Run the daemon: commit and index every settled save."),
    "stop": ("watch:stop", "Stop this clone's `orchsync watch` daemon."),
    "mcp": ("mcp:mcp", "Serve the library as MCP tools to coding agents over stdio."),
    "board": ("board:board", "Serve a live web board of sprints, tasks, activity and agents."),
    "completion": ("completion:completion", "Print a shell completion script (bash, zsh, fish)."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        module = importlib.import_module(f"orchsync.faces.cli.{module_name}")
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OrchsyncError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(int(exc.exit_code))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchsync")
@click.option(
    "--repo",
    type=click.Path(file_okay=False),
    envvar="ORCHSYNC_REPO",
    help="Repository to work on (default: the git root above the current directory).",
)
@click.pass_context
def cli(ctx: click.Context, repo: str | None) -> None:
    """Sprints, tasks and agents as plain files in git, indexed in DuckDB.

    Files under delegation/ are the truth, git is the history, and the index in
    .git/orchsync/ is disposable: `orchsync reindex` rebuilds it from git.
    """
    ctx.ensure_object(dict)
    ctx.obj["repo"] = repo


def main() -> None:
    try:
        cli(prog_name="orchsync")
    except OrchsyncError as exc:  # raised while resolving arguments, before invoke
        click.echo(f"Error: {exc}", err=True)
        sys.exit(int(exc.exit_code))


__all__ += ["ExitCode", "cli"]
