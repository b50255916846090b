"""MCP prompts: AGENT INIT, a handoff and the ready work as commands a person types.

Coding agents show a server's prompts as slash commands (Claude Code:
`/mcp__orchsync__agent_init T:phase-2`); the prompt's messages go into the conversation as
if the person had written them. So a prompt costs no tool tokens until it is used, and its
answer is the same document the CLI prints:

- `agent_init` (`target` S:<sprint>/T:<task>, optional `session`, `budget` in tokens): the
  Markdown of `orchsync agent init`, assembled by `orchsync.context` with the same cache and
  budget rules, recording `agent.initialized` and `context.assembled` as the tool does;
- `handoff` (`session`): the session's last handoff note, its notes and the command to
  resume, read from the session file (`pm.sessions.show`);
- `ready_work` (optional `agent`): the tasks ready to start (pending, every dependency
  completed), assigned to that agent or all of them, from the index.

Arguments are strings (the protocol's), checked before any work: an unknown or missing one,
or one over `MAX_ARGUMENT` bytes, is an INVALID_PARAMS error naming it; a library error
(unknown task, bad target) keeps the CLI's message. Library calls take the tools' lock: one
DuckDB handle per process at a time.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from orchsync.errors import OrchsyncError
from orchsync.repo import Repo

__all__ = ["MAX_ARGUMENT", "MAX_PROMPT_BYTES", "PROMPTS", "READY_LIMIT", "install", "render"]

log = logging.getLogger(__name__)

MAX_ARGUMENT = 1024  # bytes of one argument: codes and keys are at most 100 characters
MAX_PROMPT_BYTES = 1 << 20  # the text of a prompt's messages, like a tool result
READY_LIMIT = 50  # tasks listed by ready_work (the count says how many more)


def _argument(name: str, description: str, required: bool = False) -> types.PromptArgument:
    return types.PromptArgument(name=name, description=description, required=required)


PROMPTS = (
    types.Prompt(
        name="agent_init",
        title="AGENT INIT",
        description="Working context for a task or sprint: the document `orchsync agent init` "
        "prints (task, sprint, agent profile, dependencies, session memory, docs).",
        arguments=[
            _argument("target", "T:<task> or S:<sprint>", required=True),
            _argument("session", "Session key to resume (default: the task's latest open one)"),
            _argument("budget", "Token budget: trims reference docs, then other tasks"),
        ],
    ),
    types.Prompt(
        name="handoff",
        title="Resume a handed-off session",
        description="A session's last handoff note and its notes, to resume the work from.",
        arguments=[_argument("session", "Session key", required=True)],
    ),
    types.Prompt(
        name="ready_work",
        title="Ready work",
        description="Tasks ready to start (pending, every dependency completed), for an agent.",
        arguments=[_argument("agent", "Agent name (default: every ready task)")],
    ),
)
_BY_NAME = {p.name: p for p in PROMPTS}


def install(server: MCPServer, repo: Repo, lock: threading.Lock) -> None:
    """Serve `prompts/list` and `prompts/get` of `server`; library calls hold `lock`."""
    lowlevel = server._lowlevel_server  # our handlers answer with the library's own errors

    async def list_prompts(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=list(PROMPTS))

    async def get_prompt(
        ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        arguments = _checked(params.name, params.arguments)

        def call() -> types.GetPromptResult:
            with lock:
                return render(repo, params.name, arguments)

        return await anyio.to_thread.run_sync(call)

    lowlevel.add_request_handler("prompts/list", types.PaginatedRequestParams, list_prompts)
    lowlevel.add_request_handler("prompts/get", types.GetPromptRequestParams, get_prompt)


def _checked(name: str, given: dict[str, str] | None) -> dict[str, str]:
    """The arguments of prompt `name`, stripped, empty ones dropped; MCPError when wrong."""
    prompt = _BY_NAME.get(name)
    if prompt is None:
        names = ", ".join(_BY_NAME)
        raise MCPError(types.INVALID_PARAMS, f"unknown prompt {name[:100]!r}; use {names}")
    known = {a.name for a in prompt.arguments or []}
    out: dict[str, str] = {}
    for key, value in (given or {}).items():
        if key not in known:
            raise MCPError(
                types.INVALID_PARAMS,
                f"{name}: unknown argument {key[:100]!r}; it takes {', '.join(sorted(known))}",
            )
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_ARGUMENT:
            raise MCPError(
                types.INVALID_PARAMS,
                f"{name}: argument {key} is {size} bytes; the limit is {MAX_ARGUMENT} bytes",
            )
        if value.strip():
            out[key] = value.strip()
    for argument in prompt.arguments or []:
        if argument.required and argument.name not in out:
            raise MCPError(types.INVALID_PARAMS, f"{name}: argument {argument.name} is required")
    return out


def render(repo: Repo, name: str, arguments: dict[str, str]) -> types.GetPromptResult:
    """The messages of prompt `name`; library errors become INVALID_PARAMS with their message."""
    renderers: dict[str, Callable[..., tuple[str, str]]] = {
        "agent_init": _agent_init,
        "handoff": _handoff,
        "ready_work": _ready_work,
    }
    try:
        description, text = renderers[name](repo, **arguments)
    except MCPError:
        raise
    except OrchsyncError as exc:
        raise MCPError(types.INVALID_PARAMS, str(exc)) from exc
    except Exception as exc:
        log.exception("unexpected error in prompt %s", name)
        raise MCPError(
            types.INTERNAL_ERROR, f"internal error ({type(exc).__name__}): {exc}"
        ) from exc
    size = len(text.encode("utf-8"))
    if size > MAX_PROMPT_BYTES:
        raise MCPError(
            types.INVALID_PARAMS,
            f"{name}: the prompt is {size} bytes, over the {MAX_PROMPT_BYTES >> 20} MiB limit; "
            "pass a smaller budget (tokens)",
        )
    return types.GetPromptResult(
        description=description,
        messages=[
            types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))
        ],
    )


def _agent_init(
    repo: Repo, target: str, session: str | None = None, budget: str | None = None
) -> tuple[str, str]:
    from orchsync import context

    tokens = None
    if budget is not None:
        if not budget.isascii() or not budget.isdigit() or not 0 < int(budget) < 10**9:
            raise MCPError(
                types.INVALID_PARAMS, f"agent_init: budget {budget[:20]!r} is not a token count"
            )
        tokens = int(budget)
    assembled = context.assemble(repo, target, session=session, budget=tokens)
    key = assembled.data["target"]["key"]
    return f"AGENT INIT {key}", assembled.to_markdown()


def _handoff(repo: Repo, session: str) -> tuple[str, str]:
    from orchsync.pm import sessions

    s = sessions.show(repo, session)
    on = " · ".join(
        x for x in (s["task"] and f"T:{s['task']}", s["sprint"] and f"S:{s['sprint']}") if x
    )
    lines = [f"# Resume session {s['key']}", ""]
    if s["title"]:
        lines += [f"**{s['title']}**", ""]
    lines.append(
        f"- **On:** {on or 'no task or sprint'} · **Status:** {s['status'] or 'unknown'}"
        f" · **Agent:** {s['agent'] or 'unknown'}"
    )
    lines += [f"- **File:** `{s['path']}` (sha256 {s['hash'][:12]})", ""]
    if s["handoffs"]:
        last = s["handoffs"][-1]
        lines += [
            "## Handoff",
            "",
            f"{last.get('from') or 'someone'} handed this session to "
            f"{last.get('to') or 'someone'} at {last.get('at') or 'an unknown time'}:",
            "",
            *[f"> {line}" for line in str(last.get("note") or "(no note)").splitlines()],
            "",
        ]
        if len(s["handoffs"]) > 1:
            lines += [f"({len(s['handoffs']) - 1} earlier handoffs in the file.)", ""]
    else:
        lines += ["This session has no handoff yet; resume from its notes.", ""]
    if s["status"] == "ended":
        lines += ["This session has ended: start a new one on the same target to go on.", ""]
    notes = s["notes"].strip("\n")
    if notes.strip():
        fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", notes)), default=0))
        lines += ["## Session notes", "", f"{fence}markdown", notes, fence, ""]
    target = f"T:{s['task']}" if s["task"] else f"S:{s['sprint']}" if s["sprint"] else None
    lines.append("## Resume")
    lines.append("")
    if target:
        lines.append(
            f"Load the working context with AGENT INIT {target} --session {s['key']} "
            f"(the agent_init prompt, or orchestration_agent_init with target {target} and "
            f"session {s['key']}),"
        )
    lines.append(
        f"then keep notes in the session (orchestration_session_note with session {s['key']})."
    )
    return f"Resume session {s['key']}", "\n".join(lines) + "\n"


def _ready_work(repo: Repo, agent: str | None = None) -> tuple[str, str]:
    from orchsync import query

    with query.reader(repo) as con:
        rows = query.tasks(con, agent=agent, ready=True, limit=READY_LIMIT + 1)
        total = len(rows)
        if total > READY_LIMIT:
            total = len(query.tasks(con, agent=agent, ready=True))
    rows = rows[:READY_LIMIT]
    who = f" for {agent}" if agent else ""
    lines = [f"# Ready work{who}", ""]
    if not rows:
        lines.append(
            f"No task is ready to start{who}: none is pending with every dependency completed"
            + (f" and assigned to {agent}." if agent else ".")
        )
        return f"Ready work{who}", "\n".join(lines) + "\n"
    lines.append(
        f"{total} task{'s are' if total != 1 else ' is'} ready to start (pending, every "
        f"dependency completed){f', assigned to {agent}' if agent else ''}:"
    )
    lines.append("")
    for r in rows:
        facts = " · ".join(
            str(x)
            for x in (r.get("priority"), f"S:{r['sprint']}", not agent and r.get("agent"))
            if x
        )
        lines.append(f"- T:{r['task']} — {r.get('title') or r['task']} ({facts})")
    if total > len(rows):
        lines += ["", f"... and {total - len(rows)} more (orchestration_tasks with ready=true)."]
    lines += [
        "",
        "Pick one and load its context with AGENT INIT T:<task> (the agent_init prompt), "
        "then set it in_progress (orchestration_task_status_update).",
    ]
    return f"Ready work{who}", "\n".join(lines) + "\n"
