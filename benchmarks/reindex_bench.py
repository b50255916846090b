"""Time `orchsync reindex` and `orchsync reindex --from-files` as whole processes.

    python benchmarks/reindex_bench.py [--size 10000] [--history 2000] [--runs 3]
                                       [--dest DIR] [--copy-from DIR] [--fresh]

Uses the corpus at DIR when it holds one, else copies --copy-from (a pristine corpus, never
modified), else builds one (benchmarks/corpus.py: --size tasks, --history commits). Each
command runs --runs times as its own process, Python start-up included; the figures are
the median and spread of wall time and of CPU time (user + sys of the process and its
parse workers, steadier than wall time on a shared machine), the peak RSS and the size of
the DuckDB file. With --fresh the index is deleted before every run (a first reindex);
without, every run but the first replaces an existing index (what `benchmarks/run.py`
measures). Targets (DESIGN.md, 2 cores): --from-files at 10,000 tasks <= 5 s, and at
100,000 tasks <= 11x the 10,000-task time, peak RSS <= 1 GiB.

From Python: `measure_reindex(repo, from_files=True, runs=3)` returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build_corpus  # noqa: E402

ORCHSYNC = [sys.executable, "-m", "orchsync"]
TARGET_FROM_FILES_10K = 5.0


def index_file(repo: Path) -> Path:
    return repo / ".git" / "orchsync" / "index.duckdb"


def run_once(repo: Path, from_files: bool) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS KiB) of one `orchsync reindex`, its usage read by wait4.

    wait4 gives this child's own figures, workers included (they are its children and it
    waits for them), where getrusage(RUSAGE_CHILDREN) would sum every run so far.
    """
    args = [*ORCHSYNC, "--repo", str(repo), "reindex", *(["--from-files"] if from_files else [])]
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def measure_reindex(repo: Path, from_files: bool, runs: int, fresh: bool = False) -> dict[str, Any]:
    """Run the reindex `runs` times; wall and CPU seconds per run, their medians and spread,
    peak RSS (MiB) over the runs and the index file size (MiB) after the last."""
    walls: list[float] = []
    cpus: list[float] = []
    peak = 0
    for _ in range(runs):
        if fresh:
            index_file(repo).unlink(missing_ok=True)
        wall, cpu, rss = run_once(repo, from_files)
        walls.append(wall)
        cpus.append(cpu)
        peak = max(peak, rss)
    size = index_file(repo).stat().st_size if index_file(repo).exists() else 0
    return {
        "command": "orchsync reindex" + (" --from-files" if from_files else ""),
        "runs": runs,
        "fresh": fresh,
        "wall": walls,
        "cpu": cpus,
        "median_wall": statistics.median(walls),
        "min_wall": min(walls),
        "max_wall": max(walls),
        "median_cpu": statistics.median(cpus),
        "min_cpu": min(cpus),
        "max_cpu": max(cpus),
        "peak_rss_mib": peak / 1024,
        "index_mib": size / 2**20,
    }


def describe(fig: dict[str, Any]) -> str:
    return (
        f"{fig['command']:<32} wall median {fig['median_wall']:6.2f} s "
        f"[{fig['min_wall']:.2f}-{fig['max_wall']:.2f}]  CPU median {fig['median_cpu']:6.2f} s "
        f"[{fig['min_cpu']:.2f}-{fig['max_cpu']:.2f}]  peak RSS {fig['peak_rss_mib']:.0f} MiB  "
        f"index {fig['index_mib']:.1f} MiB  ({fig['runs']} runs{', fresh' if fig['fresh'] else ''})"
    )


def prepare(dest: Path, copy_from: Path | None, size: int, history: int) -> None:
    if (dest / ".git").exists() and (dest / "delegation").is_dir():
        print(f"reusing corpus at {dest}")
    elif copy_from is not None:
        shutil.copytree(copy_from, dest, symlinks=True)
        print(f"copied {copy_from} to {dest}")
    else:
        info = build_corpus(dest, tasks=size, history=history)
        print(
            f"built {info.tasks} tasks, {info.files} files, {history} commits of history "
            f"at {dest} in {info.seconds:.1f} s"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=10_000, help="tasks in a built corpus")
    p.add_argument("--history", type=int, default=2000, help="commits after the import")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dest", type=Path, help="corpus folder to reuse, or to fill")
    p.add_argument("--copy-from", type=Path, help="a pristine corpus to copy to --dest")
    p.add_argument("--fresh", action="store_true", help="delete the index before each run")
    p.add_argument("--only", choices=["files", "git"], help="time one of the two commands")
    args = p.parse_args(argv)

    tmp = None
    if args.dest is None:
        tmp = tempfile.TemporaryDirectory(prefix="orchsync-reindex-")
        dest = Path(tmp.name) / "repo"
    else:
        dest = args.dest.resolve()
    try:
        prepare(dest, args.copy_from, args.size, args.history)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs (other work skews wall times)")
        figures = []
        if args.only in (None, "files"):
            figures.append(measure_reindex(dest, True, args.runs, args.fresh))
            print(describe(figures[-1]))
        if args.only in (None, "git"):
            figures.append(measure_reindex(dest, False, args.runs, args.fresh))
            print(describe(figures[-1]))
        print(
            f"targets: --from-files <= {TARGET_FROM_FILES_10K:.0f} s at 10,000 tasks, "
            "<= 11x that at 100,000, peak RSS <= 1 GiB (issue 19, 2 cores)"
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
