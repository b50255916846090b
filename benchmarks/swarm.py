"""A swarm of coding agents writing at once: N MCP clients, each with its own server.

    python benchmarks/swarm.py /tmp/c10k [--agents 20] [--writes 25]

Each agent is an official `mcp` client (`ClientSession`) that introduces itself by name
(`agent-01`, ...) to an `orchsync mcp` server process of its own, as coding agents run
them, and makes `--writes` writes to a task of its own, alternating status changes
(`orchestration_task_status_update`) and session notes (`orchestration_session_note`),
all agents at once, while `orchsync watch` runs (started here if none is). Then it checks
that nothing was lost: every write answered without a tool error and with a commit,
every commit names the agent that made it (`Orchsync-Agent`), each task ends in the
status its agent set last and each session holds every note its agent wrote.

Reports p50 / p95 write latency (call to answer, as the agent sees it) and writes per
second over the whole swarm. From Python: `run_swarm(repo, agents, writes)`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("in_progress", "blocked", "in_progress", "completed")


@dataclass
class SwarmResult:
    agents: int
    writes: int
    latencies: list[float] = field(default_factory=list)  # ms, every write
    spans: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    misattributed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    commits: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)

    @property
    def per_second(self) -> float:
        """Writes per second from the first write's start to the last one's answer (the
        servers' start-up before them is not the swarm's writing)."""
        if not self.spans:
            return 0.0
        span = max(e for _, e in self.spans) - min(s for s, _ in self.spans)
        return len(self.spans) / span if span > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{self.agents} agents x {self.writes} writes: {len(self.latencies)} answered in "
            f"{self.seconds:.1f} s with start-up ({self.per_second:.1f} writes/s), latency p50 "
            f"{self.p50:.0f} ms p95 {self.p95:.0f} ms; {len(self.errors)} tool errors, "
            f"{len(self.lost)} lost, {len(self.misattributed)} commits not naming their agent"
        )


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, nearest rank (the value at or above q% of the samples)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _tasks(root: Path, n: int) -> list[str]:
    codes = sorted(p.parent.name for p in (root / "delegation/sprints").glob("*/*/TASK.md"))
    step = max(1, len(codes) // n)
    return codes[::step][:n]


async def _agent(
    root: Path,
    name: str,
    task: str,
    writes: int,
    result: SwarmResult,
    made: list[dict],
    first: int = 0,
) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp_types import Implementation

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "orchsync", "--repo", str(root), "mcp", "--tools", "core"],
        env={k: v for k, v in os.environ.items() if k != "ORCHSYNC_NO_DAEMON"},
        cwd=str(root),
    )
    with open(os.devnull, "w") as quiet:
        async with (
            stdio_client(params, errlog=quiet) as (read, write),
            ClientSession(read, write, client_info=Implementation(name=name, version="1")) as s,
        ):
            await s.initialize()
            for n in range(writes):
                if n % 2 == 0:
                    tool = "orchestration_task_status_update"
                    args: dict[str, Any] = {"task": task, "status": STATUSES[(first + n // 2) % 4]}
                else:
                    tool = "orchestration_session_note"
                    args = {"text": f"{name} note {n}", "target": f"T:{task}"}
                start = time.perf_counter()
                answer = await s.call_tool(tool, args)
                end = time.perf_counter()
                result.latencies.append((end - start) * 1000)
                result.spans.append((start, end))
                if answer.is_error:
                    text = " ".join(getattr(c, "text", "") for c in answer.content)
                    result.errors.append(f"{name} {tool}: {text}")
                    continue
                data = answer.structured_content or {}
                made.append({"agent": name, "tool": tool, "args": args, "result": data})


def _daemon_running(root: Path) -> bool:
    try:
        state = json.loads((root / ".git/orchsync/daemon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        state.get("state") in ("watching", "waiting")
        and (root / ".git/orchsync/daemon.sock").exists()
    )


def run_swarm(root: Path, agents: int = 20, writes: int = 25) -> SwarmResult:
    """Run the swarm on the repository at `root` (a daemon is started if none runs)."""
    import anyio

    root = root.resolve()
    own = None
    if not _daemon_running(root):
        own = subprocess.Popen(
            [sys.executable, "-m", "orchsync", "--repo", str(root), "watch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while not _daemon_running(root):
            if time.monotonic() > deadline or own.poll() is not None:
                raise RuntimeError("orchsync watch did not start")
            time.sleep(0.1)
    before = _head(root)
    tasks = _tasks(root, agents)
    result = SwarmResult(agents=len(tasks), writes=writes)
    made: list[dict] = []

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for i, task in enumerate(tasks, 1):
                first = _first_change(root, task)
                group.start_soon(_agent, root, f"agent-{i:02d}", task, writes, result, made, first)

    start = time.perf_counter()
    try:
        anyio.run(main)
        result.seconds = time.perf_counter() - start
    finally:
        if own is not None:
            own.terminate()
            own.wait(60)
    _check(root, before, tasks, made, result)
    return result


def _first_change(root: Path, task: str) -> int:
    """Where in STATUSES an agent starts so that its first status write changes the task
    (an earlier run on the same corpus may have left it in STATUSES[0]): every write is
    then a change that owes a commit, and a write answered without one is lost."""
    path = next((root / "delegation/sprints").glob(f"*/{task}/TASK.md"))
    current = path.read_text(encoding="utf-8")
    return 1 if f"\nstatus: {STATUSES[0]}\n" in current else 0


def _head(root: Path) -> str:
    return _git(root, "rev-parse", "HEAD").strip()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def _check(
    root: Path, before: str, tasks: list[str], made: list[dict], result: SwarmResult
) -> None:
    """Nothing lost: a commit per write naming its agent, the last status, every note."""
    log = _git(root, "log", "--format=%H%x00%B%x1e", f"{before}..HEAD")
    agents_of: dict[str, set[str]] = {}
    for record in log.split("\x1e"):
        commit, _, body = record.strip().partition("\x00")
        if commit:
            agents_of[commit] = {
                line.split(": ", 1)[1].strip()
                for line in body.splitlines()
                if line.startswith("Orchsync-Agent: ")
            }
    result.commits = len(agents_of)
    for write in made:
        commit = write["result"].get("commit")
        if not commit:
            # its bytes are checked below (status, notes); here, whose commit holds them
            said = write["result"].get("blocked") or write["result"].get("message") or ""
            result.misattributed.append(
                f"{write['agent']} {write['tool']}: answered without a commit of its own ({said})"
            )
        elif write["agent"] not in agents_of.get(commit, set()):
            result.misattributed.append(f"{commit[:12]} ({write['agent']})")
    for i, task in enumerate(tasks, 1):
        name = f"agent-{i:02d}"
        mine = [w for w in made if w["agent"] == name]
        statuses = [w["args"]["status"] for w in mine if "status" in w["args"]]
        path = next((root / "delegation/sprints").glob(f"*/{task}/TASK.md"))
        text = path.read_text(encoding="utf-8")
        if statuses and f"status: {statuses[-1]}" not in text:
            result.lost.append(f"{task}: not in status {statuses[-1]}")
        notes = [w["args"]["text"] for w in mine if "text" in w["args"]]
        sessions = "".join(
            p.read_text(encoding="utf-8") for p in (root / "delegation/sessions").glob("*.md")
        )
        result.lost.extend(f"{name}: note {n!r}" for n in notes if n not in sessions)
    if _git(root, "status", "--porcelain", "--", "delegation"):
        result.lost.append("edits left uncommitted under delegation/")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("repo", type=Path)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--writes", type=int, default=25)
    args = ap.parse_args(argv)
    result = run_swarm(args.repo, args.agents, args.writes)
    print(result.summary())
    for line in (result.errors + result.lost + result.misattributed)[:20]:
        print("  ", line)
    return 0 if not (result.errors or result.lost or result.misattributed) else 1


if __name__ == "__main__":
    sys.exit(main())
