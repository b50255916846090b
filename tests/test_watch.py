"""`orchsync watch`: every settled save becomes one snapshot commit and index rows.

Two halves. The settling rule and the noise filter are tested with scripted change sets, a
fake clock and a fake file system (no real time passes). The daemon itself runs as a real
`orchsync watch` child process on a real repository: the tests write files the way editors
do, run git the way people do, and poll with a deadline for what the daemon must have done.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    GIT_ENV,
    DaemonProcess,
    commit_all,
    git,
    new_task,
    set_status,
    task_path,
    wait_for,
)
from watchfiles import Change

from orchsync.index import Index
from orchsync.repo import find_repo
from orchsync.watch import daemon_status
from orchsync.watch.filters import NoiseFilter
from orchsync.watch.settle import NotifySource, settled_changes

T3 = task_path("phase-3-template-generation")
T4 = task_path("phase-4-agent-init")
T5 = task_path("phase-5-pm-commands")


# --- scripted change sets --------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeFS:
    """path -> versions [(time, stat key)]: `stat(path)` answers as of the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.versions: dict[str, list[tuple[float, object]]] = {}

    def write(self, path: str, at: float) -> None:
        self.versions.setdefault(path, []).append((at, (at, path)))

    def remove(self, path: str, at: float) -> None:
        self.versions.setdefault(path, []).append((at, None))

    def stat(self, path: str) -> object:
        current = None
        for at, key in sorted(self.versions.get(path, []), key=lambda v: v[0]):
            if at <= self.clock.now:
                current = key
        return current


class ScriptedSource:
    """A ChangeSource that replays `(time, [(Change, rel path), ...])` on a fake clock."""

    mode = "scripted"
    warning = None

    def __init__(
        self,
        root: Path,
        clock: FakeClock,
        script: list[tuple[float, list[tuple[Change, str]]]],
        end: float,
        stop_at: float | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.root, self.clock, self.end = root, clock, end
        self.script = sorted(script, key=lambda item: item[0])
        self.stop_at, self.stop_event = stop_at, stop_event
        self.timeouts: list[int] = []

    def wait(self, timeout_ms: int, stop_event: object) -> set[tuple[int, str]] | None:
        self.timeouts.append(timeout_ms)
        deadline = self.clock.now + timeout_ms / 1000
        if self.script and self.script[0][0] <= min(deadline, self.stop_at or deadline):
            at, changes = self.script.pop(0)
            self.clock.now = max(self.clock.now, at)
            return {(int(c), str(self.root / p)) for c, p in changes}
        if self.stop_at is not None and self.stop_at <= deadline and self.stop_event is not None:
            self.clock.now = max(self.clock.now, self.stop_at)
            self.stop_event.set()
            return None
        if deadline >= self.end:
            self.clock.now = self.end
            return None
        self.clock.now = deadline
        return set()

    def close(self) -> None:
        pass


def run_script(
    tmp_path: Path,
    script,
    *,
    end: float = 10.0,
    fs: FakeFS | None = None,
    clock: FakeClock | None = None,
    stop_at: float | None = None,
    **options,
) -> list[tuple[float, set[str]]]:
    """Every (fake time, batch) `settled_changes` yields for a script, empty ticks included."""
    clock = clock or FakeClock()
    fs = fs or FakeFS(clock)
    for at, changes in script:
        for change, path in changes:
            (fs.remove if change == Change.deleted else fs.write)(path, at)
    stop = threading.Event()
    source = ScriptedSource(tmp_path, clock, script, end, stop_at=stop_at, stop_event=stop)
    options = {"debounce_ms": 300, "max_latency_ms": 2000, **options}
    gen = settled_changes(
        tmp_path, source=source, clock=clock, stat=fs.stat, stop_event=stop, **options
    )
    return [(round(clock.now, 3), batch) for batch in gen]


def batches(result: list[tuple[float, set[str]]]) -> list[tuple[float, set[str]]]:
    return [(t, b) for t, b in result if b]


def test_one_save_is_released_after_the_quiet_window(tmp_path):
    result = batches(run_script(tmp_path, [(0.1, [(Change.modified, T3)])]))
    assert len(result) == 1
    at, batch = result[0]
    assert batch == {T3}
    assert 0.4 <= at < 0.45  # 300 ms after the last change, not before


def test_every_change_restarts_the_quiet_window(tmp_path):
    script = [
        (0.1, [(Change.modified, T3)]),
        (0.3, [(Change.modified, T4)]),
        (0.5, [(Change.modified, T3)]),
    ]
    assert batches(run_script(tmp_path, script)) == [(0.8, {T3, T4})]


def test_a_continuous_stream_still_commits_every_max_latency(tmp_path):
    script = [(round(0.1 * i, 3), [(Change.modified, T3)]) for i in range(1, 50)]  # 0.1 s .. 4.9 s
    result = batches(run_script(tmp_path, script))
    times = [t for t, _ in result]
    assert times[:2] == [2.1, 4.2]  # max_latency after the first change of each batch
    assert len(result) == 3 and 5.2 <= times[2] < 5.3  # and the tail after the stream stops


def test_a_file_still_being_written_waits_and_the_rest_goes(tmp_path):
    clock = FakeClock()
    fs = FakeFS(clock)
    # T3 grows every 40 ms until 0.72 s, but its events were coalesced into one.
    for i in range(3, 19):
        fs.write(T3, round(0.04 * i, 3))
    script = [(0.1, [(Change.modified, T3), (Change.modified, T4)])]
    result = batches(run_script(tmp_path, script, clock=clock, fs=fs))
    assert result[0] == (0.4, {T4})
    assert result[1][1] == {T3} and 0.72 < result[1][0] <= 0.85  # once two stats 50 ms apart agree


def test_vim_atomic_save_is_one_change_of_the_real_file(tmp_path):
    folder = str(Path(T3).parent)
    script = [
        (0.10, [(Change.added, f"{folder}/.TASK.md.swp")]),
        (0.20, [(Change.added, f"{folder}/4913"), (Change.deleted, f"{folder}/4913")]),
        (
            0.21,
            [
                (Change.added, f"{folder}/TASK.md.tmp"),
                (Change.deleted, f"{folder}/TASK.md.tmp"),
                (Change.deleted, T3),
                (Change.added, T3),
                (Change.added, f"{folder}/TASK.md~"),
                (Change.deleted, f"{folder}/TASK.md~"),
            ],
        ),
        (0.30, [(Change.deleted, f"{folder}/.TASK.md.swp")]),
    ]
    # Noise neither wakes the settler nor extends the quiet window; the delete + add of the
    # real file is one path, and what it is (modified) is for sync to see on disk.
    assert batches(run_script(tmp_path, script)) == [(0.51, {T3})]


def test_a_burst_of_1000_writes_is_a_few_batches(tmp_path):
    paths = [f"delegation/sprints/burst/t{i:04d}/TASK.md" for i in range(1000)]
    script = [(round(0.003 * i, 4), [(Change.added, p)]) for i, p in enumerate(paths)]  # 3 s
    result = batches(run_script(tmp_path, script))
    assert len(result) == 2
    assert set().union(*(b for _, b in result)) == set(paths)


def test_idle_yields_an_empty_set_every_tick(tmp_path):
    result = run_script(tmp_path, [], end=3.5, tick_ms=1000)
    assert result == [(1.0, set()), (2.0, set()), (3.0, set())]


def test_idle_wait_blocks_in_the_source_for_a_whole_tick(tmp_path):
    clock = FakeClock()
    source = ScriptedSource(tmp_path, clock, [], end=5.0)
    list(settled_changes(tmp_path, source=source, clock=clock, stat=lambda p: None))
    assert min(source.timeouts) >= 1000  # no Python loop busier than the tick while idle


def test_stop_yields_what_is_pending_once(tmp_path):
    result = run_script(tmp_path, [(0.1, [(Change.modified, T3)])], stop_at=0.2)
    assert result == [(0.2, {T3})]


def test_paths_outside_delegation_are_dropped(tmp_path):
    result = batches(
        run_script(tmp_path, [(0.1, [(Change.modified, "README.md"), (Change.modified, T3)])])
    )
    assert result == [(0.4, {T3})]


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("TASK.md", True),
        ("AGENT.yml", True),
        ("SPRINT.md", True),
        (".TASK.md.swp", False),
        (".TASK.md.swx", False),
        ("4913", False),
        ("TASK.md~", False),
        (".#TASK.md", False),
        ("#TASK.md#", False),
        ("TASK.md___jb_tmp___", False),
        ("TASK.md___jb_old___", False),
        (".DS_Store", False),
        ("TASK.md.tmp", False),
        (".TASK.md.x1y2.orchsync-tmp", False),
    ],
)
def test_noise_filter(tmp_path, name, kept):
    flt = NoiseFilter(tmp_path)
    assert flt(Change.modified, str(tmp_path / "delegation" / "sprints" / "s" / "t" / name)) is kept


def test_noise_filter_skips_noise_folders_and_paths_outside_the_root(tmp_path):
    flt = NoiseFilter(tmp_path / "repo")
    assert not flt(Change.added, str(tmp_path / "repo" / "delegation" / ".git" / "HEAD"))
    assert not flt(Change.added, str(tmp_path / "elsewhere" / "TASK.md"))
    assert NoiseFilter(tmp_path / "backup~")(
        Change.added, str(tmp_path / "backup~" / "delegation" / "x.md")
    )


class FakeNotify:
    def __init__(self, fail_watch: bool = False) -> None:
        self.fail_watch = fail_watch
        self.closed = False

    def watch(self, *args: object) -> object:
        if self.fail_watch:
            raise RuntimeError("OS file watch limit reached.")
        return "timeout"

    def close(self) -> None:
        self.closed = True


def test_native_events_unavailable_falls_back_to_polling_and_rescans(tmp_path):
    made: list[bool] = []

    def factory(path: str, force_polling: bool, delay: int) -> FakeNotify:
        made.append(force_polling)
        if not force_polling:
            raise OSError("OS file watch limit reached. (MaxFilesWatch)")
        return FakeNotify()

    source = NotifySource(tmp_path, factory=factory)
    assert made == [False, True]
    assert source.mode == "polling"
    assert "watch limit reached" in source.warning and "max_user_watches" in source.warning
    # Whatever changed before polling began is picked up by one look at the whole folder.
    assert source.wait(10, None) == {(int(Change.modified), str(tmp_path))}
    assert source.wait(10, None) == set()


def test_a_watch_failing_later_also_falls_back(tmp_path):
    natives: list[FakeNotify] = []

    def factory(path: str, force_polling: bool, delay: int) -> FakeNotify:
        n = FakeNotify(fail_watch=not force_polling)
        natives.append(n)
        return n

    source = NotifySource(tmp_path, factory=factory)
    assert source.mode == "native"
    assert source.wait(10, None) == {(int(Change.modified), str(tmp_path))}
    assert source.mode == "polling" and natives[0].closed


def test_a_replaced_folder_is_watched_afresh(tmp_path):
    folder = tmp_path / "delegation"
    folder.mkdir()
    source = NotifySource(folder, factory=lambda *a: FakeNotify())
    assert source.wait(10, None) == set()
    folder.rename(tmp_path / "old")
    folder.mkdir()
    assert source.wait(10, None) == {(int(Change.modified), str(folder))}


def test_the_cli_module_imports_nothing_heavy():
    code = (
        "import sys, orchsync.faces.cli, orchsync.faces.cli.watch, orchsync.watch; "
        "orchsync.watch.daemon_status; "
        "heavy = {'watchfiles', 'pygit2', 'duckdb'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the daemon loop with a stand-in sync --------------------------------------------------


def test_blocked_paths_stay_queued_until_git_state_changes(example_repo):
    from orchsync.sync import SyncResult
    from orchsync.watch.daemon import Daemon

    repo = find_repo(example_repo)
    calls: list[list[str]] = []
    answers = [SyncResult(blocked="a merge is in progress; snapshots wait until it ends")]

    def fake_sync(r, paths):
        calls.append([Path(p).relative_to(example_repo).as_posix() for p in paths])
        return answers.pop(0) if answers else SyncResult(commit=None)

    d = Daemon(repo, sync=fake_sync)
    (example_repo / ".git" / "MERGE_HEAD").write_text(git(example_repo, "rev-parse", "HEAD"))
    d.step({T3})
    assert calls == [[T3]] and d.queue == {T3} and "merge" in d.waiting
    d.step({T4})  # same git state: sync is not asked again, the path joins the queue
    assert calls == [[T3]] and d.queue == {T3, T4}
    (example_repo / ".git" / "MERGE_HEAD").unlink()
    d.step(set())  # the merge ended: both go
    assert calls[-1] == [T3, T4] and d.queue == set() and d.waiting is None


# --- the real daemon -----------------------------------------------------------------------


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def count_commits(repo: Path, rev: str = "HEAD") -> int:
    return int(git(repo, "rev-list", "--count", rev))


def indexed(repo: Path, **filters) -> tuple[dict, list[dict]]:
    """(meta, events) straight from the index file: no catch-up, unlike `query.reader`."""
    from orchsync import query

    index = Index(repo / ".git" / "orchsync" / "index.duckdb")
    if not index.exists():
        return {}, []
    with index.reader() as con:
        return index.meta(con), query.events(con, limit=None, **filters)


def index_reaches(repo: Path, rev: str = "HEAD", **filters):
    """A predicate: the index is at `rev` and holds events matching filters (returns them)."""

    def check():
        meta, events = indexed(repo, **filters)
        return (
            events
            if meta.get("last_commit") == git(repo, "rev-parse", rev).strip() and events
            else None
        )

    return check


def orchsync_cli(repo: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchsync", "--repo", str(repo), *args],
        env=GIT_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def quiet_for(seconds: float) -> None:
    """A negative claim ("no second commit comes") needs time to pass; this names that wait."""
    time.sleep(seconds)


@pytest.mark.slow
def test_a_plain_write_becomes_a_commit_with_trailers_and_index_rows(daemon, example_repo):
    d = daemon()
    before = head(example_repo)
    set_status(example_repo, T3, "in_progress")
    wait_for(
        lambda: head(example_repo) != before,
        timeout=0.3 + 1.0,
        interval=0.01,
        what="the snapshot commit",
    )
    body = git(example_repo, "log", "-1", "--format=%B")
    assert "Orchsync-Event: orchestration.task.status_updated T:phase-3-template-generation" in body
    assert (
        f"Orchsync-Hash: {hashlib.sha256((example_repo / T3).read_bytes()).hexdigest()} {T3}"
        in body
    )
    events = wait_for(
        index_reaches(
            example_repo, type="task.status_updated", entity="T:phase-3-template-generation"
        ),
        what="the event in the index",
    )
    assert [(e["commit"], e["payload"]["to"]) for e in events] == [
        (head(example_repo), "in_progress")
    ]
    assert git(example_repo, "status", "--porcelain") == ""
    status = daemon_status(find_repo(example_repo))
    assert status["running"] and status["pid"] == d.pid and status["mode"] == "native"
    assert status["last_commit"] == head(example_repo) and status["commits"] == 1


def vim_save(target: Path, text: str) -> None:
    """vim: swap file, the `4913` write probe, then a temp file renamed over the original."""
    folder = target.parent
    (folder / f".{target.name}.swp").write_bytes(b"b0VIM 9.0 swap")
    (folder / "4913").write_bytes(b"")
    (folder / "4913").unlink()
    tmp = folder / f"{target.name}.tmp"
    tmp.write_text(text, "utf-8")
    os.rename(tmp, target)


def jetbrains_save(target: Path, text: str) -> None:
    """JetBrains "safe write": tmp file, original moved aside, tmp renamed in, original deleted."""
    tmp = target.with_name(f"{target.name}___jb_tmp___")
    old = target.with_name(f"{target.name}___jb_old___")
    tmp.write_text(text, "utf-8")
    os.rename(target, old)
    os.rename(tmp, target)
    old.unlink()


@pytest.mark.slow
@pytest.mark.parametrize("save", [vim_save, jetbrains_save], ids=["vim", "jetbrains"])
def test_an_atomic_save_is_one_commit_modifying_the_file(daemon, example_repo, save):
    daemon()
    before = count_commits(example_repo)
    target = example_repo / T3
    save(target, target.read_text("utf-8").replace("status: pending", "status: blocked"))
    wait_for(lambda: count_commits(example_repo) > before, what="the snapshot commit")
    quiet_for(1.0)
    assert count_commits(example_repo) == before + 1
    assert git(example_repo, "show", "--name-status", "--format=", "HEAD").split() == ["M", T3]
    committed = git(example_repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert not [p for p in committed if re.search(r"(\.swp|4913|\.tmp|~|___jb_\w+___)$", p)]


@pytest.mark.slow
def test_a_burst_of_500_writes_is_a_few_commits(daemon, example_repo):
    daemon()
    before = count_commits(example_repo)
    written = [new_task(example_repo, f"burst-{i:03d}", sprint="burst") for i in range(500)]
    wait_for(
        lambda: (
            set(written) <= set(git(example_repo, "ls-tree", "-r", "--name-only", "HEAD").split())
        ),
        timeout=30,
        interval=0.2,
        what="all 500 files committed",
    )
    made = count_commits(example_repo) - before
    assert 1 <= made < 20


@pytest.mark.slow
def test_a_commit_by_hand_is_not_committed_again_and_gets_indexed(daemon, example_repo):
    daemon(example_repo, "--debounce", "1500")  # the user's commit surely lands first
    before = count_commits(example_repo)
    set_status(example_repo, T4, "blocked")
    git(example_repo, "commit", "-qam", "block phase 4 by hand")
    mine = head(example_repo)
    events = wait_for(
        index_reaches(example_repo, type="task.status_updated", entity="T:phase-4-agent-init"),
        what="the user's commit in the index",
    )
    assert [e["commit"] for e in events] == [mine]
    quiet_for(0.5)
    assert count_commits(example_repo) == before + 1 and head(example_repo) == mine


@pytest.mark.slow
def test_a_checkout_of_another_branch_is_indexed_not_recommitted(daemon, example_repo):
    git(example_repo, "checkout", "-qb", "other")
    set_status(example_repo, T5, "completed")
    new_task(example_repo, "other-only")
    other = commit_all(example_repo, "work on other")
    git(example_repo, "checkout", "-q", "main")
    main = head(example_repo)
    daemon()
    git(example_repo, "checkout", "-q", "other")

    def on_other():
        meta, events = indexed(example_repo, entity="T:other-only")
        return meta.get("ref") == "refs/heads/other" and meta.get("last_commit") == other and events

    wait_for(on_other, what="the index to follow the checkout")
    quiet_for(0.5)
    assert head(example_repo) == other and git(example_repo, "rev-parse", "main").strip() == main
    from orchsync import query

    with Index(example_repo / ".git/orchsync/index.duckdb").reader() as con:
        statuses = {t["task"]: t["status"] for t in query.tasks(con)}
    assert statuses["phase-5-pm-commands"] == "completed" and "other-only" in statuses


@pytest.mark.slow
def test_edits_wait_while_a_merge_is_in_progress(daemon, example_repo):
    git(example_repo, "checkout", "-qb", "theirs")
    set_status(example_repo, T3, "completed")
    commit_all(example_repo, "theirs: done")
    git(example_repo, "checkout", "-q", "main")
    set_status(example_repo, T3, "blocked")
    ours = commit_all(example_repo, "ours: blocked")
    daemon()
    merge = subprocess.run(
        ["git", "-C", str(example_repo), "merge", "theirs"], env=GIT_ENV, capture_output=True
    )
    assert merge.returncode == 1 and (example_repo / ".git" / "MERGE_HEAD").exists()
    set_status(example_repo, T5, "in_progress")  # an edit made meanwhile
    repo = find_repo(example_repo)

    def waiting():
        s = daemon_status(repo)
        return s if T5 in s["queued"] and "merge" in (s["waiting"] or "") else None

    status = wait_for(waiting, what="the daemon to say why the edit waits")
    assert status["state"] == "waiting"
    assert head(example_repo) == ours
    git(example_repo, "merge", "--abort")
    wait_for(lambda: head(example_repo) != ours, what="the queued edit to be committed")
    assert git(example_repo, "show", "--name-only", "--format=", "HEAD").split() == [T5]
    assert "status: in_progress" in git(example_repo, "show", f"HEAD:{T5}")
    wait_for(
        lambda: daemon_status(repo)["queued_count"] == 0 and daemon_status(repo)["waiting"] is None,
        what="the queue to empty",
    )


@pytest.mark.slow
def test_one_daemon_per_clone_and_stop(daemon, example_repo):
    d = daemon()
    second = orchsync_cli(example_repo, "watch")
    assert second.returncode == 2
    assert f"already running for {example_repo} (pid {d.pid})" in second.stderr
    stopped = orchsync_cli(example_repo, "stop")
    assert (stopped.returncode, stopped.stdout) == (0, f"stopped orchsync watch (pid {d.pid})\n")
    assert d.proc.wait(5) == 0
    assert daemon_status(find_repo(example_repo))["running"] is False
    again = orchsync_cli(example_repo, "stop")
    assert again.returncode == 1 and "no orchsync watch is running" in again.stderr


@pytest.mark.slow
def test_sigterm_is_a_clean_exit(daemon, example_repo):
    d = daemon()
    set_status(example_repo, T3, "in_progress")
    assert d.terminate() == 0
    assert d.state()["state"] == "stopped"
    assert "SIGTERM received" in d.stderr()
    log = (example_repo / ".git" / "orchsync" / "daemon.log").read_text("utf-8")
    assert "watching" in log and "stopped" in log


@pytest.mark.slow
def test_detach_starts_a_background_daemon(example_repo):
    started = orchsync_cli(example_repo, "watch", "--detach", "--debounce", "100")
    try:
        assert started.returncode == 0, started.stderr
        pid = int(re.search(r"pid (\d+)", started.stdout).group(1))
        status = daemon_status(find_repo(example_repo))
        assert status["running"] and status["pid"] == pid
        before = head(example_repo)
        set_status(example_repo, T3, "in_progress")
        wait_for(lambda: head(example_repo) != before, what="a commit by the detached daemon")
    finally:
        stopped = orchsync_cli(example_repo, "stop")
    assert stopped.returncode == 0


@pytest.mark.slow
def test_poll_mode_commits_and_says_so(daemon, example_repo):
    daemon(example_repo, "--poll")
    status = daemon_status(find_repo(example_repo))
    assert status["mode"] == "polling" and "--poll" in status["warning"]
    before = head(example_repo)
    set_status(example_repo, T3, "in_progress")
    wait_for(lambda: head(example_repo) != before, what="a commit found by polling")


@pytest.mark.slow
def test_edits_made_while_the_daemon_was_down_are_committed_at_start(daemon, example_repo):
    before = head(example_repo)
    set_status(example_repo, T3, "in_progress")
    daemon()  # ready means the start-up catch-up is done
    assert head(example_repo) != before
    assert git(example_repo, "show", "--name-only", "--format=", "HEAD").split() == [T3]


# --- crash safety ----------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import random, re, sys, time
    from pathlib import Path
    paths = [Path(p) for p in sys.argv[2:]]
    stop = Path(sys.argv[1])
    rng = random.Random(7)
    n = 0
    while not stop.exists():
        p = rng.choice(paths)
        text = p.read_text("utf-8")
        status = rng.choice(["pending", "in_progress", "blocked", "completed"])
        text = re.sub(r"(?m)^status: .*$", "status: " + status, text, count=1)
        text = re.sub(r"(?m)^<!-- edit \\d+ -->\\n", "", text) + f"<!-- edit {n} -->\\n"
        p.write_text(text, "utf-8")
        n += 1
        time.sleep(rng.uniform(0.005, 0.05) if rng.random() < 0.6 else rng.uniform(0.1, 0.4))
    """
)


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def unsynced(repo: Path) -> list[str]:
    """Files under delegation/ whose bytes on disk differ from HEAD's (or are missing in it)."""
    tree = {}
    for line in git(repo, "ls-tree", "-r", "HEAD", "delegation").splitlines():
        meta, path = line.split("\t", 1)
        tree[path] = meta.split()[2]
    on_disk = {
        p.relative_to(repo).as_posix(): p for p in (repo / "delegation").rglob("*") if p.is_file()
    }
    return sorted(p for p, f in on_disk.items() if tree.get(p) != blob_id(f.read_bytes())) + sorted(
        set(tree) - set(on_disk)
    )


def crash_cycles(repo: Path, tasks: list[str], cycles: int, seed: int = 1) -> None:
    """Kill -9 a daemon `cycles` times at random moments while a writer edits `tasks`."""
    rng = random.Random(seed)
    stop = repo.parent / "writer.stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stop), *[str(repo / t) for t in tasks]]
    )
    try:
        for _ in range(cycles):
            d = DaemonProcess(repo, "--debounce", "100").start(wait=False)
            time.sleep(rng.uniform(0.2, 1.5))  # during start-up, catch-up, settling or a commit
            d.kill()
    finally:
        stop.touch()
        writer.wait(10)


def assert_nothing_lost(repo: Path, tasks: list[str]) -> None:
    d = DaemonProcess(repo, "--debounce", "100").start()
    try:
        wait_for(
            lambda: not unsynced(repo),
            timeout=20,
            interval=0.2,
            what=f"every write committed: {unsynced(repo)}",
        )
        from orchsync import query

        wait_for(
            lambda: indexed(repo)[0].get("last_commit") == head(repo),
            what="the index to reach HEAD",
        )
        with Index(repo / ".git/orchsync/index.duckdb").reader() as con:
            indexed_status = {t["path"]: t["status"] for t in query.tasks(con)}
        on_disk = {
            t: re.search(r"(?m)^status: (.*)$", (repo / t).read_text("utf-8")).group(1)
            for t in tasks
        }
        assert {t: indexed_status.get(t) for t in tasks} == on_disk
    finally:
        assert d.terminate() == 0
    assert git(repo, "status", "--porcelain", "delegation") == ""


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_edit(example_repo):
    tasks = sorted(
        p.relative_to(example_repo).as_posix()
        for p in (example_repo / "delegation" / "sprints").glob("*/*/TASK.md")
    )
    crash_cycles(example_repo, tasks, cycles=10)
    assert_nothing_lost(example_repo, tasks)


def test_daemon_json_is_valid_while_running_and_after(daemon, example_repo):
    d = daemon()
    state = json.loads((example_repo / ".git/orchsync/daemon.json").read_text("utf-8"))
    assert state["pid"] == d.pid and state["mode"] == "native" and state["state"] == "watching"
    d.proc.send_signal(signal.SIGINT)
    assert d.proc.wait(10) == 0
    status = daemon_status(find_repo(example_repo))
    assert status["running"] is False and status["last_pid"] == d.pid


def test_a_sync_killed_between_commit_and_git_index_update_is_finished_by_the_next(
    example_repo, monkeypatch
):
    from orchsync.git.store import GitStore
    from orchsync.sync import sync

    class Killed(BaseException):
        pass

    def killed(*args, **kwargs):
        raise Killed

    repo = find_repo(example_repo)
    set_status(example_repo, T3, "in_progress")
    with monkeypatch.context() as m:
        m.setattr(GitStore, "update_user_index", killed)
        with pytest.raises(Killed):
            sync(repo)
    # The commit landed...
    assert "status: in_progress" in git(example_repo, "show", f"HEAD:{T3}")
    # ...but the git index did not follow: the old blob now looks staged by the user.
    assert git(example_repo, "status", "--porcelain") == f"MM {T3}\n"
    set_status(example_repo, T3, "completed")
    sync(repo)
    assert git(example_repo, "status", "--porcelain") == ""
