"""`orchsync merge-file`: the git merge driver for delegation files.

Configured as `merge.orchsync.driver = orchsync merge-file %O %A %B %P`; git runs it in the
repository root with three temporary files and expects the result written over `%A`. It needs
no repository of its own and imports only ruamel.yaml beside click, so it starts fast.
"""

from __future__ import annotations

import click

from orchsync.errors import ExitCode
from orchsync.git.merge import merge_file

__all__ = ["merge_file_cmd"]

_FILE = click.Path(exists=True, dir_okay=False)


@click.command("merge-file")
@click.argument("base", type=_FILE)
@click.argument("ours", type=_FILE)
@click.argument("theirs", type=_FILE)
@click.argument("path", required=False, default="")
@click.option(
    "--marker-size",
    type=click.IntRange(1, 100),
    default=7,
    show_default=True,
    help="Length of conflict markers in the body (git's %L).",
)
def merge_file_cmd(base: str, ours: str, theirs: str, path: str, marker_size: int) -> None:
    """Merge BASE, OURS and THEIRS field by field and write the result over OURS.

    Front matter is merged per key (lists as sets, status by "the further state wins"); the
    body with git's line merge. PATH is the file's path in the repository (git's %P); it tells
    YAML files from Markdown. Exits 0 when clean, 1 when conflicts remain.
    """
    result = merge_file(base, ours, theirs, path, marker_size=marker_size)
    name = path or ours
    for note in result.notes:
        click.echo(f"orchsync merge-file: {name}: {note}", err=True)
    for c in result.conflicts:
        click.echo(f"orchsync merge-file: {name}: CONFLICT ({c.key}): {c.resolution}", err=True)
    if not result.clean:
        raise SystemExit(int(ExitCode.FINDINGS))
