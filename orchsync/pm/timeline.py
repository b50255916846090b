"""An entity's history: its versions in git, found by key, revision or content hash.

`log` and `replay` read the index (whose events carry commit, hash, agent and session);
`show` and `rollback` read exact bytes back from git. Rollback never rewrites history: it
writes the old bytes to the file and syncs them as a new commit.
"""

from __future__ import annotations

import contextlib
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

__all__ = ["Ref", "Version", "entity_versions", "find_version", "resolve_ref", "rollback", "show"]

MIN_PREFIX = 4  # hex digits: git's own minimum for a short commit id
_HEX = re.compile(r"^[0-9a-f]+$")


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


@dataclass(frozen=True, slots=True)
class Ref:
    """What a revision or a content hash named: a commit, or a version of a file.

    For a content hash, `commit` is the newest commit that wrote those bytes (at `path`).
    """

    text: str
    commit: str
    hash: str | None = None
    path: str | None = None
    blob: str | None = None
    link: bool = False


def resolve_ref(
    repo: Repo,
    text: str,
    *,
    key: str | None = None,
    commits: bool = True,
    contents: bool = True,
    store: Any = None,
) -> Ref:
    """The one reading of a revision or content hash, shared by every command.

    - `sha256:<hex>` is a content hash; any other run of 4 to 64 hex digits may be either:
      a commit id (a unique prefix among the branch's commits) or the sha256 of a version
      of the entity (`key`; of any file when None). When both, or several of either,
      match, the error lists the candidates: give more digits.
    - anything else is a git revision (`HEAD~2`, a branch, a tag).

    `commits=False` / `contents=False` leave that reading out (`show --hash` is content only,
    `show --at` a revision only).
    """
    from orchsync.git.store import GitStore

    store = store or GitStore(repo)
    raw = (text or "").strip()
    wanted = raw.lower()
    sha_only = wanted.startswith("sha256:")
    if sha_only:
        wanted = wanted.removeprefix("sha256:")
        commits = False
    if "\n" in raw or len(raw) > 200:
        raise UsageError(f"{raw[:40]!r}...: not a revision or content hash")
    if not _HEX.match(wanted) or len(wanted) > 64:
        if sha_only or not commits:
            raise UsageError(
                f"{raw!r} is not a sha256 content hash "
                f"(or a prefix of at least {MIN_PREFIX} hex digits)"
            )
        return Ref(raw, str(store.resolve(raw).id))
    if len(wanted) < MIN_PREFIX:
        raise UsageError(f"{raw!r} is too short: give at least {MIN_PREFIX} hex digits")
    by_commit = _commit_matches(store, wanted) if commits and len(wanted) <= 40 else []
    by_content = _content_matches(repo, store, wanted, key) if contents else []
    found = [Ref(raw, c) for c in by_commit] + by_content
    if len(found) == 1:
        return found[0]
    if not found and commits and not sha_only:
        with contextlib.suppress(UsageError):  # a branch or tag whose name is hex digits
            return Ref(raw, str(store.resolve(raw).id))
    if not found:
        what = " or ".join(w for w, on in (("commit", commits), ("content hash", contents)) if on)
        scope = f" of {key}" if key and contents else ""
        raise UnknownEntity(f"no {what} {raw}{scope} in the history of {store.target_ref()}")
    shown = [
        f"commit {r.commit[:12]} ({_subject(store, r.commit)})" for r in found if r.hash is None
    ]
    shown += [
        f"content sha256:{r.hash[:16]} ({r.path} at {r.commit[:12]})" for r in found if r.hash
    ]
    raise UsageError(
        f"{raw!r} is ambiguous: {'; '.join(shown[:10])}"
        + (f"; and {len(shown) - 10} more" if len(shown) > 10 else "")
        + "; give more digits"
        + (" (or `sha256:...` for a content hash)" if by_commit and by_content else "")
    )


def _commit_matches(store: Any, prefix: str) -> list[str]:
    """Commits whose id starts with `prefix`: git's own short-id lookup, and when git finds
    it ambiguous among all objects, the commits of the branch that match."""
    import pygit2

    try:
        obj = store.git.revparse_single(prefix)
    except pygit2.AmbiguousError:
        tip = store.tip()
        if tip is None:
            return []
        return [str(c.id) for c in store.git.walk(tip.id) if str(c.id).startswith(prefix)]
    except (KeyError, ValueError, pygit2.GitError):
        return []
    try:
        return [str(obj.peel(pygit2.Commit).id)] if obj.type_str in ("commit", "tag") else []
    except (pygit2.GitError, ValueError):
        return []


def _content_matches(repo: Repo, store: Any, prefix: str, key: str | None) -> list[Ref]:
    """Distinct versions (by sha256) whose hash starts with `prefix`, newest first, each at
    the newest commit that wrote it; of the entity `key`'s files, or of any file."""
    from orchsync.git.history import iter_changes

    target = _target(repo, key) if key else None
    tip = store.tip()
    if tip is None:
        return []
    seen: dict[str, Ref] = {}
    for cc in reversed(list(iter_changes(store, str(tip.id)))):
        for path, (_old, new) in cc.changes.items():
            if new is None or (
                target is not None and target.path and not _same_entity(target, path)
            ):
                continue
            digest = content_hash(store.blob_bytes(new))
            if digest.startswith(prefix) and digest not in seen:
                seen[digest] = Ref(prefix, cc.commit, digest, path, new, cc.is_link(path, new))
    return list(seen.values())


def _subject(store: Any, commit: str) -> str:
    try:
        return str(store.git.get(commit).message.split("\n", 1)[0])[:60]
    except (AttributeError, KeyError, ValueError):
        return "?"


def entity_versions(
    repo: Repo, key: str, *, session: str | None = None, since: str | None = None
) -> list[Version]:
    """Every commit that touched the entity (moves included), oldest first.

    `since` (a revision, or a content hash of the entity's: `resolve_ref`) keeps the
    versions made after it.
    """
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
        base = resolve_ref(repo, since, key=key, store=store).commit
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
    if not hash and key and (at is None or not _HEX.match(at.lower())):
        # The common case, one file where the work tree has it, read through one `git
        # cat-file` (no pygit2 import); anything else (a task that lived in another
        # sprint then, a hex digit run, which `resolve_ref` reads as a commit of the branch
        # or a content hash, no git to run) is asked of pygit2 below.
        from orchsync.git.quickread import read_at

        target = _target(repo, key)
        if target.path:
            quick = read_at(repo.root, at or "HEAD", target.path)
            if quick is not None:
                commit_id, data, mode = quick
                return target.path, data, commit_id, mode == LINK_MODE
    from orchsync.git.store import GitStore

    store = GitStore(repo)
    if hash:
        ref = resolve_ref(repo, hash, key=key, commits=False, store=store)
        assert ref.path is not None and ref.blob is not None
        return ref.path, store.blob_bytes(ref.blob), ref.commit, ref.link
    if not key:
        raise UsageError("name an entity (T:x, S:x, a path) or give --hash")
    commit = store.git.get(resolve_ref(repo, at or "HEAD", contents=False, store=store).commit)
    assert commit is not None  # resolve_ref names a commit of this repository
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

    ref = resolve_ref(repo, to, key=key)
    if ref.hash is not None:  # a version of the entity's file, by its content hash
        assert ref.path is not None and ref.blob is not None
        path, data, link = ref.path, GitStore(repo).blob_bytes(ref.blob), ref.link
    else:
        path, data, _commit, link = find_version(repo, key, at=ref.commit)
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
