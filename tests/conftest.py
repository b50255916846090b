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


# --- sync engine and index (tests/test_sync.py, test_index.py, test_history.py,
# --- test_concurrency.py) ------------------------------------------------------------------

SPRINT = "orchestration-api-v2"


def task_path(code: str, sprint: str = SPRINT) -> str:
    """`delegation/sprints/<sprint>/<code>/TASK.md`."""
    return f"delegation/sprints/{sprint}/{code}/TASK.md"


def replace_in(repo: Path, relpath: str, old: str, new: str) -> Path:
    """Edit a file in place, replacing the one occurrence of `old`; fails if it is not there."""
    path = repo / relpath
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {relpath}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def set_status(repo: Path, relpath: str, status: str) -> Path:
    """Rewrite the `status:` line of a file's front matter."""
    import re

    path = repo / relpath
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^status: .*$", f"status: {status}", text, count=1), "utf-8")
    return path


def new_task(repo: Path, code: str, sprint: str = SPRINT, **fields: object) -> str:
    """Write a minimal TASK.md (title, status pending, plus `fields`); returns its path."""
    front = {"title": f"Task {code}", "status": "pending", **fields}
    lines = "".join(f"{k}: {v}\n" for k, v in front.items())
    path = task_path(code, sprint)
    write(repo, path, f"---\n{lines}---\n\n# {code}\n")
    return path


def trailers(repo: Path, rev: str = "HEAD") -> list[tuple[str, str]]:
    """A commit's trailers as git itself reads them (`git interpret-trailers --parse`)."""
    message = git(repo, "log", "-1", "--format=%B", rev)
    proc = subprocess.run(
        ["git", "-C", str(repo), "interpret-trailers", "--parse"],
        input=message,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(line.split(": ", 1)) for line in proc.stdout.splitlines()]  # type: ignore[misc]


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


INDEX_TABLES = (
    "files",
    "sprints",
    "tasks",
    "task_agents",
    "agents",
    "adrs",
    "bugs",
    "sessions",
    "terms",
    "term_docs",
    "events",
    "meta",
)


def dump_index(repo: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every index table, ordered by all columns: what an identical index means."""
    import duckdb

    con = duckdb.connect(str(repo / ".git" / "orchsync" / "index.duckdb"), read_only=True)
    try:
        out = {}
        for table in INDEX_TABLES:
            ncols = len(con.execute(f"SELECT * FROM {table} LIMIT 0").description)
            order = ", ".join(str(i) for i in range(1, ncols + 1))
            out[table] = con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        return out
    finally:
        con.close()


@pytest.fixture
def orchsync(runner):
    """`orchsync(repo, "sync", ...)`: run the CLI on a repository, exceptions not caught."""
    from orchsync.faces.cli import cli

    def run(repo: Path, *args: str, input: str | None = None):
        return runner.invoke(cli, ["--repo", str(repo), *args], input=input, catch_exceptions=False)

    return run


def commit_at(repo: Path, message: str, when: str) -> str:
    """`commit_all`, but authored and committed at `when` (e.g. `2025-10-14T09:00:00Z`)."""
    env = {**GIT_ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for args in (["add", "-A"], ["commit", "-q", "--allow-empty", "-m", message]):
        subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)
    return git(repo, "rev-parse", "HEAD").strip()


# --- daemon (tests/test_watch.py) ----------------------------------------------------------
# `orchsync watch` runs as a real child process on a real repository; tests write files,
# run git, and poll (with a deadline, never a blind sleep) for what the daemon must do.


def wait_for(
    predicate,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
    got=None,
):
    """Poll `predicate()` until it returns something truthy; returns that value or fails.

    `got()`, when given, says what was there instead: it goes into the failure message."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            seen = f"; instead: {got()!r}" if got is not None else ""
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}{seen}")
        time.sleep(interval)


class DaemonProcess:
    """One `orchsync watch` child process: start it, wait until it watches, stop or kill it."""

    def __init__(self, repo: Path, *args: str, log: Path | None = None) -> None:
        self.repo = repo
        self.args = args
        self.log = log or repo.parent / f"{repo.name}-daemon.stderr"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def state(self) -> dict:
        import json

        try:
            return json.loads((self.repo / ".git" / "orchsync" / "daemon.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def start(self, wait: bool = True) -> DaemonProcess:
        import sys

        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchsync", "--repo", str(self.repo), "watch", *self.args],
                cwd=self.repo,
                env=GIT_ENV,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> dict:
        """Until daemon.json says this process watches (the start-up catch-up is done)."""

        def ready():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"orchsync watch exited with {self.proc.returncode}:\n{self.stderr()}"
                )
            s = self.state()
            return (
                s
                if s.get("pid") == self.pid and s.get("state") in ("watching", "waiting")
                else None
            )

        return wait_for(ready, timeout, what="the daemon to start watching")

    def stderr(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait: the daemon finishes its batch and exits 0."""
        assert self.proc is not None
        self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def daemon(example_repo: Path):
    """`daemon(repo=example_repo, *args)`: start `orchsync watch ARGS` and wait until it watches.

    Every daemon started is terminated (or killed) when the test ends.
    """
    started: list[DaemonProcess] = []

    def start(repo: Path = example_repo, *args: str, wait: bool = True) -> DaemonProcess:
        d = DaemonProcess(repo, *args)
        started.append(d)
        return d.start(wait=wait)

    yield start
    for d in started:
        if d.alive():
            try:
                d.terminate(timeout=10)
            except subprocess.TimeoutExpired:
                d.kill()


# --- agent init and sessions (tests/test_agent_init.py, tests/test_sessions.py) -------------


@pytest.fixture
def agent_init(orchsync):
    """`agent_init(repo, "T:x", "--agent", "a")`: the JSON answer of `orchsync agent init`."""
    import json

    def run(repo: Path, *args: str) -> dict:
        result = orchsync(repo, "agent", "init", *args, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run


@pytest.fixture
def session_cmd(orchsync):
    """`session_cmd(repo, "start", "T:x", "--agent", "a")`: `orchsync session ... --json`, parsed."""
    import json

    def run(repo: Path, *args: str) -> dict:
        result = orchsync(repo, "session", *args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run
