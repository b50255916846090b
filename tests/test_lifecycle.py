"""The lifecycle after creation: show and edit a task, close a bug, accept or supersede an
ADR, start and complete a sprint, create an agent profile, and ids made from titles.

Every write is checked as a user of git would: the bytes on disk (only the asked values
moved), one commit with its `Orchsync-*` trailers, the events in the index, a clean work
tree. A refused write exits 2 (or 1 for a stale hash) and leaves no file and no commit. The
same calls as MCP tools (`all` profile) are checked at the end, over a real server process.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import SPRINT, git, task_path, trailers, write

from orchsync import query
from orchsync.model import content_hash
from orchsync.repo import find_repo

TODAY = date.today().isoformat()
P3 = task_path("phase-3-template-generation")
P5 = task_path("phase-5-pm-commands")
BUG1 = "delegation/backlog/BUG-0001-crlf-task-files-show-spurious-diffs.md"
ADR1 = "delegation/adr/ADR-001-files-are-the-truth.md"
SPRINT_MD = f"delegation/sprints/{SPRINT}/SPRINT.md"


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def clean(repo: Path) -> bool:
    return git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def diff_lines(repo: Path, path: str) -> list[str]:
    """The +/- lines the last commit made to `path` (headers left out)."""
    out = git(repo, "show", "--format=", "HEAD", "--", path)
    return [
        line
        for line in out.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def events_of(repo: Path, entity: str, commit: str = "HEAD") -> list[tuple[str, Any]]:
    """(event type, payload) of the entity's events from one commit, file.* left out."""
    sha = git(repo, "rev-parse", commit).strip()
    with query.reader(find_repo(repo)) as con:
        rows = query.events(con, entity=entity, limit=None)
    return [
        (r["event_type"].removeprefix("orchestration."), r["payload"])
        for r in rows
        if r["commit"] == sha and not r["event_type"].startswith("orchestration.file.")
    ]


def refused(orchsync, repo: Path, *args: str, code: int = 2) -> str:
    """Run a command that must be refused: no commit, a clean tree; returns the message."""
    before = head(repo)
    result = orchsync(repo, *args)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert head(repo) == before and clean(repo)
    return result.stderr.removeprefix("Error: ").strip()


# --- task show ---------------------------------------------------------------------------------


def test_task_show_tells_dependencies_readiness_validity_and_the_last_commit(
    orchsync, example_repo
):
    result = orchsync(example_repo, "task", "show", "phase-3")

    sha = content_hash((example_repo / P3).read_bytes())
    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[:8] == [
        "T:phase-3-template-generation  Template generation API for sprint and task folders",
        f"status: pending · priority: P1 · agent: backend-engineer · sprint: {SPRINT}",
        f"file: {P3} (sha256:{sha[:16]}, valid)",
        f"agent config: delegation/sprints/{SPRINT}/phase-3-template-generation/AGENT.yml",
        "depends on: phase-2-event-system (in_progress)",
        "dependents: phase-4-agent-init (pending)",
        "ready: no (waiting for phase-2-event-system)",
        "labels: templates",
    ]
    assert "objectives: 0/4 done" in lines
    assert lines[-1].startswith(f"last commit: {head(example_repo)[:12]} ")

    info = json.loads(orchsync(example_repo, "task", "show", "T:phase-3", "--json").stdout)
    assert (info["task"], info["hash"], info["valid"], info["ready"]) == (
        "phase-3-template-generation",
        sha,
        True,
        False,
    )
    assert info["waiting_on"] == ["phase-2-event-system"]
    assert info["agent_config"]["agent"] == "backend-engineer"
    assert info["last_commit"]["commit"] == head(example_repo)


def test_task_show_marks_a_broken_file_invalid_with_the_reason(orchsync, example_repo):
    text = (example_repo / P3).read_text()
    write(example_repo, P3, text.replace("status: pending", "status: [pending", 1))

    info = json.loads(orchsync(example_repo, "task", "show", "phase-3", "--json").stdout)
    shown = orchsync(example_repo, "task", "show", "phase-3").stdout

    assert info["valid"] is False
    assert "invalid YAML" in info["diagnostics"][0]["message"]
    assert "INVALID: run `orchsync check`" in shown


# --- task edit ---------------------------------------------------------------------------------


def test_task_edit_changes_only_the_asked_values_in_one_commit(orchsync, example_repo):
    before = head(example_repo)

    result = orchsync(
        example_repo,
        "task",
        "edit",
        "phase-5",
        "--title",
        "PM tools: ADRs & bugs",
        "--priority",
        "P0",
        "--add-dep",
        "phase-3-template-generation",
        "--label",
        "docs",
        "--set",
        "estimate=2d",
        "--check",
        "objectives:2",
        "--actor",
        "ed",
        "--session",
        "s-1",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "task phase-5-pm-commands: changed depends_on, estimate, labels, objectives, priority, title\n"
        f"wrote {P5}\n"
        f"committed {head(example_repo)[:12]}: task phase-5-pm-commands: depends_on, estimate, "
        "labels, objectives, priority, title edited\n"
    )
    assert git(example_repo, "rev-parse", "HEAD~1").strip() == before
    assert diff_lines(example_repo, P5) == [
        "-title: PM command tools - ADRs, bug reports and status updates",
        '+title: "PM tools: ADRs & bugs"',
        "-priority: P1",
        "+priority: P0",
        "+  - phase-3-template-generation",
        "-estimate: 4d",
        "+  - docs",
        "+estimate: 2d",
        "-- [ ] Report a bug into the backlog with a priority and, optionally, a sprint",
        "+- [x] Report a bug into the backlog with a priority and, optionally, a sprint",
    ]
    got = trailers(example_repo)
    assert ("Orchsync-Agent", "ed") in got and ("Orchsync-Session", "s-1") in got
    assert ("Orchsync-Event", "orchestration.task.updated T:phase-5-pm-commands") in got
    ((kind, payload),) = events_of(example_repo, "T:phase-5-pm-commands")
    assert kind == "task.updated"
    assert payload["changes"]["priority"] == {"old": "P1", "new": "P0"}
    assert clean(example_repo)


def test_a_new_title_renames_the_heading_that_said_the_old_one(orchsync, example_repo):
    path = task_path("cache-eviction")
    orchsync(example_repo, "task", "create", "--sprint", SPRINT, "--title", "Cache eviction")
    assert "\n# Cache eviction\n" in (example_repo / path).read_text()

    assert (
        orchsync(example_repo, "task", "edit", "cache-eviction", "--title", "LRU cache").exit_code
        == 0
    )

    assert diff_lines(example_repo, path) == [
        "-title: Cache eviction",
        '+title: "LRU cache"',
        "-# Cache eviction",
        "+# LRU cache",
    ]


def test_a_heading_rewritten_by_hand_is_left_alone(orchsync, example_repo):
    # phase-5's heading ("PM command tools") is not its title: a person chose it
    orchsync(example_repo, "task", "edit", "phase-5", "--title", "PM tools")

    assert diff_lines(example_repo, P5) == [
        "-title: PM command tools - ADRs, bug reports and status updates",
        '+title: "PM tools"',
    ]


def test_task_edit_refuses_bad_checklist_items_and_stale_hashes(orchsync, example_repo):
    assert refused(orchsync, example_repo, "task", "edit", "phase-5", "--check", "objectives") == (
        "--check 'objectives': expected SECTION:N, e.g. objectives:2 (N from 1; sections: "
        "objectives, deliverables, acceptance_criteria)"
    )
    assert refused(orchsync, example_repo, "task", "edit", "phase-5", "--check", "goals:1") == (
        "unknown checklist 'goals'; valid: objectives, deliverables, acceptance_criteria"
    )
    stale = "0" * 64
    message = refused(
        orchsync,
        example_repo,
        "task",
        "edit",
        "phase-5",
        "--title",
        "x",
        "--expect-hash",
        stale,
        code=1,
    )
    assert message.startswith(f"{P5} changed since it was read (expected sha256 000000000000")


def test_task_edit_quotes_hostile_text_and_refuses_hostile_keys(orchsync, example_repo):
    result = orchsync(
        example_repo, "task", "edit", "phase-5", "--title", "x\nstatus: completed\n---"
    )
    assert result.exit_code == 0, result.output
    assert diff_lines(example_repo, P5) == [
        "-title: PM command tools - ADRs, bug reports and status updates",
        '+title: "x status: completed ---"',
    ]
    assert "status: pending\n" in (example_repo / P5).read_text()
    assert refused(orchsync, example_repo, "task", "edit", "phase-5", "--set", "a\nb=1") == (
        "field name 'a\\nb' is not valid: letters, digits, '_' and '-', starting with a letter"
    )
    assert refused(orchsync, example_repo, "task", "edit", "phase-5", "--set", "status=done") == (
        "'status' has its own option (or command); it cannot be set as a field"
    )


# --- bugs ----------------------------------------------------------------------------------------


def test_bug_close_changes_the_status_line_and_adds_a_dated_note(orchsync, example_repo):
    result = orchsync(
        example_repo, "bug", "close", "BUG-0001", "--note", "fixed in 1.2", "--actor", "qa"
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "BUG-0001: open -> closed\n"
        f"wrote {BUG1}\n"
        f"committed {head(example_repo)[:12]}: bug 0001: open -> closed\n"
    )
    assert diff_lines(example_repo, BUG1) == [
        "-status: open",
        "+status: closed",
        "+",
        f"+- {TODAY} open -> closed (qa): fixed in 1.2",
    ]
    assert ("Orchsync-Agent", "qa") in trailers(example_repo)
    assert ("bug.status_updated", {"from": "open", "to": "closed"}) in events_of(
        example_repo, "BUG:1"
    )
    assert clean(example_repo)


def test_bug_status_takes_the_schemas_statuses_and_known_bugs_only(orchsync, example_repo):
    result = orchsync(example_repo, "bug", "status", "1", "triaged", "--json")
    data = json.loads(result.stdout)
    assert (data["from"], data["to"], data["commit"]) == ("open", "triaged", head(example_repo))
    assert diff_lines(example_repo, BUG1) == ["-status: open", "+status: triaged"]

    assert (
        "Invalid value for 'STATUS'" in orchsync(example_repo, "bug", "status", "1", "done").stderr
    )
    assert refused(orchsync, example_repo, "bug", "close", "7") == (
        "unknown BUG 7; there are: BUG-0001"
    )
    assert refused(orchsync, example_repo, "bug", "close", "1\n2") == (
        "bug '1\\n2'...: not an BUG number"
    )
    again = orchsync(example_repo, "bug", "status", "1", "triaged")
    assert again.stdout == "BUG-0001 is already triaged; nothing written\n"


# --- ADRs ----------------------------------------------------------------------------------------


def test_adr_superseded_by_writes_both_records_in_one_commit(orchsync, example_repo):
    orchsync(example_repo, "adr", "create", "--title", "Use an event store")
    adr2 = "delegation/adr/ADR-002-use-an-event-store.md"

    result = orchsync(example_repo, "adr", "status", "ADR:1", "superseded", "--superseded-by", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "ADR-001: accepted -> superseded by ADR-002\n"
        f"wrote {ADR1}\n"
        f"wrote {adr2}\n"
        f"committed {head(example_repo)[:12]}: adr ADR-001: accepted -> superseded by ADR-002\n"
    )
    assert diff_lines(example_repo, ADR1) == [
        "-status: accepted",
        "+status: superseded",
        "+superseded_by: ADR-002",
    ]
    assert diff_lines(example_repo, adr2) == ["+supersedes: ADR-001"]
    got = trailers(example_repo)
    assert ("Orchsync-Entity", "ADR:001") in got and ("Orchsync-Entity", "ADR:002") in got
    assert ("adr.status_updated", {"from": "accepted", "to": "superseded"}) in events_of(
        example_repo, "ADR:1"
    )
    assert clean(example_repo)


def test_adr_status_refuses_what_would_leave_the_records_disagreeing(orchsync, example_repo):
    orchsync(example_repo, "adr", "create", "--title", "Two")
    orchsync(example_repo, "adr", "create", "--title", "Three")
    orchsync(example_repo, "adr", "status", "1", "superseded", "--superseded-by", "2")

    assert refused(
        orchsync, example_repo, "adr", "status", "2", "superseded", "--superseded-by", "2"
    ) == ("ADR-002 cannot be superseded by itself")
    assert refused(
        orchsync, example_repo, "adr", "status", "1", "superseded", "--superseded-by", "3"
    ) == ("ADR-001 is already superseded by ADR-002; edit both by hand to change that")
    assert refused(orchsync, example_repo, "adr", "status", "3", "superseded") == (
        "say which ADR supersedes ADR-003: --superseded-by N"
    )
    assert refused(
        orchsync, example_repo, "adr", "status", "3", "accepted", "--superseded-by", "2"
    ) == ("--superseded-by goes with status superseded, not 'accepted'")
    accepted = orchsync(example_repo, "adr", "status", "ADR-003", "accepted")
    assert accepted.stdout.startswith("ADR-003: proposed -> accepted\n")


# --- sprints -------------------------------------------------------------------------------------


def test_sprint_start_and_complete(orchsync, example_repo):
    orchsync(example_repo, "sprint", "create", "--id", "next", "--start", "2025-11-10")
    next_md = "delegation/sprints/next/SPRINT.md"

    started = orchsync(example_repo, "sprint", "start", "next")
    assert started.stdout.splitlines()[0] == "sprint next: planning -> active"
    assert diff_lines(example_repo, next_md) == ["-status: planning", "+status: active"]
    assert ("sprint.status_updated", {"from": "planning", "to": "active"}) in events_of(
        example_repo, "S:next"
    )

    orchsync(example_repo, "task", "create", "--sprint", "next", "--id", "t1")
    assert refused(orchsync, example_repo, "sprint", "complete", "next") == (
        "sprint next has 1 unfinished task: t1 (pending); complete or move them first, "
        "or pass --force to complete the sprint anyway"
    )
    orchsync(example_repo, "task", "status", "t1", "completed")
    completed = orchsync(example_repo, "sprint", "complete", "next", "--json")
    data = json.loads(completed.stdout)
    assert (data["from"], data["to"], data["end_date"], data["warnings"]) == (
        "active",
        "completed",
        TODAY,
        [],
    )
    assert diff_lines(example_repo, next_md) == [
        "-status: active",
        "+status: completed",
        f"+end_date: {TODAY}",
    ]
    assert clean(example_repo)


def test_sprint_complete_force_warns_about_each_unfinished_task(orchsync, example_repo):
    result = orchsync(example_repo, "sprint", "complete", SPRINT, "--force")

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: task {code} is {status} in the completed sprint {SPRINT}"
        for code, status in [
            ("phase-2-event-system", "in_progress"),
            ("phase-3-template-generation", "pending"),
            ("phase-4-agent-init", "pending"),
            ("phase-5-pm-commands", "pending"),
            ("phase-6-integration", "pending"),
        ]
    ]
    assert diff_lines(example_repo, SPRINT_MD) == ["-status: active", "+status: completed"]


# --- agent profiles ------------------------------------------------------------------------------


def test_agent_create_writes_a_profile_that_task_create_then_finds(orchsync, example_repo):
    result = orchsync(
        example_repo,
        "agent",
        "create",
        "data-engineer",
        "--capability",
        "sql",
        "--capability",
        "duckdb",
        "--model",
        "claude-sonnet-4-5",
        "--actor",
        "lead",
    )

    path = "delegation/agents/data-engineer.yml"
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "created agent profile data-engineer from template agent/default\n"
        f"wrote {path}\n"
        f"committed {head(example_repo)[:12]}: agent data-engineer: profile created from "
        "template agent/default\n"
    )
    assert (example_repo / path).read_text() == (
        "# Agent profile data-engineer: the defaults every task assigned to data-engineer starts from.\n"
        "# A task's AGENT.yml is merged over this file, task settings winning.\n"
        "name: data-engineer\n"
        "role: Data engineer\n"
        "model: claude-sonnet-4-5\n"
        "capabilities: [sql, duckdb]\n"
        "tools_allowed: []\n"
        "safety_rails:\n"
        "  - Never force-push or rewrite published git history\n"
        "  - Never delete files under delegation/; set a status instead\n"
        "  - Keep secrets and credentials out of every file and commit message\n"
    )
    assert ("Orchsync-Event", "orchestration.agent.created A:data-engineer") in trailers(
        example_repo
    )
    task = orchsync(
        example_repo,
        "task",
        "create",
        "--sprint",
        SPRINT,
        "--id",
        "etl",
        "--agent",
        "data-engineer",
    )
    assert task.stderr == ""
    assert refused(orchsync, example_repo, "agent", "create", "Data-Engineer") == (
        "agent 'data-engineer' already has a profile (delegation/agents/data-engineer.yml); "
        "edit that file, or pick another name"
    )


def test_agent_create_keeps_hostile_text_inside_its_value(orchsync, example_repo):
    result = orchsync(example_repo, "agent", "create", "x", "--role", "a\nmodel: evil: yes")
    assert result.exit_code == 0, result.output
    text = (example_repo / "delegation/agents/x.yml").read_text()
    assert 'role: "a model: evil: yes"\n' in text and "\nmodel:" not in text
    assert refused(orchsync, example_repo, "agent", "create", "../x") == (
        "agent name '../x' must not contain '/' or '\\' (one path segment)"
    )


def test_task_create_without_a_profile_says_how_to_make_one(orchsync, example_repo):
    result = orchsync(
        example_repo, "task", "create", "--sprint", SPRINT, "--id", "t9", "--agent", "ghost"
    )
    assert result.stderr == (
        "warning: agent 'ghost' has no profile in delegation/agents/; the task is created anyway "
        "(make one with `orchsync agent create ghost`)\n"
    )


def test_init_offers_one_default_agent_profile(orchsync, empty_repo):
    plain = orchsync(empty_repo, "init")
    assert plain.stderr == (
        "hint: no agent profile yet: `orchsync agent create NAME` makes one from a template\n"
    )
    result = orchsync(empty_repo, "init", "--agent", "developer")
    assert result.stdout.splitlines()[1:] == [
        "wrote delegation/agents/developer.yml (agent profile)",
        f"snapshot {head(empty_repo)[:12]}: agent developer: created",
    ]
    assert "role: Developer\n" in (empty_repo / "delegation/agents/developer.yml").read_text()
    assert clean(empty_repo)


# --- ids made from titles ------------------------------------------------------------------------


def test_ids_are_made_from_titles_and_kept_unique(orchsync, example_repo):
    def created(*args: str) -> str:
        return json.loads(orchsync(example_repo, *args, "--json").stdout)["entity"]

    assert created("sprint", "create", "--title", "Q3 hardening") == "S:q3-hardening"
    assert created("sprint", "create", "--title", "Q3 hardening!") == "S:q3-hardening-2"
    assert created("task", "create", "--sprint", "q3-hardening", "--title", "Cache eviction") == (
        "T:cache-eviction"
    )
    assert created("task", "create", "--sprint", SPRINT, "--title", "Cache eviction") == (
        "T:cache-eviction-2"
    )
    text = (example_repo / task_path("cache-eviction-2")).read_text()
    assert "title: Cache eviction\n" in text
    assert refused(orchsync, example_repo, "task", "create", "--sprint", SPRINT) == (
        "give the task an --id, or a --title to make one from"
    )
    assert refused(
        orchsync, example_repo, "task", "create", "--sprint", SPRINT, "--title", "!!"
    ) == ("cannot make a task id from the title '!!'; give --id")


@pytest.mark.parametrize(
    ("code", "title"),
    [
        ("api-crud", "API CRUD"),
        ("phase-9-api-db", "Phase 9 API DB"),
        ("fix_iOS-login", "Fix iOS login"),
        ("cache-eviction", "Cache eviction"),
    ],
)
def test_a_title_made_from_an_id_keeps_its_words(orchsync, example_repo, code, title):
    orchsync(example_repo, "task", "create", "--sprint", SPRINT, "--id", code)
    assert f"title: {title}\n" in (example_repo / task_path(code)).read_text()


# --- the same as MCP tools (`--tools all`) -------------------------------------------------------


def test_lifecycle_tools_over_mcp_commit_with_the_clients_name(example_repo):
    from mcp.client.session import ClientSession
    from test_mcp import CLIENT, fails, ok, run

    repo = example_repo

    async def body(s: ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {}
        shown = await ok(s, "task_show", task="phase-3")
        out["show"] = shown
        out["edit"] = await ok(
            s,
            "task_edit",
            task="phase-3",
            priority="P0",
            add_labels=["mcp"],
            check=["deliverables:1"],
            expected_hash=shown["hash"],
        )
        out["edit_trailers"] = dict(trailers(repo))
        out["stale"] = await fails(
            s, "task_edit", task="phase-3", title="x", expected_hash=shown["hash"]
        )
        out["bug"] = await ok(s, "bug_status", bug="BUG:1", status="fixed", note="done")
        await ok(s, "adr_create", title="Event store")
        out["adr"] = await ok(s, "adr_status", adr="1", status="superseded", superseded_by="2")
        out["adr_files"] = git(repo, "show", "--name-only", "--format=", "HEAD").split()
        out["sprint"] = await fails(s, "sprint_status", sprint=SPRINT, status="completed")
        out["forced"] = await ok(s, "sprint_status", sprint=SPRINT, status="completed", force=True)
        out["agent"] = await ok(s, "agent_create", name="reviewer", capabilities=["review"])
        out["agent_trailers"] = dict(trailers(repo))
        return out

    got = run(repo, body)

    assert got["show"]["waiting_on"] == ["phase-2-event-system"]
    assert got["edit"]["changed"] == ["deliverables", "labels", "priority"]
    assert got["edit_trailers"]["Orchsync-Agent"] == CLIENT
    assert "changed since it was read" in got["stale"]
    assert (got["bug"]["from"], got["bug"]["to"]) == ("open", "fixed")
    assert got["adr_files"] == [ADR1, "delegation/adr/ADR-002-event-store.md"]
    assert f"sprint {SPRINT} has 5 unfinished tasks: " in got["sprint"]
    assert len(got["forced"]["warnings"]) == 5
    assert got["agent"]["paths"] == ["delegation/agents/reviewer.yml"]
    assert got["agent_trailers"]["Orchsync-Event"] == "orchestration.agent.created A:reviewer"
    assert got["agent_trailers"]["Orchsync-Agent"] == CLIENT
    assert "capabilities: [review]\n" in (repo / "delegation/agents/reviewer.yml").read_text()
    assert ("bug.status_updated", {"from": "open", "to": "fixed"}) in events_of(
        repo, "BUG:1", commit=got["bug"]["commit"]
    )
    assert clean(repo)


# --- hostile callers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("sprint", "start", "../orchestration-api-v2"),
        ("sprint", "complete", "x\nstatus: active"),
        ("bug", "status", "../../etc/passwd", "closed"),
        ("adr", "status", "1", "superseded", "--superseded-by", "2\nstatus: accepted"),
        ("task", "edit", "../phase-3", "--title", "x"),
        ("task", "edit", "phase-3", "--add-dep", "x\ny"),
        ("agent", "create", "a\nb"),
        ("task", "create", "--sprint", SPRINT, "--id", "x\ny"),
        ("rollback", "T:phase-3", "--to", "HEAD\n--force"),
    ],
)
def test_hostile_keys_are_refused_and_nothing_is_written(orchsync, example_repo, args):
    before = {p: p.read_bytes() for p in (example_repo / "delegation").rglob("*") if p.is_file()}

    result = orchsync(example_repo, *args)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    after = {p: p.read_bytes() for p in (example_repo / "delegation").rglob("*") if p.is_file()}
    assert after == before
    assert clean(example_repo)


def test_a_stale_hash_refuses_bug_adr_and_sprint_changes(example_repo):
    from orchsync import pm
    from orchsync.errors import StaleWrite

    repo = find_repo(example_repo)
    for call in (
        lambda h: pm.set_bug_status(repo, "1", "closed", expected_hash=h),
        lambda h: pm.set_adr_status(repo, "1", "deprecated", expected_hash=h),
        lambda h: pm.set_sprint_status(repo, SPRINT, "planning", expected_hash=h),
    ):
        with pytest.raises(StaleWrite):
            call("sha256:" + "0" * 64)
    assert clean(example_repo)


def test_a_save_between_read_and_write_puts_the_first_file_back(example_repo):
    """Two files written together (an ADR superseded by another): if the second changed on
    disk after it was read, the first one gets its old bytes back and nothing is lost."""
    from orchsync.errors import StaleWrite
    from orchsync.pm.fieldedit import edit_fields, write_edits

    repo = find_repo(example_repo)
    other = "delegation/adr/ADR-002-next.md"
    write(example_repo, other, "---\ntitle: Next\nstatus: proposed\n---\n\n# Next\n")
    first_raw, other_raw = (example_repo / ADR1).read_bytes(), (example_repo / other).read_bytes()
    edits = [
        edit_fields(ADR1, first_raw, {"status": "superseded", "superseded_by": "ADR-002"}),
        edit_fields(other, other_raw, {"supersedes": "ADR-001"}),
    ]
    saved = b"---\ntitle: Next (edited)\nstatus: proposed\n---\n"
    write(example_repo, other, saved)  # an editor saves meanwhile

    with pytest.raises(StaleWrite) as caught:
        write_edits(repo, edits)

    assert caught.value.path == other
    assert (example_repo / ADR1).read_bytes() == first_raw
    assert (example_repo / other).read_bytes() == saved
