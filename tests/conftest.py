"""Shared fixtures: real git repositories holding real files, built in `tmp_path`.

Tests should read like a session at a terminal: make a repository, write a file, run a
command, look at what it printed. So nothing here is mocked: repositories are made with
the `git` binary, files are written to disk, and the CLI runs through click's CliRunner.

Layout of this file (add new fixtures to the section they belong to):

- helpers       plain functions (`git`, `init_repo`, `commit_all`, `write`) that tests and
                fixtures both use; import them with `from conftest import write`.
- repositories  `empty_repo`, `example_repo`.
- cli           `runner`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

# The project checkout: its delegation/ tree is the example every README command runs on.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_TREE = PROJECT_ROOT / "delegation"

# git sees neither the user's ~/.gitconfig nor /etc/gitconfig: a signing key, a global
# hook path or another default branch there must not change what a test sees.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}


# --- helpers -------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    """Run `git -C repo ARGS...` and return its stdout; a failing git fails the test loudly."""
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def init_repo(path: Path) -> Path:
    """`git init -b main` with a local user.name/user.email, so commits work anywhere."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test Author")
    git(path, "config", "user.email", "author@example.com")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit_all(repo: Path, message: str) -> str:
    """Stage everything and commit it; returns the new commit's sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def write(repo: Path, relpath: str, text: str | bytes) -> Path:
    """Write a file at a repo-relative POSIX path, creating its folders; returns its path.

    Text is written byte for byte (no newline translation), so a test that writes CRLF
    gets CRLF on disk; bytes are written as given.
    """
    path = repo / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


# --- repositories --------------------------------------------------------------------------


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A git repository on branch main with one commit (a README) and no delegation/ tree."""
    repo = init_repo(tmp_path / "empty")
    write(repo, "README.md", "# empty\n")
    commit_all(repo, "initial commit")
    return repo


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A git repository holding a copy of the project's example delegation/ tree, committed.

    The tree is the orchestration-api-v2 sprint: six tasks (phase-1 completed, phase-2
    in progress, the rest pending), three agent profiles, ADR-001, BUG-0001, one session
    and orchsync.yml. README.md is copied too, because task `context` fields point at it.
    The work tree is clean: HEAD holds exactly what is on disk.
    """
    repo = init_repo(tmp_path / "example")
    shutil.copytree(EXAMPLE_TREE, repo / "delegation")
    readme = PROJECT_ROOT / "README.md"
    write(repo, "README.md", readme.read_bytes() if readme.exists() else b"# example\n")
    commit_all(repo, "example delegation tree")
    return repo


# --- cli -----------------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    """A CliRunner; invoke with `runner.invoke(cli, [...], catch_exceptions=False)`.

    stdout and stderr are kept apart (`result.stdout`, `result.stderr`): commands print
    results on stdout and summaries or errors on stderr.
    """
    return CliRunner()
