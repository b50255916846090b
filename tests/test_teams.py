"""Teams share a delegation tree through ordinary git remotes.

Two clones push and pull; each indexes what arrives. These tests use real bare remotes,
real `git pull`/`git merge`, and the CLI as a user would run it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SPRINT, git, init_repo, new_task, set_status, task_path, wait_for, write

from orchsync import query
from orchsync.faces.cli import cli
from orchsync.repo import find_repo


def run(repo: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--repo", str(repo), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def events_of(repo: Path, entity: str) -> list[tuple[str, str]]:
    with query.reader(find_repo(repo)) as con:
        return [
            (e["event_type"].removeprefix("orchestration."), e["commit"])
            for e in query.events(con, entity=entity, limit=None)
        ]


def clone(remote: Path, dest: Path) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    git(dest, "config", "user.name", "Test Author")
    git(dest, "config", "user.email", "author@example.com")
    return dest


def test_events_of_both_branches_appear_once_each_after_a_merge(example_repo: Path) -> None:
    run(example_repo, "sync")
    git(example_repo, "checkout", "-q", "-b", "feature")
    set_status(example_repo, task_path("phase-3-template-generation"), "in_progress")
    run(example_repo, "sync", "--actor", "agent-b")
    feature_commit = git(example_repo, "rev-parse", "HEAD").strip()
    git(example_repo, "checkout", "-q", "main")
    set_status(example_repo, task_path("phase-4-agent-init"), "blocked")
    run(example_repo, "sync", "--actor", "agent-a")
    git(example_repo, "merge", "-q", "--no-edit", "feature")

    # The next query catches the index up with the merge: no command to remember.
    phase3 = events_of(example_repo, "T:phase-3-template-generation")
    assert phase3.count(("task.status_updated", feature_commit)) == 1
    assert [e for e, _ in phase3].count("task.started") == 1
    phase4 = events_of(example_repo, "T:phase-4-agent-init")
    assert [e for e, _ in phase4].count("task.blocked") == 1

    # And a rebuild from git gives the same events, once each.
    run(example_repo, "reindex")
    assert events_of(example_repo, "T:phase-3-template-generation") == phase3


def test_a_pull_is_indexed_by_the_next_command(tmp_path: Path, example_repo: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(example_repo), str(remote))
    alice = clone(remote, tmp_path / "alice")
    bob = clone(remote, tmp_path / "bob")
    run(bob, "tasks")  # bob's index exists and is current

    set_status(alice, task_path("phase-3-template-generation"), "in_progress")
    run(alice, "sync", "--actor", "alice")
    git(alice, "push", "-q", "origin", "main")
    git(bob, "pull", "-q", "--ff-only")

    out = run(bob, "tasks", "--status", "in_progress", "--json")
    assert "phase-3-template-generation" in out
    assert [e for e, _ in events_of(bob, "T:phase-3-template-generation")].count(
        "task.started"
    ) == 1


def test_fix_ids_renames_the_newer_duplicates_in_one_commit(example_repo: Path) -> None:
    run(example_repo, "sync")
    git(example_repo, "checkout", "-q", "-b", "other")
    new_task(example_repo, "fix-login")
    write(
        example_repo,
        "delegation/adr/ADR-002-use-x.md",
        "---\ntitle: Use X\nstatus: proposed\n---\n",
    )
    run(example_repo, "sync")
    git(example_repo, "checkout", "-q", "main")
    time.sleep(1.1)  # commit times order the two branches' files: main's are newer
    write(example_repo, "delegation/sprints/s2/SPRINT.md", "---\ntitle: Second sprint\n---\n")
    new_task(example_repo, "fix-login", sprint="s2")
    new_task(example_repo, "needs-login", sprint="s2", depends_on="[fix-login]")
    new_task(example_repo, "also-needs-login", depends_on="[fix-login]")
    write(
        example_repo,
        "delegation/adr/ADR-002-use-y.md",
        "---\ntitle: Use Y\nstatus: proposed\n---\n",
    )
    run(example_repo, "sync")
    git(example_repo, "merge", "-q", "--no-edit", "other")

    checked = CliRunner().invoke(cli, ["--repo", str(example_repo), "check"])
    assert checked.exit_code == 1
    assert (
        "delegation/sprints/s2/fix-login/TASK.md: code: duplicate task code 'fix-login' "
        f"(also in {task_path('fix-login')})"
    ) in checked.stdout
    assert (
        "delegation/adr/ADR-002-use-x.md: code: duplicate ADR number '002' (also in delegation/adr/ADR-002-use-y.md)"
        in checked.stdout
    )

    head = git(example_repo, "rev-parse", "HEAD").strip()
    out = run(example_repo, "fix-ids")
    assert (
        "renamed task fix-login -> fix-login-2: delegation/sprints/s2/fix-login -> delegation/sprints/s2/fix-login-2"
        in out
    )
    assert (
        "renamed adr 002 -> 003: delegation/adr/ADR-002-use-y.md -> delegation/adr/ADR-003-use-y.md"
        in out
    )
    assert git(example_repo, "rev-list", "--count", f"{head}..HEAD").strip() == "1"
    assert git(example_repo, "status", "--porcelain").strip() == ""

    # The task beside the renamed one follows it; the one in the other sprint keeps the older task.
    assert (
        "depends_on: [fix-login-2]"
        in (example_repo / "delegation/sprints/s2/needs-login/TASK.md").read_text()
    )
    assert (
        "depends_on: [fix-login]"
        in (example_repo / task_path("also-needs-login", SPRINT)).read_text()
    )
    assert CliRunner().invoke(cli, ["--repo", str(example_repo), "check"]).exit_code == 0
    moved = events_of(example_repo, "T:fix-login-2")
    assert ("task.moved", git(example_repo, "rev-parse", "HEAD").strip()) in moved
    assert run(example_repo, "fix-ids") == "no duplicate ids\n"


def test_init_merge_driver_shows_and_writes_the_driver(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "fresh")
    out = run(repo, "init", "--merge-driver", "--dry-run")
    assert "merge.orchsync.driver" in out
    assert not (repo / ".gitattributes").exists()
    run(repo, "init", "--merge-driver")
    assert "orchsync merge-file %O %A %B %P" in git(repo, "config", "merge.orchsync.driver")
    assert "delegation/**/*.md merge=orchsync" in (repo / ".gitattributes").read_text()
    assert git(repo, "log", "--format=%s").strip()  # the first snapshot commit exists


# --- a simulated team: two clones, each with its daemon, pushing and pulling in turns --------

TEAM_TASKS = 50


def _team_tree(repo: Path) -> None:
    """50 tasks with comments in their front matter, the kind of file people keep."""
    write(
        repo, "delegation/sprints/team/SPRINT.md", "---\ntitle: Team sprint\nstatus: active\n---\n"
    )
    for n in range(TEAM_TASKS):
        write(
            repo,
            task_path(f"t{n:02d}", "team"),
            f"---\ntitle: Task {n}  # keep this comment\nstatus: pending\npriority: P2\n"
            f"labels: [team]\n---\n\n# Task {n}\n\nBody line one.\n",
        )


def _settled(repo: Path) -> bool:
    """The daemon committed everything: no pending change and a clean work tree."""
    return (
        git(repo, "status", "--porcelain", "--untracked-files=all", "--", "delegation").strip()
        == ""
    )


@pytest.mark.slow
def test_a_team_of_two_clones_with_daemons_converges(tmp_path: Path, daemon) -> None:
    seed = init_repo(tmp_path / "seed")
    _team_tree(seed)
    run(seed, "init", "--merge-driver")
    git(seed, "add", ".gitattributes")
    git(seed, "commit", "-q", "-m", "merge driver for delegation/")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(remote))
    clones = {}
    for name in ("alice", "bob"):
        repo = clone(remote, tmp_path / name)
        run(repo, "init", "--merge-driver")  # the driver's git config is per clone
        clones[name] = repo
    # Each teammate owns one field of every task: alice moves status, bob changes priority
    # and labels, and both edit the same 50 files in every round.
    edits = {
        "alice": [
            ("status: pending", "status: in_progress"),
            ("status: in_progress", "status: completed"),
        ],
        "bob": [("priority: P2", "priority: P1"), ("labels: [team]", "labels: [team, backend]")],
    }
    daemons = {name: daemon(repo, "--debounce", "150") for name, repo in clones.items()}
    for round_ in range(2):
        for name, repo in clones.items():
            old, new = edits[name][round_]
            for n in range(TEAM_TASKS):
                path = repo / task_path(f"t{n:02d}", "team")
                text = path.read_text()
                if old in text:
                    path.write_text(text.replace(old, new, 1))
            wait_for(
                lambda r=repo: _settled(r), 30, what=f"{name}'s daemon to commit round {round_}"
            )
            git(repo, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
            wait_for(lambda r=repo: _settled(r), 30, what=f"{name}'s work tree after the pull")
            git(repo, "push", "-q", "origin", "HEAD:main")
    git(clones["alice"], "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    for d in daemons.values():
        assert d.terminate() == 0

    alice, bob = clones["alice"], clones["bob"]
    assert git(alice, "rev-parse", "HEAD") == git(bob, "rev-parse", "HEAD")
    for n in range(TEAM_TASKS):
        a = (alice / task_path(f"t{n:02d}", "team")).read_text()
        assert a == (bob / task_path(f"t{n:02d}", "team")).read_text()
        front = a.split("---\n")[1]
        assert "<<<<<<<" not in front and ">>>>>>>" not in front and "conflicts:" not in front
        assert "status: completed" in front and "priority: P1" in front
        assert "labels: [team, backend]" in front and "# keep this comment" in front
    sql = "select task_code, status, priority from orchestration_tasks order by 1"
    assert run(alice, "query", sql, "--json") == run(bob, "query", sql, "--json")
    assert CliRunner().invoke(cli, ["--repo", str(alice), "check"]).exit_code == 0
