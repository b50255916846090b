"""An entity's history in git: what each commit changed, and `log`, `show`, `replay`, `rollback`.

Every version of a file is found again by revision or by the sha256 of its bytes alone, and a
rollback writes those exact bytes back as a new commit; history is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import (
    GIT_ENV,
    commit_all,
    git,
    new_task,
    replace_in,
    set_status,
    sha256_of,
    task_path,
    trailers,
    write,
)

from orchsync.git.history import commit_changes, iter_changes
from orchsync.git.store import GitStore
from orchsync.repo import find_repo
from orchsync.sync import sync

PHASE3 = task_path("phase-3-template-generation")
T3 = "T:phase-3-template-generation"


def snapshot(repo: Path, **kwargs):
    return sync(find_repo(repo), **kwargs)


def changes_of(repo: Path, rev: str = "HEAD") -> dict[str, tuple[str | None, str | None]]:
    store = GitStore(find_repo(repo))
    return commit_changes(store, store.resolve(rev)).changes


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def blob(repo: Path, rev: str, path: str) -> str:
    return git(repo, "rev-parse", f"{rev}:{path}").strip()


# --- what a commit changed under delegation/ ---------------------------------------------------


def test_a_commits_changes_are_what_git_diff_reports_under_delegation(example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    new_task(example_repo, "t-new")
    (example_repo / "delegation/agents/tech-writer.yml").unlink()
    write(example_repo, "README.md", "not under delegation/\n")
    commit_all(example_repo, "three changes and a README")

    changes = changes_of(example_repo)

    name_status = git(example_repo, "diff", "--name-status", "HEAD~1", "HEAD", "--", "delegation")
    assert sorted(changes) == sorted(line.split("\t")[1] for line in name_status.splitlines())
    assert changes[PHASE3] == (
        blob(example_repo, "HEAD~1", PHASE3),
        blob(example_repo, "HEAD", PHASE3),
    )
    assert changes[task_path("t-new")] == (None, blob(example_repo, "HEAD", task_path("t-new")))
    assert changes["delegation/agents/tech-writer.yml"][1] is None


def test_commits_that_do_not_touch_delegation_are_skipped(example_repo):
    write(example_repo, "README.md", "edited\n")
    commit_all(example_repo, "readme only")
    store = GitStore(find_repo(example_repo))

    walked = [c.commit for c in iter_changes(store, str(store.resolve("HEAD").id))]

    assert walked == [git(example_repo, "rev-parse", "HEAD~1").strip()]


def test_a_merge_reports_only_what_differs_from_every_parent(example_repo):
    agent = "delegation/agents/qa-engineer.yml"
    git(example_repo, "checkout", "-q", "-b", "feature")
    set_status(example_repo, PHASE3, "in_progress")  # only on feature
    replace_in(example_repo, agent, "role: QA engineer", "role: QA lead")  # both sides
    commit_all(example_repo, "feature")
    git(example_repo, "checkout", "-q", "main")
    new_task(example_repo, "t-main")  # only on main
    replace_in(example_repo, agent, "  - end-to-end-testing", "  - e2e-testing")
    commit_all(example_repo, "main")
    git(example_repo, "merge", "-q", "--no-ff", "feature", "-m", "merge")

    changes = changes_of(example_repo)

    assert list(changes) == [agent]  # merged from both sides: a version neither parent had
    merged = (example_repo / agent).read_text()
    assert "role: QA lead" in merged and "  - e2e-testing" in merged


# --- log, replay, show ------------------------------------------------------------------------


@pytest.fixture
def three_versions(example_repo) -> Path:
    """phase-3 in three synced versions: pending (HEAD~2), in_progress (HEAD~1), blocked (HEAD).

    The first is the plain `git commit` of the example tree; the next two are snapshots by
    agent `backend-engineer`, the last one in session `K-2`.
    """
    snapshot(example_repo)
    set_status(example_repo, PHASE3, "in_progress")
    snapshot(example_repo, actor="backend-engineer", session="K-1")
    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo, actor="backend-engineer", session="K-2")
    return example_repo


def versions_of_phase3(repo: Path) -> list[str]:
    return [git(repo, "show", f"{rev}:{PHASE3}") for rev in ("HEAD~2", "HEAD~1", "HEAD")]


def test_log_lists_every_version_newest_first_like_git(orchsync, three_versions):
    result = orchsync(three_versions, "log", T3, "--json")

    newest_first = json.loads(result.stdout)
    log = json.loads(orchsync(three_versions, "log", T3, "--json", "--reverse").stdout)
    commits = git(three_versions, "rev-list", "--reverse", "HEAD").split()
    assert [v["commit"] for v in newest_first] == commits[::-1]
    assert [v["commit"] for v in log] == commits
    assert [(v["agent"], v["session"]) for v in log] == [
        (None, None),
        ("backend-engineer", "K-1"),
        ("backend-engineer", "K-2"),
    ]
    assert [v["hash"] for v in log] == [sha(text) for text in versions_of_phase3(three_versions)]
    assert [e["event_type"] for e in log[2]["events"]] == [
        "orchestration.task.status_updated",
        "orchestration.task.blocked",
        "orchestration.file.synced",
    ]


def test_log_as_a_table(orchsync, three_versions):
    result = orchsync(three_versions, "log", T3)

    lines = result.stdout.splitlines()
    assert lines[0].split() == ["commit", "time", "agent", "session", "events", "hash"]
    assert re.match(
        r"[0-9a-f]{12}  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d  backend-engineer  K-2 +"
        r"task.status_updated, task.blocked, file.synced +[0-9a-f]{16}$",
        lines[2],
    )
    assert len(lines) == 5


def test_replay_of_one_session_shows_what_it_did(orchsync, three_versions):
    sha = git(three_versions, "rev-parse", "HEAD~1").strip()
    digest = sha256_of(three_versions / PHASE3)

    result = orchsync(three_versions, "replay", T3, "--session", "K-1")

    (first_line, *events) = result.stdout.splitlines()
    assert re.fullmatch(
        rf"1\. \S+ {sha[:12]} sha256:[0-9a-f]{{16}} agent=backend-engineer session=K-1",
        first_line,
    )
    assert events == [
        '   task.status_updated {"from": "pending", "to": "in_progress"}',
        '   task.started {"from": "pending"}',
        "   file.synced",
    ]
    assert digest not in result.stdout  # that is the version of session K-2


def test_replay_since_a_revision_shows_only_later_versions(orchsync, three_versions):
    result = orchsync(three_versions, "replay", T3, "--since", "HEAD~1", "--json")

    (version,) = json.loads(result.stdout)
    assert version["commit"] == git(three_versions, "rev-parse", "HEAD").strip()


def test_show_at_a_revision_prints_that_versions_bytes(orchsync, three_versions):
    commit = git(three_versions, "rev-parse", "HEAD~2").strip()
    pending = versions_of_phase3(three_versions)[0]

    result = orchsync(three_versions, "show", T3, "--at", "HEAD~2")

    assert result.stdout == pending
    assert result.stderr == f"# {PHASE3} @ {commit[:12]} sha256:{sha(pending)}\n"


def test_show_finds_a_version_by_a_hash_prefix_alone(orchsync, three_versions):
    in_progress = versions_of_phase3(three_versions)[1]
    digest = sha(in_progress)

    result = orchsync(three_versions, "show", "--hash", digest[:10], "--json")

    shown = json.loads(result.stdout)
    assert (shown["path"], shown["hash"], shown["text"]) == (PHASE3, digest, in_progress)
    assert shown["commit"] == git(three_versions, "rev-parse", "HEAD~1").strip()
    assert shown["entity"]["status"] == "in_progress"


def test_show_refuses_a_hash_that_is_not_hex(orchsync, three_versions):
    result = orchsync(three_versions, "show", "--hash", "xyz")

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: 'xyz' is not a sha256 content hash (or a prefix of at least 4 hex digits)\n"
    )


# --- rollback ---------------------------------------------------------------------------------


def test_rollback_restores_the_exact_bytes_as_a_new_commit(orchsync, three_versions):
    pending = versions_of_phase3(three_versions)[0]
    digest = sha(pending)
    before = git(three_versions, "rev-parse", "HEAD").strip()

    result = orchsync(three_versions, "rollback", T3, "--to", "HEAD~2", "--actor", "lead")

    commit = git(three_versions, "rev-parse", "HEAD").strip()
    assert result.exit_code == 0
    assert result.stdout == (
        f"rolled back {PHASE3} to HEAD~2 (sha256:{digest[:16]}), commit {commit[:12]}\n"
    )
    assert sha256_of(three_versions / PHASE3) == digest
    assert git(three_versions, "rev-parse", "HEAD~1").strip() == before
    assert ("Orchsync-Rollback", f"HEAD~2 {PHASE3}") in trailers(three_versions)
    assert git(three_versions, "status", "--porcelain") == ""
    log = json.loads(orchsync(three_versions, "log", T3, "--json").stdout)
    assert [e["event_type"] for e in log[0]["events"]] == [
        "orchestration.task.status_updated",
        "orchestration.file.synced",
        "orchestration.task.rolled_back",
    ]
    assert log[0]["events"][-1]["payload"] == {"path": PHASE3, "to": "HEAD~2", "hash": digest}
    assert log[0]["agent"] == "lead"


def test_rollback_to_a_content_hash(orchsync, three_versions):
    in_progress = versions_of_phase3(three_versions)[1]
    digest = sha(in_progress)

    result = orchsync(three_versions, "rollback", T3, "--to", digest, "--json")

    assert json.loads(result.stdout)["hash"] == digest
    assert sha256_of(three_versions / PHASE3) == digest


def test_rollback_refuses_to_discard_unsynced_edits_unless_forced(orchsync, three_versions):
    replace_in(three_versions, PHASE3, "priority: P1", "priority: P3")
    edited = sha256_of(three_versions / PHASE3)

    refused = orchsync(three_versions, "rollback", T3, "--to", "HEAD~2")
    kept = sha256_of(three_versions / PHASE3)
    forced = orchsync(three_versions, "rollback", T3, "--to", "HEAD~2", "--force")

    assert refused.exit_code == 2
    assert refused.stderr == (
        f"Error: {PHASE3} has edits that are not synced yet; sync them first, "
        "or use --force to discard them\n"
    )
    assert kept == edited
    assert forced.exit_code == 0
    assert "priority: P1" in (three_versions / PHASE3).read_text()


def test_rollback_to_the_current_bytes_does_nothing(orchsync, three_versions):
    before = git(three_versions, "rev-parse", "HEAD").strip()

    result = orchsync(three_versions, "rollback", T3, "--to", "HEAD")

    assert result.stdout == f"{PHASE3} already has those bytes; nothing to do\n"
    assert git(three_versions, "rev-parse", "HEAD").strip() == before


def test_a_deleted_task_can_be_shown_and_rolled_back(orchsync, three_versions):
    text = (three_versions / PHASE3).read_text()
    (three_versions / PHASE3).unlink()
    snapshot(three_versions)

    shown = orchsync(three_versions, "show", T3, "--at", "HEAD~1")
    restored = orchsync(three_versions, "rollback", T3, "--to", "HEAD~1")

    assert shown.stdout == text
    assert restored.exit_code == 0
    assert (three_versions / PHASE3).read_text() == text


def test_git_reads_every_snapshot_trailer_back(three_versions):
    message = git(three_versions, "log", "-1", "--format=%B")
    ours = [line for line in message.splitlines() if line.startswith("Orchsync-")]

    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        env=GIT_ENV,
        capture_output=True,
        text=True,
    ).stdout.splitlines()

    assert parsed == ours
    assert [line.split(":")[0] for line in ours] == [
        "Orchsync-Event",
        "Orchsync-Event",
        "Orchsync-Entity",
        "Orchsync-Hash",
        "Orchsync-Correlation",
        "Orchsync-Time",
        "Orchsync-Agent",
        "Orchsync-Session",
    ]
