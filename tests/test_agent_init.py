"""AGENT INIT: `orchsync agent init S:<sprint> | T:<task>` assembles an agent's whole context.

Every test runs on a real git repository holding the example tree (sprint
orchestration-api-v2, six tasks, three agent profiles). The JSON answer follows
schemas/agent_init.json; the Markdown answer is what an agent pastes into its context.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import jsonschema
import pytest
from conftest import commit_all, git, replace_in, set_status, task_path, write

from orchsync import query
from orchsync.context import Request, parse_chat_command
from orchsync.context.budget import apply_budget
from orchsync.context.refs import expand
from orchsync.errors import UsageError
from orchsync.index.journal import read_all
from orchsync.parse.resources import data_dir
from orchsync.repo import find_repo

SPRINT = "orchestration-api-v2"
PHASE1 = "phase-1-api-foundation"
TASKS = [
    "phase-1-api-foundation",
    "phase-2-event-system",
    "phase-3-template-generation",
    "phase-4-agent-init",
    "phase-5-pm-commands",
    "phase-6-integration",
]
SCHEMA = json.loads((data_dir("schemas") / "agent_init.json").read_text())


def valid(doc: dict) -> dict:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    errors = [
        f"{e.json_path}: {e.message}"
        for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)
    ]
    assert errors == []
    return doc


def sha(repo: Path, rel: str) -> str:
    return hashlib.sha256((repo / rel).read_bytes()).hexdigest()


def by_path(refs: list[dict]) -> dict[str, dict]:
    return {r["path"]: r for r in refs}


# --- a task: every part ----------------------------------------------------------------------


def test_a_task_context_holds_every_part(example_repo, agent_init):
    doc = valid(agent_init(example_repo, f"T:{PHASE1}"))

    assert doc["target"] == {"key": f"T:{PHASE1}", "kind": "task", "code": PHASE1}
    assert doc["cached"] is False

    agent = doc["agent"]  # agents/backend-engineer.yml with the task's AGENT.yml merged over it
    assert agent["name"] == "backend-engineer"
    assert agent["role"] == "Builds the storage layer behind sprint and task CRUD"  # AGENT.yml wins
    assert agent["model"] == "claude-sonnet-4-5"
    assert agent["tools_allowed"] == ["read_file", "write_file", "run_tests", "orchsync_check"]
    assert {"git-internals", "duckdb", "yaml-and-markdown-parsing"} <= set(agent["capabilities"])
    assert "Never force-push or rewrite published git history" in agent["safety_rails"]  # profile
    assert "Write only under orchsync/, schemas/ and tests/" in agent["safety_rails"]  # task
    assert agent["description"].startswith("Builds and maintains orchsync's library")
    assert [s["part"] for s in agent["sources"]] == ["agent_profile", "agent_config"]

    task = doc["task"]
    assert task["title"] == "API foundation - sprint and task CRUD with hash tracking"
    assert (task["status"], task["priority"], task["sprint"]) == ("completed", "P0", SPRINT)
    assert task["objectives"][0] == {
        "text": "Read and write sprints and tasks through one library API that the CLI and the MCP "
        "server both call",
        "done": True,
    }
    assert len(task["deliverables"]) == 5
    assert all(i["done"] for i in task["acceptance_criteria"])
    assert "Create the library calls behind sprint and task CRUD" in task["body"]
    assert task["hash"] == sha(example_repo, task_path(PHASE1))
    assert task["dependencies"] == []
    assert [d["code"] for d in task["dependents"]] == ["phase-2-event-system"]
    assert task["blocked"] is False

    sprint = doc["sprint"]
    assert sprint["code"] == SPRINT
    assert sprint["status"] == "active"
    assert sprint["goal"].startswith("Turn the file-based project management system")
    assert [t["code"] for t in sprint["tasks"]] == TASKS
    assert {t["code"]: t["status"] for t in sprint["tasks"]}[
        "phase-2-event-system"
    ] == "in_progress"

    assert doc["session"] is None  # the example's only session has ended

    refs = by_path(doc["references"])
    assert list(refs) == [
        f"delegation/sprints/{SPRINT}/SPRINT.md",
        "delegation/adr/ADR-001-files-are-the-truth.md",
        "README.md",
        "delegation/orchsync.yml",
    ]
    adr = refs["delegation/adr/ADR-001-files-are-the-truth.md"]
    assert adr["sources"] == ["task", "agent", "sprint"]
    assert adr["status"] == "ok"
    assert adr["content"] == (example_repo / adr["path"]).read_text()
    assert adr["hash"] == sha(example_repo, adr["path"])

    prov = doc["provenance"]
    assert prov["commit"] == git(example_repo, "rev-parse", "HEAD").strip()
    assert prov["ref"] == "refs/heads/main"
    uuid.UUID(prov["correlation_id"])
    parts = {(p["part"], p["path"]): p["hash"] for p in prov["parts"]}
    for part, rel in [
        ("task", task_path(PHASE1)),
        ("agent_config", f"delegation/sprints/{SPRINT}/{PHASE1}/AGENT.yml"),
        ("agent_profile", "delegation/agents/backend-engineer.yml"),
        ("sprint", f"delegation/sprints/{SPRINT}/SPRINT.md"),
        ("reference", "README.md"),
    ]:
        assert parts[(part, rel)] == sha(example_repo, rel)
    assert doc["warnings"] == []


def test_the_markdown_has_a_heading_per_part_and_checklists(example_repo, orchsync):
    result = orchsync(example_repo, "agent", "init", f"T:{PHASE1}")

    assert result.exit_code == 0
    md = result.stdout
    for heading in [
        f"# AGENT INIT T:{PHASE1}\n",
        "## Agent profile: backend-engineer\n",
        "### Safety rails\n",
        "## Task: API foundation - sprint and task CRUD with hash tracking\n",
        "### Objectives\n",
        "### Deliverables\n",
        "### Acceptance criteria\n",
        "### Description\n",
        "## Sprint context: Orchestration API v2 - Database-Backed PM System\n",
        "### Dependencies of this task\n",
        "### Tasks that depend on this task\n",
        "### Tasks in this sprint\n",
        "## Reference docs\n",
        "### `README.md`\n",
        "## Provenance\n",
    ]:
        assert heading in md
    assert "- [x] Track every version of an entity by the sha256 of its file bytes\n" in md
    assert f"- [x] `{PHASE1}` API foundation" in md
    assert "- [ ] `phase-2-event-system` Event emission" in md
    # the checklist sections of the body are shown once, as checklists, not again as prose
    assert md.count("Track every version of an entity") == 1 + md.count("````markdown") * 0
    assert "## Budget" not in md


def test_a_dependency_not_completed_blocks_the_task(example_repo, agent_init, orchsync):
    doc = agent_init(example_repo, "T:phase-3-template-generation")

    assert doc["task"]["dependencies"] == [
        {
            "code": "phase-2-event-system",
            "title": "Event emission and observability for every PM operation",
            "status": "in_progress",
            "sprint": SPRINT,
            "blocking": True,
            "missing": False,
            "hash": sha(example_repo, task_path("phase-2-event-system")),
        }
    ]
    assert doc["task"]["blocked"] is True
    assert [d["code"] for d in doc["task"]["dependents"]] == ["phase-4-agent-init"]
    md = orchsync(example_repo, "agent", "init", "T:phase-3-template-generation").stdout
    assert "- **Blocked by:** `phase-2-event-system`\n" in md
    assert (
        "- `phase-2-event-system` Event emission and observability for every PM operation: in_progress, **blocks this task**\n"
        in md
    )


def test_a_missing_dependency_is_reported_and_blocks(example_repo, agent_init):
    replace_in(
        example_repo,
        task_path("phase-3-template-generation"),
        "  - phase-2-event-system\n",
        "  - phase-2-event-system\n  - no-such-task\n",
    )
    commit_all(example_repo, "depend on a task that does not exist")

    deps = agent_init(example_repo, "T:phase-3")["task"]["dependencies"]

    assert deps[1] == {
        "code": "no-such-task",
        "title": None,
        "status": None,
        "sprint": None,
        "blocking": True,
        "missing": True,
        "hash": None,
    }


# --- ways to name the target -----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [f"T:{PHASE1}", f"t:{PHASE1}", "T:phase-1", PHASE1, f"task:{PHASE1}", f"AGENT INIT T:{PHASE1}"],
)
def test_a_task_is_named_by_key_prefix_lower_case_or_chat_command(example_repo, agent_init, target):
    assert agent_init(example_repo, target)["target"]["key"] == f"T:{PHASE1}"


def test_agent_init_alias_is_the_same_command(example_repo, orchsync):
    a = json.loads(orchsync(example_repo, "agent-init", f"T:{PHASE1}", "--json").stdout)
    b = json.loads(orchsync(example_repo, "agent", "init", f"T:{PHASE1}", "--json").stdout)
    assert a["provenance"]["context_hash"] == b["provenance"]["context_hash"]


def test_the_chat_command_maps_to_the_cli_arguments():
    assert parse_chat_command("AGENT INIT T:phase-1 --agent qa-engineer --budget 4000") == {
        "target": "T:phase-1",
        "agent": "qa-engineer",
        "session": None,
        "budget": 4000,
    }
    assert (
        parse_chat_command("agent init S:orchestration-api-v2")["target"]
        == "S:orchestration-api-v2"
    )
    with pytest.raises(UsageError):
        parse_chat_command("AGENT STATUS T:x")
    with pytest.raises(UsageError):
        Request.parse("ADR:1")


def test_an_unknown_or_ambiguous_task_is_an_error(example_repo, orchsync):
    unknown = orchsync(example_repo, "agent", "init", "T:nope")
    assert unknown.exit_code == 2
    assert "unknown task 'nope'" in unknown.stderr

    ambiguous = orchsync(example_repo, "agent", "init", "T:phase")
    assert ambiguous.exit_code == 2
    assert "ambiguous" in ambiguous.stderr and "phase-1-api-foundation" in ambiguous.stderr

    sprint = orchsync(example_repo, "agent", "init", "S:nope")
    assert sprint.exit_code == 2
    assert f"unknown sprint 'nope'; sprints: {SPRINT}" in sprint.stderr


# --- explicit agent ----------------------------------------------------------------------------


def test_an_explicit_agent_wins_and_the_task_config_still_applies(example_repo, agent_init):
    agent = agent_init(example_repo, f"T:{PHASE1}", "--agent", "qa-engineer")["agent"]

    assert agent["name"] == "qa-engineer"
    assert agent["explicit"] is True
    assert agent["assigned"] == "backend-engineer"
    assert "Run tests against temporary repositories only" in agent["safety_rails"]  # qa profile
    assert "Write only under orchsync/, schemas/ and tests/" in agent["safety_rails"]  # the task's
    assert agent["sources"][0]["path"] == "delegation/agents/qa-engineer.yml"


def test_an_agent_without_a_profile_is_reported(example_repo, agent_init):
    doc = agent_init(example_repo, f"T:{PHASE1}", "--agent", "ghost")

    assert doc["agent"]["profile_missing"] is True
    assert doc["warnings"] == ["agent 'ghost' has no profile (no delegation/agents/ghost.yml)"]


# --- a sprint ----------------------------------------------------------------------------------


def test_a_sprint_context_lists_every_task_and_the_ready_ones(example_repo, agent_init, orchsync):
    doc = valid(agent_init(example_repo, f"S:{SPRINT}"))

    assert doc["task"] is None and doc["agent"] is None
    sprint = doc["sprint"]
    assert [t["code"] for t in sprint["tasks"]] == TASKS
    assert sprint["ready"] == []  # phase-3 waits for phase-2, which is in progress
    assert sprint["counts"] == {"completed": 1, "in_progress": 1, "pending": 4}
    assert sprint["body"].lstrip().startswith("# Sprint: Orchestration API v2")
    summaries = {t["code"]: t["summary"] for t in sprint["tasks"]}
    assert summaries[PHASE1].startswith("Create the library calls behind sprint and task CRUD.")

    set_status(example_repo, task_path("phase-2-event-system"), "completed")
    commit_all(example_repo, "phase 2 done")
    doc = agent_init(example_repo, f"S:{SPRINT}")
    assert doc["cached"] is False
    assert doc["sprint"]["ready"] == ["phase-3-template-generation"]

    md = orchsync(example_repo, "agent", "init", f"S:{SPRINT}").stdout
    assert "## Sprint: Orchestration API v2 - Database-Backed PM System\n" in md
    assert "### Ready tasks\n\n- `phase-3-template-generation` Template generation API" in md
    for code in TASKS:
        assert f"`{code}`" in md.split("### Tasks\n", 1)[1]


# --- sessions: the resume case -----------------------------------------------------------------


def test_resuming_a_session_brings_its_notes_handoffs_and_events(
    example_repo, agent_init, session_cmd, orchsync
):
    key = session_cmd(
        example_repo, "start", "T:phase-2-event-system", "--agent", "backend-engineer"
    )["key"]
    session_cmd(example_repo, "note", key, "derive_events is pure; sampling is next")
    session_cmd(
        example_repo, "handoff", key, "--to", "qa-engineer", "--note", "write the e2e tests"
    )

    doc = valid(
        agent_init(
            example_repo, "T:phase-2-event-system", "--session", key, "--agent", "qa-engineer"
        )
    )

    session = doc["session"]
    assert (session["key"], session["status"], session["agent"]) == (
        key,
        "handed_off",
        "qa-engineer",
    )
    assert session["selected"] == "explicit"
    assert "[backend-engineer] derive_events is pure; sampling is next" in session["notes"]
    [handoff] = session["handoffs"]
    assert (handoff["from"], handoff["to"], handoff["note"]) == (
        "backend-engineer",
        "qa-engineer",
        "write the e2e tests",
    )
    types = [e["event_type"] for e in session["events"]]
    assert types[0] == "orchestration.session.started"
    assert "orchestration.session.status_updated" in types
    assert {"from": "open", "to": "handed_off"} in [e["payload"] for e in session["events"]]
    assert session["events_total"] == len(session["events"])
    assert doc["agent"]["name"] == "qa-engineer"

    # without --session, the latest open (or handed-off) session of the task and agent is resumed
    auto = agent_init(example_repo, "T:phase-2-event-system", "--agent", "qa-engineer")["session"]
    assert (auto["key"], auto["selected"]) == (key, "latest_open")
    assert (
        agent_init(example_repo, "T:phase-2-event-system", "--agent", "tech-writer")["session"]
        is None
    )

    md = orchsync(example_repo, "agent", "init", "T:phase-2-event-system", "--session", key).stdout
    assert f"## Session memory: {key}\n" in md
    assert (
        "### Handoffs\n\n- " in md and "backend-engineer → qa-engineer: write the e2e tests\n" in md
    )
    assert "session.status_updated (open → handed_off) by backend-engineer" in md


def test_an_unknown_session_is_an_error(example_repo, orchsync):
    result = orchsync(example_repo, "agent", "init", f"T:{PHASE1}", "--session", "nope")
    assert result.exit_code == 2
    assert "unknown session 'nope'" in result.stderr


# --- reference docs ----------------------------------------------------------------------------


def _context(repo: Path, *entries: str) -> None:
    """Point phase-1's `context` at these entries (and commit)."""
    path = repo / task_path(PHASE1)
    text = path.read_text()
    start = text.index("context:\n")
    end = text.index("labels:\n")
    items = "".join(f"  - {json.dumps(e)}\n" for e in entries)
    path.write_text(text[:start] + "context:\n" + items + text[end:])
    commit_all(repo, "new context")


def test_missing_and_outside_reference_docs_are_reported_not_fatal(
    example_repo, agent_init, tmp_path
):
    (tmp_path / "secret.md").write_text("TOPSECRET-42\n")
    (example_repo / "docs").mkdir()
    (example_repo / "docs" / "escape.md").symlink_to(tmp_path / "secret.md")
    _context(
        example_repo,
        "docs/nope.md",
        "../secret.md",
        "/etc/passwd",
        "docs/escape.md",
        ".git/config",
        "delegation/adr/*.md",
        "docs/none-*.md",
    )

    doc = valid(agent_init(example_repo, f"T:{PHASE1}"))

    refs = by_path(doc["references"])
    assert refs["docs/nope.md"]["status"] == "missing"
    assert refs["docs/nope.md"]["reason"] == "no such file"
    assert refs["../secret.md"]["status"] == "refused"
    assert refs["../secret.md"]["reason"] == "outside the repository ('..' is refused)"
    assert refs["/etc/passwd"]["status"] == "refused"
    assert refs["docs/escape.md"]["status"] == "refused"
    assert refs[".git/config"]["status"] == "refused"
    assert refs["docs/none-*.md"]["status"] == "missing"
    assert refs["delegation/adr/ADR-001-files-are-the-truth.md"]["patterns"] == [
        "delegation/adr/*.md",
        "delegation/adr/ADR-001-files-are-the-truth.md",
    ]
    assert all(r["content"] is None for r in refs.values() if r["status"] != "ok")
    assert "TOPSECRET-42" not in json.dumps(doc)


def test_globs_stay_inside_the_repository(example_repo):
    root = example_repo.resolve()
    assert expand(root, "delegation/agents/*.yml")[0] == [
        "delegation/agents/backend-engineer.yml",
        "delegation/agents/qa-engineer.yml",
        "delegation/agents/tech-writer.yml",
    ]
    assert expand(root, "../*")[1] is not None
    assert expand(root, "**/config")[0] == []  # .git/config is never matched


# --- the cache ---------------------------------------------------------------------------------


def test_a_second_identical_call_is_served_from_the_cache(example_repo, agent_init):
    first = agent_init(example_repo, f"T:{PHASE1}")
    second = valid(agent_init(example_repo, f"T:{PHASE1}"))

    assert (first["cached"], second["cached"]) == (False, True)
    assert second["provenance"]["context_hash"] == first["provenance"]["context_hash"]
    assert second["provenance"]["correlation_id"] != first["provenance"]["correlation_id"]
    assert agent_init(example_repo, f"T:{PHASE1}", "--agent", "qa-engineer")["cached"] is False
    assert agent_init(example_repo, f"T:{PHASE1}", "--no-cache")["cached"] is False


def test_an_edited_reference_doc_is_never_served_stale(example_repo, agent_init):
    agent_init(example_repo, f"T:{PHASE1}")
    assert agent_init(example_repo, f"T:{PHASE1}")["cached"] is True

    write(
        example_repo, "README.md", "# example\n\nA new line an agent must see.\n"
    )  # not committed
    doc = agent_init(example_repo, f"T:{PHASE1}")

    assert doc["cached"] is False
    assert (
        by_path(doc["references"])["README.md"]["content"]
        == "# example\n\nA new line an agent must see.\n"
    )
    assert agent_init(example_repo, f"T:{PHASE1}")["cached"] is True


def test_a_new_file_matching_a_reference_glob_invalidates(example_repo, agent_init):
    _context(example_repo, "docs/*.md")
    write(example_repo, "docs/a.md", "a\n")
    assert [r["path"] for r in agent_init(example_repo, f"T:{PHASE1}")["references"]][
        0
    ] == "docs/a.md"

    write(example_repo, "docs/b.md", "b\n")
    doc = agent_init(example_repo, f"T:{PHASE1}")

    assert doc["cached"] is False
    assert [r["path"] for r in doc["references"]][:2] == ["docs/a.md", "docs/b.md"]


@pytest.mark.parametrize(
    "edit",
    [
        "the task itself",
        "a sibling task's status",
        "the agent profile",
        "the sprint",
        "a new task elsewhere that depends on this one",
    ],
)
def test_a_committed_change_to_any_part_is_never_served_stale(example_repo, agent_init, edit):
    before = agent_init(example_repo, "T:phase-2-event-system")
    assert agent_init(example_repo, "T:phase-2-event-system")["cached"] is True
    if edit == "the task itself":
        replace_in(
            example_repo,
            task_path("phase-2-event-system"),
            "status: in_progress",
            "status: blocked",
        )
    elif edit == "a sibling task's status":
        set_status(example_repo, task_path("phase-6-integration"), "blocked")
    elif edit == "the agent profile":
        replace_in(
            example_repo,
            "delegation/agents/backend-engineer.yml",
            "  - duckdb\n",
            "  - duckdb\n  - rust\n",
        )
    elif edit == "the sprint":
        replace_in(
            example_repo,
            f"delegation/sprints/{SPRINT}/SPRINT.md",
            "status: active",
            "status: completed",
        )
    else:
        write(example_repo, "delegation/sprints/other/SPRINT.md", "---\ntitle: Other\n---\n")
        write(
            example_repo,
            "delegation/sprints/other/x/TASK.md",
            "---\ntitle: X\ndepends_on: [phase-2-event-system]\n---\n",
        )
    commit_all(example_repo, edit)

    after = agent_init(example_repo, "T:phase-2-event-system")

    assert after["cached"] is False
    assert after["provenance"]["context_hash"] != before["provenance"]["context_hash"]


def test_a_commit_to_an_unrelated_file_keeps_the_cache(example_repo, agent_init):
    agent_init(example_repo, f"T:{PHASE1}")
    replace_in(
        example_repo,
        "delegation/backlog/BUG-0001-crlf-task-files-show-spurious-diffs.md",
        "status: open",
        "status: triaged",
    )
    commit_all(example_repo, "triage a bug")

    doc = agent_init(example_repo, f"T:{PHASE1}")

    assert doc["cached"] is True
    assert (
        doc["provenance"]["commit"] != git(example_repo, "rev-parse", "HEAD").strip()
    )  # as assembled
    assert agent_init(example_repo, f"T:{PHASE1}")["cached"] is True  # and moved to the new tip


def test_an_expired_or_disabled_cache_assembles_afresh(example_repo, agent_init):
    replace_in(
        example_repo,
        "delegation/orchsync.yml",
        "context_cache_seconds: 300",
        "context_cache_seconds: 0",
    )
    commit_all(example_repo, "no cache")

    agent_init(example_repo, f"T:{PHASE1}")
    assert agent_init(example_repo, f"T:{PHASE1}")["cached"] is False


def test_an_unsynced_edit_is_flagged(example_repo, agent_init):
    replace_in(example_repo, task_path(PHASE1), "priority: P0", "priority: P1")

    doc = agent_init(example_repo, f"T:{PHASE1}")

    assert doc["task"]["priority"] == "P0"  # the index holds the last snapshot
    assert doc["warnings"] == [
        f"{task_path(PHASE1)} was edited in the work tree after the last snapshot; this context "
        "shows the snapshot (run `orchsync sync`)"
    ]


# --- budget ------------------------------------------------------------------------------------


ORDER = ["reference", "sprint.tasks", "session.events"]


def test_a_budget_trims_reference_docs_first_and_never_the_task(example_repo, agent_init, orchsync):
    full = agent_init(example_repo, f"T:{PHASE1}")
    doc = valid(agent_init(example_repo, f"T:{PHASE1}", "--budget", "2500"))

    budget = doc["budget"]
    assert budget["tokens"] == 2500
    assert [t["part"] for t in budget["trimmed"]] == ["reference"] * len(budget["trimmed"])
    assert budget["estimated_tokens"] <= 2500 and budget["over_budget"] is False
    assert doc["task"] == full["task"]
    # the last-listed doc goes first; the one that crosses the line is cut short, not dropped
    assert [t["item"] for t in budget["trimmed"]] == [
        r["path"] for r in reversed(full["references"])
    ]
    assert [t["action"] for t in budget["trimmed"]] == ["left out"] * 3 + ["cut short"]
    first = doc["references"][0]
    assert first["status"] == "trimmed" and first["content"].endswith("\n…")
    assert full["references"][0]["content"].startswith(first["content"][:-2])

    md = orchsync(example_repo, "agent", "init", f"T:{PHASE1}", "--budget", "2500").stdout
    assert len(md) / 4 <= 2500
    assert "## Budget\n\n- 2500 tokens requested" in md
    assert (
        "- [x] Creating, updating and reading a task round-trips its front matter unchanged\n" in md
    )


def test_a_tiny_budget_trims_in_the_stated_order_and_says_so(example_repo, agent_init, session_cmd):
    key = session_cmd(
        example_repo, "start", "T:phase-2-event-system", "--agent", "backend-engineer"
    )["key"]
    for n in range(5):
        session_cmd(example_repo, "note", key, f"note {n}")
    full = agent_init(example_repo, "T:phase-2-event-system", "--session", key)

    doc = valid(
        agent_init(example_repo, "T:phase-2-event-system", "--session", key, "--budget", "200")
    )

    parts = [t["part"] for t in doc["budget"]["trimmed"]]
    assert parts == sorted(parts, key=ORDER.index)
    assert set(parts) == set(ORDER)
    assert doc["budget"]["over_budget"] is True
    assert doc["task"] == full["task"]
    assert doc["session"]["notes"] == full["session"]["notes"]
    assert doc["session"]["events_omitted"] > 0
    assert doc["sprint"]["omitted"] > 0


def test_apply_budget_leaves_a_context_that_fits_alone():
    data = {
        "target": {"key": "T:x", "kind": "task", "code": "x"},
        "references": [],
        "provenance": {},
    }
    out = apply_budget(data, 10_000)
    assert out["budget"]["trimmed"] == [] and out["budget"]["over_budget"] is False
    assert "budget" not in data  # the input is not changed


# --- events ------------------------------------------------------------------------------------


def test_each_call_emits_two_events_to_the_journal_and_the_index(example_repo, agent_init):
    repo = find_repo(example_repo)
    cold = agent_init(example_repo, f"T:{PHASE1}")
    warm = agent_init(example_repo, f"T:{PHASE1}")

    def recorded() -> list[dict]:
        with query.reader(repo) as con:
            rows = query.events(con, type="orchestration.agent.initialized", limit=None)
            rows += query.events(con, type="orchestration.context.assembled", limit=None)
        return rows

    rows = recorded()
    calls = [cold["provenance"]["correlation_id"], warm["provenance"]["correlation_id"]]
    rows.sort(key=lambda r: (calls.index(r["correlation_id"]), r["event_type"]))
    assert [(r["event_type"], r["entity_code"], r["correlation_id"]) for r in rows] == [
        ("orchestration.agent.initialized", PHASE1, calls[0]),
        ("orchestration.context.assembled", PHASE1, calls[0]),
        ("orchestration.agent.initialized", PHASE1, calls[1]),
        ("orchestration.context.assembled", PHASE1, calls[1]),
    ]
    assert rows[0]["payload"] == {
        "target": f"T:{PHASE1}",
        "agent": "backend-engineer",
        "session": None,
        "cached": False,
    }
    assembled = rows[1]["payload"]
    assert assembled["cached"] is False and rows[3]["payload"]["cached"] is True
    assert assembled["duration_ms"] > 0
    assert assembled["context_hash"] == cold["provenance"]["context_hash"]
    parts = {p["part"] if p["part"] != "reference" else p["path"]: p for p in assembled["parts"]}
    assert parts["task"]["hash"] == cold["task"]["hash"] and parts["task"]["chars"] > 0
    assert parts["README.md"]["hash"] == sha(example_repo, "README.md")
    assert (rows[0]["entity_type"], rows[0]["agent"], rows[1]["level"]) == (
        "task",
        "backend-engineer",
        "debug",
    )

    journal = [r for r in read_all(repo.runtime / "journal")]
    assert sorted(r["id"] for r in journal) == sorted(r["id"] for r in rows)

    query.refresh(repo, full=True)  # a rebuild from git replays the journal
    assert sorted(r["id"] for r in recorded()) == sorted(r["id"] for r in rows)


def test_session_events_carry_the_session_key(example_repo, agent_init, session_cmd):
    key = session_cmd(example_repo, "start", f"T:{PHASE1}", "--agent", "backend-engineer")["key"]
    agent_init(example_repo, f"T:{PHASE1}")

    with query.reader(find_repo(example_repo)) as con:
        rows = query.events(con, session=key, type="orchestration.agent.initialized")
    assert [r["payload"]["session"] for r in rows] == [key]


def test_the_event_policy_decides_what_is_recorded(example_repo, agent_init):
    replace_in(example_repo, "delegation/orchsync.yml", "min_level: debug", "min_level: info")
    commit_all(example_repo, "info and above")

    agent_init(example_repo, f"T:{PHASE1}")

    repo = find_repo(example_repo)
    with query.reader(repo) as con:
        assert len(query.events(con, type="orchestration.agent.initialized")) == 1
        assert query.events(con, type="orchestration.context.assembled") == []
    assert [r["event_type"] for r in read_all(repo.runtime / "journal")] == [
        "orchestration.agent.initialized"
    ]


def test_a_commit_made_in_the_session_reaches_its_memory(example_repo, agent_init, session_cmd):
    from orchsync.sync import sync

    key = session_cmd(example_repo, "start", f"T:{PHASE1}", "--agent", "backend-engineer")["key"]
    agent_init(example_repo, f"T:{PHASE1}", "--session", key)
    assert agent_init(example_repo, f"T:{PHASE1}", "--session", key)["cached"] is True
    bug = "delegation/backlog/BUG-0001-crlf-task-files-show-spurious-diffs.md"
    replace_in(example_repo, bug, "status: open", "status: triaged")
    sync(find_repo(example_repo), paths=[bug], actor="backend-engineer", session=key)

    doc = agent_init(example_repo, f"T:{PHASE1}", "--session", key)

    assert doc["cached"] is False
    assert {"from": "open", "to": "triaged"} in [e["payload"] for e in doc["session"]["events"]]
