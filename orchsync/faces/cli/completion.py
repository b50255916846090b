"""`orchsync completion bash|zsh|fish`: the shell's completion script, printed."""

from __future__ import annotations

import click

__all__ = ["completion"]


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL: commands, options, task and sprint codes.

    \b
    bash:  eval "$(orchsync completion bash)"         in ~/.bashrc
    zsh:   eval "$(orchsync completion zsh)"          in ~/.zshrc
    fish:  orchsync completion fish > ~/.config/fish/completions/orchsync.fish

    Task and sprint codes are read from the tree on each <TAB> (a directory listing; no
    index is opened), in the repository of the current directory or --repo.
    """
    from click.shell_completion import get_completion_class

    from orchsync.faces.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None  # the choice above names only shells click knows
    click.echo(cls(cli, {}, "orchsync", "_ORCHSYNC_COMPLETE").source())
