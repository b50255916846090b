"""Backlog.md beside orchsync: the same tasks, the same reads, timed in alternation.

    python benchmarks/peer_backlog.py /tmp/c10k [--runs 10] [--version 1.52.0]

Backlog.md (`npm install backlog.md`) keeps tasks as Markdown files with YAML front
matter in `backlog/tasks/`, much as orchsync keeps them under `delegation/`. This installs
it into a folder of its own (`npm install --prefix`), writes the corpus's tasks as a
Backlog.md project beside the corpus (`<corpus>-backlog/`: same titles, statuses,
assignees, dependencies and bodies), and times the reads an agent makes, each pair run
one after the other, `--runs` times:

- a listing: `backlog task list -s "To Do" --plain` / `orchsync tasks --status pending --json`
- one task: `backlog task view ID --plain` / `orchsync show T:x`
- an agent's context: `backlog task view ID --plain` / `orchsync agent init T:x --format json`

From Python: `peer_figures(corpus_root, runs)` returns {read: (backlog ms list, orchsync
ms list)}; `benchmarks/run.py --peer backlog` turns them into rows with the ratios.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

VERSION = "1.52.0"
STATUS = {"pending": "To Do", "in_progress": "In Progress", "blocked": "To Do", "completed": "Done"}
CONFIG = """\
project_name: "orchsync corpus"
default_status: "To Do"
statuses: ["To Do", "In Progress", "Done"]
labels: []
date_format: yyyy-mm-dd
max_column_width: 20
auto_open_browser: false
default_port: 6420
remote_operations: false
auto_commit: false
filesystem_only: true
bypass_git_hooks: false
check_active_branches: false
active_branch_days: 30
task_prefix: "task"
"""


def install(prefix: Path, version: str = VERSION) -> Path:
    """The `backlog` command of Backlog.md `version`, installed under `prefix` if needed."""
    exe = prefix / "node_modules" / ".bin" / "backlog"
    if exe.exists():
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
        if out.stdout.strip() == version:
            return exe
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--prefix", str(prefix), f"backlog.md@{version}"],
        check=True,
        capture_output=True,
    )
    return exe


def convert(corpus: Path, dest: Path) -> dict[str, str]:
    """Write the corpus's tasks as a Backlog.md project at `dest`; task code -> Backlog id."""
    if (dest / "backlog" / "config.yml").exists():
        return _ids(dest)
    tasks_dir = dest / "backlog" / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    (dest / "backlog" / "config.yml").write_text(CONFIG, encoding="utf-8")
    files = sorted((corpus / "delegation" / "sprints").glob("*/*/TASK.md"))
    ids = {path.parent.name: f"TASK-{n}" for n, path in enumerate(files, 1)}
    for n, path in enumerate(files, 1):
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---", 2)
        meta = yaml.load(front, Loader=yaml.CSafeLoader) or {}
        title = str(meta.get("title") or path.parent.name)
        data = {
            "id": f"TASK-{n}",
            "title": title,
            "status": STATUS.get(str(meta.get("status")), "To Do"),
            "assignee": [f"@{meta['agent']}"] if meta.get("agent") else [],
            "created_date": "2025-01-01 09:00",
            "labels": [path.parent.parent.name],
            "dependencies": [ids[d] for d in meta.get("depends_on") or [] if d in ids],
            "ordinal": n * 1000,
        }
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60]
        head = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        desc = body.strip()
        (tasks_dir / f"task-{n} - {slug}.md").write_text(
            f"---\n{head}---\n\n## Description\n\n<!-- SECTION:DESCRIPTION:BEGIN -->\n"
            f"{desc}\n<!-- SECTION:DESCRIPTION:END -->\n",
            encoding="utf-8",
        )
    (dest / "ids.tsv").write_text(
        "".join(f"{code}\t{i}\n" for code, i in ids.items()), encoding="utf-8"
    )
    return ids


def _ids(dest: Path) -> dict[str, str]:
    lines = (dest / "ids.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t") for line in lines if line)


def _timed(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, timeout=600)
    ms = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.decode(errors='replace')[-800:]}")
    return ms


def peer_figures(
    corpus: Path, runs: int, *, task: str | None = None, prefix: Path | None = None
) -> dict[str, tuple[list[float], list[float]]]:
    """{read: (Backlog.md ms per run, orchsync ms per run)}, each pair run in alternation."""
    corpus = corpus.resolve()
    exe = install(prefix or corpus.parent / f"{corpus.name}-backlog-npm")
    project = corpus.parent / f"{corpus.name}-backlog"
    ids = convert(corpus, project)
    code = task or next(iter(ids))
    orchsync = [sys.executable, "-m", "orchsync", "--repo", str(corpus)]
    pairs = {
        "list": (
            [str(exe), "task", "list", "-s", "To Do", "--plain"],
            [*orchsync, "tasks", "--status", "pending", "--json"],
        ),
        "show": (
            [str(exe), "task", "view", ids[code], "--plain"],
            [*orchsync, "show", f"T:{code}"],
        ),
        "agent init": (
            [str(exe), "task", "view", ids[code], "--plain"],
            [*orchsync, "agent", "init", f"T:{code}", "--format", "json"],
        ),
    }
    out: dict[str, tuple[list[float], list[float]]] = {}
    for name, (theirs, ours) in pairs.items():
        _timed(theirs, project)  # each warmed once (disk cache, orchsync's answer cache)
        _timed(ours, corpus)
        a: list[float] = []
        b: list[float] = []
        for n in range(runs):
            first, second = (theirs, ours) if n % 2 == 0 else (ours, theirs)
            for args in (first, second):
                (a if args is theirs else b).append(
                    _timed(args, project if args is theirs else corpus)
                )
        out[name] = (a, b)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--task", help="task code to show (default: the first)")
    args = ap.parse_args(argv)
    for name, (theirs, ours) in peer_figures(args.corpus, args.runs, task=args.task).items():
        a, b = statistics.median(theirs), statistics.median(ours)
        print(f"{name:12s} Backlog.md {a:7.0f} ms  orchsync {b:5.0f} ms  ratio {a / b:5.1f}x")
    return 0


if __name__ == "__main__":
    if shutil.which("npm") is None:
        sys.exit("npm is needed to install Backlog.md")
    sys.exit(main())
