"""The benchmark suite itself must keep working: a short smoke run (N=500) on every CI.

It fails only on errors (a command that exits non-zero, a daemon that never commits), never
on timings: speed is measured by `python benchmarks/run.py`, not asserted in tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.mark.slow
def test_benchmark_smoke_run_produces_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--smoke",
            "--dest",
            str(tmp_path / "corpus"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for figure in (
        "parse + validate the tree",
        "`orchsync reindex --from-files`",
        "`orchsync reindex` (git history",
        "`orchsync sync <one edited file>`",
        "`orchsync init`:",
        "`orchsync tasks --status pending --json`",
        "`orchsync query",
        "`orchsync search TEXT --json` (a new query each run)",
        "`orchsync --help`",
        "`orchsync agent init T:x --format json` (cold)",
        "`orchsync agent init T:x --format json` (cached)",
        "daemon: write -> event visible",
        "daemon idle RSS",
        "peak RSS of `orchsync reindex`",
        "board: `/?sprint=…`",
        "board: `/activity` (first 200 events, HTML)",
        "sinks: commit -> webhook receiver",
    ):
        row = next((line for line in text.splitlines() if line.startswith(f"| {figure}")), None)
        assert row is not None, f"missing figure {figure!r}"
        assert "| – | – | – |" not in row, f"figure {figure!r} has no samples"
