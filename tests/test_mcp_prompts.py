"""MCP prompts and argument completion: what a person types in a coding agent.

Coding agents show prompts as slash commands (`/mcp__orchsync__agent_init`) and complete
their arguments as the person types (`completion/complete`). Each test drives a real
`orchsync mcp` child process with the MCP SDK's own client, as `test_mcp.py` does.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import SPRINT, commit_all, new_task, set_status, task_path
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, PromptReference, ResourceTemplateReference
from test_mcp import ok, run

from orchsync import query
from orchsync.repo import find_repo

PHASE2 = "phase-2-event-system"
PHASE3 = "phase-3-template-generation"
SESSION = "2025-10-14-backend-engineer-phase-1"


async def prompt_text(s: ClientSession, name: str, **arguments: str) -> str:
    """The one user message of a prompt, as text."""
    result = await s.get_prompt(name, arguments)
    assert [m.role for m in result.messages] == ["user"]
    return result.messages[0].content.text  # type: ignore[union-attr]


async def prompt_error(s: ClientSession, name: str, **arguments: str) -> str:
    """The message of the MCP error a prompt answers with (INVALID_PARAMS)."""
    with pytest.raises(MCPError) as caught:
        await s.get_prompt(name, arguments)
    assert caught.value.error.code == INVALID_PARAMS, caught.value.error
    return caught.value.error.message


def without_provenance(markdown: str) -> list[str]:
    """An AGENT INIT document without its provenance line (time, correlation id, cache)."""
    return [line for line in markdown.splitlines() if not line.startswith("Context ")]


# --- prompts/list ------------------------------------------------------------------------------


def test_three_prompts_with_their_arguments(example_repo):
    async def body(s: ClientSession) -> dict[str, Any]:
        init = s.initialize_result
        assert init is not None and init.capabilities.prompts is not None
        assert init.capabilities.completions is not None
        prompts = (await s.list_prompts()).prompts
        return {p.name: [(a.name, bool(a.required)) for a in p.arguments or []] for p in prompts}

    assert run(example_repo, body, tools="core") == {
        "agent_init": [("target", True), ("session", False), ("budget", False)],
        "handoff": [("session", True)],
        "ready_work": [("agent", False)],
    }


# --- agent_init ---------------------------------------------------------------------------------


def test_agent_init_prompt_is_the_document_agent_init_prints(example_repo, orchsync):
    printed = orchsync(example_repo, "agent", "init", f"T:{PHASE2}")
    assert printed.exit_code == 0, printed.output

    async def body(s: ClientSession) -> tuple[str, str, str]:
        result = await s.get_prompt("agent_init", {"target": f"T:{PHASE2}"})
        text = result.messages[0].content.text  # type: ignore[union-attr]
        budgeted = await prompt_text(s, "agent_init", target=f"T:{PHASE2}", budget="300")
        return result.description or "", text, budgeted

    description, text, budgeted = run(example_repo, body, tools="core")
    assert description == f"AGENT INIT T:{PHASE2}"
    assert text.startswith(f"# AGENT INIT T:{PHASE2}\n")
    assert without_provenance(text) == without_provenance(printed.stdout)
    assert "## Budget" in budgeted and "300 tokens requested" in budgeted
    assert len(budgeted) < len(text)

    # recorded like the tool and the CLI record it: two events per call, one correlation id
    correlation = re.search(r"correlation id `([^`]+)`", text).group(1)  # type: ignore[union-attr]
    with query.reader(find_repo(example_repo)) as con:
        rows = query.events(con, type="orchestration.agent.initialized", limit=None)
        rows += query.events(con, type="orchestration.context.assembled", limit=None)
    mine = sorted(r["event_type"] for r in rows if r["correlation_id"] == correlation)
    assert mine == ["orchestration.agent.initialized", "orchestration.context.assembled"]
    assert len(rows) == 6  # the CLI's call, the prompt, the prompt with a budget


def test_agent_init_prompt_resumes_the_session_it_is_given(example_repo):
    async def body(s: ClientSession) -> tuple[str, str]:
        key = (await ok(s, "session_start", target=f"T:{PHASE3}", note="Renderer half done."))[
            "key"
        ]
        return key, await prompt_text(s, "agent_init", target=f"T:{PHASE3}", session=key)

    key, text = run(example_repo, body)
    assert f"## Session memory: {key}" in text
    assert "Renderer half done." in text


def test_a_bad_agent_init_is_a_clear_error_and_the_server_keeps_serving(example_repo):
    async def body(s: ClientSession) -> list[str]:
        errors = [
            await prompt_error(s, "agent_init", target="ADR:1"),
            await prompt_error(s, "agent_init", target="T:no-such-task"),
            await prompt_error(s, "agent_init", target=f"S:{SPRINT}-nope"),
            await prompt_error(s, "agent_init"),
            await prompt_error(s, "agent_init", target="   "),
            await prompt_error(s, "agent_init", target="T:" + "x" * 5000),
            await prompt_error(s, "agent_init", target=f"T:{PHASE2}", budget="lots"),
            await prompt_error(s, "agent_init", target=f"T:{PHASE2}", format="json"),
            await prompt_error(s, "no_such_prompt"),
        ]
        assert (await prompt_text(s, "agent_init", target=f"S:{SPRINT}")).startswith(
            f"# AGENT INIT S:{SPRINT}\n"
        )
        return errors

    assert run(example_repo, body, tools="core") == [
        "AGENT INIT takes S:<sprint> or T:<task>, not 'ADR:1'",
        "unknown task 'no-such-task': no such task in the index (`orchsync tasks` lists them; "
        "a task created a moment ago appears once it is synced)",
        f"unknown sprint '{SPRINT}-nope'; sprints: {SPRINT}",
        "agent_init: argument target is required",
        "agent_init: argument target is required",
        "agent_init: argument target is 5002 bytes; the limit is 1024 bytes",
        "agent_init: budget 'lots' is not a token count",
        "agent_init: unknown argument 'format'; it takes budget, session, target",
        "unknown prompt 'no_such_prompt'; use agent_init, handoff, ready_work",
    ]


# --- handoff ------------------------------------------------------------------------------------


def test_handoff_prompt_leads_with_the_last_handoff_note(example_repo):
    async def body(s: ClientSession) -> tuple[str, str, str]:
        key = (await ok(s, "session_start", target=f"T:{PHASE3}", note="Loader works."))["key"]
        await ok(s, "session_note", text="Renderer: ``` fences ``` inside notes.")
        await ok(s, "session_handoff", to="qa-engineer", note="Write the golden-file tests.")
        text = await prompt_text(s, "handoff", session=key)
        unknown = await prompt_error(s, "handoff", session="nope")
        return key, text, unknown

    key, text, unknown = run(example_repo, body)
    assert text.startswith(f"# Resume session {key}\n")
    assert f"- **On:** T:{PHASE3} · S:{SPRINT} · **Status:** handed_off" in text
    assert "handed this session to qa-engineer at " in text
    assert "> Write the golden-file tests.\n" in text
    # the notes come whole, in a fence longer than any inside them
    assert "````markdown\n" in text and "Loader works." in text and "``` fences ```" in text
    assert f"AGENT INIT T:{PHASE3} --session {key}" in text
    assert unknown == (
        "unknown session 'nope' (no delegation/sessions/nope.md); `orchsync session list` shows them"
    )


def test_handoff_prompt_of_an_ended_session_says_so(example_repo):
    text = run(example_repo, lambda s: prompt_text(s, "handoff", session=SESSION), tools="core")
    assert "> Continue with phase-2-event-system; derivation should reuse" in text
    assert "This session has ended: start a new one on the same target to go on." in text


# --- ready_work ---------------------------------------------------------------------------------


def test_ready_work_lists_the_tasks_ready_to_start(example_repo):
    set_status(example_repo, task_path(PHASE2), "completed")  # phase-3 waited for it
    new_task(example_repo, "style-guide", agent="tech-writer", priority="P2")
    commit_all(example_repo, "phase 2 done; a task for the writer")

    async def body(s: ClientSession) -> list[str]:
        return [
            await prompt_text(s, "ready_work"),
            await prompt_text(s, "ready_work", agent="tech-writer"),
            await prompt_text(s, "ready_work", agent="qa-engineer"),
        ]

    every, writer, qa = run(example_repo, body, tools="core")
    assert "2 tasks are ready to start (pending, every dependency completed):" in every
    assert (
        f"- T:{PHASE3} — Template generation API for sprint and task folders "
        f"(P1 · S:{SPRINT} · backend-engineer)" in every
    )
    assert f"- T:style-guide — Task style-guide (P2 · S:{SPRINT} · tech-writer)" in every
    assert writer.startswith("# Ready work for tech-writer\n")
    assert "1 task is ready to start (pending, every dependency completed), assigned to " in writer
    assert PHASE3 not in writer
    assert "No task is ready to start for qa-engineer" in qa


# --- completion/complete --------------------------------------------------------------------------


def test_completion_offers_targets_sessions_and_agents(example_repo):
    prompt = PromptReference(type="ref/prompt", name="agent_init")

    async def values(
        s: ClientSession, ref: Any, name: str, value: str
    ) -> tuple[list[str], int | None, bool | None]:
        done = (await s.complete(ref, {"name": name, "value": value})).completion
        return done.values, done.total, done.has_more

    async def body(s: ClientSession) -> list[Any]:
        task = ResourceTemplateReference(type="ref/resource", uri="orchsync://task/{code}")
        adr = ResourceTemplateReference(type="ref/resource", uri="orchsync://adr/{number}")
        return [
            await values(s, prompt, "target", ""),
            await values(s, prompt, "target", "T:phase-3"),
            await values(s, prompt, "target", "s:orch"),
            await values(s, prompt, "target", "PHASE-1"),
            await values(s, prompt, "target", "T:nothing"),
            await values(s, prompt, "session", "2025"),
            await values(s, PromptReference(type="ref/prompt", name="handoff"), "session", ""),
            await values(s, PromptReference(type="ref/prompt", name="ready_work"), "agent", "q"),
            await values(s, task, "code", "phase-6"),
            await values(s, adr, "number", ""),
            await values(s, prompt, "budget", "1"),  # nothing to offer
            await values(s, prompt, "target", "T:" + "p" * 10_000),
        ]

    assert run(example_repo, body, tools="core") == [
        (
            [
                f"S:{SPRINT}",
                "T:phase-1-api-foundation",
                "T:phase-2-event-system",
                "T:phase-3-template-generation",
                "T:phase-4-agent-init",
                "T:phase-5-pm-commands",
                "T:phase-6-integration",
            ],
            7,
            False,
        ),
        ([f"T:{PHASE3}"], 1, False),
        ([f"S:{SPRINT}"], 1, False),
        (["T:phase-1-api-foundation"], 1, False),
        ([], 0, False),
        ([SESSION], 1, False),
        ([SESSION], 1, False),
        (["qa-engineer"], 1, False),
        (["phase-6-integration"], 1, False),
        (["001"], 1, False),
        ([], 0, False),
        ([], 0, False),
    ]


def test_completion_is_capped_and_sees_new_files_without_a_commit(example_repo):
    for n in range(150):
        new_task(example_repo, f"bulk-{n:03d}")  # on disk only: the tree is the truth

    async def body(s: ClientSession) -> Any:
        prompt = PromptReference(type="ref/prompt", name="agent_init")
        return (await s.complete(prompt, {"name": "target", "value": "T:"})).completion

    done = run(example_repo, body, tools="core")
    assert len(done.values) == 100 and done.total == 156 and done.has_more is True
    assert done.values[:2] == ["T:bulk-000", "T:bulk-001"]
