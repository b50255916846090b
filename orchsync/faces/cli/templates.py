"""`orchsync templates list`: the templates in force (a repo's own win over the shipped ones)."""

from __future__ import annotations

import click

from orchsync.faces.cli.common import output_options, render_rows, repo_option
from orchsync.repo import Repo

__all__ = ["templates"]


@click.group()
def templates() -> None:
    """Templates for new sprints, tasks, ADRs, bugs and sessions."""


@templates.command("list")
@click.option("--kind", help="Only this kind (sprint, task, adr, bug, session).")
@output_options
@repo_option
def list_(repo: Repo, kind: str | None, fmt: str) -> None:
    """List templates: kind, name, source (shipped|repo), path, description.

    A repository overrides or adds templates in delegation/.templates/KIND/NAME/.
    """
    from orchsync.pm.templates import KINDS, TemplateError, list_templates

    if kind is not None and kind not in KINDS:
        raise TemplateError(f"unknown template kind {kind!r}; kinds: {', '.join(sorted(KINDS))}")
    rows = [t.to_row(repo) for t in list_templates(repo, kind)]
    render_rows(rows, fmt, ["kind", "name", "source", "path", "description"])
