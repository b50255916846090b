"""What ADRs and bugs share: numbers taken under the numbering lock, one file each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from orchsync.errors import UnknownEntity, UsageError
from orchsync.model import Kind
from orchsync.parse.layout import (
    DELEGATION,
    classify,
)
from orchsync.pm.common import PmResult, render_checked, sync_written, write_new, writing
from orchsync.pm.templates import Template
from orchsync.repo import Repo

__all__ = ["numbers", "create_numbered", "list_numbered", "numbered_target"]


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
    with writing(repo, [path]) as claim:
        write_new(repo, files)
        return sync_written(repo, result, [path], actor=actor, session=session, claim=claim)


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
        row["valid"] = parsed is not None and parsed.valid
        rows.append(row)
    return rows


def numbered_target(repo: Repo, key: str, kind: Kind) -> tuple[int, str]:
    """(number, path) of `ADR:6`, `ADR-006`, `BUG:1`, `BUG-0001`, or a bare number."""
    from orchsync.parse.resolve import parse_key

    label = "ADR" if kind is Kind.ADR else "BUG"
    text = (key or "").strip()
    if "\n" in text or "\r" in text or len(text) > 200:
        raise UsageError(f"{label.lower()} {text[:40]!r}...: not an {label} number")
    found, code = parse_key(text if not text.isdigit() else f"{label}:{text}")
    if found is not kind or not code.isdigit():
        raise UsageError(
            f"{text!r} is not {'an ADR' if kind is Kind.ADR else 'a bug'}: use {label}:<n>"
        )
    number = int(code)
    path = numbers(repo, kind).get(number)
    if path is None:
        known = ", ".join(
            f"{label}-{n:0{3 if kind is Kind.ADR else 4}d}"
            for n in sorted(numbers(repo, kind))[:20]
        )
        raise UnknownEntity(f"unknown {label} {number}; there are: {known or '(none yet)'}")
    return number, path
