"""Locate a repository and orchsync's runtime folder inside its git directory.

Pure path work (no pygit2), so every command can resolve `--repo` without paying for imports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchsync.errors import NotARepository

# `orchsync.parse.layout.DELEGATION`, repeated rather than imported: layout pulls in the model
# (~15 ms), and every command resolves its repository first (tests check they agree).
DELEGATION = "delegation"

__all__ = ["Repo", "find_repo"]


@dataclass(frozen=True, slots=True)
class Repo:
    """A work tree root and its git directory (a worktree's own, when in a linked worktree)."""

    root: Path
    git_dir: Path

    @property
    def delegation(self) -> Path:
        return self.root / DELEGATION

    @property
    def runtime(self) -> Path:
        """`.git/orchsync/`: index, locks, journal and logs; never in the work tree."""
        return self.git_dir / "orchsync"

    def ensure_runtime(self) -> Path:
        """The runtime folder, created if needed (a refusal is a `StorageFault`)."""
        from orchsync.faults import RETRY_COMMAND, storage

        with storage(self.runtime, root=self.root, retry=RETRY_COMMAND):
            self.runtime.mkdir(parents=True, exist_ok=True)
        return self.runtime

    @property
    def index_path(self) -> Path:
        return self.runtime / "index.duckdb"

    def rel(self, path: str | os.PathLike[str]) -> str:
        """A path as a repo-relative POSIX string.

        Absolute paths are taken as they are. `delegation/...` is already repo-relative (what
        the library passes around). Anything else was typed by a user: relative to the current
        directory when that is inside the repository, else relative to the repository root.
        """
        p = Path(path)
        text = p.as_posix()
        if not p.is_absolute():
            cwd = Path.cwd().resolve()
            inside = cwd == self.root or self.root in cwd.parents
            if text == DELEGATION or text.startswith(DELEGATION + "/") or not inside:
                p = self.root / p
            else:
                p = cwd / p
        # Lexically first, as git reads paths: a symbolic link inside the tree is a file
        # of the tree (recorded as a link), never a way out of it, so it is not resolved.
        try:
            return Path(os.path.normpath(p)).relative_to(self.root).as_posix()
        except ValueError:
            pass
        try:  # the root reached by another name (a linked /tmp): resolve the folder only
            return _rel_lexical(p, self.root)
        except ValueError as exc:
            raise NotARepository(f"{path} is outside the repository {self.root}") from exc

    def head_ref(self) -> str | None:
        """The branch HEAD points at (`refs/heads/main`), or None when detached. No pygit2."""
        try:
            text = (self.git_dir / "HEAD").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text[5:].strip() if text.startswith("ref:") else None

    def ref_tip(self, ref: str) -> str | None:
        """A ref's commit id read from loose or packed refs, cheaply enough for every query."""
        common = self.common_dir
        for base in (self.git_dir, common):
            try:
                value = (base / ref).read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if value.startswith("ref:"):
                return self.ref_tip(value[4:].strip())
            return value or None
        try:
            with open(common / "packed-refs", encoding="utf-8") as fh:
                for line in fh:
                    if line.endswith(f" {ref}\n") or line.rstrip("\n").endswith(f" {ref}"):
                        return line.split(" ", 1)[0]
        except OSError:
            pass
        return None

    @property
    def common_dir(self) -> Path:
        """The main .git of a linked worktree (refs and objects live there)."""
        try:
            text = (self.git_dir / "commondir").read_text(encoding="utf-8").strip()
        except OSError:
            return self.git_dir
        p = Path(text)
        return p if p.is_absolute() else (self.git_dir / p).resolve()


def _rel_lexical(p: Path, root: Path) -> str:
    parent = p.parent.resolve() if p.parent.exists() else Path(os.path.abspath(p.parent))
    return (parent / p.name).relative_to(root).as_posix()


def find_repo(start: str | os.PathLike[str] | None = None) -> Repo:
    """Walk up from `start` (default: cwd) to the nearest folder holding `.git`."""
    here = Path(start or os.getcwd()).resolve()
    if not here.exists():
        raise NotARepository(f"{here} does not exist")
    for candidate in (here, *here.parents):
        dot_git = candidate / ".git"
        if dot_git.is_dir():
            return Repo(candidate, dot_git)
        if dot_git.is_file():  # a linked worktree or submodule: `gitdir: <path>`
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                git_dir = Path(text[len("gitdir:") :].strip())
                if not git_dir.is_absolute():
                    git_dir = (candidate / git_dir).resolve()
                return Repo(candidate, git_dir)
    raise NotARepository(
        f"not a git repository (or any parent up to /): {here}; run `git init` first"
    )
