"""Argument completion (`completion/complete`): codes and keys as a person types them.

Clients ask on every keystroke, so an answer is a binary search over the catalog's sorted
codes (`Catalog.get`: the tree's listing, reused for a couple of seconds and dropped when a
commit lands) — no DuckDB, no git, no parsing. Prefixes match in any case; at most
`MAX_VALUES` values come back (the protocol's cap), with `total` and `hasMore`.

- prompt `agent_init`, argument `target`: `S:<sprint>` and `T:<task>` (typing `T:` or `S:`
  narrows to one kind; a bare prefix matches both); `session`: session keys;
- prompt `handoff`, argument `session`: session keys; prompt `ready_work`, `agent`: agents;
- the resource templates: the codes, numbers, keys or names of their kind.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer

from orchsync.faces.mcp.catalog import Catalog, Snapshot
from orchsync.faces.mcp.uris import TEMPLATES
from orchsync.model import Kind

__all__ = ["MAX_VALUES", "complete", "install"]

MAX_VALUES = 100  # the protocol's limit of values per answer
MAX_TYPED = 200  # characters of a typed value worth matching (codes have at most 100)

_PROMPT_ARGUMENTS: dict[tuple[str, str], tuple[Kind, ...]] = {
    ("agent_init", "target"): (Kind.SPRINT, Kind.TASK),
    ("agent_init", "session"): (Kind.SESSION,),
    ("handoff", "session"): (Kind.SESSION,),
    ("ready_work", "agent"): (Kind.AGENT,),
}
_TEMPLATE_ARGUMENTS = {(t.uri_template, t.variable): (t.kind,) for t in TEMPLATES}
_PREFIX = {Kind.SPRINT: "S:", Kind.TASK: "T:"}


def complete(snapshot: Snapshot, ref: Any, name: str, value: str) -> types.Completion:
    """The values offered for argument `name` of `ref` (a prompt or a resource template)."""
    if isinstance(ref, types.PromptReference):
        kinds = _PROMPT_ARGUMENTS.get((ref.name, name), ())
    else:
        kinds = _TEMPLATE_ARGUMENTS.get((ref.uri, name), ())
    if not kinds or len(value) > MAX_TYPED:
        return types.Completion(values=[], total=0, has_more=False)
    typed = value.strip()
    prefixed = len(kinds) > 1  # `target`: S:/T: keys
    if prefixed and typed[:2].upper() in ("S:", "T:"):
        kinds = (Kind.SPRINT,) if typed[:2].upper() == "S:" else (Kind.TASK,)
        typed = typed[2:]
    values: list[str] = []
    total = 0
    for kind in kinds:
        codes, count = snapshot.complete(kind, typed, MAX_VALUES - len(values))
        values += [f"{_PREFIX[kind]}{c}" for c in codes] if prefixed else codes
        total += count
    return types.Completion(values=values, total=total, has_more=total > len(values))


def install(server: MCPServer, catalog: Catalog) -> None:
    """Serve `completion/complete` of `server` from `catalog`."""

    async def handler(
        ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        snapshot = await anyio.to_thread.run_sync(catalog.get)
        argument = params.argument
        return types.CompleteResult(
            completion=complete(snapshot, params.ref, argument.name, argument.value)
        )

    server._lowlevel_server.add_request_handler(
        "completion/complete", types.CompleteRequestParams, handler
    )
