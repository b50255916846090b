"""`orchsync fix-ids`: after a merge, give duplicated ids back their uniqueness.

Two branches can each create task `fix-login`, or ADR-007. Git merges both files without a
conflict, and `orchsync check` reports the duplicate. This renames the newer one (the file
whose first commit is later): a task gets the first free `<code>-2`, `-3`, ...; an ADR or a
bug gets the next free number. Tasks of the renamed task's own sprint that depend on the
old code are pointed at the new one (they were written beside it, so they meant it); tasks
elsewhere keep pointing at the older task. Everything lands as one commit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from orchsync.errors import UsageError
from orchsync.model import Kind, Task
from orchsync.parse.layout import adr_path, bug_path, classify
from orchsync.parse.worktree import load_tree
from orchsync.repo import Repo

__all__ = ["Rename", "fix_ids", "replace_list_item"]


@dataclass(slots=True)
class Rename:
    kind: str
    old: str
    new: str
    old_path: str
    new_path: str
    references: list[str] = field(default_factory=list)  # files whose depends_on was updated

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "old_path": self.old_path,
            "new_path": self.new_path,
            "references": self.references,
        }


def _first_seen(repo: Repo, paths: list[str]) -> dict[str, str]:
    """path -> created_at from the index (git's first commit of the file); unsynced files are newest."""
    from orchsync import query

    with query.reader(repo) as con:
        rows = con.execute(
            "SELECT path, created_at FROM files WHERE path IN (SELECT unnest(?))", [paths]
        ).fetchall()
    return {p: str(c) for p, c in rows}


def _newest_last(repo: Repo, paths: list[str]) -> list[str]:
    seen = _first_seen(repo, paths)
    return sorted(paths, key=lambda p: (seen.get(p, "9999"), p))


def fix_ids(
    repo: Repo, *, dry_run: bool = False, actor: str | None = None, session: str | None = None
) -> dict[str, Any]:
    """Rename every newer duplicate; returns what was (or would be) renamed and the commit."""
    files = load_tree(repo.root)
    groups: dict[tuple[Kind, str], list[str]] = {}
    for f in files:
        if f.entity is not None and f.kind in (Kind.TASK, Kind.ADR, Kind.BUG):
            key = (f.kind, str(int(f.entity.code)) if f.kind is not Kind.TASK else f.entity.code)
            groups.setdefault(key, []).append(f.path)
    duplicates = {k: v for k, v in groups.items() if len(v) > 1}
    if not duplicates:
        return {"renames": [], "commit": None, "dry_run": dry_run}
    tasks = {f.path: f.entity for f in files if f.kind is Kind.TASK and isinstance(f.entity, Task)}
    taken_codes = {code for (kind, code) in groups if kind is Kind.TASK}
    taken_numbers = {
        kind: {int(code) for (k, code) in groups if k is kind} for kind in (Kind.ADR, Kind.BUG)
    }
    renames: list[Rename] = []
    for (kind, code), paths in sorted(duplicates.items()):
        for path in _newest_last(repo, paths)[1:]:
            if kind is Kind.TASK:
                renames.append(_plan_task(repo, path, code, taken_codes, tasks))
            else:
                renames.append(_plan_numbered(path, kind, taken_numbers[kind]))
    if dry_run:
        return {"renames": [r.to_dict() for r in renames], "commit": None, "dry_run": True}
    touched = _apply(repo, renames)
    from orchsync.pm.uncommitted import after_write
    from orchsync.sync import sync

    subject = f"fix-ids: renamed {len(renames)} duplicate id{'s' if len(renames) != 1 else ''}"
    with after_write(repo, touched, subject):
        result = sync(
            repo, touched, actor=actor, session=session, subject=subject, raise_blocked=True
        )
    return {"renames": [r.to_dict() for r in renames], "commit": result.commit, "dry_run": False}


def _plan_task(repo: Repo, path: str, code: str, taken: set[str], tasks: dict[str, Any]) -> Rename:
    n = 2
    while f"{code}-{n}" in taken or os.path.exists(
        repo.root / os.path.dirname(os.path.dirname(path)) / f"{code}-{n}"
    ):
        n += 1
    new = f"{code}-{n}"
    taken.add(new)
    sprint = classify(path).sprint
    old_dir = os.path.dirname(path)
    new_dir = f"{os.path.dirname(old_dir)}/{new}"
    refs = [
        p
        for p, t in tasks.items()
        if classify(p).sprint == sprint and code in t.depends_on and p != path
    ]
    return Rename("task", code, new, old_dir, new_dir, refs)


def _plan_numbered(path: str, kind: Kind, taken: set[int]) -> Rename:
    n = max(taken) + 1
    taken.add(n)
    name = os.path.basename(path)
    slug = name.split("-", 2)[2][:-3] if name.count("-") >= 2 else "untitled"
    new_path = adr_path(n, slug) if kind is Kind.ADR else bug_path(n, slug)
    old = name.split("-", 2)[1]
    return Rename(kind.value, old, f"{n:0{3 if kind is Kind.ADR else 4}d}", path, new_path)


def _apply(repo: Repo, renames: list[Rename]) -> list[str]:
    from orchsync.parse.fsread import is_beyond_link
    from orchsync.pm.frontmatter_edit import get_field, set_field
    from orchsync.pm.writes import LinkRefused, atomic_write, read_for_edit

    root = repo.root
    touched: list[str] = []
    for r in renames:
        for rel in (r.old_path, r.new_path):
            linked = is_beyond_link(root, rel)
            if linked is not None:
                raise LinkRefused(
                    f"{linked} is a symbolic link; orchsync does not move through links"
                )
        os.rename(root / r.old_path, root / r.new_path)
        touched += [r.old_path, r.new_path]
        if r.kind == "task":
            task_md = root / r.new_path / "TASK.md"
            try:
                raw = read_for_edit(root, f"{r.new_path}/TASK.md")
            except LinkRefused:  # a linked TASK.md: its code is its folder's, nothing to edit
                raw = b""
            if raw and get_field(raw, "code", path=str(task_md)) == r.old:
                atomic_write(task_md, set_field(raw, "code", r.new, path=str(task_md)), root=root)
            for ref in r.references:
                raw = read_for_edit(root, ref)
                atomic_write(
                    root / ref, replace_list_item(raw, "depends_on", r.old, r.new), root=root
                )
                touched.append(ref)
    return touched


def replace_list_item(raw: bytes, key: str, old: str, new: str) -> bytes:
    """Replace one scalar item of a top-level front-matter list, keeping every other byte."""
    text = raw.decode("utf-8")
    if not text.startswith("---"):
        raise UsageError(f"no front matter to edit ({key})")
    end = text.find("\n---", 3)
    yaml_text = text[: end if end > 0 else len(text)]
    node = yaml.compose(yaml_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(node, yaml.MappingNode):
        return raw
    for k, v in node.value:
        if k.value != key:
            continue
        items = v.value if isinstance(v, yaml.SequenceNode) else [v]
        for item in sorted(items, key=lambda n: -n.start_mark.index):
            if isinstance(item, yaml.ScalarNode) and item.value in (old, f"T:{old}"):
                replacement = new if item.value == old else f"T:{new}"
                text = (
                    text[: item.start_mark.index]
                    + _requote(text[item.start_mark.index : item.end_mark.index], replacement)
                    + text[item.end_mark.index :]
                )
    return text.encode("utf-8")


def _requote(original: str, value: str) -> str:
    if original[:1] in ("'", '"'):
        return original[0] + value + original[0]
    return value
