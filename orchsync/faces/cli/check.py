from __future__ import annotations

import os

import click

from orchsync.config import CONFIG_FILE
from orchsync.errors import ExitCode, UsageError
from orchsync.faces.cli.common import emit_json, plural, repo_option
from orchsync.parse.checks import cross_file, placeholder_warnings
from orchsync.parse.layout import DELEGATION
from orchsync.parse.worktree import list_files, load_tree
from orchsync.repo import Repo


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Output diagnostics as JSON.")
@repo_option
def check(repo: Repo, paths: tuple[str, ...], as_json: bool) -> None:
    """Parse the tree and report invalid files and broken references.

    Prints `path:line: field: message` per problem; exits 1 when any file is invalid.
    Warnings (a template placeholder nobody has answered yet) leave the exit code at 0.
    Cross-file rules (duplicate codes, unknown dependencies, cycles) always look at the
    whole tree, and report only problems in the PATHS asked about.
    """
    rels = [repo.rel(p) for p in paths] if paths else [DELEGATION]  # default: the repo's tree
    missing = [p for p in paths if not os.path.lexists(repo.root / repo.rel(p))]
    if missing:
        raise UsageError(f"no such file or directory: {', '.join(missing)}")
    special: list[str] = []  # FIFOs, sockets, devices: reported, never opened
    chosen = sorted({f for rel in rels for f in list_files(repo.root, rel, special=special)})
    everything = load_tree(repo.root)
    wanted = set(chosen) | set(special)
    parsed = [f for f in everything if f.path in wanted]
    extra = sorted(wanted - {f.path for f in everything})
    parsed += load_tree(repo.root, extra)
    diagnostics = [d for f in parsed for d in f.diagnostics]
    diagnostics += [d for d in cross_file(everything) if d.path in wanted]
    diagnostics += placeholder_warnings(repo.root, parsed)
    if CONFIG_FILE in wanted:  # the `sinks:` entries, checked beyond the file's schema
        from orchsync.sinks.settings import load_sinks

        diagnostics += load_sinks(repo).diagnostics
    errors = [d for d in diagnostics if d.severity == "error"]
    if as_json:
        emit_json(
            {
                "files": len(parsed),
                "errors": len(errors),
                "diagnostics": [d.to_dict() for d in diagnostics],
            }
        )
    else:
        for d in diagnostics:
            click.echo(f"{d}" if d.severity == "error" else f"{d} (warning)")
        warnings = len(diagnostics) - len(errors)
        click.echo(
            f"{plural(len(parsed), 'file')} checked, {plural(len(errors), 'error')}"
            + (f", {plural(warnings, 'warning')}" if warnings else ""),
            err=True,
        )
    if errors:
        raise SystemExit(int(ExitCode.FINDINGS))
