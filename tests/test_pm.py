"""PM commands end to end: sprint/task/ADR/bug creation, status updates and moves.

Each write command writes its files, syncs exactly those paths and prints what it wrote and
the commit. The commit carries `Orchsync-*` trailers, the events are derived by sync, and
the index has the rows. A refused command exits 2 and leaves no file and no commit behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from conftest import GIT_ENV, PROJECT_ROOT, commit_all, git, write

from orchsync import pm, query
from orchsync.faces.cli import cli
from orchsync.parse import parse_file
from orchsync.pm.frontmatter_edit import FrontMatterError, append_note, get_field, set_field
from orchsync.pm.writes import ConcurrentEdit
from orchsync.repo import find_repo

TODAY = date.today().isoformat()
SPRINT = "orchestration-api-v2"
PHASE5 = f"delegation/sprints/{SPRINT}/phase-5-pm-commands/TASK.md"


def run(runner, repo: Path, *args: str, input: str | None = None):
    return runner.invoke(cli, ["--repo", str(repo), *args], input=input, catch_exceptions=False)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def clean(repo: Path) -> bool:
    return git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def message(repo: Path) -> str:
    return git(repo, "log", "-1", "--format=%B")


def assert_refused(runner, repo: Path, args: list[str], error: str, code: int = 2) -> None:
    """The command fails with exactly `error`, and leaves no file and no commit behind."""
    before = head(repo)
    result = run(runner, repo, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", f"Error: {error}\n")
    assert head(repo) == before
    assert clean(repo)


def index_events(repo: Path, entity: str, commit: str = "HEAD") -> list[str]:
    """The entity's events in the index that come from one commit, minus file.* bookkeeping."""
    sha = git(repo, "rev-parse", commit).strip()
    with query.reader(find_repo(repo)) as con:
        rows = query.events(con, entity=entity, limit=None)
    return [e["event_type"] for e in rows if e["commit"] == sha and ".file." not in e["event_type"]]


# --- sprint create -------------------------------------------------------------------------------


def test_sprint_create_writes_sprint_md_and_hash_in_one_commit(runner, example_repo):
    before = head(example_repo)

    result = run(
        runner,
        example_repo,
        "sprint",
        "create",
        "--template=default",
        "--id=my-sprint",
        "--title",
        "My Sprint",
        "--owner",
        "Platform Team",
        "--start",
        "2025-11-03",
        "--end",
        "2025-11-14",
        "--actor",
        "alice",
        "--session",
        "sess-1",
    )

    commit = head(example_repo)
    assert result.exit_code == 0
    assert result.stdout == (
        "created sprint my-sprint from template sprint/default\n"
        "wrote delegation/sprints/my-sprint/SPRINT.md\n"
        "wrote delegation/sprints/my-sprint/.hash\n"
        f"committed {commit[:12]}: sprint my-sprint: created from template sprint/default\n"
    )
    assert git(example_repo, "rev-parse", "HEAD~1").strip() == before
    assert clean(example_repo)
    msg = message(example_repo)
    assert "Orchsync-Event: orchestration.sprint.created S:my-sprint\n" in msg
    assert "Orchsync-Agent: alice\n" in msg
    assert "Orchsync-Session: sess-1\n" in msg
    assert git(example_repo, "show", "--name-only", "--format=", "HEAD").split() == [
        "delegation/sprints/my-sprint/.hash",
        "delegation/sprints/my-sprint/SPRINT.md",
    ]

    sprint_md = (example_repo / "delegation/sprints/my-sprint/SPRINT.md").read_bytes()
    parsed = parse_file("delegation/sprints/my-sprint/SPRINT.md", sprint_md)
    assert parsed.valid
    s = parsed.entity
    assert (s.title, s.status, s.owner, s.start_date, s.end_date) == (
        "My Sprint",
        "planning",
        "Platform Team",
        "2025-11-03",
        "2025-11-14",
    )
    tracking = (example_repo / "delegation/sprints/my-sprint/.hash").read_text()
    assert len(tracking) == 65 and tracking.endswith("\n") and int(tracking, 16) >= 0

    with query.reader(find_repo(example_repo)) as con:
        rows = query.sprints(con)
        events = query.events(con, entity="S:my-sprint", limit=None)
    assert {r["sprint"]: (r["title"], r["status"], r["owner"]) for r in rows}["my-sprint"] == (
        "My Sprint",
        "planning",
        "Platform Team",
    )
    created = [e for e in events if e["event_type"] == "orchestration.sprint.created"]
    assert [(e["agent"], e["session_key"], e["commit"]) for e in created] == [
        ("alice", "sess-1", commit)
    ]


def test_sprint_create_json_is_the_result_object(runner, example_repo):
    result = run(runner, example_repo, "sprint", "create", "--id", "s2", "--actor", "bob", "--json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert set(data) == {
        "action",
        "entity",
        "message",
        "paths",
        "commit",
        "subject",
        "blocked",
        "events",
        "warnings",
        "tracking_id",
        "template",
    }
    assert (data["action"], data["entity"], data["commit"], data["blocked"]) == (
        "sprint.create",
        "S:s2",
        head(example_repo),
        None,
    )
    assert data["paths"] == ["delegation/sprints/s2/SPRINT.md", "delegation/sprints/s2/.hash"]
    assert data["tracking_id"] == (example_repo / "delegation/sprints/s2/.hash").read_text().strip()
    assert {
        "event_type": "orchestration.sprint.created",
        "entity": "s2",
        "path": "delegation/sprints/s2/SPRINT.md",
    } in data["events"]


def test_the_default_actor_is_the_git_user(runner, example_repo, monkeypatch):
    monkeypatch.delenv("ORCHSYNC_ACTOR", raising=False)

    run(runner, example_repo, "sprint", "create", "--id", "s3")

    assert "Orchsync-Agent: Test Author\n" in message(example_repo)
    assert (
        parse_file(
            "delegation/sprints/s3/SPRINT.md",
            (example_repo / "delegation/sprints/s3/SPRINT.md").read_bytes(),
        ).entity.owner
        == "Test Author"
    )


def test_orchsync_actor_env_names_the_actor(runner, example_repo, monkeypatch):
    monkeypatch.setenv("ORCHSYNC_ACTOR", "agent-7")

    run(runner, example_repo, "sprint", "create", "--id", "s4")

    assert "Orchsync-Agent: agent-7\n" in message(example_repo)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--id", "../x"], "sprint id '../x' must not contain '/' or '\\' (one path segment)"),
        (["--id", "a/b"], "sprint id 'a/b' must not contain '/' or '\\' (one path segment)"),
        (["--id", ".hidden"], "sprint id '.hidden' is reserved; use letters, digits, '-' and '_'"),
        (
            ["--id", "has space"],
            "sprint id 'has space' may only hold ASCII letters, digits, '.', '-' and '_' "
            "(starting with a letter or digit)",
        ),
        (["--id", ""], "sprint id must not be empty"),
        (
            ["--id", SPRINT],
            f"sprint {SPRINT!r} already exists (delegation/sprints/{SPRINT}/SPRINT.md); "
            "pick another --id",
        ),
        (
            ["--id", "s5", "--start", "next week"],
            "--start 'next week' is not a date; use YYYY-MM-DD",
        ),
        (
            ["--id", "s5", "--start", "2025-11-10", "--end", "2025-11-01"],
            "--end 2025-11-01 is before --start 2025-11-10",
        ),
        (
            ["--id", "s5", "--template", "nope"],
            "no sprint template 'nope'; available: bugfix, default, research",
        ),
        (["--id", "s5", "--title", "  "], "title must not be empty"),
    ],
)
def test_sprint_create_refuses_bad_input_and_writes_nothing(runner, example_repo, args, error):
    assert_refused(runner, example_repo, ["sprint", "create", *args], error)


def test_sprint_create_refuses_while_a_merge_is_in_progress(runner, example_repo):
    (example_repo / ".git/MERGE_HEAD").write_text(head(example_repo) + "\n")

    assert_refused(
        runner,
        example_repo,
        ["sprint", "create", "--id", "s6"],
        "a merge is in progress; snapshots wait until it ends; nothing written",
        code=1,
    )


# --- task create ---------------------------------------------------------------------------------


def test_task_create_writes_task_md_and_agent_yml(runner, example_repo):
    result = run(
        runner,
        example_repo,
        "task",
        "create",
        "--sprint",
        SPRINT,
        "--id",
        "phase-7-docs",
        "--title",
        "Docs: README and man pages",
        "--priority",
        "P1",
        "--depends-on",
        "phase-6-integration",
        "--depends-on",
        "T:phase-5-pm-commands",
        "--agent",
        "tech-writer",
        "--actor",
        "alice",
    )

    commit = head(example_repo)
    folder = f"delegation/sprints/{SPRINT}/phase-7-docs"
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"created task phase-7-docs in sprint {SPRINT} from template task/default\n"
        f"wrote {folder}/TASK.md\n"
        f"wrote {folder}/AGENT.yml\n"
        f"committed {commit[:12]}: task phase-7-docs: created in sprint {SPRINT} from template task/default\n"
    )
    assert clean(example_repo)
    msg = message(example_repo)
    assert "Orchsync-Event: orchestration.task.created T:phase-7-docs\n" in msg
    assert "Orchsync-Agent: alice\n" in msg
    with query.reader(find_repo(example_repo)) as con:
        (row,) = [t for t in query.tasks(con) if t["task"] == "phase-7-docs"]
    assert (
        row["sprint"],
        row["title"],
        row["status"],
        row["priority"],
        row["agent"],
        row["depends_on"],
    ) == (
        SPRINT,
        "Docs: README and man pages",
        "pending",
        "P1",
        "tech-writer",
        ["phase-6-integration", "phase-5-pm-commands"],
    )
    assert index_events(example_repo, "T:phase-7-docs") == [
        "orchestration.task.agent_config_created",
        "orchestration.task.created",
    ]
    agent = parse_file(f"{folder}/AGENT.yml", (example_repo / folder / "AGENT.yml").read_bytes())
    assert agent.valid and agent.entity.agent == "tech-writer"
    check = run(runner, example_repo, "check")
    assert check.exit_code == 0, check.stdout


def test_task_create_warns_about_an_agent_without_profile(runner, example_repo):
    result = run(
        runner,
        example_repo,
        "task",
        "create",
        "--sprint",
        SPRINT,
        "--id",
        "t-x",
        "--agent",
        "ghost",
        "--actor",
        "a",
    )

    assert result.exit_code == 0
    assert result.stderr == (
        "warning: agent 'ghost' has no profile in delegation/agents/; the task is created anyway "
        "(make one with `orchsync agent create ghost`)\n"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--sprint", "nope", "--id", "t1"],
            f"unknown sprint 'nope' (no delegation/sprints/nope/SPRINT.md); sprints: {SPRINT}. "
            "Create it with `orchsync sprint create --id nope`",
        ),
        (
            ["--sprint", SPRINT, "--id", "../t1"],
            "task id '../t1' must not contain '/' or '\\' (one path segment)",
        ),
        (
            ["--sprint", SPRINT, "--id", "phase-1-api-foundation"],
            "task code 'phase-1-api-foundation' is already used by "
            f"delegation/sprints/{SPRINT}/phase-1-api-foundation/TASK.md; task codes are unique across sprints",
        ),
        (
            [
                "--sprint",
                SPRINT,
                "--id",
                "t1",
                "--depends-on",
                "phase-9",
                "--depends-on",
                "phase-1-api-foundation",
            ],
            "--depends-on: unknown task 'phase-9'; create it first",
        ),
        (
            ["--sprint", SPRINT, "--id", "t1", "--depends-on", "t1"],
            "task 't1' cannot depend on itself",
        ),
        (
            ["--sprint", SPRINT, "--id", "t1", "--priority", "urgent"],
            "unknown priority 'urgent'; valid: P0, P1, P2, P3",
        ),
        (
            ["--sprint", SPRINT, "--id", "t1", "--agent", "a/b"],
            "agent 'a/b' must not contain '/' or '\\' (one path segment)",
        ),
    ],
)
def test_task_create_refuses_bad_input_and_writes_nothing(runner, example_repo, args, error):
    assert_refused(runner, example_repo, ["task", "create", *args], error)


def test_a_task_code_is_unique_across_sprints(runner, example_repo):
    run(runner, example_repo, "sprint", "create", "--id", "other", "--actor", "a")

    assert_refused(
        runner,
        example_repo,
        ["task", "create", "--sprint", "other", "--id", "phase-2-event-system"],
        "task code 'phase-2-event-system' is already used by "
        f"delegation/sprints/{SPRINT}/phase-2-event-system/TASK.md; task codes are unique across sprints",
    )


# --- task status ---------------------------------------------------------------------------------


def test_task_status_changes_only_the_status_line(runner, example_repo):
    before = (example_repo / PHASE5).read_bytes()

    result = run(runner, example_repo, "task", "status", "phase-5", "in_progress", "--actor", "bob")

    commit = head(example_repo)
    after = (example_repo / PHASE5).read_bytes()
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "task phase-5-pm-commands: pending -> in_progress\n"
        f"wrote {PHASE5}\n"
        f"committed {commit[:12]}: task phase-5-pm-commands: pending -> in_progress\n"
    )
    assert after == before.replace(b"\nstatus: pending\n", b"\nstatus: in_progress\n", 1)
    msg = message(example_repo)
    assert "Orchsync-Event: orchestration.task.status_updated T:phase-5-pm-commands\n" in msg
    assert "Orchsync-Event: orchestration.task.started T:phase-5-pm-commands\n" in msg
    assert "Orchsync-Agent: bob\n" in msg
    assert clean(example_repo)
    assert index_events(example_repo, "T:phase-5-pm-commands") == [
        "orchestration.task.status_updated",
        "orchestration.task.started",
    ]
    with query.reader(find_repo(example_repo)) as con:
        assert [t["status"] for t in query.tasks(con) if t["task"] == "phase-5-pm-commands"] == [
            "in_progress"
        ]


def test_task_status_accepts_the_option_style_of_the_seed(runner, example_repo):
    result = run(
        runner, example_repo, "task", "status", "--task=phase-5", "--status=blocked", "--actor", "a"
    )

    assert result.exit_code == 0
    assert "status: blocked\n" in (example_repo / PHASE5).read_text()
    assert "Orchsync-Event: orchestration.task.blocked T:phase-5-pm-commands\n" in message(
        example_repo
    )


CRLF_TASK = (
    "\ufeff---\r\n"
    "# A task file full of comments, with CRLF line endings and a BOM.\r\n"
    "title: 'Quoted: title'   # single-quoted on purpose\r\n"
    'status: "pending"  # the current state\r\n'
    "priority:   P2\r\n"
    "depends_on: [ ]\r\n"
    "labels:\r\n"
    "    - odd-indent   # four spaces\r\n"
    "notes: |\r\n"
    "  status: pending  (inside a block scalar: not the key)\r\n"
    "---\r\n"
    "\r\n"
    "# Body\r\n"
    "\r\n"
    "status: pending -- a body line that looks like the key\r\n"
    "```yaml\r\n"
    "## Notes\r\n"
    "```\r\n"
)


def test_task_status_keeps_comments_crlf_quotes_and_body_byte_for_byte(runner, example_repo):
    path = f"delegation/sprints/{SPRINT}/t-crlf/TASK.md"
    write(example_repo, path, CRLF_TASK)
    commit_all(example_repo, "a hand-written task")
    before = (example_repo / path).read_bytes()

    result = run(runner, example_repo, "task", "status", "T:t-crlf", "completed", "--actor", "a")

    after = (example_repo / path).read_bytes()
    assert result.exit_code == 0, result.stderr
    old_lines, new_lines = before.split(b"\r\n"), after.split(b"\r\n")
    assert len(old_lines) == len(new_lines)
    changed = [(o, n) for o, n in zip(old_lines, new_lines, strict=True) if o != n]
    assert changed == [
        (b'status: "pending"  # the current state', b'status: "completed"  # the current state')
    ]
    assert after.startswith(b"\xef\xbb\xbf---\r\n")
    assert parse_file(path, after).entity.status == "completed"


def test_task_status_adds_a_missing_status_after_the_title(runner, example_repo):
    path = f"delegation/sprints/{SPRINT}/t-nostatus/TASK.md"
    write(example_repo, path, "---\n# comment\ntitle: No status yet\npriority: P3\n---\n\nBody.\n")
    commit_all(example_repo, "task without status")

    result = run(
        runner, example_repo, "task", "status", "t-nostatus", "in_progress", "--actor", "a"
    )

    assert result.exit_code == 0
    assert (example_repo / path).read_text() == (
        "---\n# comment\ntitle: No status yet\nstatus: in_progress\npriority: P3\n---\n\nBody.\n"
    )


def test_task_status_note_creates_the_notes_section(runner, example_repo):
    before = (example_repo / PHASE5).read_text()

    result = run(
        runner,
        example_repo,
        "task",
        "status",
        "phase-5-pm-commands",
        "blocked",
        "--note",
        "waiting for\nphase-4",
        "--actor",
        "carol",
    )

    assert result.exit_code == 0
    expected = before.replace("status: pending", "status: blocked", 1) + (
        f"\n## Notes\n\n- {TODAY} pending -> blocked (carol): waiting for phase-4\n"
    )
    assert (example_repo / PHASE5).read_text() == expected


def test_task_status_note_appends_to_an_existing_notes_section(runner, example_repo):
    path = f"delegation/sprints/{SPRINT}/t-notes/TASK.md"
    write(
        example_repo,
        path,
        "---\ntitle: T\nstatus: pending\n---\n\n## Notes\n\n- earlier note\n\n## After\n\nText.\n",
    )
    commit_all(example_repo, "task with notes")

    run(
        runner,
        example_repo,
        "task",
        "status",
        "t-notes",
        "in_progress",
        "--note",
        "go",
        "--actor",
        "a",
    )
    run(
        runner,
        example_repo,
        "task",
        "status",
        "t-notes",
        "completed",
        "--note",
        "done",
        "--actor",
        "a",
    )

    assert (example_repo / path).read_text() == (
        "---\ntitle: T\nstatus: completed\n---\n\n## Notes\n\n- earlier note\n"
        f"- {TODAY} pending -> in_progress (a): go\n"
        f"- {TODAY} in_progress -> completed (a): done\n\n## After\n\nText.\n"
    )


def test_the_same_status_is_a_no_op(runner, example_repo):
    before = head(example_repo)

    result = run(runner, example_repo, "task", "status", "phase-1-api-foundation", "completed")

    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "task phase-1-api-foundation is already completed; nothing written\n",
        "",
    )
    assert head(example_repo) == before and clean(example_repo)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["phase-5", "done"],
            "unknown status 'done'; valid: pending, in_progress, completed, blocked",
        ),
        (
            ["phase-", "completed"],
            "task 'phase-' is ambiguous: 6 tasks match (phase-1-api-foundation, "
            "phase-2-event-system, phase-3-template-generation, phase-4-agent-init, "
            "phase-5-pm-commands, phase-6-integration)",
        ),
        (["nope", "completed"], "unknown task 'nope'"),
        (["phase-5", "blocked", "--note", " "], "--note must not be empty"),
        (["phase-5"], "missing STATUS: `orchsync task status TASK STATUS` or --status=..."),
        (
            ["phase-5", "blocked", "--status", "completed"],
            "STATUS given twice ('blocked' and --status 'completed'); give it once",
        ),
    ],
)
def test_task_status_refuses_bad_input_and_writes_nothing(runner, example_repo, args, error):
    assert_refused(runner, example_repo, ["task", "status", *args], error)


def test_a_status_update_racing_an_editor_keeps_the_editors_bytes(example_repo, monkeypatch):
    repo = find_repo(example_repo)
    editor_bytes = (
        (example_repo / PHASE5).read_bytes().replace(b"# PM command tools", b"# Edited meanwhile")
    )
    from orchsync.pm import tasks

    real_set_field = tasks.set_field

    def editor_saves_meanwhile(raw, *args, **kwargs):  # between orchsync's read and its write
        (example_repo / PHASE5).write_bytes(editor_bytes)
        return real_set_field(raw, *args, **kwargs)

    monkeypatch.setattr(tasks, "set_field", editor_saves_meanwhile)
    before = head(example_repo)

    with pytest.raises(ConcurrentEdit) as err:
        pm.update_task_status(repo, "phase-5", "in_progress", actor="a")

    assert "changed on disk while orchsync was editing it" in str(err.value)
    assert (example_repo / PHASE5).read_bytes() == editor_bytes
    assert head(example_repo) == before


# --- task move -----------------------------------------------------------------------------------


def test_task_move_is_one_commit_and_one_moved_event(runner, example_repo):
    run(runner, example_repo, "sprint", "create", "--id", "next", "--actor", "a")
    before = head(example_repo)

    result = run(
        runner, example_repo, "task", "move", "phase-6", "--to-sprint", "next", "--actor", "dave"
    )

    commit = head(example_repo)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"moved task phase-6-integration: {SPRINT} -> next\n"
        "wrote delegation/sprints/next/phase-6-integration/AGENT.yml\n"
        "wrote delegation/sprints/next/phase-6-integration/TASK.md\n"
        f"committed {commit[:12]}: task phase-6-integration: moved from sprint {SPRINT} to next\n"
    )
    assert git(example_repo, "rev-parse", "HEAD~1").strip() == before
    assert not (example_repo / f"delegation/sprints/{SPRINT}/phase-6-integration").exists()
    assert clean(example_repo)
    msg = message(example_repo)
    assert msg.count("Orchsync-Event: orchestration.task.moved T:phase-6-integration\n") == 1
    assert "task.created" not in msg and "task.deleted" not in msg
    with query.reader(find_repo(example_repo)) as con:
        moved = query.events(con, type="task.moved", limit=None)
        (row,) = [t for t in query.tasks(con) if t["task"] == "phase-6-integration"]
    assert [(e["entity_code"], e["commit"], e["agent"]) for e in moved] == [
        ("phase-6-integration", commit, "dave")
    ]
    assert moved[0]["payload"]["to_sprint"] == "next"
    assert row["sprint"] == "next"


def test_task_move_keeps_a_declared_sprint_field_in_step(runner, example_repo):
    run(runner, example_repo, "sprint", "create", "--id", "next", "--actor", "a")
    path = f"delegation/sprints/{SPRINT}/t-decl/TASK.md"
    write(
        example_repo,
        path,
        f"---\ntitle: T\nsprint: {SPRINT}  # kept in step\nstatus: pending\n---\n",
    )
    commit_all(example_repo, "task declaring its sprint")

    run(runner, example_repo, "task", "move", "t-decl", "--to-sprint", "next", "--actor", "a")

    assert (example_repo / "delegation/sprints/next/t-decl/TASK.md").read_text() == (
        "---\ntitle: T\nsprint: next  # kept in step\nstatus: pending\n---\n"
    )
    assert message(example_repo).count("Orchsync-Event: orchestration.task.moved T:t-decl\n") == 1


def test_task_move_to_its_own_sprint_is_a_no_op(runner, example_repo):
    result = run(runner, example_repo, "task", "move", "phase-6", "--to-sprint", SPRINT)

    assert (result.exit_code, result.stdout) == (
        0,
        f"task phase-6-integration is already in sprint {SPRINT}; nothing written\n",
    )


def test_task_move_refuses_an_unknown_sprint(runner, example_repo):
    assert_refused(
        runner,
        example_repo,
        ["task", "move", "phase-6", "--to-sprint", "later"],
        f"unknown sprint 'later' (no delegation/sprints/later/SPRINT.md); sprints: {SPRINT}. "
        "Create it with `orchsync sprint create --id later`",
    )


# --- ADRs ----------------------------------------------------------------------------------------


def test_adr_create_takes_the_next_number(runner, example_repo):
    result = run(
        runner, example_repo, "adr", "create", "--title", "Use event sourcing", "--actor", "erin"
    )

    commit = head(example_repo)
    path = "delegation/adr/ADR-002-use-event-sourcing.md"
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "created ADR-002: Use event sourcing\n"
        f"wrote {path}\n"
        f"committed {commit[:12]}: adr 002: created\n"
    )
    adr = parse_file(path, (example_repo / path).read_bytes())
    assert adr.valid
    assert (adr.entity.number, adr.entity.title, adr.entity.status, adr.entity.date) == (
        2,
        "Use event sourcing",
        "proposed",
        TODAY,
    )
    assert adr.entity.metadata["deciders"] == ["erin"]
    assert "Orchsync-Event: orchestration.adr.created ADR:002\n" in message(example_repo)
    assert index_events(example_repo, "ADR:2") == ["orchestration.adr.created"]
    assert clean(example_repo)


def test_adr_create_honours_a_number_in_the_title(runner, example_repo):
    result = run(
        runner, example_repo, "adr", "create", "--title=ADR-006: Use Event Sourcing", "--actor", "a"
    )

    assert result.exit_code == 0
    path = example_repo / "delegation/adr/ADR-006-use-event-sourcing.md"
    assert parse_file(
        "delegation/adr/ADR-006-use-event-sourcing.md", path.read_bytes()
    ).entity.title == ("Use Event Sourcing")
    assert path.read_text().split("\n---\n", 1)[1].startswith("\n# ADR-006: Use Event Sourcing\n")

    run(runner, example_repo, "adr", "create", "--title", "Next one", "--actor", "a")

    assert (example_repo / "delegation/adr/ADR-007-next-one.md").is_file()


def test_adr_create_refuses_a_taken_number(runner, example_repo):
    assert_refused(
        runner,
        example_repo,
        ["adr", "create", "--title", "ADR-001: Again"],
        "ADR-001 is taken (delegation/adr/ADR-001-files-are-the-truth.md); leave the number out "
        "of the title to get the next free one (ADR-002)",
    )
    assert_refused(
        runner,
        example_repo,
        ["adr", "create", "--title", "ADR-003:  "],
        "--title must not be empty",
    )


def test_adr_list(runner, example_repo):
    run(runner, example_repo, "adr", "create", "--title", "Second decision", "--actor", "a")

    table = run(runner, example_repo, "adr", "list")
    data = run(runner, example_repo, "adr", "list", "--json")

    assert table.exit_code == 0
    assert table.stdout.splitlines()[2:] == [
        "ADR-001  accepted  2025-10-12  Files are the truth, git is the history, DuckDB is a dispos…  "
        "delegation/adr/ADR-001-files-are-the-truth.md",
        f"ADR-002  proposed  {TODAY}  Second decision                                               "
        "delegation/adr/ADR-002-second-decision.md",
    ]
    assert json.loads(data.stdout)[1] == {
        "id": "ADR-002",
        "title": "Second decision",
        "status": "proposed",
        "date": TODAY,
        "path": "delegation/adr/ADR-002-second-decision.md",
        "valid": True,
    }


@pytest.mark.slow
def test_two_adr_creates_at_once_get_different_numbers(example_repo):
    env = {**GIT_ENV, "ORCHSYNC_ACTOR": "racer", "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("ORCHSYNC_REPO", None)
    before = int(git(example_repo, "rev-list", "--count", "HEAD"))
    for round_ in range(3):
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "orchsync",
                    "--repo",
                    str(example_repo),
                    "adr",
                    "create",
                    "--title",
                    f"Race {round_}-{i}",
                    "--json",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
    numbers = sorted(int(p.name[4:7]) for p in (example_repo / "delegation/adr").glob("ADR-*.md"))
    assert numbers == [1, 2, 3, 4, 5, 6, 7]
    assert int(git(example_repo, "rev-list", "--count", "HEAD")) == before + 6
    committed = git(example_repo, "ls-files", "delegation/adr").split()
    assert len(committed) == 7
    assert clean(example_repo)


# --- bugs ----------------------------------------------------------------------------------------


def test_bug_report_writes_a_backlog_item(runner, example_repo):
    result = run(
        runner,
        example_repo,
        "bug",
        "report",
        "--title=Crash on: empty TASK.md",
        "--priority=P1",
        "--sprint",
        SPRINT,
        "--actor",
        "qa-engineer",
        "--session",
        "s-9",
    )

    commit = head(example_repo)
    path = "delegation/backlog/BUG-0002-crash-on-empty-task-md.md"
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "reported BUG-0002: Crash on: empty TASK.md\n"
        f"wrote {path}\n"
        f"committed {commit[:12]}: bug 0002: reported\n"
    )
    bug = parse_file(path, (example_repo / path).read_bytes())
    assert bug.valid
    assert (
        bug.entity.title,
        bug.entity.status,
        bug.entity.priority,
        bug.entity.sprint,
        bug.entity.reported_by,
    ) == ("Crash on: empty TASK.md", "open", "P1", SPRINT, "qa-engineer")
    msg = message(example_repo)
    assert "Orchsync-Event: orchestration.bug.reported BUG:0002\n" in msg
    assert "Orchsync-Session: s-9\n" in msg
    with query.reader(find_repo(example_repo)) as con:
        (event,) = query.events(con, type="bug.reported", entity="BUG:2", limit=None)
    assert (event["agent"], event["session_key"], event["commit"]) == ("qa-engineer", "s-9", commit)


def test_bug_report_body_from_stdin(runner, example_repo):
    result = run(
        runner,
        example_repo,
        "bug",
        "report",
        "--title",
        "Slow",
        "--priority",
        "P3",
        "--body",
        "-",
        "--actor",
        "a",
        input="Takes *10 s* to list tasks.\n\nOn 10k tasks.\n",
    )

    assert result.exit_code == 0
    assert (example_repo / "delegation/backlog/BUG-0002-slow.md").read_text().split("---\n", 2)[
        2
    ] == ("\n# Slow\n\nTakes *10 s* to list tasks.\n\nOn 10k tasks.\n\n## Notes\n")


def test_bug_list(runner, example_repo):
    run(
        runner,
        example_repo,
        "bug",
        "report",
        "--title",
        "Second",
        "--priority",
        "P0",
        "--actor",
        "a",
    )

    result = run(runner, example_repo, "bug", "list", "--json")

    assert result.exit_code == 0
    assert [
        (b["id"], b["priority"], b["status"], b["sprint"]) for b in json.loads(result.stdout)
    ] == [("BUG-0001", "P2", "open", SPRINT), ("BUG-0002", "P0", "open", None)]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--title", "x", "--priority", "high"], "unknown priority 'high'; valid: P0, P1, P2, P3"),
        (
            ["--title", "x", "--priority", "P1", "--sprint", "nope"],
            f"unknown sprint 'nope' (no delegation/sprints/nope/SPRINT.md); sprints: {SPRINT}. "
            "Create it with `orchsync sprint create --id nope`",
        ),
        (["--title", " ", "--priority", "P1"], "--title must not be empty"),
    ],
)
def test_bug_report_refuses_bad_input_and_writes_nothing(runner, example_repo, args, error):
    assert_refused(runner, example_repo, ["bug", "report", *args], error)


# --- the round-trip editor -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("---\ntitle: T\nstatus:\n---\n", "---\ntitle: T\nstatus: done\n---\n"),
        ("---\ntitle: T\nstatus: ~ # none\n---\n", "---\ntitle: T\nstatus: done # none\n---\n"),
        ("---\ntitle: T\nstatus: 'a'\n---\n", "---\ntitle: T\nstatus: 'done'\n---\n"),
        ("---\nstatus: |\n  long\n  text\ntitle: T\n---\n", "---\nstatus: done\ntitle: T\n---\n"),
        (
            "---\ntitle: >-\n  folded\n  title\nx: 1\n---\n",
            "---\ntitle: >-\n  folded\n  title\nstatus: done\nx: 1\n---\n",
        ),
        ("---\nx: 1\n---\nbody\n", "---\nx: 1\nstatus: done\n---\nbody\n"),
        ("---\n---\n", "---\nstatus: done\n---\n"),
        ("# no front matter\n", "---\nstatus: done\n---\n# no front matter\n"),
        ("---\r\ntitle: T\r\n---\r\n", "---\r\ntitle: T\r\nstatus: done\r\n---\r\n"),
    ],
)
def test_set_field_edits_only_the_value(before, after):
    assert set_field(before.encode(), "status", "done").decode() == after


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "---\ntitle: T\nstatus: a\nstatus: b\n---\n",
            "file: 'status' appears 2 times in front matter; keep one",
        ),
        (
            "---\nstatus: [a, b]\n---\n",
            "file: 'status' is a list or mapping, not a value; edit it by hand",
        ),
        ("---\n- a\n---\n", "file: front matter is not a mapping of keys; fix it first"),
        ("---\ntitle: T\n", "file: front matter opened with '---' but never closed; fix it first"),
    ],
)
def test_set_field_refuses_what_it_cannot_edit_safely(text, error):
    with pytest.raises(FrontMatterError) as err:
        set_field(text.encode(), "status", "done")
    assert str(err.value) == error


def test_get_field_reads_a_scalar():
    assert get_field(b"---\ntitle: T\nstatus: 'x'  # c\n---\n", "status") == "x"
    assert get_field(b"---\ntitle: T\n---\n", "status") is None


def test_append_note_ignores_headings_inside_code_fences():
    text = "---\nt: 1\n---\n```\n## Notes\n```\n"

    assert append_note(text.encode(), "n").decode() == text + "\n## Notes\n\n- n\n"


def test_append_note_to_an_empty_notes_section_before_another_heading():
    text = "# T\n\n## Notes\n## Next\n"

    assert append_note(text.encode(), "n").decode() == "# T\n\n## Notes\n\n- n\n\n## Next\n"


def test_parse_assignments():
    assert pm.parse_assignments(["goal=Ship it=now", "team="]) == {
        "goal": "Ship it=now",
        "team": "",
    }


def test_the_package_runs_as_a_module():
    proc = subprocess.run(
        [sys.executable, "-m", "orchsync", "templates", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        check=False,
    )
    assert proc.returncode == 0 and "list" in proc.stdout
