"""An idle daemon sleeps: it wakes for an edit, for git, for a signal, and otherwise rarely.

On Linux the daemon reads inotify itself (`orchsync.watch.inotify`) and blocks until an
event comes, instead of waking every 20 ms to look (watchfiles' backend); changes to
git's state (HEAD, the index, the branch refs) are events too, so it needs no tick every
second to notice a commit by hand; a signal wakes it at once. Bounds on time here only
catch a hang: each is far below the idle tick it proves the daemon did not wait for.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import git, replace_in, task_path, wait_for, write

from orchsync.repo import find_repo
from orchsync.watch import daemon as daemon_module
from orchsync.watch.daemon import IDLE_TICK_MS, _git_folders
from orchsync.watch.settle import NotifySource, settled_changes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify: Linux")

T3 = task_path("phase-3-template-generation")


def test_an_idle_watch_sleeps_until_the_timeout(tmp_path):
    source = NotifySource(tmp_path)
    try:
        start = time.monotonic()
        assert source.wait(400, None) == set()
        assert time.monotonic() - start >= 0.35  # slept, rather than returned early
    finally:
        source.close()


def test_an_edit_wakes_a_long_wait(tmp_path):
    source = NotifySource(tmp_path)
    seen: list[object] = []
    waiter = threading.Thread(target=lambda: seen.append(source.wait(60_000, None)))
    try:
        waiter.start()
        time.sleep(0.2)
        (tmp_path / "x.md").write_text("x\n")
        waiter.join(20)  # a hang, not a speed, would fail here: the wait was for 60 s
        assert not waiter.is_alive()
        assert (1, str(tmp_path / "x.md")) in seen[0]  # type: ignore[operator]
    finally:
        source.close()


def test_a_folder_made_and_filled_at_once_is_reported_whole(tmp_path):
    source = NotifySource(tmp_path)
    try:
        (tmp_path / "t1" / "deep").mkdir(parents=True)  # before its watch can exist
        (tmp_path / "t1" / "deep" / "TASK.md").write_text("x\n")
        seen: set = set()
        wait_for(
            lambda: (
                seen.update(source.wait(500, None)) or (1, f"{tmp_path}/t1/deep/TASK.md") in seen
            ),
            timeout=10,
            what="the file inside the new folders",
        )
        (tmp_path / "t1" / "deep" / "AGENT.yml").write_text("x\n")  # now watched
        seen = wait_for(lambda: source.wait(500, None), timeout=10, what="an event in it")
        assert (1, f"{tmp_path}/t1/deep/AGENT.yml") in seen
    finally:
        source.close()


def test_a_commit_by_hand_wakes_the_loop_before_its_tick(example_repo):
    repo = find_repo(example_repo)
    stop = threading.Event()
    source = NotifySource(repo.delegation, also=_git_folders(repo))
    assert source.wakes_on_git
    yielded: list[float] = []

    def loop() -> None:
        for _ in settled_changes(
            example_repo, stop_event=stop, tick_ms=15_000, source=source, debounce_ms=50
        ):
            yielded.append(time.monotonic())

    runner = threading.Thread(target=loop)
    runner.start()
    try:
        time.sleep(0.3)
        committed = time.monotonic()
        git(example_repo, "commit", "-q", "--allow-empty", "-m", "by hand")
        wait_for(lambda: yielded, timeout=10, what="the loop to wake")  # not at its tick
        assert yielded[0] >= committed
    finally:
        stop.set()  # seen when the wait ends: a commit ends it now, not at the 15 s tick
        git(example_repo, "commit", "-q", "--allow-empty", "-m", "wake")
        runner.join(30)
        source.close()


@pytest.mark.slow
def test_an_idle_daemon_stops_at_once_on_sigterm(daemon, example_repo):
    d = daemon()
    time.sleep(3)  # past the first cool-down stage: the loop sleeps for the idle tick
    start = time.monotonic()

    assert d.terminate(timeout=IDLE_TICK_MS / 1000 / 2) == 0  # far less than a tick

    assert time.monotonic() - start < IDLE_TICK_MS / 1000 / 2


@pytest.mark.slow
def test_an_idle_daemon_still_commits_an_edit(daemon, example_repo):
    d = daemon()
    time.sleep(3)
    replace_in(example_repo, T3, "status: pending", "status: blocked")

    wait_for(
        lambda: "status: blocked" in git(example_repo, "show", f"HEAD:{T3}"),
        timeout=30,
        what="the edit committed",
    )
    assert d.alive()


@pytest.mark.slow
def test_a_first_start_builds_the_index_in_a_child_process(daemon, example_repo):
    index = example_repo / ".git/orchsync/index.duckdb"
    assert not index.exists()

    d = daemon()

    assert index.exists()
    log = (example_repo / ".git/orchsync/daemon.log").read_text("utf-8")
    assert "built the index in" in log
    state = json.loads((example_repo / ".git/orchsync/daemon.json").read_text("utf-8"))
    assert state["pid"] == d.pid
    write(example_repo, "delegation/notes.md", "x\n")
    wait_for(
        lambda: "delegation/notes.md" in git(example_repo, "ls-tree", "-r", "--name-only", "HEAD"),
        timeout=30,
        what="the new file committed",
    )


def test_the_idle_tick_is_long_only_when_git_wakes_the_loop(example_repo):
    repo = find_repo(example_repo)
    d = daemon_module.Daemon(repo, serve=False)

    class Polling:
        wakes_on_git = False

    class Native:
        wakes_on_git = True

    d._cooled = 2
    assert d._tick(Polling()) == d.tick_ms
    assert d._tick(Native()) == IDLE_TICK_MS
    d.queue.add("delegation/x.md")
    assert d._tick(Native()) == d.tick_ms  # something to come back for


def test_git_folders_are_the_git_dir_and_the_branches(example_repo):
    repo = find_repo(example_repo)
    folders = dict(_git_folders(repo))
    assert folders[str(repo.git_dir)] is False  # alone: not objects/, not orchsync/
    assert folders[str(Path(repo.git_dir) / "refs" / "heads")] is True
