"""A one-shot write (no daemon) commits and leaves indexing to the next reader.

Importing and opening DuckDB costs a write command more than its commit, so without a
running daemon `task status`, `orchsync sync` and the other writes commit, return the
events of their commit, and stop there. The next read (`query.reader`) finds the index
behind the branch and catches it up from git, with the same replay a rebuild uses: every
read is fresh, and the index equals a rebuild. A sync that commits nothing still catches
the index up, so `orchsync sync` after a pull works as documented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
from conftest import GIT_ENV, SPRINT, commit_all, dump_index, replace_in, task_path

PHASE3 = "phase-3-template-generation"
NO_DAEMON = {**GIT_ENV, "ORCHSYNC_NO_DAEMON": "1"}


def orchsync(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchsync", "--repo", str(repo), *args],
        env=NO_DAEMON,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def indexed_tip(repo: Path) -> str | None:
    """What the index says it reflects, read straight from the file (no catch-up)."""
    with duckdb.connect(str(repo / ".git/orchsync/index.duckdb"), read_only=True) as con:
        row = con.execute("SELECT value FROM meta WHERE key = 'last_commit'").fetchone()
    return row[0] if row else None


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_write_commits_and_the_next_read_sees_it(example_repo):
    assert orchsync(example_repo, "sync").returncode == 0  # index built
    built = indexed_tip(example_repo)

    wrote = orchsync(example_repo, "task", "status", PHASE3, "in_progress", "--json")

    assert wrote.returncode == 0, wrote.stderr
    assert indexed_tip(example_repo) == built != head(example_repo)  # DuckDB not touched
    listed = orchsync(example_repo, "tasks", "--status", "in_progress", "--json")
    assert PHASE3 in [t["task"] for t in json.loads(listed.stdout)]
    assert indexed_tip(example_repo) == head(example_repo)


def test_the_events_a_write_returns_are_the_ones_the_index_then_holds(example_repo):
    orchsync(example_repo, "sync")

    wrote = json.loads(
        orchsync(example_repo, "task", "status", PHASE3, "completed", "--json").stdout
    )
    events = json.loads(
        orchsync(example_repo, "events", "--entity", f"T:{PHASE3}", "--json").stdout
    )

    committed = [e for e in events if e["commit"] == wrote["commit"]]
    assert [e["event_type"] for e in committed] == [e["event_type"] for e in wrote["events"]]
    assert "orchestration.task.completed" in [e["event_type"] for e in committed]


def test_a_sync_that_commits_nothing_still_catches_the_index_up(example_repo):
    orchsync(example_repo, "sync")
    replace_in(example_repo, task_path(PHASE3), "status: pending", "status: blocked")
    commit_all(example_repo, "a plain commit")

    assert orchsync(example_repo, "sync").stdout == "nothing to sync\n"
    assert indexed_tip(example_repo) == head(example_repo)


def test_after_one_shot_writes_the_index_equals_a_rebuild(example_repo):
    orchsync(example_repo, "sync")
    for status in ("in_progress", "blocked", "completed"):
        assert orchsync(example_repo, "task", "status", PHASE3, status).returncode == 0
    assert orchsync(example_repo, "sprint", "create", "--id", "s-next").returncode == 0
    orchsync(example_repo, "tasks")  # the next read catches up
    live = dump_index(example_repo)
    for path in (example_repo / ".git/orchsync").glob("index.duckdb*"):
        path.unlink()

    assert orchsync(example_repo, "reindex").returncode == 0

    assert dump_index(example_repo) == live


def test_a_write_imports_neither_duckdb_nor_the_read_side(example_repo):
    orchsync(example_repo, "sync")
    script = (
        "import sys\n"
        "from orchsync.faces.cli import cli\n"
        "try:\n"
        f"    cli(['--repo', {str(example_repo)!r}, 'task', 'status', {PHASE3!r}, 'blocked'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('duckdb', '_duckdb')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=NO_DAEMON,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert SPRINT in (example_repo / task_path(PHASE3)).as_posix()


def test_show_reads_its_file_through_git_without_pygit2_or_the_parser(example_repo):
    """`show T:x` reads one blob: one `git cat-file` process, not a 45 ms import."""
    script = (
        "import sys\n"
        "from orchsync.faces.cli import cli\n"
        "try:\n"
        f"    cli(['--repo', {str(example_repo)!r}, 'show', 'T:{PHASE3}', '--at', 'HEAD'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pygit2', 'yaml', 'duckdb'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=NO_DAEMON, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "status: pending" in out.stdout
