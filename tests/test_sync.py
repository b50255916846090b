"""`orchsync sync`: changed files under delegation/ become one snapshot commit and its events.

A snapshot commit holds only delegation/ paths, carries `Orchsync-*` trailers that git itself
parses, and leaves everything else of the user's alone: staged work stays staged, `git status`
stays clean, and nothing is committed while git is in the middle of something.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    GIT_ENV,
    SPRINT,
    commit_all,
    git,
    init_repo,
    new_task,
    replace_in,
    set_status,
    task_path,
    trailers,
    write,
)

from orchsync import query
from orchsync.errors import LockTimeout
from orchsync.git.store import GitStore
from orchsync.repo import find_repo
from orchsync.sync import sync

PHASE3 = task_path("phase-3-template-generation")
SPRINT_MD = f"delegation/sprints/{SPRINT}/SPRINT.md"
QA_AGENT = "delegation/agents/qa-engineer.yml"


def snapshot(repo: Path, **kwargs):
    """The library call every writer makes: sync the whole tree."""
    return sync(find_repo(repo), **kwargs)


def kinds(result) -> list[str]:
    """Event types of a sync, without the `orchestration.` prefix, in derivation order."""
    return [e.event_type.removeprefix("orchestration.") for e in result.events]


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def subjects(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def committed_paths(repo: Path, rev: str = "HEAD") -> list[str]:
    return git(repo, "show", "--format=", "--name-only", rev).split()


# --- one change, one commit, git-parseable trailers -----------------------------------------


def test_a_status_change_is_one_commit_whose_trailers_git_reads_back(orchsync, example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    digest = hashlib.sha256((example_repo / PHASE3).read_bytes()).hexdigest()

    result = orchsync(example_repo, "sync", "--actor", "qa-engineer", "--session", "K-1")

    sha = head(example_repo)
    assert result.exit_code == 0
    assert result.stdout == (
        f"committed {sha[:12]}: task phase-3-template-generation: pending -> in_progress (1 file)\n"
    )
    assert committed_paths(example_repo) == [PHASE3]
    parsed = trailers(example_repo)
    assert parsed[:4] == [
        ("Orchsync-Event", "orchestration.task.status_updated T:phase-3-template-generation"),
        ("Orchsync-Event", "orchestration.task.started T:phase-3-template-generation"),
        ("Orchsync-Entity", "T:phase-3-template-generation"),
        ("Orchsync-Hash", f"{digest} {PHASE3}"),
    ]
    assert [key for key, _ in parsed[4:6]] == ["Orchsync-Correlation", "Orchsync-Time"]
    assert parsed[6:] == [("Orchsync-Agent", "qa-engineer"), ("Orchsync-Session", "K-1")]


def test_the_indexed_events_carry_the_commit_the_hash_and_who(example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    digest = hashlib.sha256((example_repo / PHASE3).read_bytes()).hexdigest()

    result = snapshot(example_repo, actor="qa-engineer", session="K-1")

    with query.reader(find_repo(example_repo)) as con:
        rows = query.events(con, entity="T:phase-3-template-generation", limit=None)
    rows = [r for r in rows if r["commit"] == result.commit]
    assert [
        (r["event_type"], r["commit"], r["hash"], r["agent"], r["session_key"]) for r in rows
    ] == [
        (f"orchestration.{kind}", result.commit, digest, "qa-engineer", "K-1")
        for kind in ("task.status_updated", "task.started", "file.synced")
    ]
    assert [r["payload"] for r in rows] == [
        {"from": "pending", "to": "in_progress"},
        {"from": "pending"},
        {"path": PHASE3, "hash": digest, "size": (example_repo / PHASE3).stat().st_size},
    ]
    assert len({r["correlation_id"] for r in rows}) == 1


# --- every kind of change, and the events it derives ----------------------------------------


def _move_phase5_to_a_new_sprint(repo: Path) -> None:
    write(repo, "delegation/sprints/s2/SPRINT.md", "---\ntitle: S2\nstatus: planning\n---\n")
    snapshot(repo)
    src = repo / f"delegation/sprints/{SPRINT}/phase-5-pm-commands"
    shutil.move(src, repo / "delegation/sprints/s2/phase-5-pm-commands")


def _delete_phase6(repo: Path) -> None:
    shutil.rmtree(repo / f"delegation/sprints/{SPRINT}/phase-6-integration")


EDITS = {
    "sprint created": (
        lambda r: write(
            r, "delegation/sprints/s2/SPRINT.md", "---\ntitle: S2\nstatus: planning\n---\n"
        ),
        ["sprint.created", "file.synced"],
    ),
    "sprint updated": (
        lambda r: replace_in(r, SPRINT_MD, "owner: Engineering Team", "owner: Platform Team"),
        ["sprint.updated", "file.synced"],
    ),
    "sprint status": (
        lambda r: set_status(r, SPRINT_MD, "completed"),
        ["sprint.status_updated", "file.synced"],
    ),
    "sprint deleted": (lambda r: os.remove(r / SPRINT_MD), ["sprint.deleted", "file.deleted"]),
    "task created": (lambda r: new_task(r, "t-new"), ["task.created", "file.synced"]),
    "task updated": (
        lambda r: replace_in(r, PHASE3, "priority: P1", "priority: P0"),
        ["task.updated", "file.synced"],
    ),
    "task started": (
        lambda r: set_status(r, PHASE3, "in_progress"),
        ["task.status_updated", "task.started", "file.synced"],
    ),
    "task completed": (
        lambda r: set_status(r, task_path("phase-2-event-system"), "completed"),
        ["task.status_updated", "task.completed", "file.synced"],
    ),
    "task blocked": (
        lambda r: set_status(r, PHASE3, "blocked"),
        ["task.status_updated", "task.blocked", "file.synced"],
    ),
    "task moved": (
        _move_phase5_to_a_new_sprint,
        ["task.agent_config_moved", "file.synced", "task.moved", "file.synced"],
    ),
    "task deleted": (
        _delete_phase6,
        ["task.agent_config_deleted", "file.deleted", "task.deleted", "file.deleted"],
    ),
    "agent updated": (
        lambda r: replace_in(r, QA_AGENT, "role: QA engineer", "role: QA lead"),
        ["agent.updated", "file.synced"],
    ),
    "adr created": (
        lambda r: write(
            r, "delegation/adr/ADR-002-x.md", "---\ntitle: X\nstatus: proposed\n---\n# X\n"
        ),
        ["adr.created", "file.synced"],
    ),
    "bug reported": (
        lambda r: write(
            r,
            "delegation/backlog/BUG-0002-y.md",
            "---\ntitle: Y\nstatus: open\npriority: P2\n---\n# Y\n",
        ),
        ["bug.reported", "file.synced"],
    ),
    "session started": (
        lambda r: write(r, "delegation/sessions/k1.md", "---\ntitle: K1\nstatus: open\n---\n"),
        ["session.started", "file.synced"],
    ),
    "invalid file": (
        lambda r: write(r, task_path("bad"), "---\ntitle: Bad\nstatus: bogus\n---\n"),
        ["task.created", "file.synced", "file.invalid"],
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_each_kind_of_change_derives_its_events(example_repo, edit):
    change, expected = EDITS[edit]
    change(example_repo)

    result = snapshot(example_repo)

    assert kinds(result) == expected
    notable = [f"orchestration.{k}" for k in expected if not k.startswith("file.")]
    assert [v.split()[0] for k, v in trailers(example_repo) if k == "Orchsync-Event"] == notable


def test_an_update_names_each_changed_field_with_old_and_new(example_repo):
    replace_in(example_repo, PHASE3, "priority: P1", "priority: P0")
    replace_in(example_repo, PHASE3, "agent: backend-engineer", "agent: qa-engineer")

    (updated, _synced) = snapshot(example_repo).events

    assert updated.payload == {
        "changes": {
            "agent": {"old": "backend-engineer", "new": "qa-engineer"},
            "priority": {"old": "P1", "new": "P0"},
        }
    }


def test_moving_a_task_folder_is_one_move_not_a_delete_and_a_create(example_repo):
    _move_phase5_to_a_new_sprint(example_repo)

    result = snapshot(example_repo)

    moved = [e for e in result.events if e.event_type == "orchestration.task.moved"]
    assert [e.payload for e in moved] == [
        {
            "from_path": task_path("phase-5-pm-commands"),
            "to_path": task_path("phase-5-pm-commands", "s2"),
            "from_sprint": SPRINT,
            "to_sprint": "s2",
        }
    ]
    assert not {"orchestration.task.created", "orchestration.task.deleted"} & {
        e.event_type for e in result.events
    }
    assert result.subject == "orchsync: 2 files (1 task.agent_config_moved, 1 task.moved)"


def test_an_invalid_file_is_committed_and_the_sync_exits_1(orchsync, example_repo):
    path = write(example_repo, task_path("bad"), "---\ntitle: [unclosed\nstatus: pending\n---\n")

    result = orchsync(example_repo, "sync")

    assert result.exit_code == 1
    assert result.stdout == f"committed {head(example_repo)[:12]}: task bad: created (1 file)\n"
    assert result.stderr == (
        f"invalid: {task_path('bad')}:3: invalid YAML: did not find expected ',' or ']'\n"
    )
    assert git(example_repo, "show", f"HEAD:{task_path('bad')}") == path.read_text()
    with query.reader(find_repo(example_repo)) as con:
        (invalid,) = query.events(con, type="file.invalid", limit=None)
    assert invalid["payload"]["diagnostics"] == [
        {
            "path": task_path("bad"),
            "line": 3,
            "field": None,
            "message": "invalid YAML: did not find expected ',' or ']'",
            "severity": "error",
        }
    ]


# --- nothing to do --------------------------------------------------------------------------


def test_a_sync_with_no_change_makes_no_commit(orchsync, example_repo):
    before = head(example_repo)

    result = orchsync(example_repo, "sync")

    assert (result.exit_code, result.stdout) == (0, "nothing to sync\n")
    assert head(example_repo) == before


def test_dry_run_says_what_it_would_commit_and_commits_nothing(orchsync, example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    before = head(example_repo)

    result = orchsync(example_repo, "sync", "--dry-run")

    assert result.exit_code == 0
    assert result.stdout == (
        "would commit: task phase-3-template-generation: pending -> in_progress (1 file)\n"
    )
    assert head(example_repo) == before
    assert git(example_repo, "status", "--porcelain") == f" M {PHASE3}\n"


def test_syncing_named_paths_leaves_other_edits_pending(example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    replace_in(example_repo, QA_AGENT, "role: QA engineer", "role: QA lead")

    result = snapshot(example_repo, paths=[str(example_repo / PHASE3)])

    assert result.files == [PHASE3]
    assert git(example_repo, "status", "--porcelain") == f" M {QA_AGENT}\n"


# --- the user's git state is left alone ------------------------------------------------------


def test_an_unrelated_staged_file_stays_staged_and_uncommitted(example_repo):
    write(example_repo, "notes.txt", "work in progress\n")
    git(example_repo, "add", "notes.txt")
    set_status(example_repo, PHASE3, "in_progress")

    snapshot(example_repo)

    assert committed_paths(example_repo) == [PHASE3]
    assert git(example_repo, "status", "--porcelain") == "A  notes.txt\n"


def test_a_delegation_file_staged_differently_keeps_the_users_staged_version(example_repo):
    set_status(example_repo, PHASE3, "blocked")
    git(example_repo, "add", PHASE3)
    staged = (example_repo / PHASE3).read_text()
    set_status(example_repo, PHASE3, "in_progress")

    snapshot(example_repo)

    assert "status: in_progress" in git(example_repo, "show", f"HEAD:{PHASE3}")
    assert git(example_repo, "show", f":{PHASE3}") == staged
    cached = git(example_repo, "diff", "--cached", PHASE3)
    assert "-status: in_progress\n+status: blocked\n" in cached


def test_git_status_is_clean_after_a_sync_of_unstaged_edits(example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    new_task(example_repo, "t-new")
    _delete_phase6(example_repo)
    _move_phase5_to_a_new_sprint(example_repo)

    snapshot(example_repo)

    assert git(example_repo, "status", "--porcelain") == ""
    assert git(example_repo, "diff", "--cached", "--stat") == ""


def _start_a_conflicting_merge(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    write(repo, "README.md", "other side\n")
    commit_all(repo, "other side")
    git(repo, "checkout", "-q", "main")
    write(repo, "README.md", "main side\n")
    commit_all(repo, "main side")
    proc = subprocess.run(
        ["git", "-C", str(repo), "merge", "other"], env=GIT_ENV, capture_output=True, text=True
    )
    assert proc.returncode != 0 and (repo / ".git" / "MERGE_HEAD").exists()


def test_nothing_is_committed_while_a_merge_is_in_progress(orchsync, example_repo):
    _start_a_conflicting_merge(example_repo)
    set_status(example_repo, PHASE3, "in_progress")
    before = head(example_repo)

    result = orchsync(example_repo, "sync")
    status = orchsync(example_repo, "status")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "waiting: a merge is in progress; snapshots wait until it ends\n"
    assert head(example_repo) == before
    assert "snapshots wait: a merge is in progress; snapshots wait until it ends\n" in status.stdout
    assert f"pending changes: 1\n  {PHASE3}\n" in status.stdout


def test_nothing_is_committed_on_a_detached_head(orchsync, example_repo):
    git(example_repo, "checkout", "-q", "--detach")
    set_status(example_repo, PHASE3, "in_progress")
    before = head(example_repo)

    result = orchsync(example_repo, "sync")
    status = orchsync(example_repo, "status")

    assert result.exit_code == 1
    assert result.stderr == (
        "waiting: HEAD is detached; check out a branch (snapshots go to the checked-out branch)\n"
    )
    assert head(example_repo) == before
    assert status.stdout.startswith("branch: (detached)  snapshots to: -\nsnapshots wait: HEAD")


def test_a_held_index_lock_is_waited_for_then_reported_and_never_deleted(
    orchsync, example_repo, monkeypatch
):
    monkeypatch.setattr("orchsync.git.store.INDEX_LOCK_WAIT", 1.0)
    lock = write(example_repo, ".git/index.lock", b"")
    set_status(example_repo, PHASE3, "in_progress")
    before = head(example_repo)

    started = time.monotonic()
    result = orchsync(example_repo, "sync")

    assert time.monotonic() - started >= 1.0
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {lock} is held by another git process; waited 1 s. "
        "If no git command is running, that process died: remove the file yourself.\n"
    )
    assert lock.exists()
    assert head(example_repo) == before


def test_an_index_lock_released_during_the_wait_lets_the_sync_go_on(example_repo):
    lock = write(example_repo, ".git/index.lock", b"")
    set_status(example_repo, PHASE3, "in_progress")
    threading.Timer(0.3, lock.unlink).start()

    result = snapshot(example_repo)

    assert result.commit == head(example_repo)
    assert git(example_repo, "status", "--porcelain") == ""


def test_a_git_command_taking_the_index_between_read_and_write_is_waited_for_and_kept(
    example_repo, monkeypatch
):
    """An editor's `git status` (or a `git add`) takes index.lock for a moment, perhaps
    right between the sync's read of the index and its write: the sync waits, reads the
    index again and redoes its update on top, so what the other command wrote is kept."""
    from orchsync.git.store import GitStore

    other = "delegation/sprints/orchestration-api-v2/SPRINT.md"
    write(example_repo, other, (example_repo / other).read_text() + "\nstaged by hand\n")
    update = GitStore._update_entries
    raced: list[bool] = []

    def racing(self, index, *args):
        if not raced:
            raced.append(True)
            git(example_repo, "add", other)  # the other command's write...
            lock = write(example_repo, ".git/index.lock", b"")  # ...and its lock, held a bit
            threading.Timer(0.3, lock.unlink).start()
        return update(self, index, *args)

    monkeypatch.setattr(GitStore, "_update_entries", racing)
    set_status(example_repo, PHASE3, "in_progress")

    result = sync(find_repo(example_repo), [PHASE3])

    assert raced and result.commit == head(example_repo)
    assert git(example_repo, "diff", "--cached", "--name-only") == f"{other}\n"
    assert git(example_repo, "status", "--porcelain") == f"M  {other}\n"


def test_an_unborn_branch_waits_for_orchsync_init_which_makes_the_first_commit(orchsync, tmp_path):
    repo = init_repo(tmp_path / "fresh")
    new_task(repo, "t-1", sprint="s1")

    refused = orchsync(repo, "sync")
    init = orchsync(repo, "init")

    assert refused.exit_code == 1
    assert refused.stderr == (
        "waiting: the branch has no commits yet; run `orchsync init` to make the first one\n"
    )
    sha = head(repo)
    assert init.exit_code == 0
    assert init.stdout == (
        f"runtime folder {repo / '.git' / 'orchsync'}\n"
        "wrote delegation/orchsync.yml (defaults)\n"
        f"snapshot {sha[:12]}: orchsync: 2 files (1 task.created)\n"
    )
    assert git(repo, "rev-list", "--count", "HEAD") == "1\n"
    assert git(repo, "status", "--porcelain") == ""
    assert sorted(committed_paths(repo)) == ["delegation/orchsync.yml", task_path("t-1", "s1")]


def test_gitignored_files_under_delegation_are_not_committed(example_repo):
    write(example_repo, ".gitignore", "*.draft.md\n")
    commit_all(example_repo, "ignore drafts")
    write(example_repo, "delegation/sessions/notes.draft.md", "scratch\n")
    set_status(example_repo, PHASE3, "in_progress")

    result = snapshot(example_repo)

    assert result.files == [PHASE3]
    assert git(example_repo, "status", "--porcelain") == ""


def test_commit_gpgsign_is_refused_with_the_setting_that_allows_unsigned_snapshots(
    orchsync, example_repo
):
    git(example_repo, "config", "commit.gpgSign", "true")
    set_status(example_repo, PHASE3, "in_progress")
    before = head(example_repo)

    refused = orchsync(example_repo, "sync")
    git(example_repo, "config", "orchsync.gpgSign", "false")
    allowed = orchsync(example_repo, "sync")

    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: commit.gpgSign is true")
    assert "`git config orchsync.gpgSign false`" in refused.stderr
    assert allowed.exit_code == 0
    assert git(example_repo, "rev-parse", "HEAD~1").strip() == before


def _hook(repo: Path, script: str) -> Path:
    hook = write(repo, ".git/hooks/pre-commit", f"#!/bin/sh\n{script}\n")
    hook.chmod(0o755)
    return hook


def test_hooks_do_not_run_by_default(example_repo):
    _hook(example_repo, "touch hook-ran; exit 1")
    set_status(example_repo, PHASE3, "in_progress")

    result = snapshot(example_repo)

    assert result.commit == head(example_repo)
    assert not (example_repo / "hook-ran").exists()


def test_run_hooks_runs_pre_commit_and_a_failing_hook_blocks(orchsync, example_repo):
    replace_in(example_repo, "delegation/orchsync.yml", "run_hooks: false", "run_hooks: true")
    _hook(example_repo, "echo ran >> hook-ran")
    snapshot(example_repo)
    _hook(example_repo, "echo 'no snapshots on Fridays' >&2; exit 1")
    set_status(example_repo, PHASE3, "in_progress")
    before = head(example_repo)

    result = orchsync(example_repo, "sync")

    assert (example_repo / "hook-ran").read_text() == "ran\n"
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: pre-commit hook refused the snapshot: no snapshots on Fridays\n"
    )
    assert head(example_repo) == before


# --- where snapshots land --------------------------------------------------------------------


def test_a_commit_made_meanwhile_is_kept_and_the_snapshot_lands_on_top(example_repo, monkeypatch):
    real_commit = GitStore.commit
    calls = []

    def someone_commits_first(self, *args, **kwargs):
        if not calls:
            write(example_repo, "README.md", "edited by the user\n")
            git(example_repo, "commit", "-q", "-m", "user commit", "README.md")
        calls.append(args)
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(GitStore, "commit", someone_commits_first)
    set_status(example_repo, PHASE3, "in_progress")

    result = snapshot(example_repo)

    assert len(calls) == 2
    assert subjects(example_repo) == [
        "task phase-3-template-generation: pending -> in_progress",
        "user commit",
        "example delegation tree",
    ]
    assert result.commit == head(example_repo)
    assert git(example_repo, "show", "HEAD:README.md") == "edited by the user\n"
    assert git(example_repo, "status", "--porcelain") == ""


def test_a_dedicated_target_ref_takes_the_snapshots_and_the_branch_stays(example_repo):
    replace_in(
        example_repo,
        "delegation/orchsync.yml",
        "target_ref: null",
        "target_ref: refs/orchsync/<branch>",
    )
    set_status(example_repo, PHASE3, "in_progress")
    branch = head(example_repo)

    result = snapshot(example_repo)

    assert result.ref == "refs/orchsync/main"
    assert head(example_repo) == branch
    assert git(example_repo, "rev-parse", "refs/orchsync/main").strip() == result.commit
    assert git(example_repo, "rev-parse", "refs/orchsync/main~1").strip() == branch
    with query.reader(find_repo(example_repo)) as con:
        in_progress = [r["task"] for r in query.tasks(con, status="in_progress")]
    assert in_progress == ["phase-2-event-system", "phase-3-template-generation"]


def test_lock_timeout_is_a_clear_error_from_the_library(example_repo):
    from orchsync.repo import repo_lock

    with repo_lock(find_repo(example_repo)), pytest.raises(LockTimeout, match="held by another"):
        snapshot(example_repo, lock_timeout=0.2)


def test_when_the_user_commits_the_same_edit_meanwhile_there_is_nothing_left_to_commit(
    orchsync, example_repo, monkeypatch
):
    real_commit = GitStore.commit

    def the_user_commits_it_first(self, *args, **kwargs):
        monkeypatch.setattr(GitStore, "commit", real_commit)
        git(example_repo, "commit", "-q", "-am", "the user's own commit")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(GitStore, "commit", the_user_commits_it_first)
    set_status(example_repo, PHASE3, "in_progress")

    result = orchsync(example_repo, "sync")

    assert (result.exit_code, result.stdout) == (0, "nothing to sync\n")
    assert subjects(example_repo)[:2] == ["the user's own commit", "example delegation tree"]
