"""`orchsync mcp`: serve the library to coding agents over MCP (stdio)."""

from __future__ import annotations

import click

from orchsync.faces.cli.common import repo_option
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
@click.option(
    "--query-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Time limit of one orchestration_query call.",
)
@click.option(
    "--query-memory-limit",
    default="512MB",
    show_default=True,
    metavar="SIZE",
    help="DuckDB memory of one orchestration_query call.",
)
@repo_option
def mcp(repo: Repo, tools: str, query_timeout: float, query_memory_limit: str) -> None:
    """Serve tools, prompts and resources over stdio to an MCP client (Claude Code, ...).

    Writes are attributed to the client's name (Orchsync-Agent) and to a session
    (Orchsync-Session): a tool's `session` argument, else the session file the connection
    started, else one id per connection.
    """
    import dataclasses

    from orchsync.faces.mcp.server import QUERY_LIMITS, select_tools, serve
    from orchsync.index.worker import parse_size

    select_tools(tools)  # a bad --tools is a usage error before the server starts
    limits = dataclasses.replace(
        QUERY_LIMITS, timeout=query_timeout, memory=parse_size(query_memory_limit)
    )
    serve(repo, tools, query_limits=limits)
