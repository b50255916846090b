"""MCP resources: every entity by a stable URI, listed in pages, read with its hash, watched.

A coding agent lets a person @-mention a resource (`@orchsync:orchsync://task/...`) and
attaches its text without a tool call; a client that subscribed to a resource is told when
a commit changes it, by whatever route the commit came (the daemon, `orchsync sync`, a
plain `git commit`). Each test drives a real `orchsync mcp` child process with the MCP SDK's
own client, as `test_mcp.py` does.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import GIT_ENV, SPRINT, git, new_task, sha256_of, task_path, trailers
from mcp.client.client import Client
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types import INVALID_PARAMS, PaginatedRequestParams
from test_mcp import connect, ok, run, server_params

from orchsync.faces.mcp.catalog import MAX_AGE

PHASE = {n: f"phase-{n}-{slug}" for n, slug in enumerate(
    ["api-foundation", "event-system", "template-generation", "agent-init", "pm-commands",
     "integration"], start=1)}  # fmt: skip
SESSION = "2025-10-14-backend-engineer-phase-1"
EXAMPLE_URIS = [
    f"orchsync://sprint/{SPRINT}",
    *[f"orchsync://task/{PHASE[n]}" for n in range(1, 7)],
    "orchsync://adr/001",
    "orchsync://bug/0001",
    "orchsync://agent/backend-engineer",
    "orchsync://agent/qa-engineer",
    "orchsync://agent/tech-writer",
    f"orchsync://session/{SESSION}",
]
WAIT = 20.0  # seconds to wait for a notification before calling it lost (a hang, not a bound)

# `resources/subscribe` is the 2025 protocol's (what coding agents speak today); the SDK's
# client warns that 2026-07-28 replaces it with `subscriptions/listen` (tested last).
pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the repository that no resource may ever show."""
    path = tmp_path / "outside" / "secret.md"
    path.parent.mkdir()
    path.write_text("---\ntitle: TOPSECRET-42\nstatus: pending\n---\n\nTOPSECRET-42 body\n")
    return path


def uri(n: int) -> str:
    return f"orchsync://task/{PHASE[n]}"


async def read_error(s: ClientSession, address: str) -> str:
    with pytest.raises(MCPError) as caught:
        await s.read_resource(address)
    assert caught.value.error.code == INVALID_PARAMS, caught.value.error
    return caught.value.error.message


async def every_page(s: ClientSession) -> list[list[str]]:
    """The URIs of each page of `resources/list`, following `nextCursor` to the end."""
    pages, cursor = [], None
    while True:
        params = PaginatedRequestParams(cursor=cursor) if cursor else None
        result = await s.list_resources(params=params)
        pages.append([r.uri for r in result.resources])
        cursor = result.next_cursor
        if cursor is None:
            return pages


class Inbox:
    """What the server sent unasked, with the time each arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[float, str, str | None]] = []  # (time, method, uri)

    async def __call__(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if method is not None:
            params = getattr(message, "params", None)
            self.received.append((time.monotonic(), method, getattr(params, "uri", None)))

    def updated(self) -> list[str]:
        return [u for _, m, u in self.received if m == "notifications/resources/updated" and u]

    def list_changes(self) -> int:
        return sum(m == "notifications/resources/list_changed" for _, m, _ in self.received)

    async def wait(self, what: Callable[[], bool], label: str) -> float:
        """Until `what()` holds; the time it did."""
        try:
            with anyio.fail_after(WAIT):
                while not what():
                    await anyio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"no {label} in {WAIT} s; received: {self.received}") from None
        return time.monotonic()


async def orchsync_sync(repo: Path) -> float:
    """Run `orchsync sync` as a person would (a process of its own); when it started."""
    started = time.monotonic()
    proc = await anyio.run_process(
        [sys.executable, "-m", "orchsync", "--repo", str(repo), "sync"], env=GIT_ENV, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return started


def append(repo: Path, rel: str, line: str) -> None:
    with open(repo / rel, "a", encoding="utf-8") as fh:
        fh.write(f"\n{line}\n")


# --- resources/list and templates ----------------------------------------------------------------


def test_every_entity_is_a_resource_with_a_stable_uri(example_repo):
    async def body(s: ClientSession) -> tuple[Any, ...]:
        listed = await s.list_resources()
        templates = (await s.list_resource_templates()).resource_templates
        return listed, templates, s.initialize_result

    listed, templates, init = run(example_repo, body, tools="core")
    assert [r.uri for r in listed.resources] == EXAMPLE_URIS
    assert listed.next_cursor is None
    phase1 = listed.resources[1].model_dump(by_alias=True, exclude_none=True)
    assert phase1 == {
        "uri": uri(1),
        "name": f"T:{PHASE[1]}",
        "title": f"T:{PHASE[1]} API foundation - sprint and task CRUD with hash tracking",
        "description": f"task · completed · P0 · S:{SPRINT} · backend-engineer",
        "mimeType": "text/markdown",
        "size": (example_repo / task_path(PHASE[1])).stat().st_size,
    }
    by_uri = {r.uri: r for r in listed.resources}
    assert by_uri["orchsync://agent/qa-engineer"].mime_type == "application/yaml"
    assert by_uri[f"orchsync://session/{SESSION}"].description == (
        f"session · ended · S:{SPRINT} · T:{PHASE[1]} · backend-engineer"
    )
    assert {(t.uri_template, t.mime_type) for t in templates} == {
        ("orchsync://task/{code}", "text/markdown"),
        ("orchsync://sprint/{code}", "text/markdown"),
        ("orchsync://adr/{number}", "text/markdown"),
        ("orchsync://bug/{number}", "text/markdown"),
        ("orchsync://session/{key}", "text/markdown"),
        ("orchsync://agent/{name}", "application/yaml"),
    }
    resources = init.capabilities.resources
    assert (resources.subscribe, resources.list_changed) == (True, True)


def test_a_large_tree_is_listed_in_pages_that_neither_repeat_nor_skip(example_repo):
    codes = [f"bulk-{n:03d}" for n in range(450)]
    for code in codes:
        new_task(example_repo, code)  # on disk, not committed: the tree is the truth

    async def body(s: ClientSession) -> tuple[list[list[str]], list[str], str]:
        pages = await every_page(s)
        # tasks of the first page go before the client asks for the second one
        cursor = (await s.list_resources()).next_cursor
        for code in codes[:50]:
            os.remove(example_repo / task_path(code))
        await anyio.sleep(MAX_AGE + 0.5)  # the listing is taken again
        second = await s.list_resources(params=PaginatedRequestParams(cursor=cursor))
        refused = []
        for cursor in ("bm9wZQ==", "%%%", "W10=" * 5000):
            with pytest.raises(MCPError) as bad:
                await s.list_resources(params=PaginatedRequestParams(cursor=cursor))
            refused.append(bad.value.error.message)
        return pages, [r.uri for r in second.resources], refused

    pages, second, bad = run(example_repo, body, tools="core")
    assert [len(p) for p in pages] == [200, 200, 63]
    flat = [u for p in pages for u in p]
    assert sorted(flat) == sorted(EXAMPLE_URIS + [f"orchsync://task/{c}" for c in codes])
    assert len(set(flat)) == len(flat)
    # the cursor is the last item sent, not an offset: nothing is skipped when items before
    # it go (an offset would now skip 50)
    assert second == pages[1]
    assert bad == ["invalid cursor: pass the nextCursor of the previous page, unchanged"] * 3


# --- resources/read -------------------------------------------------------------------------------


def test_reading_a_resource_gives_the_file_and_its_content_hash(example_repo):
    on_disk = {}

    async def body(s: ClientSession) -> dict[str, Any]:
        out = {u: (await s.read_resource(u)).contents[0] for u in EXAMPLE_URIS}
        for content in out.values():
            path = content.meta["orchsync/path"]
            on_disk[path] = (
                (example_repo / path).read_text("utf-8"),
                sha256_of(example_repo / path),
            )
        out["orchsync://adr/1"] = (await s.read_resource("orchsync://adr/1")).contents[0]
        await ok(s, "task_status_update", task=PHASE[3], status="in_progress")
        out["after"] = (await s.read_resource(uri(3))).contents[0]
        return out

    read = run(example_repo, body)
    for address in EXAMPLE_URIS:
        content = read[address]
        path = content.meta["orchsync/path"]
        assert content.uri == address
        assert content.text == on_disk[path][0], address
        assert content.meta == {"orchsync/hash": on_disk[path][1], "orchsync/path": path}
    assert read["orchsync://adr/1"].text == read["orchsync://adr/001"].text
    assert read["orchsync://agent/qa-engineer"].mime_type == "application/yaml"
    # the hash is the one the snapshot commit carries
    after = read["after"]
    assert "status: in_progress" in after.text
    hashes = [v for k, v in trailers(example_repo) if k == "Orchsync-Hash"]
    assert hashes == [f"{after.meta['orchsync/hash']} {task_path(PHASE[3])}"]


def test_hostile_uris_are_refused_before_anything_is_read(example_repo, secret):
    (example_repo / "delegation/sessions/leak.md").symlink_to(secret)
    (example_repo / "delegation/agents/leak.yml").symlink_to(secret)
    hostile = {
        "orchsync://task/..": "task id '..' is reserved",
        "orchsync://task/../../../etc/passwd": "must not contain '/'",
        "orchsync://session/..%2F..%2Fsecret": "session id '..%2F..%2Fsecret' is reserved",
        "orchsync://session/%2e%2e": "may only hold ASCII letters",
        "orchsync://task/a\\b": "(one path segment)",
        "orchsync://task/x\x00y": "must not contain control characters",
        "orchsync://task/ phase-1-api-foundation": "must not start or end with white space",
        "orchsync://task/": "task id must not be empty",
        "orchsync://task": "names no resource kind",
        "orchsync://TASK/x": "names no resource kind",
        "orchsync://etc/passwd": "names no resource kind",
        "file:///etc/passwd": "is not an orchsync:// URI",
        "orchsync://adr/-1": "adr number '-1' is not a number",
        "orchsync://adr/٣": "adr number '٣' is not a number",
        "orchsync://task/" + "a" * 100_000: "orchsync URIs have at most 256",
        "orchsync://session/leak": "is a symbolic link; orchsync serves no linked file",
        "orchsync://agent/leak": "is a symbolic link; orchsync serves no linked file",
        "orchsync://task/phase-1": "unknown task 'phase-1'",  # no prefix matching
        "orchsync://bug/7": "unknown bug 'BUG:7'",
    }

    async def body(s: ClientSession) -> tuple[dict[str, str], list[str], str]:
        errors = {address: await read_error(s, address) for address in hostile}
        listed = [r.uri for r in (await s.list_resources()).resources]
        return errors, listed, (await s.read_resource(uri(1))).contents[0].text

    errors, listed, still = run(example_repo, body, tools="core")
    for address, expected in hostile.items():
        assert expected in errors[address], (address, errors[address])
        assert len(errors[address]) < 400
    assert "TOPSECRET" not in repr(errors)
    assert listed == EXAMPLE_URIS  # links are not offered
    assert still.startswith("---")  # and the server keeps serving


def test_a_linked_folder_is_neither_listed_nor_read(example_repo, secret):
    sessions = example_repo / "delegation/sessions"
    for f in sessions.iterdir():
        f.unlink()
    sessions.rmdir()
    sessions.symlink_to(secret.parent)  # delegation/sessions -> a folder outside

    async def body(s: ClientSession) -> tuple[list[str], str]:
        listed = [r.uri for r in (await s.list_resources()).resources]
        return listed, await read_error(s, "orchsync://session/secret")

    listed, error = run(example_repo, body, tools="core")
    assert not [u for u in listed if "session" in u]
    assert "TOPSECRET" not in error and "unknown session" in error


# --- subscriptions ---------------------------------------------------------------------------------


def test_a_subscribed_task_is_announced_when_orchsync_sync_commits_it(example_repo):
    repo = example_repo
    inbox = Inbox()

    async def main() -> list[float]:
        async with connect(repo, "core", on_message=inbox) as s:
            await s.subscribe_resource(uri(2))
            with pytest.raises(MCPError, match="unknown task 'nope'"):
                await s.subscribe_resource("orchsync://task/nope")
            with pytest.raises(MCPError, match="must not contain '/'"):
                await s.subscribe_resource("orchsync://task/../x")

            # an edit saved on disk, synced by `orchsync sync`: only the subscribed task
            append(repo, task_path(PHASE[2]), "- a note from the editor")
            append(repo, task_path(PHASE[3]), "- not subscribed")
            started = await orchsync_sync(repo)
            seen = await inbox.wait(lambda: uri(2) in inbox.updated(), "phase-2 update")
            latencies = [seen - started]

            # any route that moves the branch: a plain `git commit` too
            append(repo, task_path(PHASE[2]), "- committed by hand")
            git(repo, "commit", "-qam", "by hand")
            committed = time.monotonic()
            await inbox.wait(lambda: inbox.updated().count(uri(2)) == 2, "second update")
            latencies.append(time.monotonic() - committed)

            # unsubscribed: no word of phase-2; phase-4 (subscribed now) says the watch ran
            await s.unsubscribe_resource(uri(2))
            await s.subscribe_resource(uri(4))
            append(repo, task_path(PHASE[2]), "- after unsubscribing")
            append(repo, task_path(PHASE[4]), "- watched")
            await orchsync_sync(repo)
            await inbox.wait(lambda: uri(4) in inbox.updated(), "phase-4 update")
            return latencies

    latencies = anyio.run(main)
    print(
        f"update after `orchsync sync` started (the process included): {latencies[0] * 1000:.0f} ms;"
        f" after a `git commit`: {latencies[1] * 1000:.0f} ms"
    )
    assert inbox.updated() == [uri(2), uri(2), uri(4)]
    assert inbox.list_changes() == 0  # nothing appeared or disappeared


@pytest.mark.slow
def test_a_subscribed_task_is_announced_when_the_daemon_commits_an_edit(example_repo, daemon):
    daemon(example_repo)
    inbox = Inbox()

    async def main() -> float:
        async with connect(example_repo, "core", on_message=inbox) as s:
            await s.subscribe_resource(uri(5))
            append(example_repo, task_path(PHASE[5]), "- saved in an editor")
            saved = time.monotonic()
            return await inbox.wait(lambda: uri(5) in inbox.updated(), "update") - saved

    latency = anyio.run(main)
    print(f"update after an edit on disk, with the daemon: {latency * 1000:.0f} ms")
    assert inbox.updated() == [uri(5)]
    assert trailers(example_repo)  # the daemon made the commit


def test_list_changed_when_a_task_is_created_or_deleted(example_repo):
    repo = example_repo
    inbox = Inbox()
    new = "orchsync://task/phase-7-release"

    async def main() -> tuple[list[str], list[str]]:
        async with connect(repo, "all", on_message=inbox) as s:
            await s.subscribe_resource(uri(6))
            await ok(s, "task_create", sprint=SPRINT, id="phase-7-release", title="Release")
            await inbox.wait(lambda: inbox.list_changes() == 1, "list_changed after create")
            created = [r.uri for r in (await s.list_resources()).resources]

            (repo / task_path(PHASE[6])).unlink()
            await orchsync_sync(repo)
            await inbox.wait(lambda: inbox.list_changes() == 2, "list_changed after delete")
            deleted = [r.uri for r in (await s.list_resources()).resources]
            return created, deleted

    created, deleted = anyio.run(main)
    assert new in created and uri(6) in created
    assert new in deleted and uri(6) not in deleted
    assert inbox.updated() == [uri(6)]  # the subscribed task is gone: it changed, too


def test_a_2026_client_listens_for_the_same_updates(example_repo):
    async def main() -> list[Any]:
        async with Client(server_params(example_repo, "core")) as client:
            assert client.session.protocol_version == "2026-07-28"
            assert [p.name for p in (await client.list_prompts()).prompts] == [
                "agent_init",
                "handoff",
                "ready_work",
            ]
            async with client.listen(
                resources_list_changed=True, resource_subscriptions=[uri(3)]
            ) as events:
                append(example_repo, task_path(PHASE[3]), "- heard on a listen stream")
                await orchsync_sync(example_repo)
                with anyio.fail_after(WAIT):
                    async for event in events:
                        return [event]
        return []

    assert anyio.run(main) == [ResourceUpdated(uri=uri(3))]
