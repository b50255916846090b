"""Turn what a user types (`T:phase-1`, `S:sprint`, `ADR:6`, a path) into a file in the tree.

Lookups read the work tree (the files are the truth), not the index, so they work before
anything was synced and cost a directory listing, not a DuckDB open.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from orchsync.errors import UnknownEntity, UsageError
from orchsync.model import KEY_PREFIX, Kind
from orchsync.parse.layout import DELEGATION, classify, session_path, sprint_path
from orchsync.repo import Repo

__all__ = ["task_target", "Target", "parse_key", "resolve", "task_codes"]

_PREFIXES = {v.lower(): k for k, v in KEY_PREFIX.items()} | {
    "sprint": Kind.SPRINT,
    "task": Kind.TASK,
    "agent": Kind.AGENT,
    "bug": Kind.BUG,
}
_NUMBERED = re.compile(r"^(ADR|BUG)[-:]?0*(\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Target:
    kind: Kind
    code: str
    path: str  # repo-relative; may not exist on disk (deleted entities)

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX.get(self.kind, self.kind.value)}:{self.code}"


def parse_key(key: str) -> tuple[Kind | None, str]:
    """`T:x` -> (TASK, 'x'); `ADR-006` -> (ADR, '6'); a bare word or path -> (None, word)."""
    key = key.strip()
    m = _NUMBERED.match(key)
    if m:
        return (Kind.ADR if m.group(1).upper() == "ADR" else Kind.BUG), m.group(2)
    prefix, sep, rest = key.partition(":")
    if sep and prefix.lower() in _PREFIXES and rest:
        kind = _PREFIXES[prefix.lower()]
        if kind in (Kind.ADR, Kind.BUG):
            return kind, str(int(rest)) if rest.isdigit() else rest
        return kind, rest.strip()
    return None, key


def task_codes(root: Path) -> dict[str, list[str]]:
    """task code -> TASK.md paths (more than one when a code is duplicated across sprints)."""
    out: dict[str, list[str]] = {}
    sprints = root / DELEGATION / "sprints"
    try:
        sprint_dirs = list(os.scandir(sprints))
    except FileNotFoundError:
        return out
    for s in sprint_dirs:
        if not s.is_dir(follow_symlinks=False):  # a linked folder is a file to git
            continue
        for t in os.scandir(s.path):
            if t.is_dir(follow_symlinks=False) and _is_file(os.path.join(t.path, "TASK.md")):
                out.setdefault(t.name, []).append(f"{DELEGATION}/sprints/{s.name}/{t.name}/TASK.md")
    return out


def resolve(repo: Repo, key: str, *, prefix_ok: bool = True, must_exist: bool = True) -> Target:
    """Find the file of an entity key, a task code prefix, or a path."""
    kind, code = parse_key(key)
    if kind is None:
        candidate = Path(key)
        if "/" in key or candidate.suffix or (repo.root / key).exists():
            rel = repo.rel(key)
            loc = classify(rel)
            if must_exist and not _exists(repo.root, rel):
                raise UnknownEntity(f"no such file: {rel}")
            return Target(loc.kind, loc.code or rel, rel)
        kind = Kind.TASK  # a bare word is a task code: the common case for agents
    if kind is Kind.TASK:
        return _task(repo, code, prefix_ok)
    if kind is Kind.SPRINT:
        path = sprint_path(code)
    elif kind is Kind.AGENT:
        path = next(
            (
                f"{DELEGATION}/agents/{code}{ext}"
                for ext in (".yml", ".yaml")
                if _exists(repo.root, f"{DELEGATION}/agents/{code}{ext}")
            ),
            f"{DELEGATION}/agents/{code}.yml",
        )
    elif kind is Kind.SESSION:
        path = session_path(code)
    elif kind in (Kind.ADR, Kind.BUG):
        path = _numbered(repo, kind, int(code) if code.isdigit() else -1)
    else:
        raise UsageError(f"cannot resolve {key!r}")
    if must_exist and not _exists(repo.root, path):
        raise UnknownEntity(f"unknown {kind.value} {key!r} (no file {path})")
    loc = classify(path)
    return Target(kind, loc.code or code, path)


def _is_file(path: str) -> bool:
    """A file as git sees one: a regular file or a symbolic link (never followed)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _exists(root: Path, rel: str) -> bool:
    """`rel` is a file as git sees one, reached through real folders only."""
    from orchsync.parse.fsread import Reader

    try:
        with Reader(root) as reader:
            st = reader.lstat(rel)
    except ValueError:
        return False
    return st is not None and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode))


def _exact_task(root: Path, code: str) -> list[str]:
    """The TASK.md paths of exactly `code`: one stat per sprint, not one per task.

    Each candidate is stat'ed relative to the sprints folder (~3 us, where opening each
    sprint's folder to stat inside it without following links costs ~25 us: 25 ms at
    100,000 tasks); a hit is then checked again without following any link on its way.
    """
    from orchsync.parse.fsread import Reader

    if not code or "/" in code or code in (".", "..") or "\0" in code:
        return []
    base = root / DELEGATION / "sprints"
    try:
        sprint_dirs = list(os.scandir(base))
        folder = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    try:
        with Reader(root) as reader:
            for s in sprint_dirs:
                if not s.is_dir(follow_symlinks=False):
                    continue
                try:
                    os.stat(f"{s.name}/{code}/TASK.md", dir_fd=folder, follow_symlinks=False)
                except (OSError, ValueError):
                    continue
                path = f"{DELEGATION}/sprints/{s.name}/{code}/TASK.md"
                try:
                    st = reader.lstat(path)
                except ValueError:
                    continue
                if st is not None and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                    out.append(path)
    finally:
        os.close(folder)
    return out


def _task(repo: Repo, code: str, prefix_ok: bool) -> Target:
    # The exact code first (~100 stats at 10,000 tasks); the full listing (~10,000) only
    # for a prefix or an unknown code.
    paths: list[str] | None = _exact_task(repo.root, code)
    if paths:
        codes = {code: paths}
    else:
        codes = task_codes(repo.root)
        paths = codes.get(code)
    if paths is None and prefix_ok:
        matches = sorted(c for c in codes if c.startswith(code))
        if len(matches) == 1:
            code, paths = matches[0], codes[matches[0]]
        elif len(matches) > 1:
            shown = ", ".join(matches[:10]) + (" ..." if len(matches) > 10 else "")
            raise UnknownEntity(f"task {code!r} is ambiguous: {len(matches)} tasks match ({shown})")
    if not paths:
        raise UnknownEntity(f"unknown task {code!r}")
    if len(paths) > 1:
        raise UnknownEntity(
            f"task code {code!r} is duplicated: {', '.join(paths)}; run `orchsync check`"
        )
    return Target(Kind.TASK, code, paths[0])


def _numbered(repo: Repo, kind: Kind, number: int) -> str:
    folder = "adr" if kind is Kind.ADR else "backlog"
    base = repo.root / DELEGATION / folder
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        names = []
    for name in names:
        loc = classify(f"{DELEGATION}/{folder}/{name}")
        if loc.kind is kind and loc.number == number:
            return f"{DELEGATION}/{folder}/{name}"
    width = 3 if kind is Kind.ADR else 4
    return f"{DELEGATION}/{folder}/{kind.value.upper()}-{number:0{width}d}.md"


def task_target(repo: Repo, task: str) -> tuple[str, str]:
    """(code, TASK.md path) of `T:x`, a code, an unambiguous prefix, or a path to TASK.md."""
    key = task.strip()
    if not key:
        raise UsageError("task must not be empty")
    if "/" not in key and not key.upper().startswith("T:"):
        key = f"T:{key}"
    target = resolve(repo, key)
    if target.kind is Kind.TASK_AGENT:
        target = resolve(repo, f"T:{target.code}")
    if target.kind is not Kind.TASK:
        raise UsageError(f"{task!r} is not a task ({target.path})")
    return target.code, target.path
