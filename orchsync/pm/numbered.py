"""What ADRs and bugs share: numbers taken under the numbering lock, one file each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from orchsync.model import Kind
from orchsync.parse.layout import (
    DELEGATION,
    classify,
)
from orchsync.pm.common import PmResult, preflight, render_checked, sync_written, write_new
from orchsync.pm.templates import Template
from orchsync.repo import Repo

__all__ = ["numbers", "create_numbered", "list_numbered"]


def numbers(repo: Repo, kind: Kind) -> dict[int, str]:
    folder = "adr" if kind is Kind.ADR else "backlog"
    base = repo.root / DELEGATION / folder
    out: dict[int, str] = {}
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return out
    for name in names:
        loc = classify(f"{DELEGATION}/{folder}/{name}")
        if loc.kind is kind and loc.number is not None:
            out.setdefault(loc.number, f"{DELEGATION}/{folder}/{name}")
    return out


def create_numbered(
    repo: Repo,
    tmpl: Template,
    values: Mapping[str, Any],
    name: str,
    result: PmResult,
    *,
    actor: str | None,
    session: str | None,
) -> PmResult:
    """Render the one file of a numbered entity (ADR, bug) to `result.paths[0]`, write it, sync it.

    Called under the numbering lock, so the number picked stays free until the file exists.
    """
    path = result.paths[0]
    files = render_checked(tmpl, values, {name: path})
    preflight(repo)
    write_new(repo, files)
    return sync_written(repo, result, [path], actor=actor, session=session)


def list_numbered(
    repo: Repo, kind: Kind, label: str, extra: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows of numbered entities (ADRs, bugs) read from the tree: id, title, status, extra, path."""
    rows = []
    for number, path in sorted(numbers(repo, kind).items()):
        from orchsync.parse.worktree import read_parsed

        parsed = read_parsed(repo.root, path)  # a link is listed, never read through
        e = parsed.entity if parsed is not None else None
        row: dict[str, Any] = {
            "id": label.format(number),
            "title": e.title if e else "",
            "status": e.status if e else None,
        }
        row |= {name: getattr(e, name, None) for name in extra}
        row["path"] = path
        rows.append(row)
    return rows
