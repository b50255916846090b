"""Architecture decision records: `ADR-<nnn>-<slug>.md`, auto-numbered."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orchsync.errors import UsageError
from orchsync.model import ADR_STATUSES, Kind
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
    sync_written,
    valid_choice,
    writing,
)
from orchsync.pm.numbered import create_numbered, list_numbered, numbered_target, numbers
from orchsync.pm.templates import find_template
from orchsync.repo import Repo

__all__ = ["create_adr", "list_adrs", "set_adr_status"]

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


def set_adr_status(
    repo: Repo,
    adr: str,
    status: str,
    superseded_by: str | None = None,
    *,
    expected_hash: str | None = None,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """Set an ADR's status (proposed, accepted, rejected, deprecated, superseded).

    `superseded_by` (ADR:n, ADR-00n or n) writes both records in one commit, so they agree:
    this one gets `status: superseded` and `superseded_by: ADR-00n`, the newer one
    `supersedes: ADR-00m`. Refused when the newer one already supersedes another ADR, or
    would supersede itself. Only those lines change in either file.
    """
    from orchsync.pm.fieldedit import edit_fields, read_current, write_edits

    status = valid_choice(status, ADR_STATUSES, "ADR status")
    number, path = numbered_target(repo, adr, Kind.ADR)
    label = f"ADR-{number:03d}"
    raw = read_current(repo, path, expected_hash)
    actor = actor or default_actor(repo)
    edits = []
    values: dict[str, str | None] = {"status": status}
    newer_label = None
    if superseded_by is not None:
        if status != "superseded":
            raise UsageError(f"--superseded-by goes with status superseded, not {status!r}")
        newer, newer_path = numbered_target(repo, superseded_by, Kind.ADR)
        newer_label = f"ADR-{newer:03d}"
        if newer == number:
            raise UsageError(f"{label} cannot be superseded by itself")
        before = _field(path, raw, "superseded_by")
        if before not in (None, "") and _number(before) != newer:
            raise UsageError(
                f"{label} is already superseded by {before}; edit both by hand to change that"
            )
        newer_raw = read_current(repo, newer_path)
        claimed = _field(newer_path, newer_raw, "supersedes")
        if claimed not in (None, "", label) and _number(claimed) != number:
            raise UsageError(
                f"{newer_label} already supersedes {claimed}; an ADR supersedes one other "
                "(edit it by hand to change that)"
            )
        values["superseded_by"] = newer_label
        if claimed in (None, ""):  # `supersedes: 6` naming this one already is left as written
            edits.append(
                edit_fields(
                    newer_path, newer_raw, {"supersedes": label}, after={"supersedes": "status"}
                )
            )
    elif status == "superseded" and not _field(path, raw, "superseded_by"):
        raise UsageError(f"say which ADR supersedes {label}: --superseded-by N")
    old = _field(path, raw, "status")
    edit = edit_fields(path, raw, values, after={"superseded_by": "status"})
    edits.insert(0, edit)
    if not any(e.changed for e in edits):
        return PmResult(
            "adr.status",
            f"ADR:{number:03d}",
            f"{label} is already {status}; nothing written",
            details={"from": old, "to": status, "superseded_by": newer_label},
        )
    with writing(repo, [e.path for e in edits if e.changed]) as claim:
        write_edits(repo, edits)
        by = f" by {newer_label}" if newer_label else ""
        result = PmResult(
            "adr.status",
            f"ADR:{number:03d}",
            f"{label}: {old} -> {status}{by}",
            paths=[e.path for e in edits if e.changed],
            details={
                "from": old,
                "to": status,
                "superseded_by": newer_label,
                "hash": edit.after.hash,
            },
        )
        return sync_written(
            repo,
            result,
            result.paths,
            actor=actor,
            session=session,
            subject=f"adr {label}: {old} -> {status}{by}" if newer_label else None,
            claim=claim,
        )


def _field(path: str, raw: bytes, key: str) -> str | None:
    from orchsync.pm.frontmatter_edit import get_field

    return get_field(raw, key, path=path)


def _number(value: str | None) -> int | None:
    m = re.match(r"^\s*(?:ADR[-: ]?)?0*(\d+)\s*$", value or "", re.IGNORECASE)
    return int(m.group(1)) if m else None
