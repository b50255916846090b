"""An entity's history: its versions in git, found by key, revision or content hash.

`log` and `replay` read the index (whose events carry commit, hash, agent and session);
`show` and `rollback` read exact bytes back from git. Rollback never rewrites history: it
writes the old bytes to the file and syncs them as a new commit.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

from orchsync.errors import UnknownEntity, UsageError
from orchsync.model import Kind, content_hash
from orchsync.parse.fsread import LINK_MODE
from orchsync.parse.layout import DELEGATION, classify
from orchsync.parse.resolve import Target, parse_key, resolve
from orchsync.repo import Repo

__all__ = ["Version", "entity_versions", "find_version", "rollback", "show"]

_HEX = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(slots=True)
class Version:
    """One commit that touched an entity, with what happened and who did it."""

    commit: str
    emitted_at: str
    hash: str | None
    path: str | None
    agent: str | None
    session: str | None
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "time": self.emitted_at,
            "hash": self.hash,
            "path": self.path,
            "agent": self.agent,
            "session": self.session,
            "events": self.events,
        }


def _target(repo: Repo, key: str) -> Target:
    """Resolve in the work tree; for deleted entities fall back to the key as written."""
    try:
        return resolve(repo, key, prefix_ok=True)
    except UnknownEntity:
        kind, code = parse_key(key)
        if kind is None and "/" in key:
            return Target(Kind.FILE, key, repo.rel(key))
        if kind is None:
            kind = Kind.TASK
        return Target(kind, code, "")


def entity_versions(
    repo: Repo, key: str, *, session: str | None = None, since: str | None = None
) -> list[Version]:
    """Every commit that touched the entity (moves included), oldest first."""
    from orchsync import query

    target = _target(repo, key)
    entity = target.path if target.kind in (Kind.FILE, Kind.CONFIG) else target.key
    with query.reader(repo) as con:
        rows = query.events(con, entity=entity, session=session, limit=None)
    versions: dict[str, Version] = {}
    for row in rows:
        commit = row.get("commit")
        if not commit:
            continue  # journal events (agent.initialized...) are not versions
        v = versions.get(commit)
        if v is None:
            v = versions[commit] = Version(
                commit,
                row["emitted_at"],
                row.get("hash"),
                row.get("path"),
                row.get("agent"),
                row.get("session_key"),
            )
        elif _is_main_file(target, row.get("path")) and not _is_main_file(target, v.path):
            v.hash, v.path = row.get("hash"), row.get("path")  # TASK.md's version, not AGENT.yml's
        v.events.append({"event_type": row["event_type"], "payload": row["payload"]})
    if since:  # "after a revision" is a question for git, not for clocks
        from orchsync.git.store import GitStore

        store = GitStore(repo)
        base = str(store.resolve(since).id)
        return [v for v in versions.values() if not store.is_ancestor(v.commit, base)]
    return list(versions.values())


def _is_main_file(target: Target, path: str | None) -> bool:
    """Whether a path is the entity's own file (TASK.md for a task, not its AGENT.yml)."""
    return path is not None and classify(path).kind is target.kind


def find_version(
    repo: Repo, key: str | None, *, at: str | None = None, hash: str | None = None
) -> tuple[str, bytes, str, bool]:
    """(path, bytes, commit, is a link) of an entity as of a revision, or of any file with
    that content hash. A symbolic link's bytes are its link text (git mode 120000)."""
    if not hash and key:
        # The common case, one file where the work tree has it, read through one `git
        # cat-file` (no pygit2 import); anything else (a task that lived in another
        # sprint then, no git to run) is asked of pygit2 below.
        from orchsync.git.quickread import read_at

        target = _target(repo, key)
        if target.path:
            found = read_at(repo.root, at or "HEAD", target.path)
            if found is not None:
                commit_id, data, mode = found
                return target.path, data, commit_id, mode == LINK_MODE
    from orchsync.git.store import GitStore

    store = GitStore(repo)
    if hash:
        from orchsync.git.history import iter_changes

        wanted = hash.lower().removeprefix("sha256:")
        if not _HEX.match(wanted):
            raise UsageError(
                f"--hash {hash!r} is not a sha256 (or a prefix of at least 7 hex digits)"
            )
        target = _target(repo, key) if key else None
        tip = store.tip()
        if tip is None:
            raise UnknownEntity("the branch has no commits")
        for cc in reversed(list(iter_changes(store, str(tip.id)))):
            for path, (_old, new) in cc.changes.items():
                if new is None or (
                    target is not None and target.path and not _same_entity(target, path)
                ):
                    continue
                data = store.blob_bytes(new)
                if content_hash(data).startswith(wanted):
                    return path, data, cc.commit, cc.is_link(path, new)
        raise UnknownEntity(
            f"no version with content hash {hash} in the history of {store.target_ref()}"
        )
    if not key:
        raise UsageError("name an entity (T:x, S:x, a path) or give --hash")
    commit = store.resolve(at or "HEAD")
    target = _target(repo, key)
    found = _path_in_tree(store, commit.tree, target)
    if found is None:
        raise UnknownEntity(
            f"{target.key} does not exist at {at or 'HEAD'} ({str(commit.id)[:12]})"
        )
    entry = store.blob_entry(commit.tree, found)
    assert entry is not None  # _path_in_tree only returns paths that hold a blob
    return found, store.blob_bytes(entry[0]), str(commit.id), entry[1] == LINK_MODE


def _same_entity(target: Target, path: str) -> bool:
    if target.kind is Kind.TASK:
        return path.endswith(f"/{target.code}/TASK.md")
    return path == target.path


def _path_in_tree(store: Any, tree: Any, target: Target) -> str | None:
    if target.path and store.blob_id(tree, target.path):
        return target.path
    if target.kind is Kind.TASK:  # the task may have lived in another sprint then
        sprints = store.entry(tree, f"{DELEGATION}/sprints")
        if sprints is not None:
            for s in sprints:
                candidate = f"{DELEGATION}/sprints/{s.name}/{target.code}/TASK.md"
                if store.blob_id(tree, candidate):
                    return candidate
    return None


def show(
    repo: Repo,
    key: str | None,
    *,
    at: str | None = None,
    hash: str | None = None,
    parse: bool = True,
) -> dict[str, Any]:
    """The version's path, commit, content hash, kind and text; with `parse`, also its
    entity's fields and diagnostics (the parser's import is most of a plain `show`)."""
    path, data, commit, link = find_version(repo, key, at=at, hash=hash)
    out: dict[str, Any] = {
        "path": path,
        "commit": commit,
        "hash": content_hash(data),
        "kind": classify(path).kind.value,
        "entity": None,
        "diagnostics": [],
        "text": data.decode("utf-8", errors="replace"),
    }
    if parse:
        from orchsync.parse import parse_file

        parsed = parse_file(path, data, link=link)
        out.update(
            hash=parsed.hash,
            kind=parsed.kind.value,
            entity=parsed.entity.fields() if parsed.entity else None,
            diagnostics=[str(d) for d in parsed.diagnostics],
        )
    return out


def rollback(
    repo: Repo,
    key: str,
    to: str,
    *,
    force: bool = False,
    actor: str | None = None,
    session: str | None = None,
) -> dict[str, Any]:
    """Write the bytes of an earlier version back and commit them; never rewrites history."""
    from orchsync.git.store import GitStore
    from orchsync.parse.fsread import read_entry
    from orchsync.pm.uncommitted import after_write
    from orchsync.pm.writes import atomic_write
    from orchsync.sync import sync

    is_hash = bool(_HEX.match(to.lower().removeprefix("sha256:"))) and len(to) >= 12
    try:
        path, data, _commit, link = (
            find_version(repo, key, hash=to) if is_hash else find_version(repo, key, at=to)
        )
    except UnknownEntity:
        if not is_hash:
            raise
        path, data, _commit, link = find_version(repo, key, at=to)
    if link:
        raise UsageError(
            f"that version of {path} is a symbolic link (to {os.fsdecode(data)!r}); orchsync "
            "does not restore links: pick another version"
        )
    current_target = _target(repo, key)
    dest = current_target.path or path
    full = repo.root / dest
    store = GitStore(repo)
    tip = store.tip()
    committed = store.blob_id(tip.tree, dest) if tip is not None else None
    # What git would record there now (a link's text, never its target's bytes); a link is
    # replaced by the rollback (the rename swaps the entry), never written through.
    on_disk = read_entry(repo.root, dest).data
    if on_disk is not None and not force:
        blob = hashlib.sha1(b"blob %d\x00" % len(on_disk) + on_disk).hexdigest()
        if blob != committed:
            raise UsageError(
                f"{dest} has edits that are not synced yet; sync them first, or use --force to discard them"
            )
    if on_disk == data:
        return {"path": dest, "commit": None, "hash": content_hash(data), "changed": False}
    atomic_write(full, data, root=repo.root)
    subject = f"{current_target.kind.value} {current_target.code}: rolled back to {to[:12]}"
    with after_write(repo, [dest], subject):
        result = sync(
            repo,
            [dest],
            actor=actor,
            session=session,
            rollback={dest: to},
            subject=subject,
            raise_blocked=True,
        )
    return {
        "path": dest,
        "commit": result.commit,
        "hash": content_hash(data),
        "changed": True,
        "events": [e.event_type for e in result.events],
    }
