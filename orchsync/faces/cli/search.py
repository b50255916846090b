"""`orchsync search TEXT`: ranked full-text search over the index (orchsync.query.search)."""

from __future__ import annotations

from typing import Any

import click

from orchsync.faces.cli.common import emit_json, repo_option
from orchsync.query.answers import cached
from orchsync.repo import Repo

__all__ = ["search"]

_KINDS = ["task", "sprint", "adr", "bug", "session"]


@click.command()
@click.argument("text")
@click.option("--kind", type=click.Choice(_KINDS), help="Only entities of this kind.")
@click.option("--status", help="Only entities with this status (e.g. pending, open, accepted).")
@click.option(
    "--limit",
    type=click.IntRange(1, 100),
    default=20,
    show_default=True,
    help="At most this many hits.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON (see README).")
@repo_option
def search(
    repo: Repo, text: str, kind: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Find sprints, tasks, ADRs, bugs and sessions by their words, best match first.

    Ranked with BM25 over titles (weighted most), codes, labels and bodies. The last word
    also matches as a prefix, and a word that matches nothing is read with a typo or two.
    """
    from orchsync.query.search import check_arguments

    check_arguments(text, kind, status, limit)
    params = {"text": text, "kind": kind, "status": status, "limit": limit}

    def compute() -> dict[str, Any]:
        if repo.daemon_socket.exists():  # a daemon answers from its warm index
            from orchsync.watch.client import search_via_daemon

            answer = search_via_daemon(repo, text, kind=kind, status=status, limit=limit)
            if answer is not None:
                return answer
        from orchsync.query.search import run

        return run(repo, text, kind=kind, status=status, limit=limit).to_dict()

    result = cached(repo, "search", params, compute)
    if as_json:
        emit_json(result)
        return
    if not result["hits"]:
        click.echo("no matches", err=True)
        return
    for hit in result["hits"]:
        status_text = hit["status"] or "-"
        click.echo(
            f"{click.style(hit['key'], bold=True)}  {status_text}  {hit['title']}"
            f"  ({hit['score']:.2f})"
        )
        click.echo(f"    {_highlight(hit['snippet'], hit['highlights'])}")
        click.echo(f"    {click.style(hit['path'], dim=True)}")


def _highlight(snippet: str, spans: list[list[int]]) -> str:
    """The snippet with its matches in bold yellow (click drops the colour when not a TTY)."""
    out, pos = [], 0
    for start, end in spans:
        out += [snippet[pos:start], click.style(snippet[start:end], fg="yellow", bold=True)]
        pos = end
    out.append(snippet[pos:])
    return "".join(out)
