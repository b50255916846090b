"""What an importer reads out of a foreign source, before orchsync decides where it goes.

A reader (Backlog.md, GitHub issues) turns its source into `Item`s and `Finding`s and nothing
else: it writes no file and knows no repository. `orchsync.pm.importers.plan` then gives each
item its code and path, renders it, compares it with what an earlier import wrote, and
commits the lot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "Finding", "Item", "Source"]

KINDS = ("sprint", "task", "adr", "doc")  # the order files are planned and listed in

# Finding levels: `skipped` (the item is not imported: the exit code is 1), `warning` (imported,
# not cleanly: something was dropped to `source:` or defaulted), `kept` (an earlier import's
# file was edited in orchsync since, and the source changed too: orchsync's version is kept).
LEVELS = ("skipped", "warning", "kept")


@dataclass(slots=True)
class Finding:
    level: str
    where: str  # the source path or id the finding is about
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "source": self.where, "message": self.message}

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


@dataclass(slots=True)
class Item:
    """One thing to import, in orchsync's terms but not placed yet.

    `code` is the code wanted (already a safe path segment; made unique later), `number`
    an ADR's wanted number. `sprint`, `depends_on` and `parent` name other items by their
    source id; the planner turns them into codes. `front` holds orchsync fields besides
    title and status, in the order they are written; `fields` what has no field of ours,
    as the source had it (kept under `source.fields`).
    """

    kind: str
    source_id: str
    source_path: str | None
    code: str
    title: str
    status: str | None = None
    front: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    sprint: str | None = None
    depends_on: list[str] = field(default_factory=list)
    parent: str | None = None
    number: int | None = None

    @property
    def where(self) -> str:
        return self.source_path or self.source_id


@dataclass(slots=True)
class Source:
    """Everything read from one source: its items and what could not be read cleanly."""

    system: str  # "backlog.md", "github"
    project: str  # which project of that system: an earlier import is matched on both
    location: str  # the path given, for messages
    items: list[Item] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def skip(self, where: str, message: str) -> None:
        self.findings.append(Finding("skipped", where, message))

    def warn(self, where: str, message: str) -> None:
        self.findings.append(Finding("warning", where, message))
