"""The context broker: everything an agent needs to start work, in one call (AGENT INIT).

    from orchsync.context import assemble
    ctx = assemble(repo, "T:phase-1-api-foundation", agent="qa-engineer", budget=8000)
    ctx.to_markdown()   # paste into an LLM context
    ctx.to_json()       # schemas/agent_init.json

Modules: `types` (request, context, deps), `broker` (assembly from the index), `refs`
(reference docs), `budget` (trimming), `render` (Markdown), `cache` (on-disk cache that a
hit validates without DuckDB or pygit2), `record` (journal events), `service` (the whole).
Importing this package imports none of DuckDB, pygit2 or jinja2.
"""

from __future__ import annotations

from typing import Any

from orchsync.context.types import FORMAT, Context, Deps, Request, parse_chat_command

__all__ = ["FORMAT", "Context", "Deps", "Request", "assemble", "parse_chat_command"]


def assemble(*args: Any, **kwargs: Any) -> Context:
    """See `orchsync.context.service.assemble`."""
    from orchsync.context.service import assemble as _assemble

    return _assemble(*args, **kwargs)
