"""Measure orchsync against its performance budget and write benchmarks/RESULTS.md.

    python benchmarks/run.py [--size 10000] [--history 200] [--runs 5] [--dest DIR]
                             [--only parse,reindex,init,sync,queries,entity,search,agent,
                                     daemon,swarm,board,sinks]
                             [--peer backlog] [--out FILE] [--update]
    python benchmarks/run.py --smoke        # N=500, one run each: CI checks it works, not its speed

Every command is timed as a whole process (Python start-up included, bytecode compiled as
an installed package has it), the way an agent in a loop pays for it, several times; the
table shows median, p95, min and max, CPU time, and the target. A figure with 10 samples
or more meets its target on p95, one with fewer on its median; the mark sits on the value
judged. Figures compared with another program (`git`, Backlog.md) are measured in the same
run, alternating, and their ratio is a row of its own. A figure over its target is
reported, never hidden. Nothing here reaches a network (but `npm install` for `--peer`).

RESULTS.md holds one section per corpus size (`## 10,000 tasks`, `## 100,000 tasks`): a
run writes the section of its `--size` and keeps the others. `--update` rewrites only the
rows of the figures measured in that section (and notes when and how). RESULTS.md is only
ever written by this script.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import CorpusInfo, build_corpus  # noqa: E402

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "orchsync"
ORCHSYNC = [sys.executable, "-m", "orchsync"]
# Whole processes as an installed package runs them: bytecode written and used.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(GIT_CONFIG_NOSYSTEM="1", ORCHSYNC_NO_DAEMON="1")
WITH_DAEMON = {k: v for k, v in ENV.items() if k != "ORCHSYNC_NO_DAEMON"}
P95_FROM = 10  # samples from which a figure is judged on its p95
STEPS = "parse,reindex,init,sync,queries,entity,search,agent,daemon,swarm,board,sinks"


@dataclass
class Figure:
    name: str
    unit: str = "ms"
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    target: float | None = None
    note: str = ""
    higher_is_better: bool = False  # a ratio against a slower program: "≥ target"

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)

    @property
    def judged(self) -> str:
        return "p95" if len(self.samples) >= P95_FROM else "median"

    def met(self) -> bool | None:
        if self.target is None or not self.samples:
            return None
        value = self.p95 if self.judged == "p95" else self.median
        if self.higher_is_better:  # the worse end of a ratio is its low end
            value = percentile(self.samples, 5) if self.judged == "p95" else self.median
            return value >= self.target
        return value <= self.target

    def row(self) -> str:
        if not self.samples:
            return f"| {self.name} | – | – | – | – | – | {self._target()} | {self.note} |"
        mark = {None: "", True: " ✅", False: " ❌"}[self.met()]
        # the mark sits on the value judged: a ratio's low end (p5, nearest rank: the min
        # below 40 samples) sits in the min column
        low_end = self.higher_is_better and self.judged == "p95"
        med = f"{_num(self.median)}{mark if self.judged == 'median' else ''}"
        p95 = f"{_num(self.p95)}{mark if self.judged == 'p95' and not low_end else ''}"
        low = f"{_num(min(self.samples))}{mark if low_end else ''}"
        cpu = f"{statistics.median(self.cpu):.0f}" if self.cpu else "–"
        return (
            f"| {self.name} | {med} | {p95} | {low} | "
            f"{_num(max(self.samples))} | {cpu} | {self._target()} | {self.note} |"
        )

    def _target(self) -> str:
        if self.target is None:
            return "–"
        sign = "≥" if self.higher_is_better else "≤"
        unit = "×" if self.unit == "×" else f" {self.unit}"
        return f"{sign} {_num(self.target)}{unit}"


def _num(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 10 and value != int(value) else f"{value:.0f}"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def run_measured(
    args: Sequence[str],
    cwd: Path | None = None,
    ok_codes: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
) -> tuple[float, float, int, str]:
    """(wall ms, CPU ms, peak RSS KiB, stdout) of one child process, its usage from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(args), cwd=cwd, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = proc.stdout.read()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok_codes:
        raise RuntimeError(
            f"{' '.join(args)} exited {proc.returncode}:\n{err.decode(errors='replace')[-2000:]}"
        )
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    return wall, cpu, usage.ru_maxrss, out.decode(errors="replace")


def repeat(fig: Figure, runs: int, fn: Callable[[], tuple[float, float]]) -> Figure:
    for _ in range(runs):
        wall, cpu = fn()
        fig.samples.append(wall)
        fig.cpu.append(cpu)
    return fig


def cli(
    repo: Path, *args: str, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None
) -> tuple[float, float, int, str]:
    return run_measured([*ORCHSYNC, "--repo", str(repo), *args], ok_codes=ok, env=env)


def git(repo: Path, *args: str) -> tuple[float, float, int, str]:
    return run_measured(["git", "-C", str(repo), *args])


def ratio(name: str, ours: Figure, theirs: Figure, target: float, **kw: object) -> Figure:
    """A row of per-pair ratios ours / theirs (pairs measured one after the other)."""
    fig = Figure(name, unit="×", target=target, **kw)  # type: ignore[arg-type]
    fig.samples = [a / b for a, b in zip(ours.samples, theirs.samples, strict=False) if b]
    return fig


# --- figures -------------------------------------------------------------------------------


def bench_parse(info: CorpusInfo, runs: int) -> list[Figure]:
    from orchsync.parse.checks import cross_file
    from orchsync.parse.worktree import load_tree

    fig = Figure("parse + validate the tree (library call)", target=2000)

    def once() -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        files = load_tree(info.root)
        cross_file(files)
        return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000

    return [repeat(fig, runs, once)]


def bench_reindex(info: CorpusInfo, runs: int, size: int, base_10k: float | None) -> list[Figure]:
    big = size > 10_000
    from_files = Figure(
        "`orchsync reindex --from-files`",
        target=5000 if not big else (11 * base_10k if base_10k else None),
    )
    from_git = Figure(f"`orchsync reindex` (git history, {info.commits} commits)")
    rss = Figure("peak RSS of `orchsync reindex`", unit="MiB", target=1024 if big else None)
    rss_files = Figure(
        "peak RSS of `orchsync reindex --from-files`", unit="MiB", target=1024 if big else None
    )
    for _ in range(runs):
        wall, cpu, peak, _ = cli(info.root, "reindex", "--from-files")
        from_files.samples.append(wall)
        from_files.cpu.append(cpu)
        rss_files.samples.append(peak / 1024)
        wall, cpu, peak, _ = cli(info.root, "reindex")
        from_git.samples.append(wall)
        from_git.cpu.append(cpu)
        rss.samples.append(peak / 1024)
    runtime = info.root / ".git/orchsync"
    size_mib = (runtime / "index.duckdb").stat().st_size / 2**20
    store = runtime / "parsed.sqlite"
    store_mib = store.stat().st_size / 2**20 if store.exists() else 0
    rss.note = f"index file {size_mib:.1f} MiB; parse store {store_mib:.1f} MiB"
    from_git.note = "the first run fills the parse store; the others read it"
    if big:
        from_files.note = (
            f"{from_files.median / base_10k:.1f}× the 10,000-task median ({base_10k:.0f} ms)"
            if base_10k
            else "no 10,000-task figure in this file to compare with"
        )
    return [from_files, from_git, rss, rss_files]


def bench_init(info: CorpusInfo, runs: int) -> list[Figure]:
    """The first snapshot of the whole tree, and `git add -A && git commit` of the same tree,
    in alternation, each on a fresh copy (`git init`, nothing committed)."""
    ours = Figure(
        f"`orchsync init`: first snapshot of {info.files:,} files",
        note="fresh copy each run; indexing left to the first query",
    )
    theirs = Figure("`git add -A && git commit` of the same tree")
    scratch = info.root.parent / f"{info.root.name}-init"
    for n in range(runs):
        for which in ("git", "orchsync") if n % 2 == 0 else ("orchsync", "git"):
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(info.root / "delegation", scratch / "delegation")
            subprocess.run(["git", "init", "-q", "-b", "main", str(scratch)], check=True, env=ENV)
            for key, value in (("user.name", "bench"), ("user.email", "bench@localhost")):
                subprocess.run(["git", "-C", str(scratch), "config", key, value], check=True)
            time.sleep(0.5)  # let the copy's writeback settle
            if which == "git":
                wall, cpu, _, _ = run_measured(
                    ["sh", "-c", "git add -A && git commit -q -m init"], cwd=scratch
                )
                theirs.samples.append(wall)
                theirs.cpu.append(cpu)
            else:
                wall, cpu, _, out = cli(scratch, "init")
                assert "snapshot" in out, out
                ours.samples.append(wall)
                ours.cpu.append(cpu)
    shutil.rmtree(scratch, ignore_errors=True)
    return [ours, theirs, ratio("`orchsync init` ÷ `git add -A && git commit`", ours, theirs, 1.5)]


def bench_sync(info: CorpusInfo, runs: int) -> list[Figure]:
    """Syncs of one edited file: handed to a running daemon, alone, and of the whole tree
    beside `git status`; and a write command without a daemon."""
    handed = Figure(
        "`orchsync sync <one edited file>` in the whole tree (`orchsync watch` running)",
        target=150,
        note="the daemon syncs it (orchsync.watch.client)",
    )
    alone = Figure(
        "`orchsync sync <one edited file>` in the whole tree (no daemon)",
        note="the command syncs itself; the next query indexes",
    )
    path = info.root / info.sample_task_path
    original = path.read_bytes()
    cli(info.root, "sync")  # start from a clean, indexed state
    cli(info.root, "tasks", "--limit", "1")
    with _running_daemon(info.root):
        _edit_and_sync(info, path, original, runs, handed, "daemon", WITH_DAEMON)
    _edit_and_sync(info, path, original, runs, alone, "alone", ENV)
    return [handed, alone, *bench_whole_tree(info, runs), *bench_write(info, runs)]


def bench_whole_tree(info: CorpusInfo, runs: int) -> list[Figure]:
    """`orchsync sync` of the whole tree with one file edited (the README's own command),
    and `git status` of the same tree, in alternation."""
    ours = Figure(
        "`orchsync sync` (whole tree, one file edited, no daemon)",
        note="files whose stat data is unchanged are not read",
    )
    theirs = Figure("`git status` of the same tree")
    path = info.root / info.sample_task_path
    original = path.read_bytes()
    cli(info.root, "sync")  # the stat cache is warm, as after any earlier sync
    for n in range(max(runs, P95_FROM)):
        path.write_bytes(original + f"\n<!-- whole-tree edit {n} -->\n".encode())
        for which in ("git", "orchsync") if n % 2 == 0 else ("orchsync", "git"):
            if which == "git":
                wall, cpu, _, _ = git(info.root, "status", "--porcelain")
                theirs.samples.append(wall)
                theirs.cpu.append(cpu)
            else:
                wall, cpu, _, out = cli(info.root, "sync")
                assert "committed" in out, out
                ours.samples.append(wall)
                ours.cpu.append(cpu)
    path.write_bytes(original)
    cli(info.root, "sync")
    return [ours, theirs, ratio("`orchsync sync` (whole tree) ÷ `git status`", ours, theirs, 2)]


def bench_write(info: CorpusInfo, runs: int) -> list[Figure]:
    fig = Figure(
        "`orchsync task status T:x <status>` (no daemon)",
        target=250,
        note="commits; the next query indexes",
    )
    for n in range(max(runs, P95_FROM)):
        status = ("in_progress", "blocked")[n % 2]
        wall, cpu, _, _ = cli(info.root, "task", "status", info.sample_task, status)
        fig.samples.append(wall)
        fig.cpu.append(cpu)
    cli(info.root, "tasks", "--limit", "1")  # index what was committed
    return [fig]


@contextlib.contextmanager
def _running_daemon(root: Path) -> Iterator[None]:
    """`orchsync watch` with a long quiet window (its own batches must not take the
    measured edits first), from when it watches until the block ends."""
    proc = subprocess.Popen(
        [*ORCHSYNC, "--repo", str(root), "watch", "--debounce", "10000", "--max-latency", "20000"],
        env=WITH_DAEMON,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _daemon_watching(root), 300)
        yield
    finally:
        proc.terminate()
        proc.wait(60)


def _daemon_watching(root: Path) -> bool:
    """The daemon has bound its socket and finished its start-up catch-up."""
    try:
        state = json.loads((root / ".git/orchsync/daemon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return state.get("state") == "watching" and (root / ".git/orchsync/daemon.sock").exists()


def _edit_and_sync(
    info: CorpusInfo,
    path: Path,
    original: bytes,
    runs: int,
    fig: Figure,
    tag: str,
    env: dict[str, str],
) -> None:
    for n in range(runs):
        path.write_bytes(original + f"\n<!-- bench edit {tag} {n} -->\n".encode())
        wall, cpu, _, out = cli(info.root, "sync", info.sample_task_path, env=env)
        assert "committed" in out, out
        fig.samples.append(wall)
        fig.cpu.append(cpu)


def bench_queries(info: CorpusInfo, runs: int, target: float) -> list[Figure]:
    cli(info.root, "tasks", "--limit", "1")  # bring the index up to date first
    figs = []
    for name, args in (
        ("`orchsync tasks --status pending --json`", ["tasks", "--status", "pending", "--json"]),
        (
            '`orchsync query "select count(*) ..."`',
            ["query", "select status, count(*) from orchestration_tasks group by 1"],
        ),
    ):
        cold = Figure(name + " (first call)", target=None, note="after an index change")
        warm = Figure(name, target=target)
        cli(info.root, "sync")
        w, c, _, _ = cli(info.root, *args)
        cold.samples.append(w)
        cold.cpu.append(c)
        repeat(warm, runs, lambda a=args: cli(info.root, *a)[:2])
        figs += [warm, cold]
    help_fig = repeat(
        Figure("`orchsync --help`", target=80), runs, lambda: cli(info.root, "--help")[:2]
    )
    return [*figs, help_fig]


SEARCHES = (
    "billing rate limiter",
    "harden paymnts token",  # a typo
    "csv expo",  # a prefix
    "cahce layer mobile",  # a typo
    "retry queue under load",
    "feature flag rollout",
    "structured loging",  # a typo
)


def bench_search(info: CorpusInfo, runs: int) -> list[Figure]:
    """`orchsync search`: a different query each run, with no stored answer to reuse (typos
    and a prefix among them), then one query repeated (answered from the read cache)."""
    cli(info.root, "search", "warm up the index", "--json")
    fresh = Figure(
        "`orchsync search TEXT --json` (a new query each run)",
        target=150,
        note="BM25 over the term table; typo and prefix queries included",
    )
    for i in range(runs):
        # stored answers of read commands: none may answer this query (an earlier run's would)
        shutil.rmtree(info.root / ".git" / "orchsync" / "cache", ignore_errors=True)
        w, c, _, _ = cli(info.root, "search", SEARCHES[i % len(SEARCHES)], "--json")
        fresh.samples.append(w)
        fresh.cpu.append(c)
    again = Figure("`orchsync search TEXT --json` (the same query again)", target=150)
    repeat(again, runs, lambda: cli(info.root, "search", SEARCHES[0], "--json")[:2])
    served = Figure(
        "`orchsync search TEXT --json` (a new query each run, `orchsync watch` running)",
        target=150,
        note="the daemon answers from its DuckDB instance (orchsync.watch.client)",
    )
    with _running_daemon(info.root):
        cli(info.root, "search", "warm up the daemon", "--json", env=WITH_DAEMON)
        for i in range(max(runs, P95_FROM)):
            shutil.rmtree(info.root / ".git" / "orchsync" / "cache", ignore_errors=True)
            query = SEARCHES[i % len(SEARCHES)]
            w, c, _, _ = cli(info.root, "search", query, "--json", env=WITH_DAEMON)
            served.samples.append(w)
            served.cpu.append(c)
    return [fresh, again, served]


def bench_entity(info: CorpusInfo, runs: int, size: int) -> list[Figure]:
    """Reads of one entity: what they cost must not grow with the repository."""
    cli(info.root, "tasks", "--limit", "1")
    target = f"T:{info.sample_task}"
    show = Figure("`orchsync show T:x`", target=150 if size <= 10_000 else 200)
    log = Figure("`orchsync log T:x`", note="the index's events of one entity")
    n = max(runs, P95_FROM)
    repeat(show, n, lambda: cli(info.root, "show", target)[:2])
    repeat(log, n, lambda: cli(info.root, "log", target)[:2])
    return [show, log]


def bench_agent(info: CorpusInfo, runs: int) -> list[Figure]:
    target = f"T:{info.sample_task}"
    cold = Figure("`orchsync agent init T:x --format json` (cold)", target=300)
    cached = Figure("`orchsync agent init T:x --format json` (cached)", target=100)
    for _ in range(runs):
        w, c, _, _ = cli(info.root, "agent", "init", target, "--format", "json", "--no-cache")
        cold.samples.append(w)
        cold.cpu.append(c)
    cli(info.root, "agent", "init", target, "--format", "json")
    repeat(
        cached,
        max(runs, P95_FROM),
        lambda: cli(info.root, "agent", "init", target, "--format", "json")[:2],
    )
    return [cold, cached]


def bench_daemon(
    info: CorpusInfo,
    edits: int,
    idle_seconds: float,
    debounce_ms: int,
    starts: int,
    idle_after: float = 35.0,
) -> list[Figure]:
    """First starts without an index, each after an `orchsync reindex` of the same tree (the
    target is that reindex + 1 s, so both come from this run); then, from the last start,
    write -> event latency, then idle RSS and CPU."""
    from orchsync import query
    from orchsync.model import content_hash
    from orchsync.repo import find_repo

    repo = find_repo(info.root)
    cli(info.root, "sync")
    reindex = Figure("`orchsync reindex` beside each first start")
    first = Figure(f"daemon: first start without an index ({info.tasks:,} tasks)")
    latency = Figure(
        f"daemon: write -> event visible ({edits} edits)",
        target=debounce_ms + 100,
        note=f"debounce {debounce_ms} ms",
    )
    rss = Figure(f"daemon idle RSS ({info.tasks:,} tasks)", unit="MiB", target=150)
    cpu_fig = Figure(f"daemon idle CPU over {idle_seconds:.0f} s", unit="%", target=0.2)
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _start in range(starts):
            if proc is not None:
                proc.terminate()
                proc.wait(60)
            reindex.samples.append(cli(info.root, "reindex")[0])
            for name in ("index.duckdb", "index.duckdb.wal"):
                (info.root / ".git/orchsync" / name).unlink(missing_ok=True)
            start = time.perf_counter()
            proc = subprocess.Popen(
                [*ORCHSYNC, "--repo", str(info.root), "watch", "--debounce", str(debounce_ms)],
                env=WITH_DAEMON,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _wait_for(lambda: _daemon_watching(info.root), 600, step=0.02)
            first.samples.append((time.perf_counter() - start) * 1000)
        first.target = reindex.median + 1000
        first.note = (
            f"until it watches; {starts} starts, each after an `orchsync reindex` "
            f"(median {reindex.median:.0f} ms); target: that + 1 s"
        )
        assert proc is not None
        time.sleep(1.0)
        path = info.root / info.sample_task_path
        original = path.read_bytes()
        for n in range(edits):
            data = original + f"\n<!-- latency probe {n} -->\n".encode()
            digest = content_hash(data)
            start = time.perf_counter()
            path.write_bytes(data)

            def seen(d: str = digest) -> bool:
                with query.reader(repo) as con:
                    return bool(
                        con.execute("SELECT 1 FROM events WHERE hash = ? LIMIT 1", [d]).fetchone()
                    )

            _wait_for(seen, 30, step=0.01)
            latency.samples.append((time.perf_counter() - start) * 1000)
            time.sleep(0.05)
        # Idle: from when the daemon has given back what its last syncs used (30 s after).
        time.sleep(idle_after)
        before = _proc_cpu(proc.pid)
        time.sleep(idle_seconds)
        after = _proc_cpu(proc.pid)
        cpu_fig.samples.append((after - before) / idle_seconds * 100)
        rss.samples.append(_proc_rss_kib(proc.pid) / 1024)
        cpu_fig.note = f"from {idle_after:.0f} s after the last sync; utime + stime in ticks"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)
    return [reindex, first, latency, rss, cpu_fig]


def bench_swarm(info: CorpusInfo, agents: int, writes: int) -> list[Figure]:
    from swarm import run_swarm

    cli(info.root, "sync")
    result = run_swarm(info.root, agents, writes)
    label = f"{agents} MCP agents × {writes} writes"
    latency = Figure(
        f"swarm: write latency ({label}, `orchsync watch` running)",
        note="status changes and session notes, each agent its own `orchsync mcp`",
    )
    latency.samples = list(result.latencies)
    rate = Figure(f"swarm: writes per second ({label})", unit="writes/s")
    rate.samples = [result.per_second]
    rate.note = (
        f"{len(result.latencies)} writes in {result.seconds:.1f} s; {result.commits} commits"
    )
    wrong = Figure(
        "swarm: writes lost, tool errors, commits not naming their agent",
        unit="writes",
        target=0,
        note="; ".join((result.errors + result.lost + result.misattributed)[:3]),
    )
    wrong.samples = [float(len(result.errors) + len(result.lost) + len(result.misattributed))]
    return [latency, rate, wrong]


def bench_peer(info: CorpusInfo, runs: int) -> list[Figure]:
    from peer_backlog import peer_figures

    figs: list[Figure] = []
    reads = peer_figures(info.root, max(runs, P95_FROM), task=info.sample_task)
    names = {
        "list": '`backlog task list -s "To Do" --plain` / `orchsync tasks --status pending --json`',
        "show": "`backlog task view ID --plain` / `orchsync show T:x`",
        "agent init": "`backlog task view ID --plain` / `orchsync agent init T:x`",
    }
    for read, (theirs, ours) in reads.items():
        a = Figure(f"Backlog.md 1.52: {read} ({names[read].split(' / ')[0]})")
        a.samples = theirs
        b = Figure(f"orchsync: {read} ({names[read].split(' / ')[1]})")
        b.samples = ours
        figs += [a, b, ratio(f"Backlog.md ÷ orchsync: {read}", a, b, 50, higher_is_better=True)]
    return figs


def _wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(step)


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench_sinks(info: CorpusInfo, edits: int, debounce_ms: int) -> list[Figure]:
    """Commit -> webhook receiver latency with the daemon delivering (`orchsync.sinks`).

    A receiver on 127.0.0.1 in this process records when each event arrives; the latency
    of an edit is the arrival of its first event minus its commit time (the event's
    `emitted_at`, the commit's `Orchsync-Time`: the same clock). A JSON Lines sink runs
    beside it, as a team would have both. The sinks are removed from the corpus afterwards.
    """
    import hashlib
    import hmac
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from orchsync.model import content_hash

    secret = "bench-secret"
    arrivals: dict[str, float] = {}  # content hash -> arrival (epoch seconds)
    emitted: dict[str, float] = {}  # content hash -> commit time (epoch seconds)
    bad = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            now = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if self.headers.get("X-Orchsync-Signature") != sig:
                bad.append(1)
            for e in json.loads(body)["events"]:
                if e.get("hash"):  # the edit's events carry the new bytes' hash
                    arrivals.setdefault(e["hash"], now)
                    at = dt.datetime.fromisoformat(e["emitted_at"].replace("Z", "+00:00"))
                    emitted.setdefault(e["hash"], at.timestamp())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = info.root / "delegation/orchsync.yml"
    original_config = config.read_bytes()
    trail = info.root.parent / f"{info.root.name}-sink-events.jsonl"
    config.write_bytes(
        original_config
        + (
            f"\nsinks:\n  - name: bench-hook\n    type: webhook\n"
            f"    url: http://127.0.0.1:{server.server_address[1]}/events\n"
            f"    secret_env: ORCHSYNC_BENCH_SECRET\n"
            f"  - name: bench-trail\n    type: jsonl\n    path: {trail}\n"
        ).encode()
    )
    env = {**ENV, "ORCHSYNC_BENCH_SECRET": secret}
    cli(info.root, "sync")
    proc = subprocess.Popen(
        [*ORCHSYNC, "--repo", str(info.root), "watch", "--debounce", str(debounce_ms)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latency = Figure(
        f"sinks: commit -> webhook receiver ({edits} edits, daemon)",
        target=1000,
        note="webhook + JSON Lines sinks; from the commit time to the receiver",
    )
    p95 = Figure("sinks: p95 of the same", target=1000)
    whole = Figure(
        "sinks: write -> webhook receiver", note=f"includes the debounce ({debounce_ms} ms)"
    )
    path = info.root / info.sample_task_path
    original = path.read_bytes()
    try:
        _wait_for(lambda: _daemon_watching(info.root), 120)
        time.sleep(1.0)
        for n in range(edits):
            data = original + f"\n<!-- sink latency probe {n} -->\n".encode()
            digest = content_hash(data)
            written = time.time()
            path.write_bytes(data)
            _wait_for(lambda d=digest: d in arrivals, 60, step=0.01)
            latency.samples.append((arrivals[digest] - emitted[digest]) * 1000)
            whole.samples.append((arrivals[digest] - written) * 1000)
            time.sleep(0.05)
        ordered = sorted(latency.samples)
        p95.samples.append(ordered[max(0, int(len(ordered) * 0.95) - 1)])
        assert not bad, "bad signatures"
    finally:
        proc.terminate()
        proc.wait(30)
        server.shutdown()
        path.write_bytes(original)
        config.write_bytes(original_config)
        cli(info.root, "sync")
        shutil.rmtree(info.root / ".git/orchsync/sinks", ignore_errors=True)
        trail.unlink(missing_ok=True)
    return [latency, p95, whole]


# --- report ----------------------------------------------------------------------------------


def bench_board(info: CorpusInfo, runs: int) -> list[Figure]:
    """Server time of the board's pages (`orchsync board`), in-process through Starlette's
    TestClient: the biggest sprint's board (HTML and JSON) and the activity page (200 events)."""
    from starlette.testclient import TestClient

    from orchsync.faces.board.app import create_app
    from orchsync.repo import find_repo

    port = 8765
    app = create_app(find_repo(info.root), host="127.0.0.1", port=port, csrf="bench")
    client = TestClient(app, base_url=f"http://127.0.0.1:{port}")
    cli(info.root, "tasks", "--limit", "1")  # bring the index up to date first
    sprints = client.get("/board.json").json()["sprints"]
    biggest = max(sprints, key=lambda s: s["tasks"])
    sprint, size = biggest["sprint"], biggest["tasks"]

    def timed(url: str) -> Callable[[], tuple[float, float]]:
        def once() -> tuple[float, float]:
            start, cpu = time.perf_counter(), time.process_time()
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.text[:500])
            return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000

        return once

    pages = [
        (f"board: `/?sprint=…` ({size} tasks, HTML)", f"/?sprint={sprint}", 100),
        (f"board: `/board.json?sprint=…` ({size} tasks)", f"/board.json?sprint={sprint}", 100),
        ("board: `/activity` (first 200 events, HTML)", "/activity", 100),
        ("board: `/activity.json` (first 200 events)", "/activity.json", 100),
        ("board: `/task/<code>` (task page, git history)", f"/task/{info.sample_task}", None),
    ]
    figs = []
    for name, url, target in pages:
        first = timed(url)()
        fig = Figure(name, target=target, note=f"server time, warm; first call {first[0]:.0f} ms")
        figs.append(repeat(fig, runs, timed(url)))
    return figs


# --- report ----------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
        f"{platform.system()} {platform.release()}; load average {load}"
    )


TITLE = "# orchsync benchmark results"
PREAMBLE = (
    "Written by `benchmarks/run.py` (see benchmarks/README.md), never by hand. Wall ms of "
    "whole processes unless marked; a figure with 10 samples or more is judged on its p95, "
    "one with fewer on its median (the mark sits on the value judged)."
)
HEADER = "| figure | median | p95 | min | max | CPU | target | note |"
RULE = "|---|---|---|---|---|---|---|---|"


def section_title(size: int) -> str:
    return f"## {size:,} tasks"


def split_sections(text: str) -> dict[str, list[str]]:
    """`## ...` heading -> its lines (heading included), in file order."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line.strip(), [line])
        elif current is not None:
            current.append(line)
    return sections


def render(sections: dict[str, list[str]]) -> str:
    def key(title: str) -> int:
        digits = re.sub(r"[^0-9]", "", title)
        return int(digits) if digits else 0

    body = [
        "\n".join(lines).rstrip()
        for _, lines in sorted(sections.items(), key=lambda kv: key(kv[0]))
    ]
    return "\n\n".join([TITLE, PREAMBLE, *body]) + "\n"


def new_section(
    figures: list[Figure], args: argparse.Namespace, info: CorpusInfo, elapsed: float
) -> list[str]:
    corpus = (
        f"an existing corpus at {args.dest}"
        if args.reused
        else f"`benchmarks/corpus.py --tasks {args.size} --history {args.history}`"
    )
    return [
        section_title(args.size),
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- corpus: {info.tasks:,} tasks in {info.sprints} sprints, {info.files:,} files, "
        f"{info.commits:,} commits ({corpus})",
        f"- command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- runs per figure: {args.runs} (at least {P95_FROM} where p95 decides); total time "
        f"{elapsed:.0f} s",
        "",
        HEADER,
        RULE,
        *(f.row() for f in figures),
    ]


def update_section(
    lines: list[str], figures: list[Figure], args: argparse.Namespace, info: CorpusInfo
) -> list[str]:
    """Replace the rows of `figures` in a section (new ones are appended), and add a line to
    its header saying when and how they were measured."""
    top = next(i for i, line in enumerate(lines) if line.startswith("| figure |"))
    end = next((i for i in range(top + 2, len(lines)) if not lines[i].startswith("|")), len(lines))
    fresh = {f.name: f.row() for f in figures}
    rows = [r for r in lines[top + 2 : end] if r[2:].split(" | ")[0] not in fresh]
    tag = f"- {args.only} figures updated"  # a later update of the same steps replaces it
    note = (
        f"{tag} {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}: "
        f"`python benchmarks/run.py {' '.join(sys.argv[1:])}` "
        f"({info.tasks:,} tasks, {info.commits:,} commits); {machine()}"
    )
    head = [line for line in lines[:top] if not line.startswith(tag)]
    last_note = max(i for i, line in enumerate(head) if line.startswith("- "))
    return [
        *head[: last_note + 1],
        note,
        *head[last_note + 1 :],
        HEADER,
        RULE,
        *rows,
        *fresh.values(),
        *lines[end:],
    ]


def base_10k(out: Path) -> float | None:
    """The 10,000-task median of `reindex --from-files` in `out`, for the 100,000-task ratio."""
    if not out.exists():
        return None
    for line in split_sections(out.read_text(encoding="utf-8")).get(section_title(10_000), []):
        if line.startswith("| `orchsync reindex --from-files` |"):
            value = line.split(" | ")[1].split()[0]
            try:
                return float(value)
            except ValueError:
                return None
    return None


def write_results(
    out: Path, figures: list[Figure], args: argparse.Namespace, info: CorpusInfo, elapsed: float
) -> str:
    sections = split_sections(out.read_text(encoding="utf-8")) if out.exists() else {}
    title = section_title(args.size)
    if args.update and title in sections:
        sections[title] = update_section(sections[title], figures, args, info)
    else:
        sections[title] = new_section(figures, args, info, elapsed)
    text = render(sections)
    out.write_text(text, encoding="utf-8")
    return text


def compile_package() -> None:
    """Bytecode for the package, as an install writes it (a checkout may have none)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(PACKAGE)],
        env=ENV,
        check=False,
        capture_output=True,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="tasks in the corpus")
    ap.add_argument("--history", type=int, default=200, help="history commits in the corpus")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--dest", type=Path, help="reuse (or build) the corpus here instead of a temp folder"
    )
    ap.add_argument("--only", default=STEPS)
    ap.add_argument("--peer", choices=["backlog"], help="also time Backlog.md 1.52 beside")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument(
        "--update",
        action="store_true",
        help="replace only the measured figures' rows in the section of this --size",
    )
    ap.add_argument("--latency-edits", type=int, default=50)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument(
        "--idle-after", type=float, default=35.0, help="seconds after the last sync before"
    )
    ap.add_argument("--debounce", type=int, default=300)
    ap.add_argument(
        "--daemon-starts", type=int, default=3, help="first starts without an index, each timed"
    )
    ap.add_argument("--swarm-agents", type=int, default=20)
    ap.add_argument("--swarm-writes", type=int, default=25)
    ap.add_argument(
        "--smoke", action="store_true", help="N=500, one run each, short daemon phases (CI)"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.size, args.history, args.runs = 500, 20, 1
        args.latency_edits, args.idle_seconds, args.idle_after = 3, 2.0, 1.0
        args.daemon_starts = 1
        args.swarm_agents, args.swarm_writes = 2, 4
    only = set(args.only.split(","))
    if args.peer:
        only.add("peer")
    started = time.perf_counter()
    compile_package()
    tmp = None
    if args.dest is None:
        tmp = Path(tempfile.mkdtemp(prefix="orchsync-bench-"))
        args.dest = tmp / "corpus"
    try:
        args.reused = (args.dest / ".git").exists()
        if args.reused:
            info = _existing(args)
        else:
            info = build_corpus(args.dest, tasks=args.size, history=args.history)
        print(
            f"corpus: {info.tasks} tasks, {info.files} files, {info.commits} commits at {info.root}",
            flush=True,
        )
        figures: list[Figure] = []
        steps: list[tuple[str, Callable[[], list[Figure]]]] = [
            ("parse", lambda: bench_parse(info, args.runs)),
            ("reindex", lambda: bench_reindex(info, args.runs, args.size, base_10k(args.out))),
            ("init", lambda: bench_init(info, max(1, args.runs // 2 + 1))),
            ("sync", lambda: bench_sync(info, args.runs)),
            (
                "queries",
                lambda: bench_queries(info, args.runs, 150 if args.size <= 10_000 else 300),
            ),
            ("entity", lambda: bench_entity(info, args.runs, args.size)),
            ("search", lambda: bench_search(info, args.runs)),
            ("agent", lambda: bench_agent(info, args.runs)),
            ("board", lambda: bench_board(info, args.runs)),
            ("peer", lambda: bench_peer(info, args.runs)),
            (
                "daemon",
                lambda: bench_daemon(
                    info,
                    args.latency_edits,
                    args.idle_seconds,
                    args.debounce,
                    args.daemon_starts,
                    args.idle_after,
                ),
            ),
            ("swarm", lambda: bench_swarm(info, args.swarm_agents, args.swarm_writes)),
            ("sinks", lambda: bench_sinks(info, args.latency_edits, args.debounce)),
        ]
        for name, step in steps:
            if name in only:
                print(f"-- {name}", flush=True)
                got = step()
                for f in got:
                    print(f"   {f.name}: median {f.median:.1f} {f.unit}", flush=True)
                figures += got
        text = write_results(args.out, figures, args, info, time.perf_counter() - started)
        print(text)
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _existing(args: argparse.Namespace) -> CorpusInfo:
    """A CorpusInfo for a corpus built earlier (counts read from git and the tree)."""
    root = args.dest
    out = subprocess.run(
        ["git", "-C", str(root), "rev-list", "--count", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    )
    tasks = sorted((root / "delegation/sprints").glob("*/*/TASK.md"))
    with_deps = next(
        (p for p in tasks if "depends_on:" in p.read_text() and "- " in p.read_text()), tasks[0]
    )
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return CorpusInfo(
        root=root,
        tasks=len(tasks),
        sprints=len(list((root / "delegation/sprints").glob("*/SPRINT.md"))),
        agents=0,
        adrs=0,
        bugs=0,
        sessions=0,
        files=sum(1 for _ in (root / "delegation").rglob("*") if _.is_file()),
        commits=int(out.stdout),
        head=head.stdout.strip(),
        tree="",
        seconds=0.0,
        sample_task=with_deps.parent.name,
        sample_task_path=with_deps.relative_to(root).as_posix(),
    )


if __name__ == "__main__":
    sys.exit(main())
