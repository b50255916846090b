"""MCP resources (what a person @-mentions): every task, sprint, ADR, bug, session and agent.

A coding agent lets a person @-mention a resource and attaches its text to the conversation
without a tool call, so resources cost no tool tokens. This module serves

- `resources/list`: the entities of the work tree (`catalog`), `PAGE_SIZE` per page with an
  opaque `nextCursor`; each with the entity key as name, its title, and a one-line summary;
- `resources/templates/list`: one template per kind (`orchsync://task/{code}`, ...);
- `resources/read`: the file's exact text, with its content hash (sha256 of the bytes, the
  `Orchsync-Hash` of the commit that has them) and path in the result's `_meta`
  (`orchsync/hash`, `orchsync/path`), so the text itself is the file, unchanged;
- `resources/subscribe` / `unsubscribe` (the 2025 protocol; see `updates`).

A URI is parsed strictly (`uris.parse_uri`) and resolved like a CLI argument, and the file
is read without following links (`parse.fsread`), at most `MAX_RESOURCE_BYTES`: no URI
reaches outside `delegation/`. The handlers replace MCPServer's own (which neither page nor
put a hash in `_meta`); nothing here takes the tools' lock: reading files needs no DuckDB.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from orchsync.errors import OrchsyncError
from orchsync.faces.mcp.catalog import BadCursor, Catalog, decode_cursor, describe, encode_cursor
from orchsync.faces.mcp.updates import Updates
from orchsync.faces.mcp.uris import MIME_TYPES, TEMPLATES, BadUri, entity_key, parse_uri, uri_for
from orchsync.repo import Repo

__all__ = ["MAX_RESOURCE_BYTES", "ReadError", "install", "read_resource"]

MAX_RESOURCE_BYTES = 512 << 10  # half a tool result: a resource is attached whole
META_HASH = "orchsync/hash"
META_PATH = "orchsync/path"


class ReadError(Exception):
    """A resource that cannot be read; `code` is the JSON-RPC error to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def read_resource(repo: Repo, uri: str) -> tuple[str, str, dict[str, str]]:
    """(text, MIME type, `_meta`) of the resource at `uri`; ReadError says why not."""
    from orchsync.model import content_hash
    from orchsync.parse.fsread import FILE, LINK, MISSING, TOO_LARGE, read_entry
    from orchsync.parse.resolve import resolve

    try:
        kind, code = parse_uri(uri)
        target = resolve(repo, entity_key(kind, code), prefix_ok=False)
    except (BadUri, OrchsyncError) as exc:  # a hostile URI, an unknown entity
        raise ReadError(types.INVALID_PARAMS, str(exc)) from None
    entry = read_entry(repo.root, target.path, max_bytes=MAX_RESOURCE_BYTES)
    if entry.kind == FILE and entry.data is not None:
        text = entry.data.decode("utf-8", "replace")
        meta = {META_HASH: content_hash(entry.data), META_PATH: target.path}
        return text, MIME_TYPES[kind], meta
    if entry.kind == LINK:
        why = "is a symbolic link; orchsync serves no linked file"
    elif entry.kind == TOO_LARGE:
        why = (
            f"is {entry.size} bytes; resources are served up to {MAX_RESOURCE_BYTES >> 10} KiB "
            "(read the file from the repository)"
        )
    elif entry.kind == MISSING:
        why = "does not exist"
    else:
        why = f"cannot be read: {entry.reason}"
    raise ReadError(types.INVALID_PARAMS, f"{target.path} {why}")


def install(server: MCPServer, repo: Repo, catalog: Catalog, updates: Updates) -> None:
    """Serve the resource methods of `server` from the tree of `repo`."""
    lowlevel = server._lowlevel_server  # MCPServer's handlers cannot page or set `_meta`

    async def list_resources(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams
    ) -> types.ListResourcesResult:
        try:
            after = decode_cursor(params.cursor) if params.cursor is not None else None
        except BadCursor as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None

        def page() -> tuple[list[dict[str, Any]], str | None]:
            items, last = catalog.get().page(after)
            return describe(repo.root, items), (encode_cursor(last) if last else None)

        resources, cursor = await anyio.to_thread.run_sync(page)
        return types.ListResourcesResult(
            resources=[types.Resource(**r) for r in resources], next_cursor=cursor
        )

    async def list_templates(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=t.uri_template,
                    name=t.name,
                    title=t.title,
                    description=t.description,
                    mime_type=t.mime_type,
                )
                for t in TEMPLATES
            ]
        )

    async def read(
        ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        try:
            text, mime, meta = await anyio.to_thread.run_sync(read_resource, repo, params.uri)
        except ReadError as exc:
            raise MCPError(exc.code, str(exc), data={"uri": _shown(params.uri)}) from None
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(uri=params.uri, text=text, mime_type=mime, _meta=meta)
            ]
        )

    async def subscribe(
        ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        uri = await _existing(repo, params.uri)
        try:
            updates.subscribe(uri)
        except ValueError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        return types.EmptyResult()

    async def unsubscribe(
        ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        try:
            kind, code = parse_uri(params.uri)
        except BadUri as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        updates.unsubscribe(uri_for(kind, code))
        return types.EmptyResult()

    lowlevel.add_request_handler("resources/list", types.PaginatedRequestParams, list_resources)
    lowlevel.add_request_handler(
        "resources/templates/list", types.PaginatedRequestParams, list_templates
    )
    lowlevel.add_request_handler("resources/read", types.ReadResourceRequestParams, read)
    lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler(
        "resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe
    )
    server.middleware.append(updates.middleware)


async def _existing(repo: Repo, uri: str) -> str:
    """The canonical URI of an entity that exists now; MCPError otherwise."""
    from orchsync.parse.resolve import resolve

    try:
        kind, code = parse_uri(uri)
        await anyio.to_thread.run_sync(
            lambda: resolve(repo, entity_key(kind, code), prefix_ok=False)
        )
    except (BadUri, OrchsyncError) as exc:
        raise MCPError(types.INVALID_PARAMS, str(exc), data={"uri": _shown(uri)}) from None
    return uri_for(kind, code)


def _shown(uri: Any) -> str:
    """A URI as an error may echo it: cut short (a client may send a megabyte)."""
    text = str(uri)
    return text if len(text) <= 200 else text[:200] + "..."
