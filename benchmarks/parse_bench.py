"""Time parse + validate of a whole delegation tree, the work `orchsync check` and a reindex do.

    python benchmarks/parse_bench.py [--tasks 10000] [--dest DIR] [--runs 5] [--profile]

Builds a corpus (benchmarks/corpus.py) in a temporary folder, or reuses DIR when it already
holds one, then times `load_tree(root)` + `cross_file(files)` --runs times in one process and
prints the median, min and max (wall, plus CPU). A second pass splits the CPU time by phase
(read + hash, YAML, schema validation, the rest of parse_file, cross-file rules); --profile
adds a cProfile of one full run.
Target (DESIGN.md, 2 cores): under 2 s for 10,000 tasks.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build_corpus  # noqa: E402

from orchsync.model import Kind, content_hash  # noqa: E402
from orchsync.parse import parse_file  # noqa: E402
from orchsync.parse.checks import cross_file  # noqa: E402
from orchsync.parse.layout import classify  # noqa: E402
from orchsync.parse.validate import validate  # noqa: E402
from orchsync.parse.worktree import list_files, load_tree  # noqa: E402
from orchsync.parse.yamldoc import Document, decode, load_yaml, split_front_matter  # noqa: E402

TARGET_SECONDS = 2.0
_YAML_KINDS = {Kind.TASK_AGENT, Kind.AGENT, Kind.CONFIG}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of fn (steadier than wall time when other processes share the cores)."""
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def full_run(root: Path) -> tuple[float, float, int, int]:
    """One parse + validate of the whole tree: wall seconds, CPU seconds, files, diagnostics."""
    start, cpu = time.perf_counter(), time.process_time()
    files = load_tree(root)
    diagnostics = [d for f in files for d in f.diagnostics] + cross_file(files)
    return time.perf_counter() - start, time.process_time() - cpu, len(files), len(diagnostics)


def phases(root: Path) -> dict[str, float]:
    """The same work split by stage, each stage timed alone on the previous stage's output."""
    out: dict[str, float] = {}

    def read_hash() -> list[tuple[str, bytes]]:
        raw = [(p, (root / p).read_bytes()) for p in list_files(root)]
        for _, data in raw:
            content_hash(data)
        return raw

    out["read + sha256"], raw = _timed(read_hash)

    def yaml_stage() -> list[tuple[Kind, Document]]:
        docs = []
        for path, data in raw:
            kind = classify(path).kind
            if kind is Kind.FILE:
                continue
            text, _ = decode(data)
            if text is None:
                continue
            doc = load_yaml(text, Document()) if kind in _YAML_KINDS else split_front_matter(text)
            docs.append((kind, doc))
        return docs

    out["decode + YAML (C loader, line map)"], docs = _timed(yaml_stage)

    def schema_stage() -> None:
        for kind, doc in docs:
            if isinstance(doc.data, dict):
                validate(kind.value, doc)

    out["schema validation"], _ = _timed(schema_stage)
    hash_only, _ = _timed(lambda: [content_hash(d) for _, d in raw])
    total, parsed = _timed(lambda: [parse_file(p, data) for p, data in raw])
    # parse_file = hash + the two stages above + building entities (markdown checklists etc.)
    rest = total - hash_only - out["decode + YAML (C loader, line map)"]
    out["entities + markdown (rest of parse_file)"] = max(0.0, rest - out["schema validation"])
    out["cross-file rules"], _ = _timed(lambda: cross_file(parsed))
    return out


def profile(root: Path, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    files = load_tree(root)
    cross_file(files)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--dest", type=Path, help="corpus folder to build, or reuse if it has one")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    args = p.parse_args(argv)

    tmp = None
    if args.dest is None:
        tmp = tempfile.TemporaryDirectory(prefix="orchsync-corpus-")
        root = Path(tmp.name) / "repo"
    else:
        root = args.dest.resolve()
    try:
        if (root / ".git").exists() and (root / "delegation").is_dir():
            print(f"reusing corpus at {root}")
        else:
            info = build_corpus(root, tasks=args.tasks, seed=args.seed)
            split = ", ".join(f"{k} {v:.2f} s" for k, v in info.phases.items())
            print(
                f"built {info.tasks} tasks / {info.files} files at {root} "
                f"in {info.seconds:.2f} s ({split})"
            )
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs (other work skews wall times)")
        times, cpus = [], []
        for i in range(args.runs):
            seconds, cpu, n_files, n_diag = full_run(root)
            times.append(seconds)
            cpus.append(cpu)
            note = "  (first run in this process)" if i == 0 else ""
            print(
                f"run {i + 1}: {seconds:.3f} s wall, {cpu:.3f} s CPU, {n_files} files, "
                f"{n_diag} diagnostics{note}"
            )
        median = statistics.median(times)
        verdict = "OK" if median < TARGET_SECONDS else "MISSES"
        print(
            f"parse + validate: median {median:.3f} s, min {min(times):.3f} s, "
            f"max {max(times):.3f} s over {args.runs} runs (median CPU "
            f"{statistics.median(cpus):.3f} s); target {TARGET_SECONDS:.1f} s: {verdict}"
        )
        print("per phase, CPU seconds (one warm pass):")
        split = phases(root)
        for name, seconds in split.items():
            print(f"  {name:<52} {seconds:7.3f} s")
        print(f"  {'sum':<52} {sum(split.values()):7.3f} s")
        if args.profile:
            print(profile(root))
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
