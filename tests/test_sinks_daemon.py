"""Sinks under a running daemon (a real `orchsync watch` child process).

The daemon delivers after each of its batches, in threads of its own: edits reach every
sink; a daemon killed with SIGKILL in the middle of deliveries and started again delivers
every event at least once (exactly once after deduplication by id); a receiver that
answers 500 for a while gets everything once it recovers; and a receiver that hangs does
not slow snapshot commits down.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import conftest
import pytest
from conftest import commit_all, git, new_task, wait_for
from receivers import OtlpReceiver, WebhookReceiver
from test_sinks import SECRET, index_ids, read_jsonl, with_sinks

from orchsync.repo import find_repo

pytestmark = pytest.mark.slow

TASKS = [f"d-{n:02d}" for n in range(8)]


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setitem(conftest.GIT_ENV, "ORCHSYNC_TEST_SECRET", SECRET)
    r = WebhookReceiver(SECRET)
    yield r
    r.close()


@pytest.fixture
def collector():
    r = OtlpReceiver()
    yield r
    r.close()


def tasks_committed(repo: Path) -> None:
    """A few tasks to edit, committed before the daemon starts."""
    for code in TASKS:
        new_task(repo, code)
    commit_all(repo, "tasks to edit")


def edit(repo: Path, n: int) -> None:
    code = TASKS[n % len(TASKS)]
    path = f"delegation/sprints/orchestration-api-v2/{code}/TASK.md"
    text = (repo / path).read_text()
    (repo / path).write_text(text + f"\nedit {n}\n")


def head(repo: Path) -> str | None:
    return find_repo(repo).ref_tip("refs/heads/main")


def all_arrived(got, repo: Path) -> bool:
    return set(got()) == set(index_ids(repo))


def all_committed(repo: Path) -> None:
    """Until the daemon has committed every edit (nothing under delegation/ differs)."""
    wait_for(lambda: git(repo, "status", "--porcelain", "delegation") == "", 60, what="commits")


def test_edits_under_a_running_daemon_reach_every_sink(
    daemon, agent_init, example_repo, receiver, collector, tmp_path
):
    tasks_committed(example_repo)
    trail = tmp_path / "trail.jsonl"
    with_sinks(
        example_repo,
        f"""\
  - name: trail
    type: jsonl
    path: {trail}
    start: all
  - name: hooks
    type: webhook
    url: {receiver.url}
    secret_env: ORCHSYNC_TEST_SECRET
    start: all
  - name: otel
    type: otlp
    endpoint: {collector.endpoint}
    start: all
""",
    )
    d = daemon(example_repo, "--debounce", "100")

    for n in range(10):
        edit(example_repo, n)
        time.sleep(0.15)
    all_committed(example_repo)

    def jsonl_ids() -> list[int]:
        return [e["id"] for e in read_jsonl(trail)] if trail.exists() else []

    for name, got in (("trail", jsonl_ids), ("hooks", receiver.ids), ("otel", collector.ids)):
        wait_for(lambda g=got: all_arrived(g, example_repo), 60, what=f"sink {name}")
        assert sorted(got()) == sorted(index_ids(example_repo)), name  # each once
    assert receiver.bad_signatures == 0
    assert "sink hooks (webhook to http://127.0.0.1:" in d.stderr()
    edited = {
        e["path"] for e in receiver.events() if e["event_type"] == "orchestration.task.updated"
    }
    assert edited == {f"delegation/sprints/orchestration-api-v2/{c}/TASK.md" for c in TASKS}

    # An AGENT INIT changes no file: the sinks find its journal events on their own.
    agent_init(example_repo, "T:d-00", "--agent", "backend-engineer")
    wait_for(
        lambda: "orchestration.agent.initialized" in {e["event_type"] for e in receiver.events()},
        30,
        what="the journal event",
    )


def test_sigkill_in_the_middle_of_deliveries_loses_no_event(daemon, example_repo, receiver):
    tasks_committed(example_repo)
    with_sinks(
        example_repo,
        f"""\
  - name: hooks
    type: webhook
    url: {receiver.url}
    secret_env: ORCHSYNC_TEST_SECRET
    start: all
    batch_size: 4
""",
    )
    receiver.delay = 0.25  # a slow receiver: deliveries are still going on when the kill comes
    d = daemon(example_repo, "--debounce", "100")
    for n in range(12):
        edit(example_repo, n)
        time.sleep(0.1)
    all_committed(example_repo)
    wait_for(lambda: len(receiver.batches) >= 3, 60, what="some batches delivered")

    d.kill()
    wanted = set(index_ids(example_repo))
    assert set(receiver.ids()) < wanted, "the kill came before everything was delivered"
    daemon(example_repo, "--debounce", "100")

    wait_for(lambda: all_arrived(receiver.ids, example_repo), 120, what="every event")
    ids = receiver.ids()
    assert set(ids) == wanted == set(index_ids(example_repo))
    assert len(ids) >= len(wanted)  # at least once; exactly once after deduplication by id


def test_a_receiver_answering_500_for_a_while_gets_everything_after(
    daemon, orchsync, example_repo, receiver
):
    tasks_committed(example_repo)
    with_sinks(
        example_repo,
        f"""\
  - name: hooks
    type: webhook
    url: {receiver.url}
    secret_env: ORCHSYNC_TEST_SECRET
    start: all
    retries: 1
""",
    )
    down = {"until": time.monotonic() + 4.0}
    receiver.script = lambda n: (500, {}) if time.monotonic() < down["until"] else (200, {})
    d = daemon(example_repo, "--debounce", "100")
    for n in range(6):
        edit(example_repo, n)
        time.sleep(0.1)
    all_committed(example_repo)

    def failing() -> bool:
        result = orchsync(example_repo, "sinks", "status", "--json")
        return '"state": "failing"' in result.stdout

    wait_for(failing, 30, what="status to report the failing sink")
    wait_for(
        lambda: all_arrived(receiver.ids, example_repo), 120, what="every event after recovery"
    )
    assert receiver.requests > len(receiver.batches)  # it was refused meanwhile
    assert "sink hooks delivers again" in wait_for(
        lambda: d.stderr() if "delivers again" in d.stderr() else None, 30
    )


def commit_latencies(repo: Path, edits: int, start: int) -> list[float]:
    out = []
    for n in range(start, start + edits):
        before = head(repo)
        started = time.monotonic()
        edit(repo, n)
        wait_for(lambda b=before: head(repo) != b, 30, interval=0.01, what="the commit")
        out.append(time.monotonic() - started)
        time.sleep(0.2)
    return out


def test_a_receiver_that_hangs_does_not_slow_snapshot_commits(daemon, example_repo, receiver):
    tasks_committed(example_repo)
    free = daemon(example_repo, "--debounce", "100")
    without = commit_latencies(example_repo, 5, 0)
    free.terminate()

    with_sinks(
        example_repo,
        f"""\
  - name: hooks
    type: webhook
    url: {receiver.url}
    secret_env: ORCHSYNC_TEST_SECRET
    start: all
    timeout: 60
    retries: 0
""",
    )
    receiver.script = lambda n: (0, {})  # accept the connection, never answer
    hung = daemon(example_repo, "--debounce", "100")
    wait_for(lambda: receiver.requests >= 1, 30, what="the sink to be stuck in a request")
    with_hung_sink = commit_latencies(example_repo, 5, 100)

    # The sink waits 60 s for its answer; a commit that waited for it would show that.
    assert max(with_hung_sink) < 10, with_hung_sink
    assert statistics.median(with_hung_sink) < statistics.median(without) + 1.0, (
        without,
        with_hung_sink,
    )
    started = time.monotonic()
    assert hung.terminate(timeout=20) == 0  # stopping does not wait for the stuck send
    assert time.monotonic() - started < 15


def test_a_sink_added_while_the_daemon_runs_starts_delivering(daemon, example_repo, tmp_path):
    tasks_committed(example_repo)
    d = daemon(example_repo, "--debounce", "100")
    trail = tmp_path / "trail.jsonl"

    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {trail}\n", commit=False)
    wait_for(lambda: "sink trail (jsonl to" in d.stderr(), 30, what="the sink to start")
    wait_for(lambda: (example_repo / ".git/orchsync/sinks/trail/cursor.json").exists(), 30)
    edit(example_repo, 0)
    all_committed(example_repo)

    wait_for(lambda: trail.exists() and read_jsonl(trail), 30, what="the edit's events")
    assert [e["event_type"] for e in read_jsonl(trail)] == [
        "orchestration.task.updated",
        "orchestration.file.synced",
    ]
