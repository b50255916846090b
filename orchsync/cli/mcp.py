"""`orchsync mcp`: serve the library to coding agents over MCP (stdio)."""

from __future__ import annotations

import click

from orchsync.cli.common import repo_option
from orchsync.repo import Repo

__all__ = ["mcp"]


@click.command()
@click.option(
    "--tools",
    default="core",
    show_default=True,
    metavar="core|all|NAME,...",
    help="Tools to serve: the core profile, all of them, or names (orchestration_ prefix optional).",
)
@repo_option
def mcp(repo: Repo, tools: str) -> None:
    """Serve tools and resources over stdio to an MCP client (Claude Code, Claude Desktop, ...).

    Writes are attributed to the client's name (Orchsync-Agent) and to a session
    (Orchsync-Session): a tool's `session` argument, else the session file the connection
    started, else one id per connection.
    """
    from orchsync.mcp_server import select_tools, serve

    select_tools(tools)  # a bad --tools is a usage error before the server starts
    serve(repo, tools)
