"""Kill -9 the daemon at random moments while a writer edits tasks; count the edits lost.

    python benchmarks/daemon_crash.py [--cycles 50] [--tasks 0] [--seed 1] [--keep DIR]

A repository is made (the project's example tree, or a generated corpus with `--tasks N`),
a writer process rewrites random TASK.md files (status and a counter) in bursts, and
`orchsync watch` is started and `kill -9`ed `--cycles` times, each after a random 0.3-3 s
(during start-up, the catch-up, settling or a commit). Then the writer stops, a last daemon
starts, and the script waits until every file on disk has its bytes in HEAD and the index
is at HEAD with each task's status as on disk. Prints the counts; exits 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

WRITER = """
import random, re, sys, time
from pathlib import Path
stop, seed, paths = Path(sys.argv[1]), int(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
rng, n = random.Random(seed), 0
while not stop.exists():
    p = rng.choice(paths)
    text = p.read_text("utf-8")
    status = rng.choice(["pending", "in_progress", "blocked", "completed"])
    text = re.sub(r"(?m)^status: .*$", "status: " + status, text, count=1)
    text = re.sub(r"(?m)^<!-- edit \\d+ -->\\n", "", text) + f"<!-- edit {n} -->\\n"
    p.write_text(text, "utf-8")
    n += 1
    time.sleep(rng.uniform(0.005, 0.05) if rng.random() < 0.6 else rng.uniform(0.1, 0.4))
print(n)
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=ENV, check=True, capture_output=True, text=True
    ).stdout


def make_repo(dest: Path, tasks: int) -> Path:
    if tasks:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "corpus.py"),
                str(dest),
                "--tasks",
                str(tasks),
            ],
            check=True,
            capture_output=True,
        )
    else:
        dest.mkdir(parents=True)
        git(dest, "init", "-q", "-b", "main")
        shutil.copytree(ROOT / "delegation", dest / "delegation")
        git(dest, "add", "-A")
    git(dest, "config", "user.name", "Crash Test")
    git(dest, "config", "user.email", "crash@example.com")
    if not tasks:
        git(dest, "commit", "-qm", "example tree")
    return dest


def start_daemon(repo: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orchsync", "--repo", str(repo), "watch", "--debounce", "100"],
            env=ENV,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )


def unsynced(repo: Path) -> list[str]:
    tree = {}
    for line in git(repo, "ls-tree", "-r", "HEAD", "delegation").splitlines():
        meta, path = line.split("\t", 1)
        tree[path] = meta.split()[2]
    out = []
    for p in (repo / "delegation").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            rel = p.relative_to(repo).as_posix()
            if tree.pop(rel, None) != hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest():
                out.append(rel)
    return sorted(out + list(tree))


def index_mismatches(repo: Path, tasks: list[str]) -> list[str]:
    from orchsync import query
    from orchsync.index import Index

    index = Index(repo / ".git" / "orchsync" / "index.duckdb")
    with index.reader() as con:
        if index.meta(con).get("last_commit") != git(repo, "rev-parse", "HEAD").strip():
            return ["(index not at HEAD)"]
        indexed = {t["path"]: t["status"] for t in query.tasks(con)}
    bad = []
    for t in tasks:
        m = re.search(r"(?m)^status: (.*)$", (repo / t).read_text("utf-8"))
        if m is None or indexed.get(t) != m.group(1):
            bad.append(t)
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument(
        "--tasks",
        type=int,
        default=0,
        help="generate a corpus of N tasks (default: the example tree)",
    )
    ap.add_argument("--edit", type=int, default=20, help="how many tasks the writer edits")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="build the repository here and keep it")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="orchsync-crash-"))
    repo = make_repo(base / "repo", args.tasks)
    log = base / "daemon.log"
    rng = random.Random(args.seed)
    tasks = sorted(
        p.relative_to(repo).as_posix()
        for p in (repo / "delegation" / "sprints").glob("*/*/TASK.md")
    )
    tasks = rng.sample(tasks, min(args.edit, len(tasks)))
    stop = base / "writer.stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stop), str(args.seed), *[str(repo / t) for t in tasks]],
        stdout=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    try:
        for i in range(args.cycles):
            d = start_daemon(repo, log)
            time.sleep(rng.uniform(0.3, 3.0))
            d.send_signal(signal.SIGKILL)
            d.wait()
            print(f"\rkill -9 {i + 1}/{args.cycles}", end="", flush=True)
    finally:
        stop.touch()
        writes = int((writer.communicate(timeout=30)[0] or "0").strip() or 0)
    print()
    commits = int(git(repo, "rev-list", "--count", "HEAD"))
    d = start_daemon(repo, log)
    try:
        deadline = time.monotonic() + 120
        lost: list[str] = unsynced(repo)
        while lost and time.monotonic() < deadline:
            time.sleep(0.25)
            lost = unsynced(repo)
        settled_in = time.monotonic()
        bad_index = ["(not checked)"]
        while time.monotonic() < deadline:
            try:
                bad_index = index_mismatches(repo, tasks)
            except Exception as exc:  # the index may be busy for a moment
                bad_index = [str(exc)]
            if not bad_index:
                break
            time.sleep(0.25)
    finally:
        d.send_signal(signal.SIGTERM)
        code = d.wait(30)
    dirty = git(repo, "status", "--porcelain", "delegation").splitlines()
    report = {
        "cycles": args.cycles,
        "writes": writes,
        "commits": commits,
        "seconds": round(settled_in - started, 1),
        "lost_writes": lost,
        "index_mismatches": bad_index,
        "git_status_dirty": dirty,
        "last_daemon_exit": code,
        "repo": str(repo),
        "log": str(log),
    }
    print(json.dumps(report, indent=2))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if lost or bad_index or dirty or code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
