"""User SQL and the MCP wire, called as an attacker would (issue 13, part A).

An agent can be steered by text it reads, so `orchsync query` and MCP `orchestration_query`
receive SQL an attacker may have written, and `orchsync mcp` receives whatever bytes a
client sends. What must hold:

- no statement, whatever it is wrapped in, reads or writes a file outside the index's own
  files or reaches the network; the engine refuses it on its own (tested on the sandboxed
  connection directly), and the statement check refuses every write as a second wall;
- a query is bounded in time, rows, memory and result size, and the bound is named;
- in the MCP server a slow query blocks no other tool, and a cancelled one is killed;
- malformed JSON-RPC gets -32700 / -32600, huge arguments a tool error, and the server
  keeps serving; no tool result exceeds 1 MiB;
- and the legitimate uses keep working: the views, archived Parquet events, `--at`.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import GIT_ENV, commit_all, git, set_status, task_path
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Implementation, TextContent

from orchsync.faces.mcp.server import MAX_RESULT_BYTES, _bounded, _wire_size
from orchsync.index.duck import duckdb
from orchsync.index.sandbox import open_sandbox

SECRET = "orchsync-probe-7f3c91d2"  # an environment value no answer may contain


@pytest.fixture
def repo(example_repo: Path, orchsync: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example repository with its index built, a secret in the environment (which the
    query process inherits) and HOME in a scratch folder (where DuckDB would keep
    downloaded extensions)."""
    monkeypatch.setenv("ORCHSYNC_PROBE", SECRET)
    monkeypatch.setenv("HOME", str(example_repo.parent / "home"))
    (example_repo.parent / "home").mkdir()
    assert orchsync(example_repo, "sync").exit_code == 0
    return example_repo


def query(orchsync: Any, repo: Path, sql: str, *args: str) -> Any:
    return orchsync(repo, "query", *args, "--", sql)


def refused(result: Any) -> str:
    """A query that must fail with exit 2 and print nothing; returns the error text."""
    assert (result.exit_code, result.stdout) == (2, ""), (result.exit_code, result.output)
    assert result.stderr.startswith("Error: ")
    assert SECRET not in result.stderr and "root:x:0" not in result.stderr
    return result.stderr


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archive(orchsync: Any, repo: Path) -> Path:
    """Archive every event to Parquet; returns the one archive file."""
    result = orchsync(repo, "events", "archive", "--before", "2100-01-01", "--json")
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["file"])


# --- writes: COPY ... TO, in any wrapping ----------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 42) TO '{out}'",
        "EXPLAIN ANALYZE COPY (SELECT 42) TO '{out}'",
        "explain analyze copy (select 42) to '{out}' (format csv)",
        "EXPLAIN (ANALYZE) COPY (SELECT 42) TO '{out}'",
        "/* a comment */ EXPLAIN /* another */ ANALYZE COPY (SELECT 42) TO '{out}'",
        "EXPLAIN (FORMAT json, ANALYZE) COPY (SELECT 42) TO '{out}'",
        "EXPLAIN (ANALYZE true) COPY (SELECT 42) TO '{out}'",
        "EXPLAIN COPY (SELECT 42) TO '{out}'",
        "SELECT 1; COPY (SELECT 42) TO '{out}'",
        "EXPORT DATABASE '{out}'",
        "COPY tasks TO '{out}' (FORMAT parquet)",
    ],
)
def test_no_statement_writes_a_file(orchsync, repo, tmp_path, statement):
    out = tmp_path / "written"

    error = refused(query(orchsync, repo, statement.format(out=out)))

    assert "read-only" in error
    assert not out.exists()


def test_explain_analyze_copy_cannot_rewrite_git_config(orchsync, repo, tmp_path):
    """The issue's worst case: `.git/config` with `core.fsmonitor` runs a command at the
    next `git status`."""
    config = repo / ".git" / "config"
    before = sha(config)
    pwned = tmp_path / "pwned"
    attack = (
        "EXPLAIN ANALYZE COPY (SELECT '[core]' AS a UNION ALL "
        f"SELECT 'fsmonitor = touch {pwned}') TO '{config}' (HEADER false, QUOTE '')"
    )

    refused(query(orchsync, repo, attack))
    git(repo, "status", "--porcelain")

    assert sha(config) == before
    assert not pwned.exists()


# --- reads: files, the environment, URLs, extensions -----------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT content FROM read_blob('/etc/passwd')",
        "SELECT content FROM read_text('/etc/passwd')",
        "SELECT content FROM read_text('/proc/self/environ')",
        "SELECT content FROM read_blob('/proc/self/environ')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv('/proc/self/environ', sep='=')",
        "SELECT * FROM read_json_objects('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM parquet_metadata('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM 'README.md'",
        "SELECT content FROM read_text('{repo}/.git/config')",
        "SELECT content FROM read_text('{repo}/README.md')",
        "SELECT * FROM glob('{repo}/.git/*')",
        "SELECT * FROM read_parquet('{repo}/.git/orchsync/*.parquet')",
        "SELECT content FROM read_text('file:///etc/passwd')",
        "WITH x AS (SELECT * FROM read_text('/etc/passwd')) SELECT * FROM x",
        "SELECT (SELECT content FROM read_text('/etc/passwd'))",
        "EXPLAIN ANALYZE SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM query_table('read_text')",
        "SELECT getenv('ORCHSYNC_PROBE')",
    ],
)
def test_no_file_or_environment_is_read(orchsync, repo, statement):
    result = query(orchsync, repo, statement.format(repo=repo))

    error = refused(result)
    assert "SQL error" in error


def test_the_environment_is_not_reachable_through_settings(orchsync, repo):
    result = query(
        orchsync,
        repo,
        "SELECT string_agg(name || '=' || coalesce(value, ''), ',') FROM duckdb_settings()",
        "--format",
        "csv",
    )

    assert result.exit_code == 0
    assert SECRET not in result.stdout
    assert "enable_external_access=false" in result.stdout
    assert "lock_configuration=true" in result.stdout


class _Listener:
    """A TCP port on loopback that records whether anyone connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('http://127.0.0.1:{port}/x.csv')",
        "SELECT * FROM read_parquet('http://127.0.0.1:{port}/x.parquet')",
        "SELECT content FROM read_text('https://127.0.0.1:{port}/x')",
        "SELECT * FROM read_json('http://127.0.0.1:{port}/x.json')",
        "SELECT * FROM read_csv('s3://bucket/x.csv')",
        "INSTALL httpfs",
        "LOAD httpfs",
        "ATTACH 'http://127.0.0.1:{port}/x.duckdb'",
    ],
)
def test_urls_and_extensions_download_nothing(orchsync, repo, statement):
    listener = _Listener()
    try:
        refused(query(orchsync, repo, statement.format(port=listener.port)))
    finally:
        listener.close()

    assert listener.connections == 0
    assert not (repo.parent / "home" / ".duckdb").exists()  # no extension fetched or installed


# --- the engine alone: the statement check switched off --------------------------------------


def sandbox(repo: Path) -> duckdb.DuckDBPyConnection:
    index = repo / ".git" / "orchsync" / "index.duckdb"
    files = sorted((index.parent / "archive").glob("*.parquet"))
    return open_sandbox(index, files)


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 42) TO '{out}'",
        "EXPLAIN ANALYZE COPY (SELECT 42) TO '{out}'",
        "COPY (SELECT 42) TO '{archive}/new.parquet' (FORMAT parquet)",
        "COPY (SELECT 42) TO '{archive}' (FORMAT parquet, PARTITION_BY (1), OVERWRITE_OR_IGNORE)",
        "COPY (SELECT 42) TO '{index}.tmp/x.csv'",
        "EXPORT DATABASE '{out}'",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_text('/proc/self/environ')",
        "SELECT * FROM glob('{archive}/*')",
        "SELECT * FROM read_parquet('{archive}/*.parquet')",
        "ATTACH '{out}' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET allowed_directories = ['/']",
        "SET allowed_paths = ['/etc/passwd']",
        "SET lock_configuration = false",
        "SET memory_limit = '100GB'",
        "SET threads = 64",
        "SET temp_directory = '{out}'",
        "PRAGMA enable_profiling = 'json'",
        "SET profiling_output = '{out}'",
        "SET log_query_path = '{out}'",
        "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
    ],
)
def test_the_engine_refuses_on_its_own(orchsync, repo, tmp_path, statement):
    archive(orchsync, repo)
    index = repo / ".git" / "orchsync" / "index.duckdb"
    out = tmp_path / "written"
    con = sandbox(repo)
    try:
        sql = statement.format(out=out, archive=index.parent / "archive", index=index)
        with pytest.raises(duckdb.Error):
            con.execute(sql).fetchall()
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'allowed_directories')"
            ).fetchall()
        )
    finally:
        con.close()

    assert not out.exists()
    assert sorted(p.name for p in (index.parent / "archive").iterdir())[0].startswith("events-")
    assert len(list((index.parent / "archive").iterdir())) == 1
    assert settings == {
        "enable_external_access": "false",
        "lock_configuration": "true",
        "allowed_directories": "[]",
    }


def test_the_engine_still_reads_the_index_and_the_archive(orchsync, repo):
    archived = archive(orchsync, repo)
    con = sandbox(repo)
    try:
        live = con.execute("SELECT count(*) FROM orchestration_events").fetchone()
        every = con.execute("SELECT count(*) FROM orchestration_events_all").fetchone()
        tasks = con.execute("SELECT count(*) FROM orchestration_tasks").fetchone()
        direct = con.execute(f"SELECT count(*) FROM read_parquet('{archived}')").fetchone()
    finally:
        con.close()

    assert live == (0,) and every == direct and every[0] > 0 and tasks == (6,)


def test_archive_files_are_never_rewritten(orchsync, repo):
    """The one file the engine both reads and could write: refused by the statement check,
    and the file is read-only on disk."""
    archived = archive(orchsync, repo)
    before = sha(archived)

    for statement in (
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS id) TO '{archived}' (FORMAT parquet, USE_TMP_FILE false)",
        f"COPY (SELECT 1 AS id) TO '{archived}' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS id) TO '{archived.parent}/evil.parquet'",
    ):
        refused(query(orchsync, repo, statement))

    assert sha(archived) == before
    assert list(archived.parent.iterdir()) == [archived]
    assert archived.stat().st_mode & 0o222 == 0


# --- bounds: time, rows, memory, size --------------------------------------------------------


@pytest.mark.slow
def test_a_query_past_its_time_limit_is_stopped(orchsync, repo):
    started = time.monotonic()

    result = query(orchsync, repo, "SELECT count(*) FROM range(5000000000000)", "--timeout", "1")

    assert refused(result) == "Error: the query ran past its time limit of 1 s and was stopped\n"
    assert time.monotonic() - started < 60  # only a hang fails this


@pytest.mark.slow
@pytest.mark.parametrize(
    "statement",
    [
        "SELECT range(100000000)::varchar",  # one value of ~1 GB, outside DuckDB's buffer pool
        "SELECT list_sort(range(30000000))",
        "SELECT string_agg(range::varchar, ',') FROM range(100000000)",
        "SELECT range FROM range(100000000) ORDER BY random()",
    ],
)
def test_a_query_past_its_memory_limit_is_stopped(orchsync, repo, statement):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    error = refused(query(orchsync, repo, statement, "--timeout", "60"))

    assert error.startswith("Error: the query needed more than its memory limit of 512 MB")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child
    assert max(before, peak) < 1_400_000  # the query process: 2 x 512 MB + 256 MB at most


def test_rows_are_fetched_up_to_the_limit_only(orchsync, repo):
    result = query(orchsync, repo, "SELECT * FROM range(10000000000)", "--limit", "3")

    assert (result.exit_code, result.stdout) == (0, "range\n-----\n0\n1\n2\n")
    assert result.stderr == "(stopped at 3 rows: --limit 3)\n"


def test_a_result_past_the_size_limit_is_an_error_not_a_cut(orchsync, repo):
    result = query(orchsync, repo, "SELECT repeat('x', 1000000) FROM range(100)")

    assert "the result passed 64 MiB (the size limit)" in refused(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "0"], "--timeout"),
        (["--limit", "-1"], "--limit"),
        (["--memory-limit", "lots"], "'lots' is not a size"),
        (["--memory-limit", "1MB"], "at least 16MB"),
    ],
)
def test_bad_limits_are_usage_errors(orchsync, repo, args, message):
    result = query(orchsync, repo, "SELECT 1", *args)

    assert result.exit_code == 2 and message in result.stderr


# --- what must keep working ------------------------------------------------------------------


def test_ordinary_sql_runs(orchsync, repo):
    result = query(
        orchsync,
        repo,
        "SELECT status, count(*) AS n FROM orchestration_tasks GROUP BY ALL ORDER BY 1",
        "--format",
        "csv",
    )
    explain = query(orchsync, repo, "EXPLAIN SELECT * FROM tasks")
    analyze = query(orchsync, repo, "EXPLAIN ANALYZE SELECT count(*) FROM tasks")
    commented = query(orchsync, repo, "EXPLAIN /* why */ ANALYZE -- slow?\n SELECT 1")
    options = query(orchsync, repo, "EXPLAIN (FORMAT json) SELECT * FROM tasks")
    described = query(orchsync, repo, "DESCRIBE tasks", "--format", "json")

    assert (result.exit_code, result.stdout) == (
        0,
        "status,n\ncompleted,1\nin_progress,1\npending,4\n",
    )
    assert explain.exit_code == 0 and "SEQ_SCAN" in explain.stdout.upper().replace(" ", "_")
    assert analyze.exit_code == commented.exit_code == options.exit_code == 0
    assert described.exit_code == 0 and "code" in [
        c["column_name"] for c in json.loads(described.stdout)
    ]


def test_one_statement_at_a_time(orchsync, repo):
    assert "one statement at a time" in refused(query(orchsync, repo, "SELECT 1; SELECT 2"))


def test_archived_events_stay_queryable(orchsync, repo):
    events = "SELECT count(*) AS n FROM orchestration_events_all"
    before = query(orchsync, repo, events, "--format", "csv").stdout

    archived = archive(orchsync, repo)
    after = query(orchsync, repo, events, "--format", "csv").stdout
    live = query(
        orchsync, repo, "SELECT count(*) AS n FROM orchestration_events", "--format", "csv"
    )
    direct = query(
        orchsync, repo, f"SELECT count(*) AS n FROM read_parquet('{archived}')", "--format", "csv"
    )

    assert after == before == direct.stdout and before != "n\n0\n"
    assert live.stdout == "n\n0\n"


def test_at_a_revision_is_sandboxed_too(orchsync, repo, tmp_path):
    set_status(repo, task_path("phase-6-integration"), "blocked")
    commit_all(repo, "block phase 6")
    out = tmp_path / "written"

    then = query(
        orchsync,
        repo,
        "SELECT count(*) AS n FROM tasks WHERE status = 'blocked'",
        "--at",
        "HEAD~1",
        "--format",
        "csv",
    )
    now = query(
        orchsync,
        repo,
        "SELECT count(*) AS n FROM tasks WHERE status = 'blocked'",
        "--at",
        "HEAD",
        "--format",
        "csv",
    )
    read = query(orchsync, repo, "SELECT * FROM read_text('/etc/passwd')", "--at", "HEAD~1")
    write_ = query(orchsync, repo, f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{out}'", "--at", "HEAD~1")

    assert (then.stdout, now.stdout) == ("n\n0\n", "n\n1\n")
    refused(read)
    refused(write_)
    assert not out.exists()


# --- MCP: the same SQL through the official client -------------------------------------------


def _env() -> dict[str, str]:
    keep = ("PYTHONPATH", "HOME", "ORCHSYNC_PROBE", "PATH")
    return {k: v for k, v in GIT_ENV.items() if k.startswith("GIT_") or k in keep}


@asynccontextmanager
async def mcp_client(repo: Path, *options: str) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "orchsync", "--repo", str(repo), "mcp", "--tools", "all", *options],
        env={**_env(), "ORCHSYNC_PROBE": SECRET},
        cwd=str(repo),
    )
    with open(repo.parent / "mcp-server.stderr", "a", encoding="utf-8") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(
                read, write, client_info=Implementation(name="hostile", version="1")
            ) as s,
        ):
            await s.initialize()
            yield s


def text(result: CallToolResult) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def test_mcp_query_reads_no_file_and_writes_none(repo, tmp_path):
    out = tmp_path / "written"

    async def main() -> dict[str, CallToolResult]:
        async with mcp_client(repo) as s:
            calls = {
                "passwd": "SELECT content FROM read_text('/etc/passwd')",
                "environ": "SELECT content FROM read_blob('/proc/self/environ')",
                "copy": f"EXPLAIN ANALYZE COPY (SELECT 42) TO '{out}'",
                "url": "SELECT * FROM read_csv('https://example.invalid/x.csv')",
                "fine": "SELECT count(*) AS n FROM orchestration_tasks",
            }
            return {
                k: await s.call_tool("orchestration_query", {"sql": v}) for k, v in calls.items()
            }

    got = anyio.run(main)

    for what in ("passwd", "environ", "copy", "url"):
        assert got[what].is_error, what
        assert SECRET not in text(got[what]) and "root:x" not in text(got[what])
    assert "read-only" in text(got["copy"]) and not out.exists()
    assert got["fine"].structured_content == {
        "columns": ["n"],
        "rows": [[6]],
        "count": 1,
        "truncated": False,
    }


def test_mcp_query_results_are_cut_with_a_flag(repo):
    async def main() -> list[dict[str, Any]]:
        async with mcp_client(repo) as s:
            out = []
            for args in (
                {"sql": "SELECT * FROM range(10000000000)"},
                {"sql": "SELECT * FROM range(10)", "limit": 3},
                {"sql": "SELECT repeat('x', 10000) AS x FROM range(1000)"},
                {"sql": "SELECT * FROM range(5)"},
            ):
                result = await s.call_tool("orchestration_query", args)
                assert not result.is_error, text(result)
                assert _wire_size(result) <= MAX_RESULT_BYTES
                out.append(result.structured_content)
            return out

    many, three, wide, few = anyio.run(main)

    assert (many["count"], many["truncated"]) == (500, True)
    assert (three["rows"], three["truncated"]) == ([[0], [1], [2]], True)
    assert wide["truncated"] is True and 0 < wide["count"] < 500
    assert (few["count"], few["truncated"]) == (5, False)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _server_pid(repo: Path) -> int:
    for pid in _children(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(repo).encode() in cmdline and b"mcp" in cmdline:
            return pid
    raise AssertionError("no orchsync mcp child process")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_slow_query_blocks_no_other_tool_and_dies_when_cancelled(repo):
    async def main() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with mcp_client(repo, "--query-timeout", "120") as s:
            server = _server_pid(repo)
            done = anyio.Event()

            async def slow() -> None:
                with anyio.CancelScope() as scope:
                    seen["scope"] = scope
                    seen["slow"] = await s.call_tool(
                        "orchestration_query", {"sql": "SELECT count(*) FROM range(5000000000000)"}
                    )
                done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                with anyio.fail_after(60):  # the query process has started
                    while not _children(server):
                        await anyio.sleep(0.05)
                worker = _children(server)
                started = time.monotonic()
                with anyio.fail_after(30):  # not queued behind the query
                    tasks = await s.call_tool("orchestration_tasks", {"limit": 2})
                seen["tasks_seconds"] = time.monotonic() - started
                seen["tasks"] = tasks.structured_content
                seen["still_running"] = not done.is_set() and all(
                    Path(f"/proc/{p}").exists() for p in worker
                )
                seen["scope"].cancel()
            with anyio.fail_after(30):  # the cancelled query's process is killed
                while any(Path(f"/proc/{p}").exists() for p in worker):
                    await anyio.sleep(0.05)
            seen["after"] = (
                await s.call_tool("orchestration_query", {"sql": "SELECT 7 AS n"})
            ).structured_content
        return seen

    seen = anyio.run(main)

    assert seen["tasks"]["count"] == 2
    assert seen["still_running"]
    assert "slow" not in seen  # cancelled, never answered
    assert seen["after"]["rows"] == [[7]]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_at_most_two_queries_run_at_once(repo):
    """Each query process may take ~1.3 GB: a flood of calls must not multiply that."""

    async def main() -> tuple[int, list[CallToolResult]]:
        peak = 0
        results: list[CallToolResult] = []
        async with mcp_client(repo, "--query-timeout", "3") as s:
            server = _server_pid(repo)

            async def slow() -> None:
                sql = "SELECT count(*) FROM range(5000000000000)"
                results.append(await s.call_tool("orchestration_query", {"sql": sql}))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for _ in range(4):
                        tg.start_soon(slow)
                    while len(results) < 4:
                        peak = max(peak, len(_children(server)))
                        await anyio.sleep(0.02)
        return peak, results

    peak, results = anyio.run(main)

    assert peak == 2
    assert all(r.is_error for r in results)
    assert {text(r).split(": ", 1)[-1].split(";")[0] for r in results} <= {
        "the query ran past its time limit of 3 s and was stopped",
        "2 queries of this connection are running",
    }


@pytest.mark.slow
def test_mcp_query_time_limit(repo):
    async def main() -> CallToolResult:
        async with mcp_client(repo, "--query-timeout", "1") as s:
            with anyio.fail_after(60):
                return await s.call_tool(
                    "orchestration_query", {"sql": "SELECT count(*) FROM range(5000000000000)"}
                )

    result = anyio.run(main)

    assert result.is_error
    assert text(result).endswith("the query ran past its time limit of 1 s and was stopped")


# --- MCP: arguments and results --------------------------------------------------------------


def test_huge_arguments_are_refused_before_any_work(repo):
    head = git(repo, "rev-parse", "HEAD")

    async def main() -> dict[str, Any]:
        async with mcp_client(repo) as s:
            got: dict[str, Any] = {}
            big = "x" * (100 << 10)
            got["sql"] = await s.call_tool("orchestration_query", {"sql": f"SELECT '{big}'"})
            got["key"] = await s.call_tool(
                "orchestration_task_status_update", {"task": big, "status": "completed"}
            )
            got["nested"] = await s.call_tool(
                "orchestration_sprint_create", {"id": "s-big", "variables": {"goal": big}}
            )
            try:
                await s.call_tool(
                    "orchestration_task_status_update",
                    {"task": "y" * (10 << 20), "status": "blocked"},
                )
            except MCPError as exc:
                got["line"] = (exc.error.code, exc.error.message)
            got["after"] = await s.call_tool("orchestration_tasks", {"limit": 1})
            return got

    got = anyio.run(main)

    assert text(got["sql"]) == "argument sql is 102409 bytes; the limit is 64 KiB per string"
    assert text(got["key"]) == "argument task is 102400 bytes; the limit is 64 KiB per string"
    assert (
        text(got["nested"])
        == "argument variables.goal is 102400 bytes; the limit is 64 KiB per string"
    )
    assert got["line"][0] == -32600 and "longer than 1048576 bytes" in got["line"][1]
    assert got["after"].structured_content["count"] == 1  # still serving
    assert git(repo, "rev-parse", "HEAD") == head  # nothing was done
    assert not (repo / "delegation" / "sprints" / "s-big").exists()


def test_no_result_exceeds_the_limit_and_a_cut_says_so():
    """The last guard of every tool call: the longest list is cut to fit, with a flag."""
    rows = [{"task": f"t-{i}", "title": "x" * 300} for i in range(10000)]
    big = CallToolResult(content=[], structured_content={"tasks": rows, "count": len(rows)})
    text_only = CallToolResult(content=[TextContent(type="text", text="y" * (2 << 20))])
    small = CallToolResult(content=[], structured_content={"tasks": rows[:2], "count": 2})

    cut, refused_, kept = _bounded(big), _bounded(text_only), _bounded(small)

    assert _wire_size(cut) <= MAX_RESULT_BYTES
    data = cut.structured_content
    assert data["truncated"] is True and data["count"] == len(data["tasks"]) > 1000
    assert data["tasks"] == rows[: data["count"]]
    assert json.loads(text(cut)) == data  # the text copy is the same, compact
    assert refused_.is_error and "over the 1 MiB limit" in text(refused_)
    assert kept.structured_content == {"tasks": rows[:2], "count": 2}


def test_a_resource_larger_than_the_limit_is_an_error(repo, orchsync):
    path = repo / task_path("phase-6-integration")
    path.write_text(path.read_text("utf-8") + "\n" + "z" * (600 << 10) + "\n", "utf-8")
    assert orchsync(repo, "sync").exit_code == 0

    async def main() -> str:
        async with mcp_client(repo) as s:
            try:
                await s.read_resource("orchsync://task/phase-6-integration")
            except MCPError as exc:
                return exc.error.message
            return "read"

    assert "resources are served up to 512 KiB" in anyio.run(main)


# --- MCP: malformed JSON-RPC on the wire -----------------------------------------------------


class RawServer:
    """`orchsync mcp` as a child process, spoken to in raw bytes on stdin."""

    def __init__(self, repo: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchsync", "--repo", str(repo), "mcp", "--tools", "all"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
            cwd=str(repo),
        )

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def ask(self, data: bytes) -> dict[str, Any]:
        """Send one line, read one reply line (a reply that never comes fails by timeout)."""
        self.send(data)
        assert self.proc.stdout is not None
        reply: list[bytes] = []
        reader = threading.Thread(target=lambda: reply.append(self.proc.stdout.readline()))
        reader.start()
        reader.join(timeout=30)
        assert reply and reply[0], f"no reply to {data[:80]!r}"
        return json.loads(reply[0])

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)


def test_malformed_json_rpc_gets_errors_and_the_server_keeps_serving(repo):
    server = RawServer(repo)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    try:
        replies = {
            "not json": server.ask(b"{not json\n"),
            "not utf-8": server.ask(b'{"jsonrpc": "2.0", "id": 1, "method": "\xff\xfe"}\n'),
            "too deep": server.ask(b"[" * 100000 + b"\n"),
            "no method or id": server.ask(b'{"jsonrpc":"2.0"}\n'),
            "method not a string": server.ask(b'{"jsonrpc":"2.0","id":7,"method":5}\n'),
            "wrong version": server.ask(b'{"jsonrpc":"1.0","id":"a","method":"ping"}\n'),
            "a batch": server.ask(b'[{"jsonrpc":"2.0","id":8,"method":"ping"}]\n'),
            "a number": server.ask(b"42\n"),
            "too long": server.ask(
                b'{"jsonrpc":"2.0","id":9,"method":"ping","params":{"x":"'
                + b"x" * (2 << 20)
                + b'"}}\n'
            ),
        }
        server.send(b"\n   \n")  # blank lines: no reply
        hello = server.ask(json.dumps(initialize).encode() + b"\n")
        server.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "orchestration_query", "arguments": {"sql": "SELECT 42 AS x"}},
        }
        answer = server.ask(json.dumps(call).encode() + b"\n")
    finally:
        code = server.close()

    codes = {what: (r["id"], r["error"]["code"]) for what, r in replies.items()}
    assert codes == {
        "not json": (None, -32700),
        "not utf-8": (None, -32700),
        "too deep": (None, -32700),
        "no method or id": (None, -32600),
        "method not a string": (7, -32600),
        "wrong version": ("a", -32600),
        "a batch": (None, -32600),
        "a number": (None, -32600),
        "too long": (9, -32600),
    }
    assert hello["id"] == 1 and hello["result"]["serverInfo"]["name"] == "orchsync"
    assert answer["result"]["structuredContent"]["rows"] == [[42]]
    assert code == 0
