"""`orchsync board`: serve the live web board of this repository."""

from __future__ import annotations

import click

from orchsync.faces.cli.common import repo_option
from orchsync.repo import Repo

__all__ = ["board"]


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any non-loopback address requires a token.",
)
@click.option(
    "--port", default=0, type=int, show_default=True, help="Port to listen on (0: a free one)."
)
@click.option("--open", "open_browser", is_flag=True, help="Open the board in the default browser.")
@click.option(
    "--token",
    envvar="ORCHSYNC_BOARD_TOKEN",
    help="Access token (generated when --host is not loopback); printed as part of the URL.",
)
@click.option(
    "--actor",
    help="Who the board's writes are attributed to (default: board:<git user.name>).",
)
@repo_option
def board(
    repo: Repo, host: str, port: int, open_browser: bool, token: str | None, actor: str | None
) -> None:
    """Serve a live web board: sprint board, tasks, activity, agents, sessions.

    Prints its URL and serves until Ctrl-C. Pages update when a commit lands (daemon, CLI,
    MCP, git pull); writes (drag a card, edit a task) go through the same library calls as
    the CLI, attributed to the actor. Binds 127.0.0.1 unless --host says otherwise.
    """
    from orchsync import pm
    from orchsync.faces.board.serve import serve

    if not 0 <= port <= 65535:
        raise click.BadParameter("must be 0..65535", param_hint="--port")
    who = actor or f"board:{pm.default_actor(repo) or 'unknown'}"
    serve(repo, host=host, port=port, token=token or None, actor=who, open_browser=open_browser)
