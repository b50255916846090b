"""Real processes at once: a writer syncing in a loop while readers query, and racing syncs.

DuckDB lets one process hold the file read-write and no reader beside it; orchsync's writer
opens it per batch under the repo lock and readers retry, so a query never fails because a
sync is running. `ORCHSYNC_STRESS_SECONDS` sets how long the writer runs (default 20),
`ORCHSYNC_STRESS_ROUNDS` how many pairs of racing syncs run while files change (default 12).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from conftest import GIT_ENV, SPRINT, dump_index, git, new_task, task_path

pytestmark = pytest.mark.slow

STRESS_SECONDS = float(os.environ.get("ORCHSYNC_STRESS_SECONDS", "20"))
STRESS_ROUNDS = int(os.environ.get("ORCHSYNC_STRESS_ROUNDS", "12"))
ORCHSYNC = str(Path(sys.executable).with_name("orchsync"))

WRITER = """
import sys, time
from pathlib import Path
from orchsync.repo import find_repo
from orchsync.sync import sync

root, seconds = Path(sys.argv[1]), float(sys.argv[2])
repo = find_repo(root)
commits, n, deadline = [], 0, time.monotonic() + seconds
while time.monotonic() < deadline:
    n += 1
    code = f"w-{n % 7}"
    path = root / f"delegation/sprints/{SPRINT}/{code}/TASK.md"
    status = ("pending", "in_progress", "blocked", "completed")[n % 4]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\\ntitle: Task {code} round {n}\\nstatus: {status}\\n---\\n")
    result = sync(repo, actor="writer", session=f"round-{n}")
    commits.append(result.commit)
print(json.dumps(commits))
"""

READER = """
import sys, time, subprocess, traceback
from pathlib import Path
from orchsync import query
from orchsync.repo import find_repo

root, mode, seconds, orchsync = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
repo = find_repo(root)
ok, failures, deadline = 0, [], time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        if mode == "cli":
            proc = subprocess.run(
                [orchsync, "--repo", str(root), "query", f"SELECT count(*) AS n, {ok} AS round FROM events"],
                capture_output=True, text=True,
            )
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr)
        else:
            with query.reader(repo) as con:
                query.tasks(con, sprint=SPRINT)
                query.events(con, limit=20)
        ok += 1
    except Exception:
        failures.append(traceback.format_exc())
print(json.dumps({"ok": ok, "failures": failures}))
"""


def start(script: str, *args: object) -> subprocess.Popen:
    prelude = f"import json\nSPRINT = {SPRINT!r}\n"
    return subprocess.Popen(
        [sys.executable, "-c", prelude + textwrap.dedent(script), *map(str, args)],
        env=GIT_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float) -> object:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_queries_never_fail_and_no_event_is_lost_while_a_writer_syncs(example_repo):
    readers = [
        start(READER, example_repo, mode, STRESS_SECONDS, ORCHSYNC)
        for mode in ("cli", "cli", "library", "library")
    ]
    writer = start(WRITER, example_repo, STRESS_SECONDS)

    commits = finish(writer, timeout=STRESS_SECONDS + 60)
    results = [finish(r, timeout=STRESS_SECONDS + 60) for r in readers]

    assert [r["failures"] for r in results] == [[], [], [], []]
    assert all(r["ok"] > 0 for r in results)
    assert len(commits) > 5 and None not in commits
    assert git(example_repo, "rev-list", "--count", "HEAD").strip() == str(len(commits) + 1)
    subprocess.run([ORCHSYNC, "--repo", str(example_repo), "sync"], env=GIT_ENV, check=True)
    live = dump_index(example_repo)
    with duckdb.connect(str(example_repo / ".git/orchsync/index.duckdb"), read_only=True) as con:
        indexed = {c for (c,) in con.execute('SELECT DISTINCT "commit" FROM events').fetchall()}
    assert set(commits) <= indexed
    for path in (example_repo / ".git/orchsync").glob("index.duckdb*"):
        path.unlink()
    subprocess.run([ORCHSYNC, "--repo", str(example_repo), "reindex"], env=GIT_ENV, check=True)
    assert dump_index(example_repo) == live


def test_two_syncs_at_once_make_two_commits_in_a_line(example_repo):
    base = git(example_repo, "rev-parse", "HEAD").strip()
    rounds = 3
    for n in range(rounds):
        paths = [new_task(example_repo, f"race-{n}-{side}") for side in "ab"]
        procs = [
            subprocess.Popen(
                [ORCHSYNC, "--repo", str(example_repo), "sync", str(example_repo / p)],
                env=GIT_ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in paths
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs

    history = git(example_repo, "rev-list", "--parents", f"{base}..HEAD").splitlines()
    assert len(history) == 2 * rounds
    assert all(len(line.split()) == 2 for line in history)  # one parent each: no merges, a line
    assert git(example_repo, "status", "--porcelain") == ""
    committed = git(example_repo, "log", "--format=", "--name-only", f"{base}..HEAD").split()
    assert sorted(committed) == sorted(
        task_path(f"race-{n}-{side}") for n in range(rounds) for side in "ab"
    )
    started = time.monotonic()
    listed = subprocess.run(
        [ORCHSYNC, "--repo", str(example_repo), "tasks", "--json"],
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    assert time.monotonic() - started < 10
    assert {t["task"] for t in json.loads(listed.stdout)} >= {
        f"race-{n}-{side}" for n in range(rounds) for side in "ab"
    }


# Rewrites five task files until a stop file appears: most saves in place (truncate, then
# write: a reader can see the file shrink and grow), some as editors do (temp + rename),
# each a different size. This is what a sync's git-index update raced with: libgit2 stats a
# file, then reads that many bytes ("failed to read file into stream" when it shrank).
CHANGING = """
import os, random, sys, time
from pathlib import Path

root, stop = Path(sys.argv[1]), Path(sys.argv[2])
n = 0
while not stop.exists():
    n += 1
    code = f"busy-{n % 5}"
    path = root / f"delegation/sprints/{SPRINT}/{code}/TASK.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f"---\\ntitle: Task {code} save {n}\\nstatus: pending\\n---\\n" + "x" * random.randint(0, 4000)
    if n % 4:
        path.write_text(text)
    else:
        tmp = path.with_name(f".{code}.{n}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    time.sleep(random.random() * 0.002)
print(json.dumps(n))
"""


def test_two_syncs_at_once_while_files_change_never_print_a_traceback(example_repo, tmp_path):
    stop = tmp_path / "stop"
    writer = start(CHANGING, example_repo, stop)
    failures = []
    try:
        for n in range(STRESS_ROUNDS):
            procs = [
                subprocess.Popen(
                    [ORCHSYNC, "--repo", str(example_repo), "sync"],
                    env=GIT_ENV,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(2)
            ]
            for proc in procs:
                _, err = proc.communicate(timeout=120)
                # A file caught half way through an in-place save is committed as invalid
                # (exit 1, "invalid: ..."), and complete by a later sync: that is no failure.
                lines = [line for line in err.splitlines() if not line.startswith("invalid: ")]
                if proc.returncode not in (0, 1) or lines:
                    failures.append((n, proc.returncode, err[-2000:]))
    finally:
        stop.touch()
        saves = finish(writer, timeout=60)

    assert failures == []
    assert saves > STRESS_ROUNDS
    subprocess.run([ORCHSYNC, "--repo", str(example_repo), "sync"], env=GIT_ENV, check=True)
    assert git(example_repo, "status", "--porcelain") == ""
    for n in range(5):
        path = task_path(f"busy-{n}")
        assert git(example_repo, "show", f"HEAD:{path}") == (example_repo / path).read_text()
    fsck = subprocess.run(
        ["git", "-C", str(example_repo), "fsck", "--full", "--no-dangling"],
        env=GIT_ENV,
        capture_output=True,
        text=True,
    )
    assert fsck.returncode == 0 and fsck.stdout == "", fsck.stdout + fsck.stderr


def test_a_reader_never_deletes_an_index_file_a_writer_is_writing(example_repo, monkeypatch):
    """An index file DuckDB cannot open is rebuilt, but only judged so under the repo lock.

    A writer creating or rewriting the file holds that lock; a reader that gave up waiting
    for the running sync must wait for the lock before it calls the file corrupt, or it
    deletes the file under the writer (readers racing a first sync did, now and then).
    """
    import importlib
    import threading

    from orchsync import query
    from orchsync.repo import find_repo, repo_lock
    from orchsync.sync import sync

    repo = find_repo(example_repo)
    sync(repo)
    good = repo.index_path.read_bytes()
    query_reader = importlib.import_module("orchsync.query.fresh")
    monkeypatch.setattr(query_reader, "RUNNING_SYNC_WAIT", 0.2)  # the reader gives up on it at once
    counted: list[int] = []

    def read() -> None:
        with query.reader(repo) as con:
            counted.append(len(query.tasks(con)))

    with repo_lock(repo):
        repo.index_path.write_bytes(b"\0" * len(good))  # the writer half way through it
        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(1.5)
        assert repo.index_path.exists()  # still the writer's
        repo.index_path.write_bytes(good)  # the writer is done
    reader.join(60)

    assert counted == [6]
