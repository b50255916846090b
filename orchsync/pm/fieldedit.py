"""Change front-matter values of existing files: a status, a date, a cross-reference.

What `bug status`, `adr status` and `sprint start|complete` share (a task's edits have their
own module, `pm/edits.py`, with checklists and dependencies). The rules are the same:

- only the bytes of the changed values move (`frontmatter_edit`): comments, key order,
  quoting, line endings and the body stay as the user wrote them;
- everything is computed and checked (parsed back, the values read as written) before any
  file is written, so a refused call writes nothing;
- a file is replaced only if it still holds the bytes that were read: a caller that showed
  the file passes `expected_hash`, and an editor's save in between is never overwritten
  (`StaleWrite`, nothing written; with several files, the ones already written are put back);
- the paths are synced together, so one commit carries the trailers and the events.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchsync.errors import StaleWrite, UnknownEntity, UsageError
from orchsync.model import ParsedFile, content_hash
from orchsync.parse import parse_file
from orchsync.pm.frontmatter_edit import append_note, set_field
from orchsync.pm.writes import ConcurrentEdit, read_for_edit, replace_if_unchanged
from orchsync.repo import Repo

__all__ = ["FileEdit", "edit_fields", "read_current", "write_edits"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FileEdit:
    """One file's change: the bytes read (and their hash) and the bytes to write."""

    path: str
    raw: bytes
    new: bytes
    before: ParsedFile
    after: ParsedFile

    @property
    def hash(self) -> str:
        return content_hash(self.raw)

    @property
    def changed(self) -> bool:
        return self.new != self.raw


def read_current(repo: Repo, path: str, expected_hash: str | None = None) -> bytes:
    """The file's bytes, refused if they are not the ones the caller saw (`expected_hash`)."""
    try:
        raw = read_for_edit(repo.root, path)
    except FileNotFoundError:
        raise UnknownEntity(f"no file {path}") from None
    if expected_hash is not None:
        wanted = expected_hash.strip().lower().removeprefix("sha256:")
        current = content_hash(raw)
        if wanted != current:
            raise StaleWrite(path, expected_hash, current)
    return raw


def edit_fields(
    path: str,
    raw: bytes,
    values: Mapping[str, str | None],
    *,
    note: str | None = None,
    after: Mapping[str, str] | None = None,
) -> FileEdit:
    """Set each key of `values` (None writes `null`), and append a dated `note` if given.

    A key that is missing is added after the key named in `after` (else at the end of the
    front matter). Refused (UsageError, nothing written) if the result would not parse, or
    would read back other values than asked (YAML's own reading of odd text).
    """
    before = parse_file(path, raw)
    if not before.valid and before.entity is None:
        raise UsageError(
            f"{path} cannot be read ({_problems(before)}); fix it first (nothing written)"
        )
    new = raw
    for key, value in values.items():
        new = set_field(new, key, value, path=path, after=(after or {}).get(key))
    if note is not None:
        new = append_note(new, note, path=path)
    result = parse_file(path, new)
    if before.valid and not result.valid:
        raise UsageError(
            f"the change would make {path} invalid: {_problems(result)}; nothing written"
        )
    data = _front_matter(result)
    wrong = [k for k, v in values.items() if data.get(k) != v and str(data.get(k)) != str(v)]
    if wrong:
        raise UsageError(
            f"{path}: {', '.join(wrong)} would not read back as written; nothing written"
        )
    return FileEdit(path, raw, new, before, result)


def write_edits(repo: Repo, edits: Sequence[FileEdit]) -> None:
    """Write every changed file, each only if it still has the bytes that were read (inside
    `pm.common.writing`, which checks git can take the snapshot and claims the paths).

    When a later file changed meanwhile, the ones written before it get their old bytes back
    (if nobody touched them since) and `StaleWrite` names the file that moved.
    """
    changed = [e for e in edits if e.changed]
    if not changed:
        return
    done: list[FileEdit] = []
    for edit in changed:
        full = repo.root / edit.path
        try:
            replace_if_unchanged(full, edit.hash, edit.new, root=repo.root)
        except ConcurrentEdit:
            for back in reversed(done):
                try:
                    replace_if_unchanged(
                        repo.root / back.path, content_hash(back.new), back.raw, root=repo.root
                    )
                except ConcurrentEdit:  # pragma: no cover - edited again meanwhile: theirs stays
                    log.warning("%s changed again while orchsync undid its edit", back.path)
            now = content_hash(full.read_bytes()) if full.exists() else None
            raise StaleWrite(edit.path, edit.hash, now) from None
        done.append(edit)


def _front_matter(parsed: ParsedFile) -> dict[str, Any]:
    """The front matter's values as text, as the parser read them (known keys and the rest)."""
    e = parsed.entity
    if e is None:
        return {}
    out: dict[str, Any] = {k: v for k, v in e.metadata.items()}
    for name in ("title", "status", "start_date", "end_date", "date", "priority", "sprint"):
        if hasattr(e, name):
            out[name] = getattr(e, name)
    return out


def _problems(parsed: ParsedFile) -> str:
    return "; ".join(str(d) for d in parsed.diagnostics if d.severity == "error") or "unreadable"
