"""Write a planned import and commit it: every file in **one** snapshot.

The plan is made under the numbering lock (the lock `sprint create` and `adr create` take),
so the codes and ADR numbers it picked stay free until the files exist. The commit carries
an `Orchsync-Import: <system> <project>` trailer, from which the index derives
`orchestration.import.completed`, live and on `reindex` alike.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from orchsync.model import content_hash
from orchsync.parse.layout import DELEGATION
from orchsync.pm.importers.items import KINDS, Source
from orchsync.pm.importers.plan import ImportResult, Planned, plan
from orchsync.repo import Repo

__all__ = ["run_import"]


def run_import(
    repo: Repo,
    source: Source,
    *,
    dry_run: bool = False,
    overwrite: bool = False,
    actor: str | None = None,
    session: str | None = None,
) -> ImportResult:
    """Plan the import and, unless `dry_run`, write its files and commit them in one snapshot."""
    from orchsync.pm.common import default_actor, numbering_lock, writing

    if dry_run:
        return plan(repo, source, overwrite=overwrite)
    actor = actor or default_actor(repo)
    with numbering_lock(repo):
        result = plan(repo, source, overwrite=overwrite)
        result.dry_run = False
        writes = [p for p in result.planned if p.data is not None]
        if not writes:
            return result
        with writing(repo, [p.path for p in writes]) as claim:
            _write(repo, writes)
            result.subject = _subject(result, writes)
            from orchsync.watch.client import sync_anywhere

            done = sync_anywhere(
                repo,
                [str(repo.root / p.path) for p in writes],
                claim=claim,
                actor=actor,
                session=session,
                subject=result.subject,
                imported=f"{source.system} {source.project}",
            )
            result.commit, result.events, result.blocked = done.commit, done.events, done.blocked
            result.subject = done.subject or result.subject
    return result


def _write(repo: Repo, writes: list[Planned]) -> None:
    """Every file is first written (and synced to disk) beside its target, then all are moved
    into place at once: a running daemon sees them land together, not one by one over the
    seconds the writing takes. A file changed meanwhile is not overwritten."""
    from orchsync.pm.writes import ConcurrentEdit, atomic_write

    for p in writes:
        assert p.path.startswith(DELEGATION + "/") and ".." not in p.path.split("/"), p.path
        full = repo.root / p.path
        now = full.read_bytes() if full.exists() else None
        if (now is not None and p.expected is None) or (
            p.expected is not None and (now is None or content_hash(now) != p.expected)
        ):
            raise ConcurrentEdit(f"{p.path} changed while orchsync was importing; nothing written")
    staged: list[tuple[Path, Path]] = []
    try:
        for n, p in enumerate(writes):
            full = repo.root / p.path
            tmp = full.parent / f".{full.name}.import-{os.getpid()}-{n}.orchsync-tmp"
            atomic_write(tmp, p.data or b"")
            staged.append((tmp, full))
        for tmp, full in staged:
            os.replace(tmp, full)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


_NOUN = {"sprint": "sprint", "task": "task", "adr": "ADR", "doc": "document"}


def _subject(result: ImportResult, writes: list[Planned]) -> str:
    """`import backlog.md demo: 9 created, 2 updated (3 sprints, 7 tasks, 1 ADR)`."""
    actions = Counter(p.action for p in writes)
    kinds = Counter(p.item.kind for p in writes)
    done = ", ".join(f"{actions[a]} {a}d" for a in ("create", "update") if actions[a])
    what = ", ".join(
        f"{kinds[k]} {_NOUN[k]}{'' if kinds[k] == 1 else 's'}" for k in KINDS if kinds[k]
    )
    return f"import {result.system} {result.project}: {done} ({what})"
