"""The MCP face: orchsync's library calls as tools for coding agents, and the assembly of the
server (prompts: `prompts.py`; resources and their subscriptions: `mentions.py`,
`catalog.py`, `updates.py`; argument completion: `completion.py`).

A thin face, like the CLI: every tool resolves its arguments, calls one library function and
returns its result as structured content. No rule lives here; the library validates, writes,
commits and derives events. What this module adds is only what a connection knows:

- attribution: writes carry the client's name (`clientInfo.name` of the initialize request)
  as actor and a session key (an explicit `session` argument, else the session file this
  connection started, else the transport's MCP session id, else one id per connection)
  -> `Orchsync-Agent` / `Orchsync-Session` trailers and the events' agent and session;
- errors: an `OrchsyncError` (or anything unexpected) becomes a tool error with its message,
  and the server keeps serving;
- profiles: `core` (what an agent working a task needs) or `all`, to keep `tools/list` small;
- bounds: a string argument over MAX_STRING_BYTES is refused before any work, a result over
  MAX_RESULT_BYTES has its longest list cut (and says `truncated: true`) or becomes an error,
  and `orchestration_query` runs in a sandboxed child process with time, row and memory limits.

Library calls run on worker threads, one at a time: DuckDB refuses a second handle on one file
with another mode in the same process, and two writes of one connection should not race.
User SQL is the exception: once the index is caught up (under the lock), the query runs in its
own process, so a slow one holds no lock, never blocks another tool, and is killed when the
client cancels the call.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Annotated, Any, Literal

from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from orchsync import __version__
from orchsync.errors import OrchsyncError, QueryLimit, UsageError
from orchsync.faces.mcp import completion, mentions, prompts
from orchsync.faces.mcp.catalog import Catalog
from orchsync.faces.mcp.lifecycle import LIFECYCLE_TOOLS, LifecycleTools
from orchsync.faces.mcp.updates import Updates
from orchsync.index.worker import Limits
from orchsync.model import PRIORITIES, TASK_STATUSES
from orchsync.repo import Repo

__all__ = [
    "ALL_TOOLS",
    "CORE_TOOLS",
    "MAX_RESULT_BYTES",
    "MAX_STRING_BYTES",
    "QUERY_LIMITS",
    "build_server",
    "select_tools",
    "serve",
]

log = logging.getLogger(__name__)

PREFIX = "orchestration_"
CORE_TOOLS = (
    "orchestration_agent_init",
    "orchestration_task_status_update",
    "orchestration_tasks",
    "orchestration_session_note",
    "orchestration_bug_report",
)
ALL_TOOLS = (
    *CORE_TOOLS,
    "orchestration_sprint_create",
    "orchestration_task_create",
    "orchestration_task_move",
    "orchestration_adr_create",
    "orchestration_adrs",
    "orchestration_bugs",
    "orchestration_session_start",
    "orchestration_session_handoff",
    "orchestration_session_end",
    "orchestration_sessions",
    "orchestration_events",
    "orchestration_query",
    "orchestration_log",
    "orchestration_rollback",
    "orchestration_search",
    *LIFECYCLE_TOOLS,
)
QUERY_MAX_ROWS = 500
MAX_STRING_BYTES = 64 << 10  # any one string argument (UTF-8 bytes)
MAX_RESULT_BYTES = 1 << 20  # a tool result as sent (JSON-RPC message, text and structured)
# User SQL from agents: 10 s, 500 rows and 400 KiB of rows (text and structured copy of
# them fit MAX_RESULT_BYTES), 512 MB for DuckDB; a cut result says `truncated: true`.
QUERY_CONCURRENCY = 2  # queries running at once per server; more wait (each may use ~1.3 GB)
QUERY_LIMITS = Limits(timeout=10.0, max_rows=QUERY_MAX_ROWS, max_bytes=400 << 10, bytes_error=False)

_STATUSES = "|".join(TASK_STATUSES)
_PRIORITIES = "|".join(PRIORITIES)

# Argument types: one short description each; optional ones default to null (omit them).
Session = Annotated[str | None, Field(description="Session key (default: this connection's)")]
TaskKey = Annotated[str, Field(description="Task: T:<code>, a code or a unique prefix")]
SprintCode = Annotated[str, Field(description="Sprint code")]
Template = Annotated[str, Field(description="Template name")]
Variables = Annotated[dict[str, str] | None, Field(description="Extra template variables")]


def select_tools(spec: str | None) -> list[str]:
    """`core` (the default), `all`, or names separated by commas (with or without the prefix)."""
    spec = (spec or "core").strip()
    if spec == "core":
        return list(CORE_TOOLS)
    if spec == "all":
        return list(ALL_TOOLS)
    chosen: list[str] = []
    for raw in spec.split(","):
        name = raw.strip()
        if not name:
            continue
        full = name if name.startswith(PREFIX) else PREFIX + name
        if full not in ALL_TOOLS:
            short = ", ".join(t.removeprefix(PREFIX) for t in ALL_TOOLS)
            raise UsageError(
                f"--tools: unknown tool {name!r}; use core, all, or names from: {short}"
            )
        if full not in chosen:
            chosen.append(full)
    if not chosen:
        raise UsageError("--tools: name at least one tool, or use core or all")
    return chosen


def serve(repo: Repo, tools: str | None = None, query_limits: Limits = QUERY_LIMITS) -> None:
    """Serve the selected tools over stdio until the client closes the connection."""
    import anyio

    server = build_server(repo, select_tools(tools), query_limits=query_limits)
    anyio.run(server.run_stdio_async)


class _GuardedServer(MCPServer):
    """MCPServer with bounds on what goes in and out of a tool call, and our stdio transport."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        _check_sizes(arguments)
        result = await super().call_tool(name, arguments, context)
        if isinstance(result, CallToolResult):
            return _bounded(result)
        return result

    async def run_stdio_async(self) -> None:
        """Like MCPServer's, over `guarded_stdio`: malformed lines get JSON-RPC errors."""
        from orchsync.faces.mcp.stdio import guarded_stdio

        lowlevel = self._lowlevel_server
        async with guarded_stdio() as (read_stream, write_stream):
            # listChanged: resources appear and disappear as commits land (`updates`)
            options = lowlevel.create_initialization_options(
                NotificationOptions(resources_changed=True)
            )
            await lowlevel.run(read_stream, write_stream, options)


def _check_sizes(value: Any, where: str = "") -> None:
    """Refuse a string argument over MAX_STRING_BYTES, wherever it sits in the arguments."""
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_STRING_BYTES:
            raise ToolError(
                f"argument {where or '(value)'} is {size} bytes; "
                f"the limit is {MAX_STRING_BYTES // 1024} KiB per string"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_sizes(str(key), f"{where}.{key}" if where else "a key")
            _check_sizes(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_sizes(item, f"{where}[{i}]")


def _wire_size(result: CallToolResult) -> int:
    return len(result.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8"))


def _bounded(result: CallToolResult) -> CallToolResult:
    """A result that fits MAX_RESULT_BYTES: structured results get compact JSON text (not
    the SDK's indented copy), and the longest list in one is cut to fit, with
    `truncated: true`; anything else too large becomes an error that says so."""
    data = result.structured_content
    if data is not None and not result.is_error:
        result = _structured(data)
    if _wire_size(result) <= MAX_RESULT_BYTES:
        return result
    lists = (
        [k for k, v in (data or {}).items() if isinstance(v, list)] if not result.is_error else []
    )
    if data is not None and lists:
        key = max(lists, key=lambda k: len(json.dumps(data[k], default=str)))
        items = data[key]
        low, high = 0, len(items)  # the most items that fit: binary search on the cut
        while low < high:
            mid = (low + high + 1) // 2
            if _wire_size(_structured(_cut(data, key, mid))) <= MAX_RESULT_BYTES:
                low = mid
            else:
                high = mid - 1
        fitted = _structured(_cut(data, key, low))
        if _wire_size(fitted) <= MAX_RESULT_BYTES:
            return fitted
    return CallToolResult(
        content=[
            TextContent(
                type="text",
                text=f"the result is {_wire_size(result)} bytes, over the "
                f"{MAX_RESULT_BYTES >> 20} MiB limit of a tool result: ask for less "
                "(a limit, a filter, a token budget)",
            )
        ],
        is_error=True,
    )


def _cut(data: dict[str, Any], key: str, keep: int) -> dict[str, Any]:
    out = {**data, key: data[key][:keep], "truncated": True}
    if "count" in out:
        out["count"] = keep
    return out


def _structured(data: dict[str, Any]) -> CallToolResult:
    text = json.dumps(data, default=str, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def build_server(
    repo: Repo, tools: Sequence[str] = CORE_TOOLS, *, query_limits: Limits = QUERY_LIMITS
) -> MCPServer:
    """An MCPServer exposing `tools` (names from ALL_TOOLS), the prompts, the resources of the
    tree with their subscriptions, and argument completion (modules of the same names)."""
    face = _Face(repo, query_limits)
    registry = face.tools()
    catalog = Catalog(repo.root)
    updates = Updates(repo, catalog)
    server = _GuardedServer(
        name="orchsync",
        version=__version__,
        instructions=(
            "Sprints, tasks, ADRs, bugs and sessions of this repository, kept as files in git. "
            "Start with orchestration_agent_init (T:<task> or S:<sprint>)."
        ),
        tools=[_compact(Tool.from_function(**registry[name])) for name in tools],
        subscriptions=updates.bus,
        lifespan=updates.lifespan,
    )
    mentions.install(server, repo, catalog, updates)
    prompts.install(server, repo, face._lock)
    completion.install(server, catalog)
    return server


class _Face(LifecycleTools):
    """The tool functions, bound to one repository and one connection."""

    def __init__(self, repo: Repo, query_limits: Limits = QUERY_LIMITS) -> None:
        self.repo = repo
        self.query_limits = query_limits
        # stdio: one connection per process, so connection state lives here
        self.connection_session = f"mcp-{uuid.uuid4().hex[:12]}"
        self.session: str | None = None  # the session file this connection started
        self._lock = threading.Lock()
        self._queries = threading.BoundedSemaphore(QUERY_CONCURRENCY)

    # --- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _call(self) -> Iterator[None]:
        """One library call at a time; its errors become tool errors with the same message."""
        with self._lock, self._errors():
            yield

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """A library error becomes a tool error with the same message."""
        try:
            yield
        except (ToolError, ResourceError):
            raise
        except OrchsyncError as exc:
            raise ToolError(str(exc)) from exc
        except Exception as exc:
            log.exception("unexpected error in a tool call")
            raise ToolError(f"internal error ({type(exc).__name__}): {exc}") from exc

    def _who(self, ctx: Context, session: str | None) -> tuple[str | None, str]:
        """(actor, session) of a write: the client's name, and the session it works in.

        The session is the `session` argument, else the session file this connection started
        (`session_start`, or its first `session_note`), else the transport's MCP session id,
        else this connection's id.
        """
        params = ctx.session.client_params
        actor = params.client_info.name if params is not None and params.client_info.name else None
        chosen = session or self.session or (ctx.headers or {}).get("mcp-session-id")
        return actor, chosen or self.connection_session

    def _write(
        self,
        ctx: Context,
        session: str | None,
        fn: Callable[..., Any],
        *args: Any,
        as_dict: bool = True,
        **kwargs: Any,
    ) -> Any:
        """One write through the library, as this connection's actor in its session."""
        with self._call():
            actor, session = self._who(ctx, session)
            result = fn(self.repo, *args, actor=actor, session=session, **kwargs)
            return result.to_dict() if as_dict else result

    def _session_key(self, session: str | None) -> str:
        """The session file a session tool works on: the argument, else this connection's."""
        key = session or self.session
        if key is None:
            raise UsageError(
                "no session: pass session (a key from agent_init or orchestration_sessions), "
                "or start one (session_note with target, or session_start)"
            )
        return key

    def tools(self) -> dict[str, dict[str, Any]]:
        """name -> the keyword arguments of Tool.from_function (fn, name, description, annotations)."""
        read = ToolAnnotations(read_only_hint=True)
        write = ToolAnnotations(read_only_hint=False, destructive_hint=False)
        specs: list[tuple[Callable[..., Any], str, ToolAnnotations]] = [
            (
                self.agent_init,
                "Working context for a task or sprint in one call: task, sprint, agent "
                "profile, dependencies, session notes, referenced docs.",
                read,
            ),
            (
                self.task_status_update,
                "Set a task's status; only the status line changes (commit + event).",
                write,
            ),
            (
                self.tasks,
                "List tasks from the index, with filters.",
                read,
            ),
            (
                self.session_note,
                "Append a note to this connection's session (started on T:/S: target if none).",
                write,
            ),
            (
                self.bug_report,
                "Report a bug: delegation/backlog/BUG-nnnn-slug.md, status open.",
                write,
            ),
            (self.sprint_create, "Create a sprint from a template.", write),
            (
                self.task_create,
                "Create a task (TASK.md, AGENT.yml) in a sprint from a template.",
                write,
            ),
            (self.task_move, "Move a task to another sprint.", write),
            (
                self.adr_create,
                "Create an ADR (status proposed); a title 'ADR-006: ...' asks for number 6.",
                write,
            ),
            (self.adrs, "List ADRs.", read),
            (self.bugs, "List bugs.", read),
            (
                self.session_start,
                "Start a session on a task or sprint; later writes of this connection join it.",
                write,
            ),
            (self.session_handoff, "Hand the session to another agent, with a note.", write),
            (self.session_end, "End the session, with an optional last note.", write),
            (self.sessions, "List sessions, newest first.", read),
            (self.events, "List events, newest last.", read),
            (
                self.query,
                "Read-only SQL over the index (views orchestration_sprints, orchestration_tasks, "
                "orchestration_events; tables tasks, sprints, events, ...). No files or URLs; "
                f"{self.query_limits.timeout:g} s, {QUERY_MAX_ROWS} rows.",
                read,
            ),
            (
                self.log,
                "An entity's versions in git: commit, time, hash, agent, session, events.",
                read,
            ),
            (self.rollback, "Write an earlier version of an entity back as a new commit.", write),
            (self.search, "Ranked text search over tasks, sprints, ADRs, bugs, sessions.", read),
            *self.lifecycle_specs(),
        ]
        out = {}
        for fn, description, hints in specs:
            name = PREFIX + fn.__name__
            out[name] = {"fn": fn, "name": name, "description": description, "annotations": hints}
        assert set(out) == set(ALL_TOOLS)
        return out

    # --- core tools ----------------------------------------------------------------------------

    def agent_init(
        self,
        target: Annotated[str, Field(description="S:<sprint> or T:<task>")],
        agent: Annotated[
            str | None, Field(description="Agent profile (default: the task's)")
        ] = None,
        session: Annotated[
            str | None, Field(description="Session to resume (default: the task's latest open one)")
        ] = None,
        format: Annotated[
            Literal["md", "json"], Field(description="md: Markdown; json: the document")
        ] = "md",
        budget: Annotated[
            int | None, Field(description="Token budget for the answer", ge=1)
        ] = None,
    ) -> CallToolResult:
        from orchsync import context

        # Only an explicit session: AGENT INIT resumes an existing session (default: the task's latest).
        with self._call():
            assembled = context.assemble(
                self.repo, target, agent=agent, session=session, budget=budget
            )
            if format == "md":
                return CallToolResult(
                    content=[TextContent(type="text", text=assembled.to_markdown())]
                )
            data = assembled.to_json()
        text = json.dumps(data, default=str, ensure_ascii=False)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=data
        )

    def task_status_update(
        self,
        ctx: Context,
        task: TaskKey,
        status: Annotated[str, Field(description=_STATUSES)],
        note: Annotated[str | None, Field(description="A dated line for the task's Notes")] = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync import pm

        return self._write(ctx, session, pm.update_task_status, task, status, note)

    def tasks(
        self,
        sprint: Annotated[str | None, Field(description="Sprint code")] = None,
        status: Annotated[str | None, Field(description=_STATUSES)] = None,
        priority: Annotated[str | None, Field(description=_PRIORITIES)] = None,
        agent: Annotated[str | None, Field(description="Assigned agent")] = None,
        ready: Annotated[
            bool, Field(description="Only pending tasks with all dependencies completed")
        ] = False,
        limit: Annotated[int, Field(ge=1)] = 100,
    ) -> dict[str, Any]:
        from orchsync import query

        with self._call(), query.reader(self.repo) as con:
            rows = query.tasks(
                con,
                sprint=sprint,
                status=status,
                priority=priority,
                agent=agent,
                ready=ready,
                limit=limit,
            )
        return {"tasks": rows, "count": len(rows)}

    def session_note(
        self,
        ctx: Context,
        text: Annotated[str, Field(description="The note (Markdown)")],
        target: Annotated[
            str | None, Field(description="T:<task> or S:<sprint> to start a session on")
        ] = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm import sessions

        with self._call():
            actor, _ = self._who(ctx, session)
            if session is None and self.session is None and target is not None:
                return self._started(sessions.start(self.repo, target, actor, note_text=text))
            return sessions.note(self.repo, self._session_key(session), text, agent=actor).to_dict()

    def bug_report(
        self,
        ctx: Context,
        title: Annotated[str, Field(description="One-line summary")],
        priority: Annotated[str, Field(description=_PRIORITIES)],
        sprint: Annotated[str | None, Field(description="Sprint the bug belongs to")] = None,
        body: Annotated[str | None, Field(description="Description (Markdown)")] = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync import pm

        return self._write(ctx, session, pm.report_bug, title, priority, sprint=sprint, body=body)

    # --- the rest (`--tools all`) ----------------------------------------------------------------

    def sprint_create(
        self,
        ctx: Context,
        id: Annotated[str, Field(description="Sprint code (folder name)")],
        title: Annotated[str | None, Field(description="Title (default: from the id)")] = None,
        owner: Annotated[
            str | None, Field(description="Owner (default: the client's name)")
        ] = None,
        start: Annotated[str | None, Field(description="YYYY-MM-DD (default: today)")] = None,
        end: Annotated[str | None, Field(description="YYYY-MM-DD")] = None,
        template: Template = "default",
        variables: Variables = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync import pm

        return self._write(
            ctx,
            session,
            pm.create_sprint,
            id,
            template,
            title=title,
            owner=owner,
            start=start,
            end=end,
            variables=variables,
        )

    def task_create(
        self,
        ctx: Context,
        sprint: SprintCode,
        id: Annotated[str, Field(description="Task code, unique across sprints")],
        title: Annotated[str | None, Field(description="Title (default: from the id)")] = None,
        priority: Annotated[str, Field(description=_PRIORITIES)] = "P2",
        depends_on: Annotated[
            list[str] | None, Field(description="Task codes this one waits for")
        ] = None,
        agent: Annotated[str | None, Field(description="Agent profile")] = None,
        template: Template = "default",
        variables: Variables = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync import pm

        return self._write(
            ctx,
            session,
            pm.create_task,
            sprint,
            id,
            template,
            title=title,
            priority=priority,
            depends_on=depends_on or (),
            agent=agent,
            variables=variables,
        )

    def task_move(
        self, ctx: Context, task: TaskKey, to_sprint: SprintCode, session: Session = None
    ) -> dict[str, Any]:
        from orchsync import pm

        return self._write(ctx, session, pm.move_task, task, to_sprint)

    def adr_create(
        self,
        ctx: Context,
        title: Annotated[str, Field(description="Title, optionally 'ADR-<n>: ...'")],
        template: Template = "default",
        variables: Variables = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync import pm

        return self._write(ctx, session, pm.create_adr, title, template, variables)

    def adrs(self) -> dict[str, Any]:
        from orchsync import pm

        with self._call():
            return {"adrs": pm.list_adrs(self.repo)}

    def bugs(self) -> dict[str, Any]:
        from orchsync import pm

        with self._call():
            return {"bugs": pm.list_bugs(self.repo)}

    def session_start(
        self,
        ctx: Context,
        target: Annotated[str, Field(description="T:<task> or S:<sprint>")],
        title: str | None = None,
        note: Annotated[str | None, Field(description="A first note")] = None,
    ) -> dict[str, Any]:
        from orchsync.pm import sessions

        with self._call():
            actor, _ = self._who(ctx, None)
            return self._started(
                sessions.start(self.repo, target, actor, title=title, note_text=note)
            )

    def _started(self, result: Any) -> dict[str, Any]:
        self.session = result.details["key"]
        return result.to_dict()  # type: ignore[no-any-return]

    def session_handoff(
        self,
        ctx: Context,
        to: Annotated[str, Field(description="Agent who takes over")],
        note: Annotated[str | None, Field(description="State of the work and next steps")] = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm import sessions

        with self._call():
            actor, _ = self._who(ctx, session)
            key = self._session_key(session)
            return sessions.handoff(self.repo, key, to, note_text=note, agent=actor).to_dict()

    def session_end(
        self,
        ctx: Context,
        note: Annotated[str | None, Field(description="A last note")] = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm import sessions

        with self._call():
            actor, _ = self._who(ctx, session)
            key = self._session_key(session)
            result = sessions.end(self.repo, key, note_text=note, agent=actor).to_dict()
            if key == self.session:
                self.session = None  # later writes fall back to the connection's id
            return result

    def sessions(
        self,
        task: Annotated[str | None, Field(description="Only sessions of this task")] = None,
        open_only: Annotated[bool, Field(description="Only open or handed-off sessions")] = False,
    ) -> dict[str, Any]:
        from orchsync.pm import sessions

        with self._call():
            return {"sessions": sessions.list_sessions(self.repo, task=task, open_only=open_only)}

    def events(
        self,
        type: Annotated[
            str | None, Field(description="Event type, e.g. task.status_updated or task.*")
        ] = None,
        entity: Annotated[
            str | None, Field(description="T:<code>, S:<code>, ... or a path")
        ] = None,
        session: Annotated[str | None, Field(description="Session key")] = None,
        since: Annotated[str | None, Field(description="A date, a time, or 30m / 2h / 7d")] = None,
        limit: Annotated[int, Field(ge=1)] = 50,
    ) -> dict[str, Any]:
        from orchsync import query

        with self._call(), query.reader(self.repo) as con:
            rows = query.events(
                con, type=type, entity=entity, session=session, since=since, limit=limit
            )
        return {"events": rows, "count": len(rows)}

    async def query(
        self,
        sql: Annotated[str, Field(description="One SELECT statement")],
        limit: Annotated[
            int, Field(ge=1, le=QUERY_MAX_ROWS, description="Most rows to return")
        ] = QUERY_MAX_ROWS,
    ) -> dict[str, Any]:
        """Off the event loop and off the lock; a cancelled call kills the query's process."""
        import anyio.to_thread

        cancel = threading.Event()
        try:
            return await anyio.to_thread.run_sync(
                partial(self._query, sql, limit, cancel), abandon_on_cancel=True
            )
        finally:
            cancel.set()

    def _query(self, sql: str, limit: int, cancel: threading.Event) -> dict[str, Any]:
        from orchsync import query

        with self._call():
            target = query.sql_target(self.repo)  # may catch the index up: under the lock
        with self._errors(), self._query_slot(cancel):
            limits = dataclasses.replace(self.query_limits, max_rows=limit)
            result = query.run_sql(target, sql, limits, cancel=cancel)
        return {
            "columns": result["columns"],
            "rows": result["rows"],
            "count": len(result["rows"]),
            "truncated": result["truncated"] is not None,
        }

    @contextmanager
    def _query_slot(self, cancel: threading.Event) -> Iterator[None]:
        """One of QUERY_CONCURRENCY slots, waited for up to the time limit of a query."""
        deadline = time.monotonic() + self.query_limits.timeout
        while not self._queries.acquire(timeout=0.05):
            if cancel.is_set():
                raise QueryLimit("the query was cancelled")
            if time.monotonic() >= deadline:
                raise QueryLimit(
                    f"{QUERY_CONCURRENCY} queries of this connection are running; "
                    "wait for one to finish"
                )
        try:
            yield
        finally:
            self._queries.release()

    def log(
        self,
        entity: Annotated[str, Field(description="T:<code>, S:<code>, ADR:<n>, BUG:<n> or a path")],
        session: Annotated[
            str | None, Field(description="Only versions made in this session")
        ] = None,
        since: Annotated[
            str | None, Field(description="Only versions after this git revision")
        ] = None,
    ) -> dict[str, Any]:
        from orchsync.pm import timeline

        with self._call():
            versions = timeline.entity_versions(self.repo, entity, session=session, since=since)
        return {"versions": [v.to_dict() for v in versions]}

    def rollback(
        self,
        ctx: Context,
        entity: Annotated[str, Field(description="T:<code>, S:<code>, ... or a path")],
        to: Annotated[str, Field(description="A git revision, or a content hash (12+ hex digits)")],
        force: Annotated[bool, Field(description="Discard edits not synced yet")] = False,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm import timeline

        return self._write(ctx, session, timeline.rollback, entity, to, force=force, as_dict=False)

    def search(
        self,
        text: Annotated[str, Field(description="Words to find (typos and a prefix are ok)")],
        kind: Annotated[
            Literal["task", "sprint", "adr", "bug", "session"] | None, Field(description="Kind")
        ] = None,
        status: Annotated[str | None, Field(description="Status")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        from orchsync.query import search

        with self._call():
            result = search.run(self.repo, text, kind=kind, status=status, limit=limit)
        return {"hits": [h.to_dict() for h in result.hits], "count": len(result.hits)}


def _compact(tool: Tool) -> Tool:
    """Drop what costs tokens and says nothing: titles, `anyOf [X, null]` and null defaults."""
    tool.parameters = _slim(tool.parameters)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = _slim(tool.fn_metadata.output_schema)
    return tool


def _slim(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_slim(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    # a "title" holding a schema is a parameter named title: keep it
    out = {k: _slim(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        (inner,) = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        out = {**inner, **out}
    if "default" in out and out["default"] is None:
        del out["default"]
    return out
