"""The lifecycle tools of the `all` profile: show and edit a task, change the status of a
bug, an ADR or a sprint, create an agent profile.

A mixin of the server's tool class (`server._Face`): each tool resolves its arguments, calls
one library function and returns its result, with the connection's actor and session, like
every other write tool. Kept apart from `server.py` so the tool list there stays readable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from orchsync.model import ADR_STATUSES, BUG_STATUSES, PRIORITIES, SPRINT_STATUSES

__all__ = ["LIFECYCLE_TOOLS", "LifecycleTools"]

LIFECYCLE_TOOLS = (
    "orchestration_task_show",
    "orchestration_task_edit",
    "orchestration_bug_status",
    "orchestration_adr_status",
    "orchestration_sprint_status",
    "orchestration_agent_create",
)

Session = Annotated[str | None, Field(description="Session key (default: this connection's)")]
Hash = Annotated[str | None, Field(description="Refuse if the file's sha256 changed")]
Names = Annotated[list[str] | None, Field(description="Task codes")]


class LifecycleTools:
    """Tool methods; the class they are mixed into provides `repo`, `_call` and `_who`."""

    repo: Any
    _call: Callable[[], Any]
    _who: Callable[[Context, str | None], tuple[str | None, str]]
    _write: Callable[..., Any]
    _errors: Callable[[], Any]

    def lifecycle_specs(self) -> list[tuple[Callable[..., Any], str, ToolAnnotations]]:
        read = ToolAnnotations(read_only_hint=True)
        write = ToolAnnotations(read_only_hint=False, destructive_hint=False)
        return [
            (
                self.task_show,
                "A task with AGENT.yml, dependencies, dependents, readiness, validity, hash, "
                "last commit.",
                read,
            ),
            (
                self.task_edit,
                "Edit a task: title, priority, agent, dependencies, labels, fields, checklist "
                "ticks; other bytes stay.",
                write,
            ),
            (self.bug_status, "Set a bug's status.", write),
            (
                self.adr_status,
                "Set an ADR's status; superseded_by updates both ADRs.",
                write,
            ),
            (
                self.sprint_status,
                "Set a sprint's status; completed refuses unfinished tasks unless force.",
                write,
            ),
            (self.agent_create, "Create an agent profile (delegation/agents/).", write),
        ]

    def task_show(
        self, task: Annotated[str, Field(description="T:<code>, a code or a unique prefix")]
    ) -> dict[str, Any]:
        from orchsync.query.task_show import show_task

        with self._call():
            return show_task(self.repo, task)

    def task_edit(
        self,
        ctx: Context,
        task: Annotated[str, Field(description="T:<code>, a code or a unique prefix")],
        title: str | None = None,
        priority: Annotated[str | None, Field(description="|".join(PRIORITIES))] = None,
        agent: Annotated[str | None, Field(description="Agent ('' unassigns)")] = None,
        add_deps: Names = None,
        rm_deps: list[str] | None = None,
        add_labels: list[str] | None = None,
        rm_labels: list[str] | None = None,
        fields: Annotated[dict[str, str] | None, Field(description="Front-matter values")] = None,
        check: Annotated[
            list[str] | None, Field(description="Tick: SECTION:N, N from 1 (objectives:2)")
        ] = None,
        uncheck: list[str] | None = None,
        expected_hash: Hash = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm.edits import checklist_ticks, edit_task

        with self._errors():  # a malformed SECTION:N is a tool error, like the write's own
            ticks = checklist_ticks(check or (), uncheck or ())
        return self._write(
            ctx,
            session,
            edit_task,
            task,
            title=title,
            priority=priority,
            agent=agent,
            add_deps=add_deps or (),
            rm_deps=rm_deps or (),
            add_labels=add_labels or (),
            rm_labels=rm_labels or (),
            set_fields=fields,
            checklist=ticks,
            expected_hash=expected_hash,
        )

    def bug_status(
        self,
        ctx: Context,
        bug: Annotated[str, Field(description="BUG:<n> or <n>")],
        status: Annotated[str, Field(description="|".join(BUG_STATUSES))],
        note: Annotated[str | None, Field(description="A dated line for its Notes")] = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm.bugs import set_bug_status

        return self._write(ctx, session, set_bug_status, bug, status, note)

    def adr_status(
        self,
        ctx: Context,
        adr: Annotated[str, Field(description="ADR:<n> or <n>")],
        status: Annotated[str, Field(description="|".join(ADR_STATUSES))],
        superseded_by: Annotated[str | None, Field(description="ADR:<n> replacing it")] = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm.adrs import set_adr_status

        return self._write(ctx, session, set_adr_status, adr, status, superseded_by)

    def sprint_status(
        self,
        ctx: Context,
        sprint: Annotated[str, Field(description="Sprint code")],
        status: Annotated[str, Field(description="|".join(SPRINT_STATUSES))],
        force: Annotated[bool, Field(description="Complete despite unfinished tasks")] = False,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm.sprints import set_sprint_status

        return self._write(ctx, session, set_sprint_status, sprint, status, force=force)

    def agent_create(
        self,
        ctx: Context,
        name: Annotated[str, Field(description="Agent name (file name)")],
        role: Annotated[str | None, Field(description="What it does")] = None,
        model: str | None = None,
        capabilities: list[str] | None = None,
        session: Session = None,
    ) -> dict[str, Any]:
        from orchsync.pm.agents import create_agent

        return self._write(
            ctx,
            session,
            create_agent,
            name,
            role=role,
            model=model,
            capabilities=capabilities or (),
        )
