"""Measure orchsync against its performance budget and write benchmarks/RESULTS.md.

    python benchmarks/run.py [--size 10000] [--history 200] [--runs 5] [--dest DIR]
                             [--only parse,reindex,sync,queries,search,agent,daemon,board,sinks]
                             [--out FILE] [--update]
    python benchmarks/run.py --smoke        # N=500, one run each: CI checks it works, not its speed

Every command is timed as a whole process (Python start-up included), the way an agent in
a loop pays for it, several times; the table shows median, min and max, CPU time, and the
target. A figure over its target is reported, never hidden. Nothing here reaches a network.
`--update` rewrites only the rows of the figures measured in an existing RESULTS.md (and
notes when and how), so one step can be measured again without the others.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import CorpusInfo, build_corpus  # noqa: E402

HERE = Path(__file__).resolve().parent
ORCHSYNC = [sys.executable, "-m", "orchsync"]
ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}


@dataclass
class Figure:
    name: str
    unit: str = "ms"
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    target: float | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def row(self) -> str:
        if not self.samples:
            return f"| {self.name} | – | – | – | – | {self._target()} | {self.note} |"
        cpu = f"{statistics.median(self.cpu):.0f}" if self.cpu else "–"
        ok = "" if self.target is None else (" ✅" if self.median <= self.target else " ❌")
        return (
            f"| {self.name} | {self.median:.0f}{ok} | {min(self.samples):.0f} | {max(self.samples):.0f} "
            f"| {cpu} | {self._target()} | {self.note} |"
        )

    def _target(self) -> str:
        return "–" if self.target is None else f"≤ {self.target:.0f} {self.unit}"


def run_measured(
    args: Sequence[str], cwd: Path | None = None, ok_codes: tuple[int, ...] = (0,)
) -> tuple[float, float, int, str]:
    """(wall ms, CPU ms, peak RSS KiB, stdout) of one child process, its usage from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(args), cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
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


def cli(repo: Path, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[float, float, int, str]:
    return run_measured([*ORCHSYNC, "--repo", str(repo), *args], ok_codes=ok)


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
    from_files = Figure(
        "`orchsync reindex --from-files`",
        target=5000 if size <= 10_000 else 5000 * 12 * size / 100_000,
    )
    from_git = Figure(f"`orchsync reindex` (git history, {info.commits} commits)")
    rss = Figure("peak RSS of `orchsync reindex`", unit="MiB")
    for _ in range(runs):
        wall, cpu, peak, _ = cli(info.root, "reindex", "--from-files")
        from_files.samples.append(wall)
        from_files.cpu.append(cpu)
        wall, cpu, peak, _ = cli(info.root, "reindex")
        from_git.samples.append(wall)
        from_git.cpu.append(cpu)
        rss.samples.append(peak / 1024)
    size_mib = info.root.joinpath(".git/orchsync/index.duckdb").stat().st_size / 2**20
    rss.note = f"index file {size_mib:.1f} MiB"
    if size > 10_000 and base_10k:
        from_files.note = f"{from_files.median / base_10k:.1f}× the 10k time (≤ 12×)"
    return [from_files, from_git, rss]


def bench_first_sync(info: CorpusInfo) -> list[Figure]:
    """`orchsync init` of a fresh clone-less copy: every file of the tree in one commit."""
    fig = Figure(
        f"`orchsync init`: {info.files:,} new files in one commit",
        note="one run; includes indexing",
    )
    fresh = info.root.parent / f"{info.root.name}-fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(info.root / "delegation", fresh / "delegation")
    subprocess.run(["git", "init", "-q", "-b", "main", str(fresh)], check=True, env=ENV)
    try:
        wall, cpu, _, out = cli(fresh, "init")
        assert "snapshot" in out, out
        fig.samples.append(wall)
        fig.cpu.append(cpu)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return [fig]


def bench_sync(info: CorpusInfo, runs: int) -> list[Figure]:
    """One edited file, synced by a write command: handed to a running daemon, and alone."""
    handed = Figure(
        "`orchsync sync <one edited file>` in the whole tree (`orchsync watch` running)",
        target=150,
        note="the daemon syncs it (orchsync.watch.client)",
    )
    alone = Figure(
        "`orchsync sync <one edited file>` in the whole tree (no daemon)",
        note="the command syncs itself",
    )
    path = info.root / info.sample_task_path
    original = path.read_bytes()
    cli(info.root, "sync")  # start from a clean, indexed state
    # A long quiet window: the daemon's own batches must not take the edits first.
    proc = subprocess.Popen(
        [
            *ORCHSYNC,
            "--repo",
            str(info.root),
            "watch",
            "--debounce",
            "10000",
            "--max-latency",
            "20000",
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _daemon_watching(info.root), 120)
        _edit_and_sync(info, path, original, runs, handed, "daemon")
    finally:
        proc.terminate()
        proc.wait(30)
    _edit_and_sync(info, path, original, runs, alone, "alone")
    return [handed, alone]


def _daemon_watching(root: Path) -> bool:
    """The daemon has bound its socket and finished its start-up catch-up."""
    try:
        state = json.loads((root / ".git/orchsync/daemon.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return state.get("state") == "watching" and (root / ".git/orchsync/daemon.sock").exists()


def _edit_and_sync(
    info: CorpusInfo, path: Path, original: bytes, runs: int, fig: Figure, tag: str
) -> None:
    for n in range(runs):
        path.write_bytes(original + f"\n<!-- bench edit {tag} {n} -->\n".encode())
        wall, cpu, _, out = cli(info.root, "sync", info.sample_task_path)
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
    return [fresh, again]


def bench_agent(info: CorpusInfo, runs: int) -> list[Figure]:
    target = f"T:{info.sample_task}"
    cold = Figure("`orchsync agent init T:x --format json` (cold)", target=300)
    cached = Figure("`orchsync agent init T:x --format json` (cached)", target=150)
    for _ in range(runs):
        w, c, _, _ = cli(info.root, "agent", "init", target, "--format", "json", "--no-cache")
        cold.samples.append(w)
        cold.cpu.append(c)
    cli(info.root, "agent", "init", target, "--format", "json")
    repeat(cached, runs, lambda: cli(info.root, "agent", "init", target, "--format", "json")[:2])
    return [cold, cached]


def bench_daemon(
    info: CorpusInfo, edits: int, idle_seconds: float, debounce_ms: int
) -> list[Figure]:
    """Write -> event readable latency, then idle RSS and CPU of the running daemon."""
    from orchsync import query
    from orchsync.model import content_hash
    from orchsync.repo import find_repo

    repo = find_repo(info.root)
    cli(info.root, "sync")
    proc = subprocess.Popen(
        [*ORCHSYNC, "--repo", str(info.root), "watch", "--debounce", str(debounce_ms)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latency = Figure(
        f"daemon: write -> event visible ({edits} edits)",
        target=debounce_ms + 100,
        note=f"debounce {debounce_ms} ms",
    )
    p95 = Figure("daemon: p95 of the same", target=None)
    rss = Figure(f"daemon idle RSS ({info.tasks:,} tasks)", unit="MiB", target=100)
    cpu_fig = Figure(f"daemon idle CPU over {idle_seconds:.0f} s", unit="%")
    try:
        _wait_for(lambda: (info.root / ".git/orchsync/daemon.json").exists(), 60)
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
        ordered = sorted(latency.samples)
        p95.samples.append(ordered[max(0, int(len(ordered) * 0.95) - 1)])
        time.sleep(1.0)
        before = _proc_cpu(proc.pid)
        time.sleep(idle_seconds)
        after = _proc_cpu(proc.pid)
        cpu_fig.samples.append((after - before) / idle_seconds * 100)
        rss.samples.append(_proc_rss_kib(proc.pid) / 1024)
    finally:
        proc.terminate()
        proc.wait(30)
    return [latency, p95, rss, cpu_fig]


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

    from orchsync.board.app import create_app
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


def write_results(
    out: Path, figures: list[Figure], args: argparse.Namespace, info: CorpusInfo, elapsed: float
) -> str:
    lines = [
        "# orchsync benchmark results",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- corpus: {info.tasks:,} tasks in {info.sprints} sprints, {info.files:,} files, {info.commits:,} commits "
        + (
            f"(an existing corpus at {args.dest})"
            if args.reused
            else f"(`benchmarks/corpus.py --tasks {args.size} --history {args.history}`)"
        ),
        f"- command: `python benchmarks/run.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- runs per figure: {args.runs}; whole processes unless marked; wall ms (median, min, max) and CPU ms",
        f"- total time: {elapsed:.0f} s",
        "",
        "| figure | median | min | max | CPU | target | note |",
        "|---|---|---|---|---|---|---|",
        *(f.row() for f in figures),
        "",
    ]
    text = "\n".join(lines)
    out.write_text(text, encoding="utf-8")
    return text


def update_results(
    out: Path, figures: list[Figure], args: argparse.Namespace, info: CorpusInfo
) -> str:
    """Replace the rows of `figures` in the first table of `out` (new ones are appended), and
    add a line to the header saying when and how they were measured."""
    lines = out.read_text(encoding="utf-8").splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("| figure |"))
    end = next((i for i in range(top + 2, len(lines)) if not lines[i].startswith("|")), len(lines))
    fresh = {f.name: f.row() for f in figures}
    rows = [r for r in lines[top + 2 : end] if r[2:].split(" | ")[0] not in fresh]
    tag = f"- {args.only} figures updated"  # a later update of the same step replaces this line
    note = (
        f"{tag} {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}: "
        f"`python benchmarks/run.py {' '.join(sys.argv[1:])}` "
        f"({info.tasks:,} tasks, {info.commits:,} commits); {machine()}"
    )
    old = [i for i in range(top) if lines[i].startswith((tag, "- updated "))]
    lines = [line for i, line in enumerate(lines) if i not in old]
    top -= len(old)
    end -= len(old)
    last_note = max(i for i in range(top) if lines[i].startswith("- "))
    text = "\n".join(
        [
            *lines[: last_note + 1],
            note,
            *lines[last_note + 1 : top + 2],
            *rows,
            *fresh.values(),
            *lines[end:],
        ]
    )
    out.write_text(text + "\n", encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="tasks in the corpus")
    ap.add_argument("--history", type=int, default=200, help="history commits in the corpus")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--dest", type=Path, help="reuse (or build) the corpus here instead of a temp folder"
    )
    ap.add_argument("--only", default="parse,reindex,sync,queries,search,agent,daemon,board,sinks")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument(
        "--update",
        action="store_true",
        help="replace only the measured figures' rows in an existing --out file",
    )
    ap.add_argument("--latency-edits", type=int, default=50)
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--debounce", type=int, default=300)
    ap.add_argument(
        "--smoke", action="store_true", help="N=500, one run each, short daemon phases (CI)"
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.size, args.history, args.runs = 500, 20, 1
        args.latency_edits, args.idle_seconds = 3, 2.0
    only = set(args.only.split(","))
    started = time.perf_counter()
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
            ("reindex", lambda: bench_reindex(info, args.runs, args.size, None)),
            ("sync", lambda: bench_first_sync(info) + bench_sync(info, args.runs)),
            (
                "queries",
                lambda: bench_queries(info, args.runs, 150 if args.size <= 10_000 else 300),
            ),
            ("search", lambda: bench_search(info, args.runs)),
            ("agent", lambda: bench_agent(info, args.runs)),
            ("board", lambda: bench_board(info, args.runs)),
            (
                "daemon",
                lambda: bench_daemon(info, args.latency_edits, args.idle_seconds, args.debounce),
            ),
            ("sinks", lambda: bench_sinks(info, args.latency_edits, args.debounce)),
        ]
        for name, step in steps:
            if name in only:
                print(f"-- {name}", flush=True)
                got = step()
                for f in got:
                    print(f"   {f.name}: median {f.median:.0f} {f.unit}", flush=True)
                figures += got
        if args.update and args.out.exists():
            text = update_results(args.out, figures, args, info)
        else:
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
