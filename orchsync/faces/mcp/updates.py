"""Resource subscriptions: tell the client which resources a commit changed, by any route.

A commit moves the branch (or the configured snapshot ref) whoever makes it: the daemon,
`orchsync sync`, a CLI or MCP write, `git commit`, `git pull`. So the server needs no word
from the daemon: like the board's live stream, it looks at the tip every `INTERVAL` seconds
(`expected_tip`: two small file reads, no git library, no DuckDB). When the tip moved, it
compares the old and new trees by entry ids (`git.history.tree_changes`, descending only into
folders whose id changed: a pull of 500 commits costs one diff), maps each changed path to
its resource URI, and sends

- `notifications/resources/updated` for each changed resource the client subscribed to
  (`resources/subscribe`, the 2025 protocol) — and publishes it on the SDK's subscription bus
  for `subscriptions/listen` streams (2026-07-28), which filter by URI themselves;
- `notifications/resources/list_changed` when an entity appeared or disappeared.

Journal events (agent.initialized, context.assembled) change no file, so they change no
resource: only the tip is watched. Edits saved on disk and not synced yet move no tip;
they are announced by the commit that takes them (the daemon's, within its debounce).

On the 2025 protocol a notification goes to the connection that sent the request, outside
any request: the server keeps the session of the latest request of a handshake-era
connection (stdio serves exactly one) and sends on its standalone channel.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourcesListChanged, ResourceUpdated
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from orchsync.config import load_config
from orchsync.faces.mcp.catalog import Catalog
from orchsync.faces.mcp.uris import uri_of_path
from orchsync.query.freshness import expected_tip
from orchsync.repo import Repo

__all__ = ["INTERVAL", "MAX_SUBSCRIPTIONS", "Updates", "changed_resources"]

log = logging.getLogger(__name__)

INTERVAL = 0.25  # seconds between looks at the tip: an update is sent ~0.3 s after a commit
MAX_SUBSCRIPTIONS = 10_000  # URIs one connection may subscribe to


def changed_resources(repo: Repo, old: str | None, new: str) -> tuple[set[str], bool]:
    """(URIs of the resources whose file differs between commits `old` and `new`, whether an
    entity appeared or disappeared). `old` None: everything in `new` is new."""
    import pygit2

    from orchsync.git.history import tree_changes
    from orchsync.git.store import open_git

    git = open_git(repo.root)
    trees = [git[c].peel(pygit2.Tree) if c else None for c in (old, new)]
    uris: set[str] = set()
    listed = False
    for path, (before, after) in tree_changes(git, trees[0], trees[1]).items():
        uri = uri_of_path(path)
        if uri is not None:
            uris.add(uri)
            listed = listed or (before is None) != (after is None)
    return uris, listed


class Updates:
    """The subscriptions of one server, and the loop that watches the tip for them."""

    def __init__(self, repo: Repo, catalog: Catalog, interval: float = INTERVAL) -> None:
        self.repo = repo
        self.catalog = catalog
        self.interval = interval
        self.bus = InMemorySubscriptionBus()  # the 2026 `subscriptions/listen` streams
        self.subscribed: set[str] = set()  # 2025 `resources/subscribe` URIs
        self.session: ServerSession | None = None  # of the handshake-era connection

    # --- who to tell -----------------------------------------------------------------------

    async def middleware(
        self, ctx: ServerRequestContext[Any, Any], call_next: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """Remember the session of a handshake-era connection, to notify it later."""
        if (
            ctx.request_id is not None
            and ctx.method not in ("initialize", "ping")
            and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS
        ):
            self.session = ctx.session
        return await call_next(ctx)

    def subscribe(self, uri: str) -> None:
        if uri not in self.subscribed and len(self.subscribed) >= MAX_SUBSCRIPTIONS:
            raise ValueError(
                f"this connection has {MAX_SUBSCRIPTIONS} subscriptions, the limit; "
                "unsubscribe from some first"
            )
        self.subscribed.add(uri)

    def unsubscribe(self, uri: str) -> None:
        self.subscribed.discard(uri)

    async def announce(self, uris: set[str], listed: bool) -> None:
        """Send what changed: updates for subscribed URIs, list_changed when the list did."""
        for uri in sorted(uris):
            await self.bus.publish(ResourceUpdated(uri=uri))
        if listed:
            await self.bus.publish(ResourcesListChanged())
        session = self.session
        if session is None:
            return
        try:
            for uri in sorted(uris & self.subscribed):
                await session.send_resource_updated(uri)
            if listed:
                await session.send_resource_list_changed()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.session = None  # the client went away; the server ends with its stdin

    # --- the watch -------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, _server: Any) -> AsyncIterator[dict[str, Any]]:
        """The server's lifespan: the watch runs while the server serves."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.watch)
            try:
                yield {}
            finally:
                tg.cancel_scope.cancel()

    async def watch(self) -> None:
        """Look at the tip every `interval` seconds; announce what each move changed.

        Whatever goes wrong here ends the watch, never the server: tools, prompts and
        resources keep serving without notifications.
        """
        try:
            await self._watch()
        except Exception:
            log.exception("resource updates stopped")

    async def _watch(self) -> None:
        config = load_config(self.repo.root)
        seen = expected_tip(self.repo, config)
        while True:
            await anyio.sleep(self.interval)
            try:
                now = expected_tip(self.repo, config)
            except OSError:
                continue  # a ref being rewritten: look again
            # no tip (a detached HEAD mid-rebase, an unborn branch): wait for one rather than
            # announce that everything disappeared
            if now == seen or now[1] is None:
                continue
            self.catalog.invalidate()
            try:
                uris, listed = await anyio.to_thread.run_sync(
                    changed_resources, self.repo, seen[1], now[1]
                )
            except Exception:
                # objects not there (a fetch in progress, a pruned old tip): say that
                # everything subscribed may have changed, rather than nothing
                log.warning("resource updates: cannot compare %s and %s", seen[1], now[1])
                uris, listed = set(self.subscribed), True
            seen = now
            await self.announce(uris, listed)
