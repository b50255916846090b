"""`orchsync mcp`: a real server process driven by the MCP SDK's own client over stdio.

Each test starts `python -m orchsync --repo REPO mcp --tools ...` as a child process, connects
a `ClientSession` that introduces itself as `test-agent`, and checks what a coding agent
would: the tool list, the files, the commits and their trailers, the events, the errors.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import GIT_ENV, SPRINT, git, task_path, trailers
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, Implementation

from orchsync.faces.mcp.server import ALL_TOOLS, CORE_TOOLS

CLIENT = "test-agent"
SESSION_ID = re.compile(r"^mcp-[0-9a-f]{12}$")


def server_params(repo: Path, tools: str = "all") -> StdioServerParameters:
    """How a client starts `orchsync --repo REPO mcp --tools TOOLS` (git's test identity)."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "orchsync", "--repo", str(repo), "mcp", "--tools", tools],
        env={
            k: v for k, v in GIT_ENV.items() if k.startswith("GIT_") or k in ("PYTHONPATH", "HOME")
        },
        cwd=str(repo),
    )


@asynccontextmanager
async def connect(
    repo: Path,
    tools: str = "all",
    name: str = CLIENT,
    on_message: Callable[[Any], Awaitable[None]] | None = None,
) -> AsyncIterator[ClientSession]:
    """An initialized client session on a fresh `orchsync mcp` process; the process ends with it.

    `on_message` receives what the server sends unasked (notifications such as
    `notifications/resources/updated`).
    """
    params = server_params(repo, tools)
    me = Implementation(name=name, version="1.0")
    with open(repo.parent / "mcp-server.stderr", "a", encoding="utf-8") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, client_info=me, message_handler=on_message) as session,
        ):
            await session.initialize()
            yield session


def run(repo: Path, body: Callable[[ClientSession], Awaitable[Any]], tools: str = "all") -> Any:
    """Run `body(session)` against a server on `repo` and return what it returns."""

    async def main() -> Any:
        async with connect(repo, tools) as session:
            return await body(session)

    return anyio.run(main)


async def ok(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; returns its structured content."""
    result = await client.call_tool(f"orchestration_{tool}", arguments)
    assert not result.is_error, f"{tool}{arguments}: {text(result)}"
    assert result.structured_content is not None
    return result.structured_content


async def fails(client: ClientSession, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail with a tool error (not a protocol error); returns the message."""
    result = await client.call_tool(f"orchestration_{tool}", arguments)
    assert result.is_error, f"{tool}{arguments} succeeded: {result.structured_content}"
    return text(result)


def text(result: CallToolResult) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def cli_error(orchsync: Any, repo: Path, *args: str) -> str:
    """The message the CLI prints for the same mistake (`Error: ...` on stderr, exit 2)."""
    result = orchsync(repo, *args)
    assert result.exit_code == 2, result.output
    return result.stderr.strip().removeprefix("Error: ")


def message(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%B", rev)


# --- the command ---------------------------------------------------------------------------


def test_help_imports_no_mcp():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "orchsync", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mcp" in proc.stdout  # listed...
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert not {m for m in imported if m == "mcp" or m.startswith("mcp.")}  # ...but not imported


def test_unknown_tools_option_is_a_usage_error(orchsync, example_repo):
    assert cli_error(orchsync, example_repo, "mcp", "--tools", "tasks,nope").startswith(
        "--tools: unknown tool 'nope'; use core, all, or names from: agent_init, "
    )


# --- tools/list ----------------------------------------------------------------------------


def test_core_profile_by_default_and_all_on_request(example_repo):
    async def listing(session: ClientSession) -> list[dict[str, Any]]:
        tools = (await session.list_tools()).tools
        return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]

    core = run(example_repo, listing, tools="core")
    every = run(example_repo, listing, tools="all")
    some = run(example_repo, listing, tools="tasks,orchestration_query")
    assert [t["name"] for t in core] == list(CORE_TOOLS)
    assert [t["name"] for t in every] == list(ALL_TOOLS)
    assert [t["name"] for t in some] == ["orchestration_tasks", "orchestration_query"]
    for tool in every:
        assert tool["description"] and len(tool["description"]) < 200, tool["name"]
        schema = tool["inputSchema"]
        assert schema["type"] == "object"
        for name, prop in schema["properties"].items():
            assert "type" in prop, (tool["name"], name)
            assert "title" not in prop, (tool["name"], name)
        assert "outputSchema" in tool or tool["name"] == "orchestration_agent_init"
    by_name = {t["name"]: t for t in every}
    update = by_name["orchestration_task_status_update"]["inputSchema"]
    assert update["required"] == ["task", "status"]
    assert update["properties"]["status"]["description"] == "pending|in_progress|completed|blocked"
    assert by_name["orchestration_tasks"]["annotations"] == {"readOnlyHint": True}
    # the size an agent pays for the tool list (≈ 4 characters a token)
    for profile, tools in (("core", core), ("all", every)):
        size = len(json.dumps({"tools": tools}))
        print(f"tools/list {profile}: {len(tools)} tools, {size} chars, ~{size // 4} tokens")
    assert len(json.dumps({"tools": core})) // 4 < 1200
    # `all` grew by the lifecycle tools (task show/edit, bug/ADR/sprint status, agent create)
    assert len(json.dumps({"tools": every})) // 4 < 4200


# --- writes: files, commits, trailers, events ------------------------------------------------


def test_writes_are_committed_with_the_clients_name_and_session(example_repo):
    repo = example_repo
    first = git(repo, "rev-parse", "HEAD").strip()
    phase3 = "phase-3-template-generation"

    async def body(s: ClientSession) -> None:
        # task status: only the status line changes; commit trailers name the client
        done = await ok(
            s, "task_status_update", task=phase3, status="in_progress", note="picked up"
        )
        assert (
            done["entity"] == f"T:{phase3}"
            and done["from"] == "pending"
            and done["to"] == "in_progress"
        )
        assert "status: in_progress" in (repo / task_path(phase3)).read_text("utf-8")
        assert done["commit"] == git(repo, "rev-parse", "HEAD").strip()
        trail = dict(trailers(repo))
        assert trail["Orchsync-Agent"] == CLIENT
        connection = trail["Orchsync-Session"]
        assert SESSION_ID.match(connection)
        assert f"Orchsync-Agent: {CLIENT}" in message(repo)

        # the events of that commit carry the same attribution
        events = (await ok(s, "events", entity=f"T:{phase3}", type="task.status_updated"))["events"]
        assert events[-1]["agent"] == CLIENT and events[-1]["session_key"] == connection
        assert (
            events[-1]["payload"]["from"] == "pending"
            and events[-1]["payload"]["to"] == "in_progress"
        )

        # an explicit session wins over the connection's
        bug = await ok(
            s, "bug_report", title="Status note lost on CRLF files", priority="P1", session="s-42"
        )
        assert bug["entity"] == "BUG:0002"
        assert (repo / bug["paths"][0]).name == "BUG-0002-status-note-lost-on-crlf-files.md"
        trail = dict(trailers(repo))
        assert trail["Orchsync-Session"] == "s-42" and trail["Orchsync-Agent"] == CLIENT
        assert "orchestration.bug.reported" in {e["event_type"] for e in bug["events"]}

        # sprint, task (with a dependency), move, ADR
        sprint = await ok(
            s, "sprint_create", id="mcp-sprint", title="Agents at work", start="2025-11-01"
        )
        assert sprint["paths"][0] == "delegation/sprints/mcp-sprint/SPRINT.md"
        assert (repo / sprint["paths"][0]).is_file()
        task = await ok(
            s,
            "task_create",
            sprint="mcp-sprint",
            id="mcp-task",
            priority="P1",
            depends_on=["phase-1-api-foundation"],
        )
        assert (repo / "delegation/sprints/mcp-sprint/mcp-task/TASK.md").is_file()
        assert dict(trailers(repo))["Orchsync-Session"] == connection
        assert task["entity"] == "T:mcp-task"
        ready = (await ok(s, "tasks", ready=True))["tasks"]
        assert "mcp-task" in {t["task"] for t in ready}  # its one dependency is completed
        moved = await ok(s, "task_move", task="mcp-task", to_sprint=SPRINT)
        assert moved["to_sprint"] == SPRINT and (repo / task_path("mcp-task")).is_file()
        adr = await ok(s, "adr_create", title="ADR-006: Use Event Sourcing")
        assert adr["paths"] == ["delegation/adr/ADR-006-use-event-sourcing.md"]
        assert [a["id"] for a in (await ok(s, "adrs"))["adrs"]] == ["ADR-001", "ADR-006"]
        assert [b["id"] for b in (await ok(s, "bugs"))["bugs"]] == ["BUG-0001", "BUG-0002"]

        # read side: SQL, log, rollback
        rows = await ok(s, "query", sql=f"SELECT code, status FROM tasks WHERE code = '{phase3}'")
        assert rows["columns"] == ["code", "status"] and rows["rows"] == [[phase3, "in_progress"]]
        versions = (await ok(s, "log", entity=f"T:{phase3}"))["versions"]
        assert [v["commit"] for v in versions] == [first, done["commit"]]
        assert versions[-1]["agent"] == CLIENT and versions[-1]["session"] == connection
        back = await ok(s, "rollback", entity=f"T:{phase3}", to=first)
        assert back["changed"] and back["commit"] == git(repo, "rev-parse", "HEAD").strip()
        assert "status: pending" in (repo / task_path(phase3)).read_text("utf-8")
        assert dict(trailers(repo))["Orchsync-Agent"] == CLIENT

    run(repo, body)
    assert git(repo, "status", "--porcelain") == ""


# --- errors ----------------------------------------------------------------------------------


def test_bad_calls_are_tool_errors_with_the_clis_messages(orchsync, example_repo):
    repo = example_repo
    expected = {
        "unknown task": cli_error(orchsync, repo, "task", "status", "no-such-task", "completed"),
        "bad status": cli_error(orchsync, repo, "task", "status", "phase-3", "done"),
        "invalid id": cli_error(orchsync, repo, "sprint", "create", "--id", "../escape"),
        "write sql": cli_error(orchsync, repo, "query", "DELETE FROM tasks"),
        "unknown sprint": cli_error(
            orchsync, repo, "task", "create", "--sprint", "nope", "--id", "x"
        ),
    }
    head = git(repo, "rev-parse", "HEAD").strip()

    async def body(s: ClientSession) -> dict[str, str]:
        got = {
            "unknown task": await fails(
                s, "task_status_update", task="no-such-task", status="completed"
            ),
            "bad status": await fails(s, "task_status_update", task="phase-3", status="done"),
            "invalid id": await fails(s, "sprint_create", id="../escape"),
            "write sql": await fails(s, "query", sql="DELETE FROM tasks"),
            "unknown sprint": await fails(s, "task_create", sprint="nope", id="x"),
        }
        assert "status" in await fails(s, "task_status_update", task="phase-3")  # missing argument
        assert "SQL error" in await fails(s, "query", sql="SELEC nonsense")
        unknown = await s.call_tool("orchestration_nope", {})
        assert unknown.is_error
        # still serving
        later = await ok(s, "task_status_update", task="phase-3", status="blocked")
        assert later["to"] == "blocked"
        return got

    got = run(repo, body)
    for what, cli_message in expected.items():
        assert got[what].endswith(cli_message), (what, got[what], cli_message)
    assert (
        "unknown status 'done'; valid: pending, in_progress, completed, blocked"
        in got["bad status"]
    )
    assert "read-only" in got["write sql"]
    assert git(repo, "rev-parse", "HEAD~1").strip() == head  # only the good call committed


def test_an_unexpected_exception_is_a_tool_error_too(example_repo, monkeypatch):
    """In process (a library bug cannot be provoked from outside): the message reaches the agent."""
    from mcp import Client

    from orchsync import pm
    from orchsync.faces.mcp.server import build_server
    from orchsync.repo import find_repo

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pm, "update_task_status", broken)
    server = build_server(find_repo(example_repo), ALL_TOOLS)

    async def main() -> tuple[CallToolResult, CallToolResult]:
        async with Client(server, client_info=Implementation(name=CLIENT, version="1")) as client:
            args = {"task": "phase-3", "status": "blocked"}
            bad = await client.call_tool("orchestration_task_status_update", args)
            good = await client.call_tool("orchestration_tasks", {"limit": 1})
            return bad, good

    bad, good = anyio.run(main)
    assert bad.is_error and text(bad).endswith("internal error (RuntimeError): disk on fire")
    assert not good.is_error and good.structured_content["count"] == 1


# --- resources -------------------------------------------------------------------------------


def test_sprint_and_task_resources_are_the_files_text(example_repo):
    repo = example_repo

    async def body(s: ClientSession) -> None:
        templates = {t.uri_template for t in (await s.list_resource_templates()).resource_templates}
        assert {"orchsync://sprint/{code}", "orchsync://task/{code}"} <= templates
        task = (await s.read_resource("orchsync://task/phase-1-api-foundation")).contents[0]
        assert task.mime_type == "text/markdown"
        assert task.text == (repo / task_path("phase-1-api-foundation")).read_text("utf-8")
        sprint = (await s.read_resource(f"orchsync://sprint/{SPRINT}")).contents[0]
        assert sprint.text == (repo / f"delegation/sprints/{SPRINT}/SPRINT.md").read_text("utf-8")
        with pytest.raises(Exception, match="unknown task 'nope'"):
            await s.read_resource("orchsync://task/nope")
        assert (await ok(s, "tasks", limit=1))["count"] == 1  # still serving

    run(repo, body)


# --- AGENT INIT ------------------------------------------------------------------------------


def test_agent_init_markdown_and_json_with_round_trip_time(example_repo):
    async def body(s: ClientSession) -> list[float]:
        md = await s.call_tool("orchestration_agent_init", {"target": "T:phase-2-event-system"})
        assert not md.is_error, text(md)
        assert text(md).startswith("# AGENT INIT T:phase-2-event-system")
        doc = await ok(s, "agent_init", target="T:phase-2-event-system", format="json")
        assert doc["format"] == "orchsync.agent_init/v1"
        assert doc["target"]["key"] == "T:phase-2-event-system"
        sprint = await ok(s, "agent_init", target=f"S:{SPRINT}", format="json")
        assert sprint["target"]["kind"] == "sprint"
        assert "AGENT INIT takes S:<sprint> or T:<task>" in await fails(
            s, "agent_init", target="ADR:1"
        )
        assert "unknown task" in await fails(s, "agent_init", target="T:no-such-task")
        times = []
        for _ in range(5):
            started = time.perf_counter()
            await s.call_tool("orchestration_agent_init", {"target": "T:phase-2-event-system"})
            times.append(time.perf_counter() - started)
        return times

    times = run(example_repo, body, tools="core")
    print(
        f"agent_init round trip (example tree, cached): min {min(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms"
    )
    assert min(times) < 10  # speed is for benchmarks/run.py; only a hang fails this


# --- sessions --------------------------------------------------------------------------------


def test_a_session_started_by_a_note_collects_the_connections_writes(example_repo):
    repo = example_repo
    phase3 = "phase-3-template-generation"

    async def body(s: ClientSession) -> None:
        assert "no session" in await fails(s, "session_note", text="orphan")
        first = await ok(s, "session_note", text="Reading the templates.", target=f"T:{phase3}")
        key = first["key"]
        assert key.startswith(f"{phase3}-{CLIENT}-")
        memory = repo / f"delegation/sessions/{key}.md"
        assert "Reading the templates." in memory.read_text("utf-8")
        assert dict(trailers(repo))["Orchsync-Session"] == key
        assert dict(trailers(repo))["Orchsync-Agent"] == CLIENT

        # later writes of this connection join the session; notes go to the same file
        await ok(s, "task_status_update", task=phase3, status="in_progress")
        assert dict(trailers(repo))["Orchsync-Session"] == key
        await ok(s, "session_note", text="Renderer done.")
        assert "Renderer done." in memory.read_text("utf-8")

        # AGENT INIT resumes it; the session's events carry the client's name
        doc = await ok(s, "agent_init", target=f"T:{phase3}", format="json")
        assert doc["session"]["key"] == key
        events = (await ok(s, "events", session=key, limit=100))["events"]
        assert {e["agent"] for e in events if e["commit"]} == {CLIENT}
        assert "orchestration.task.status_updated" in {e["event_type"] for e in events}

        handed = await ok(s, "session_handoff", to="qa-engineer", note="Tests next.")
        assert handed["status"] == "handed_off" and handed["to"] == "qa-engineer"
        listed = (await ok(s, "sessions", task=phase3))["sessions"]
        assert [(x["key"], x["status"]) for x in listed] == [(key, "handed_off")]
        ended = await ok(s, "session_end", note="Done for today.")
        assert ended["status"] == "ended"
        assert "no session" in await fails(s, "session_note", text="after the end")
        started = await ok(s, "session_start", target=f"S:{SPRINT}")
        assert started["key"] != key and started["sprint"] == SPRINT

    run(repo, body)
    assert git(repo, "status", "--porcelain") == ""
