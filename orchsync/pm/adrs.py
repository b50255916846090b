"""Architecture decision records: `ADR-<nnn>-<slug>.md`, auto-numbered."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchsync.errors import UsageError
from orchsync.model import Kind
from orchsync.parse.layout import (
    adr_path,
    slugify,
)
from orchsync.pm.common import (
    PmResult,
    base_variables,
    check_variables,
    default_actor,
    numbering_lock,
)
from orchsync.pm.numbered import create_numbered, list_numbered, numbers
from orchsync.pm.templates import find_template
from orchsync.repo import Repo

__all__ = ["create_adr", "list_adrs"]

_ADR_TITLE = re.compile(r"^\s*ADR[-_ ]?(\d{1,6})\s*[:.\u2013\u2014-]\s*(.*)$", re.IGNORECASE)


def create_adr(
    repo: Repo,
    title: str,
    template: str = "default",
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """`delegation/adr/ADR-<nnn>-<slug>.md`, status proposed, numbered under the numbering lock.

    A title written `ADR-006: Use Event Sourcing` asks for number 6 (refused if taken).
    """
    wanted: int | None = None
    m = _ADR_TITLE.match(title or "")
    if m:
        wanted, title = int(m.group(1)), m.group(2)
        if wanted < 1:
            raise UsageError("ADR numbers start at 1")
    text = " ".join((title or "").split())
    if not text:
        raise UsageError("--title must not be empty")
    values = check_variables(variables)
    tmpl = find_template(repo, "adr", template)
    actor = actor or default_actor(repo)
    with numbering_lock(repo):
        taken = numbers(repo, Kind.ADR)
        following = max(taken, default=0) + 1
        if wanted is not None and wanted in taken:
            raise UsageError(
                f"ADR-{wanted:03d} is taken ({taken[wanted]}); leave the number out of the title "
                f"to get the next free one (ADR-{following:03d})"
            )
        number = wanted if wanted is not None else following
        path = adr_path(number, slugify(text))
        values |= base_variables(actor, session) | {
            "number": number,
            "code": f"{number:03d}",
            "id": f"ADR-{number:03d}",
            "title": text,
            "status": "proposed",
        }
        result = PmResult(
            "adr.create",
            f"ADR:{number:03d}",
            f"created ADR-{number:03d}: {text}",
            paths=[path],
            details={"number": number, "template": tmpl.ref},
        )
        return create_numbered(repo, tmpl, values, "ADR.md", result, actor=actor, session=session)


def list_adrs(repo: Repo) -> list[dict[str, Any]]:
    """ADRs read from the tree, by number: id, title, status, date, path."""
    return list_numbered(repo, Kind.ADR, "ADR-{:03d}", ("date",))
