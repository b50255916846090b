"""Event sinks without a daemon: configuration, JSON Lines files, webhooks, cursors, status.

Every test configures sinks in `delegation/orchsync.yml` of a real repository, makes real
commits and runs `orchsync sinks flush`; receivers are real HTTP servers on 127.0.0.1
(`tests/receivers.py`). What must hold: every event the index holds past a sink's start
arrives, in order, once per acknowledged batch; a cursor moves only after an
acknowledgement; bad configuration is a diagnostic with file, line and field.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    GIT_ENV,
    commit_all,
    commit_at,
    git,
    new_task,
    set_status,
    task_path,
    write,
)
from receivers import WebhookReceiver

from orchsync import query
from orchsync.repo import find_repo
from orchsync.sinks.settings import load_sinks
from orchsync.sinks.webhook import parse_retry_after
from orchsync.sync import sync

SECRET = "s3cret-for-tests"
PHASE3 = task_path("phase-3-template-generation")
CONFIG = "delegation/orchsync.yml"


def with_sinks(repo: Path, yaml: str, *, commit: bool = True) -> None:
    """Append a `sinks:` list to orchsync.yml (and commit it, as a team would)."""
    path = repo / CONFIG
    path.write_text(path.read_text(encoding="utf-8") + "\nsinks:\n" + yaml, encoding="utf-8")
    if commit:
        commit_all(repo, "sinks")


def snapshot(repo: Path, **kwargs):
    return sync(find_repo(repo), **kwargs)


def index_ids(repo: Path) -> list[int]:
    """The index's events in delivery order: commits parents first, then seq; journal last."""
    order = git(repo, "rev-list", "--reverse", "--topo-order", "HEAD").split()
    with query.reader(find_repo(repo)) as con:
        rows = con.execute('SELECT id, "commit", seq, emitted_at FROM events').fetchall()
    pos = {c: n for n, c in enumerate(order)}
    git_rows = sorted((r for r in rows if r[1]), key=lambda r: (pos[r[1]], r[2]))
    journal = sorted((r for r in rows if not r[1]), key=lambda r: r[3])
    return [r[0] for r in git_rows + journal]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def flush(orchsync, repo: Path, *args: str):
    return orchsync(repo, "sinks", "flush", *args)


def sink_status(orchsync, repo: Path) -> dict:
    result = orchsync(repo, "sinks", "status", "--json")
    return {s["name"]: s for s in json.loads(result.stdout)["sinks"]} | {
        "_problems": json.loads(result.stdout)["problems"],
        "_exit": result.exit_code,
    }


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("ORCHSYNC_TEST_SECRET", SECRET)
    r = WebhookReceiver(SECRET)
    yield r
    r.close()


# --- configuration ------------------------------------------------------------------------------


def test_the_sinks_list_reads_as_documented(example_repo, tmp_path):
    with_sinks(
        example_repo,
        f"""\
  - name: hooks
    type: webhook
    url: http://127.0.0.1:8080/orchsync
    secret_env: ORCHSYNC_WEBHOOK_SECRET
    events: ["task.*", "orchestration.bug.reported"]
    min_level: info
    entities: [task, bug]
  - name: trail
    type: jsonl
    path: {tmp_path}/logs/events.jsonl
  - name: otel
    type: otlp
    endpoint: http://127.0.0.1:4318
""",
    )

    settings = load_sinks(find_repo(example_repo))

    assert settings.diagnostics == ()
    hooks, trail, otel = settings.sinks
    assert (hooks.type, hooks.start, hooks.batch_size) == ("webhook", "latest", 500)
    assert hooks.filter.events == ("orchestration.task.*", "orchestration.bug.reported")
    assert hooks.options == {
        "url": "http://127.0.0.1:8080/orchsync",
        "secret_env": "ORCHSYNC_WEBHOOK_SECRET",
        "timeout": 10.0,
        "retries": 5,
    }
    assert trail.options["path"] == tmp_path / "logs/events.jsonl"
    assert (trail.options["max_bytes"], trail.options["keep"]) == (100 * 2**20, 5)
    assert otel.target() == "http://127.0.0.1:4318"
    assert hooks.filter.matches(
        {"event_type": "orchestration.task.started", "level": "info", "entity_type": "task"}
    )
    assert not hooks.filter.matches(
        {"event_type": "orchestration.file.synced", "level": "debug", "entity_type": "file"}
    )


def test_bad_sink_entries_are_check_diagnostics_with_line_and_field(
    orchsync, example_repo, tmp_path
):
    with_sinks(
        example_repo,
        f"""\
  - name: ok
    type: jsonl
    path: {tmp_path}/events.jsonl
  - name: ../../escape
    type: jsonl
    path: delegation/events.jsonl
  - name: leaky
    type: webhook
    url: file:///etc/passwd
    secret: hunter2
    timeout: forever
  - name: ok
    type: otlp
  - name: mystery
    type: kafka
""",
    )

    result = orchsync(example_repo, "check", CONFIG)

    assert result.exit_code == 1
    base = (example_repo / CONFIG).read_text().splitlines().index("sinks:") + 1
    assert result.stdout.splitlines() == [
        f"{CONFIG}:{base + 4}: sinks[1].name: use 1 to 64 letters, digits, `_`, `.` or `-`",
        f"{CONFIG}:{base + 6}: sinks[1].path: {example_repo}/delegation/events.jsonl is inside "
        "the repository's delegation/ tree; write it somewhere else",
        f"{CONFIG}:{base + 7}: sinks[2].secret_env: required",
        f"{CONFIG}:{base + 9}: sinks[2].url: only http and https URLs are sent to, not file",
        f"{CONFIG}:{base + 10}: sinks[2].secret: secrets are never read from this file (it is "
        "committed): put it in an environment variable and name that in `secret_env`",
        f"{CONFIG}:{base + 11}: sinks[2].timeout: expected seconds, more than 0 and at most 300",
        f"{CONFIG}:{base + 12}: sinks[3].name: 'ok' is used by an earlier sink",
        f"{CONFIG}:{base + 15}: sinks[4].type: 'kafka' is not one of jsonl, webhook, otlp",
    ]
    # The good sink is still delivered to; the bad ones are not.
    assert [s.name for s in load_sinks(find_repo(example_repo)).sinks] == ["ok"]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("delegation/trail.jsonl", "inside the repository's delegation/ tree"),
        ("delegation/../delegation/sprints/x.jsonl", "inside the repository's delegation/ tree"),
        (".git/orchsync/trail.jsonl", "inside the repository's .git folder"),
        ("~/.bashrc", "the file name must end in .jsonl or .ndjson"),
        ("linked/trail.jsonl", "inside the repository's delegation/ tree"),  # a link to it
    ],
)
def test_a_jsonl_sink_never_writes_into_the_repository_tree_or_git(
    orchsync, example_repo, path, why
):
    (example_repo / "linked").symlink_to(example_repo / "delegation")
    with_sinks(example_repo, f"  - name: t\n    type: jsonl\n    path: {path}\n")

    result = orchsync(example_repo, "check", CONFIG)

    assert result.exit_code == 1
    assert why in result.stdout
    assert load_sinks(find_repo(example_repo)).sinks == ()


def test_a_jsonl_sink_refuses_a_file_it_did_not_write_and_a_link(orchsync, example_repo, tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text("my own notes, not events\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "elsewhere.jsonl")
    with_sinks(
        example_repo,
        f"""\
  - name: notes
    type: jsonl
    path: {notes}
    start: all
  - name: link
    type: jsonl
    path: {link}
    start: all
""",
    )

    result = flush(orchsync, example_repo)

    assert result.exit_code == 1
    assert "already holds something other than JSON Lines" in result.stderr
    assert "is a symbolic link; the sink does not follow links" in result.stderr
    assert notes.read_text() == "my own notes, not events\n"
    assert not (tmp_path / "elsewhere.jsonl").exists()


# --- JSON Lines ---------------------------------------------------------------------------------


def test_flush_writes_every_event_of_the_index_once_in_order(orchsync, example_repo, tmp_path):
    out = tmp_path / "out" / "events.jsonl"
    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {out}\n    start: all\n")
    set_status(example_repo, PHASE3, "in_progress")
    snapshot(example_repo, actor="alice", session="S-1")

    first = flush(orchsync, example_repo)
    again = flush(orchsync, example_repo)

    assert first.exit_code == 0, first.stderr
    assert first.stdout == f"trail: delivered {len(index_ids(example_repo))} event(s), caught up\n"
    assert again.stdout == "trail: delivered 0 event(s), caught up\n"
    events = read_jsonl(out)
    assert [e["id"] for e in events] == index_ids(example_repo)
    started = next(e for e in events if e["event_type"] == "orchestration.task.started")
    assert started["entity_code"] == "phase-3-template-generation"
    assert (started["agent"], started["session_key"]) == ("alice", "S-1")
    assert (
        started["emitted_at"].endswith("Z")
        and started["commit"] == git(example_repo, "rev-parse", "HEAD").strip()
    )
    assert started["payload"] == {"from": "pending"}


def test_a_new_sink_starts_at_the_latest_event_by_default(orchsync, example_repo, tmp_path):
    out = tmp_path / "events.jsonl"
    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {out}\n")
    flush(orchsync, example_repo)  # first seen: starts here, sends nothing of the past
    assert not out.exists()

    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo)
    flush(orchsync, example_repo)

    assert [e["event_type"] for e in read_jsonl(out)] == [
        "orchestration.task.status_updated",
        "orchestration.task.blocked",
        "orchestration.file.synced",
    ]


def test_the_filter_sends_only_what_it_names_and_moves_past_the_rest(
    orchsync, example_repo, tmp_path
):
    out = tmp_path / "events.jsonl"
    with_sinks(
        example_repo,
        f"""\
  - name: trail
    type: jsonl
    path: {out}
    events: ["task.*"]
    min_level: info
""",
    )
    flush(orchsync, example_repo)
    set_status(example_repo, PHASE3, "in_progress")
    write(example_repo, "delegation/backlog/BUG-0002-x.md", "---\ntitle: X\nstatus: open\n---\n")
    snapshot(example_repo)

    flush(orchsync, example_repo)

    assert [e["event_type"] for e in read_jsonl(out)] == [
        "orchestration.task.status_updated",
        "orchestration.task.started",
    ]
    assert sink_status(orchsync, example_repo)["trail"]["lag_events"] == 0


def test_batches_split_a_big_commit_and_resume_where_they_stopped(orchsync, example_repo, tmp_path):
    out = tmp_path / "events.jsonl"
    with_sinks(
        example_repo,
        f"  - name: trail\n    type: jsonl\n    path: {out}\n    start: all\n    batch_size: 7\n",
    )
    for n in range(12):
        new_task(example_repo, f"t-{n:02d}")
    snapshot(example_repo)  # one commit, 24 events

    flush(orchsync, example_repo)

    assert [e["id"] for e in read_jsonl(out)] == index_ids(example_repo)
    cursor = json.loads((example_repo / ".git/orchsync/sinks/trail/cursor.json").read_text())
    assert cursor["partial"] is None
    assert cursor["heads"] == [git(example_repo, "rev-parse", "HEAD").strip()]


def test_jsonl_rotates_by_size_and_keeps_as_many_files_as_asked(orchsync, example_repo, tmp_path):
    logs = tmp_path / "logs"
    out = logs / "events.jsonl"
    with_sinks(
        example_repo,
        f"""\
  - name: trail
    type: jsonl
    path: {out}
    start: all
    batch_size: 5
    max_bytes: 4096
    keep: 2
""",
    )

    flush(orchsync, example_repo)

    assert sorted(p.name for p in logs.iterdir()) == [
        "events.jsonl",
        "events.jsonl.1",
        "events.jsonl.2",
    ]
    assert all(p.stat().st_size <= 4096 for p in logs.iterdir())
    kept = [
        e["id"]
        for p in ("events.jsonl.2", "events.jsonl.1", "events.jsonl")
        for e in read_jsonl(logs / p)
    ]
    assert kept == index_ids(example_repo)[-len(kept) :]


def test_a_line_a_crash_left_unfinished_does_not_swallow_the_next_event(
    orchsync, example_repo, tmp_path
):
    out = tmp_path / "events.jsonl"
    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {out}\n")
    flush(orchsync, example_repo)
    out.write_bytes(b'{"id": 1, "event_type": "orchestration.task.upd')  # torn by a crash
    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo)

    flush(orchsync, example_repo)

    lines = out.read_bytes().split(b"\n")
    assert lines[0] == b'{"id": 1, "event_type": "orchestration.task.upd'
    assert [json.loads(x)["event_type"] for x in lines[1:] if x] == [
        "orchestration.task.status_updated",
        "orchestration.task.blocked",
        "orchestration.file.synced",
    ]


# --- cursors in git's terms -----------------------------------------------------------------------


def test_older_commits_pulled_in_later_are_delivered_too(orchsync, example_repo, tmp_path):
    """A merge brings commits dated before the last delivered one: none is skipped."""
    out = tmp_path / "events.jsonl"
    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {out}\n")
    flush(orchsync, example_repo)
    git(example_repo, "checkout", "-q", "-b", "teammate")
    new_task(example_repo, "from-teammate")
    commit_at(example_repo, "teammate's task", "2020-01-01T09:00:00Z")  # long ago
    git(example_repo, "checkout", "-q", "main")
    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo)
    flush(orchsync, example_repo)
    git(example_repo, "merge", "-q", "--no-ff", "teammate", "-m", "merge")

    flush(orchsync, example_repo)

    delivered = [e["id"] for e in read_jsonl(out)]
    assert len(delivered) == len(set(delivered))
    assert sorted(delivered) == sorted(index_ids(example_repo)[-len(delivered) :])
    assert "from-teammate" in {e["entity_code"] for e in read_jsonl(out)}


def test_a_rebuilt_index_neither_resends_nor_skips(orchsync, example_repo, tmp_path):
    out = tmp_path / "events.jsonl"
    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {out}\n    start: all\n")
    flush(orchsync, example_repo)
    before = [e["id"] for e in read_jsonl(out)]

    assert orchsync(example_repo, "reindex").exit_code == 0
    flush(orchsync, example_repo)
    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo)
    flush(orchsync, example_repo)

    assert [e["id"] for e in read_jsonl(out)] == index_ids(example_repo)
    assert [e["id"] for e in read_jsonl(out)][: len(before)] == before


# --- stable event ids ---------------------------------------------------------------------------


def test_event_ids_are_the_same_live_and_rebuilt_also_after_a_policy_change(
    orchsync, agent_init, example_repo
):
    set_status(example_repo, PHASE3, "in_progress")
    snapshot(example_repo, actor="alice")
    agent_init(example_repo, "T:phase-3-template-generation", "--agent", "backend-engineer")
    live = {
        r["id"]: r
        for r in json.loads(orchsync(example_repo, "events", "--json", "--limit", "0").stdout)
    }
    journal = [r for r in live.values() if r["event_type"].startswith("orchestration.agent.")]
    assert journal, "agent init records a journal event"

    # min_level info: the debug events go, the others keep their ids
    config = example_repo / CONFIG
    config.write_text(config.read_text().replace("min_level: debug", "min_level: info"))
    commit_all(example_repo, "quieter events")
    assert orchsync(example_repo, "reindex").exit_code == 0
    rebuilt = {
        r["id"]: r
        for r in json.loads(orchsync(example_repo, "events", "--json", "--limit", "0").stdout)
    }

    kept = {i: r for i, r in live.items() if r["level"] != "debug"}
    assert kept and len(kept) < len(live)
    assert {
        i: (r["event_type"], r["commit"], r["seq"]) for i, r in rebuilt.items() if i in live
    } == {i: (r["event_type"], r["commit"], r["seq"]) for i, r in kept.items()}
    assert {r["id"] for r in journal} <= set(rebuilt)


def test_the_event_id_is_a_column_of_the_listing_and_of_the_sql_view(orchsync, example_repo):
    listing = orchsync(example_repo, "events", "--limit", "1")
    newest = json.loads(orchsync(example_repo, "events", "--json", "--limit", "1").stdout)[0]
    via_sql = orchsync(
        example_repo,
        "query",
        "select id from orchestration_events order by emitted_at desc, seq desc limit 1",
        "--json",
    )

    assert listing.stdout.split()[0] == "id"
    assert listing.stdout.splitlines()[2].split()[0] == str(newest["id"])
    assert json.loads(via_sql.stdout) == [{"id": newest["id"]}]


def test_events_follow_json_prints_json_lines(example_repo):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchsync",
            "--repo",
            str(example_repo),
            "events",
            "--follow",
            "--json",
            "--limit",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=GIT_ENV,
        text=True,
    )
    try:
        first = [json.loads(proc.stdout.readline()) for _ in index_ids(example_repo)]  # type: ignore[union-attr]
        set_status(example_repo, PHASE3, "blocked")
        snapshot(example_repo)
        follow = [json.loads(proc.stdout.readline()) for _ in range(3)]  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(10)

    assert all(isinstance(e, dict) and "id" in e for e in first + follow)
    assert [e["event_type"] for e in follow] == [
        "orchestration.task.status_updated",
        "orchestration.task.blocked",
        "orchestration.file.synced",
    ]


# --- webhooks -----------------------------------------------------------------------------------


def webhook(receiver: WebhookReceiver, extra: str = "") -> str:
    return (
        f"  - name: hooks\n    type: webhook\n    url: {receiver.url}\n"
        f"    secret_env: ORCHSYNC_TEST_SECRET\n    start: all\n{extra}"
    )


def test_webhook_posts_signed_batches_of_events(orchsync, example_repo, receiver):
    with_sinks(example_repo, webhook(receiver, "    batch_size: 20\n"))

    result = flush(orchsync, example_repo)

    assert result.exit_code == 0, result.stderr
    assert receiver.bad_signatures == 0
    assert receiver.ids() == index_ids(example_repo)
    assert [len(b["events"]) for b in receiver.batches][:-1] == [20] * (len(receiver.batches) - 1)
    first = receiver.batches[0]
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["X-Orchsync-Sink"] == "hooks"
    assert len(first["delivery"]) == 32
    assert len({b["delivery"] for b in receiver.batches}) == len(receiver.batches)


def test_a_webhook_without_its_secret_sends_nothing_and_says_why(
    orchsync, example_repo, receiver, monkeypatch
):
    with_sinks(example_repo, webhook(receiver))
    monkeypatch.delenv("ORCHSYNC_TEST_SECRET")

    result = flush(orchsync, example_repo)
    status = orchsync(example_repo, "status")

    assert result.exit_code == 1
    assert (
        "the environment variable ORCHSYNC_TEST_SECRET (secret_env) is not set; nothing is sent unsigned"
        in result.stderr
    )
    assert receiver.requests == 0
    assert "sink hooks failing since" in status.stdout
    assert "ORCHSYNC_TEST_SECRET" in status.stdout


def test_a_receiver_answering_500_gets_everything_once_it_recovers(
    orchsync, example_repo, receiver
):
    with_sinks(example_repo, webhook(receiver, "    retries: 1\n"))
    receiver.script = lambda n: (500, {}) if n < 4 else (200, {})

    failed = [flush(orchsync, example_repo) for _ in range(2)]
    state = sink_status(orchsync, example_repo)["hooks"]
    recovered = flush(orchsync, example_repo)

    assert [r.exit_code for r in failed] == [1, 1]
    assert "HTTP 500" in failed[0].stderr
    assert state["state"] == "failing" and state["last_error"]["status"] == 500
    assert state["lag_events"] == len(index_ids(example_repo))
    assert recovered.exit_code == 0
    assert receiver.ids() == index_ids(example_repo)
    assert sink_status(orchsync, example_repo)["hooks"]["state"] == "ok"


def test_retry_after_is_honoured(orchsync, example_repo, receiver):
    with_sinks(example_repo, webhook(receiver))
    receiver.script = lambda n: (503, {"Retry-After": "2"}) if n == 0 else (200, {})

    result = flush(orchsync, example_repo)

    assert result.exit_code == 0
    assert receiver.times[1] - receiver.times[0] >= 1.9
    assert receiver.ids() == index_ids(example_repo)


def test_flush_stops_retrying_at_its_timeout(orchsync, example_repo, receiver):
    with_sinks(example_repo, webhook(receiver))  # the default: several retries, backing off
    receiver.script = lambda n: (500, {})

    started = time.monotonic()
    result = flush(orchsync, example_repo, "--timeout", "1")
    took = time.monotonic() - started

    assert result.exit_code == 1
    assert "stopped while retrying" in result.stderr and "HTTP 500" in result.stderr
    assert took < 6, f"--timeout 1 took {took:.1f} s"  # generous: retrying to the end takes ~15 s
    assert receiver.ids() == []


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now) == 30.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("soon", now) is None


def test_a_batch_refused_for_good_is_dead_lettered_and_delivery_goes_on(
    orchsync, example_repo, receiver
):
    with_sinks(example_repo, webhook(receiver, "    batch_size: 10\n"))
    receiver.script = lambda n: (422, {}) if n == 1 else (200, {})

    result = flush(orchsync, example_repo)
    state = sink_status(orchsync, example_repo)["hooks"]

    everything = index_ids(example_repo)
    assert result.exit_code == 0
    assert "10 refused for good (dead-lettered)" in result.stdout
    assert receiver.ids() == everything[:10] + everything[20:]
    dead = read_jsonl(example_repo / ".git/orchsync/sinks/hooks/dead-letter.jsonl")
    assert [e["id"] for e in dead[0]["events"]] == everything[10:20]
    assert dead[0]["status"] == 422
    assert state["backlog"]["dead_letter_events"] == 10
    assert state["state"] == "ok"  # the batches after it were taken


def test_redirects_are_followed_only_within_the_same_origin(orchsync, example_repo, receiver):
    with_sinks(example_repo, webhook(receiver))
    receiver.script = lambda n: (
        (307, {"Location": "/moved"}) if n == 0 else (308, {"Location": "http://example.com/x"})
    )

    result = flush(orchsync, example_repo)

    assert result.exit_code == 1
    assert receiver.requests == 2  # the same-host hop was followed, the other one not
    assert "redirect to another host (http://example.com/x) not followed" in result.stderr


def test_a_receiver_that_hangs_times_out(orchsync, example_repo, receiver):
    with_sinks(example_repo, webhook(receiver, "    timeout: 1\n    retries: 0\n"))
    receiver.script = lambda n: (0, {})

    started = time.monotonic()
    result = flush(orchsync, example_repo)

    assert result.exit_code == 1
    assert "timed out" in result.stderr
    assert time.monotonic() - started < 30  # only a hang guard
    assert sink_status(orchsync, example_repo)["hooks"]["cursor"]["heads"] == []


# --- status -------------------------------------------------------------------------------------


def test_sinks_status_shows_cursor_lag_and_last_success(orchsync, example_repo, tmp_path):
    out = tmp_path / "events.jsonl"
    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {out}\n")
    before = orchsync(example_repo, "sinks", "status")
    flush(orchsync, example_repo)
    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo)

    behind = sink_status(orchsync, example_repo)["trail"]
    flush(orchsync, example_repo)
    caught_up = sink_status(orchsync, example_repo)["trail"]
    table = orchsync(example_repo, "sinks", "status")

    assert "not started" in before.stdout
    assert behind["lag_events"] == 3 and behind["lag_seconds"] >= 0
    assert behind["state"] == "ok" and behind["last_success"] is None
    assert caught_up["lag_events"] == 0 and caught_up["delivered"] == 3
    assert caught_up["cursor"]["heads"] == [git(example_repo, "rev-parse", "HEAD").strip()]
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == [
        "sink",
        "type",
        "state",
        "lag",
        "delivered",
        "dead",
        "letters",
        "last",
        "success",
        "target",
    ]


def test_flush_of_an_unknown_sink_is_a_usage_error(orchsync, example_repo):
    result = orchsync(example_repo, "sinks", "flush", "--sink", "nope")

    assert result.exit_code == 2
    assert result.stderr == "Error: no sink named nope in delegation/orchsync.yml\n"


def test_the_secret_never_reaches_status_or_logs(orchsync, example_repo, receiver):
    with_sinks(example_repo, webhook(receiver))
    receiver.script = lambda n: (500, {})
    flush(orchsync, example_repo, "--timeout", "1")

    texts = [
        orchsync(example_repo, "sinks", "status", "--json").stdout,
        orchsync(example_repo, "status", "--json").stdout,
        *(p.read_text() for p in (example_repo / ".git/orchsync/sinks/hooks").glob("*.json")),
    ]
    assert all(SECRET not in t for t in texts)
    assert os.environ["ORCHSYNC_TEST_SECRET"] == SECRET


def test_a_sink_too_far_behind_is_reported_not_dropped(orchsync, example_repo, tmp_path):
    out = tmp_path / "events.jsonl"
    with_sinks(
        example_repo,
        f"  - name: trail\n    type: jsonl\n    path: {out}\n    start: all\n    max_backlog: 5\n",
    )
    flush(orchsync, example_repo)  # caught up; then 4 commits it does not get yet
    for n in range(4):
        new_task(example_repo, f"t-{n}")
        snapshot(example_repo)

    behind = orchsync(example_repo, "sinks", "status")
    flush(orchsync, example_repo)

    assert behind.exit_code == 1
    assert "trail: 8 events behind, more than max_backlog (5)" in behind.stdout
    assert [e["id"] for e in read_jsonl(out)] == index_ids(example_repo)


def test_a_full_dead_letter_file_is_reported_and_refused_batches_are_counted(
    orchsync, example_repo, receiver, monkeypatch
):
    from orchsync.sinks import ledger

    monkeypatch.setattr(ledger, "DEAD_LETTER_MAX", 6000)  # a small bound
    with_sinks(example_repo, webhook(receiver, "    batch_size: 5\n"))
    receiver.script = lambda n: (400, {})

    flush(orchsync, example_repo)
    state = sink_status(orchsync, example_repo)["hooks"]
    status = orchsync(example_repo, "status")

    dead = example_repo / ".git/orchsync/sinks/hooks/dead-letter.jsonl"
    assert dead.stat().st_size <= 6000
    backlog = state["backlog"]
    assert backlog["dead_letter_events"] + backlog["dropped_events"] == len(index_ids(example_repo))
    assert backlog["dropped_events"] > 0
    assert "dead-letter file full" in status.stdout


def test_an_index_rebuilt_without_history_stops_a_sink_rather_than_skip(
    orchsync, example_repo, tmp_path
):
    out = tmp_path / "events.jsonl"
    with_sinks(example_repo, f"  - name: trail\n    type: jsonl\n    path: {out}\n")
    flush(orchsync, example_repo)
    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo)  # not delivered yet
    for path in (example_repo / ".git/orchsync").glob("index.duckdb*"):
        path.unlink()
    assert orchsync(example_repo, "reindex", "--from-files").exit_code == 0

    stopped = flush(orchsync, example_repo)
    status = sink_status(orchsync, example_repo)["trail"]
    assert orchsync(example_repo, "reindex").exit_code == 0
    resumed = flush(orchsync, example_repo)

    assert stopped.exit_code == 1
    assert "run `orchsync reindex` so this sink gets the events it has not had" in stopped.stderr
    assert status["state"] == "failing" and "orchsync reindex" in status["last_error"]["message"]
    assert resumed.exit_code == 0
    assert [e["event_type"] for e in read_jsonl(out)] == [
        "orchestration.task.status_updated",
        "orchestration.task.blocked",
        "orchestration.file.synced",
    ]
