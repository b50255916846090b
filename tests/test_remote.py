"""Write commands hand their sync to the running daemon (`orchsync.watch.client`).

With `orchsync watch` running, `orchsync sync`, `orchsync task status` and the other write
commands send their sync over `.git/orchsync/daemon.sock` and print the daemon's answer:
the same commit, trailers, events and output as a sync of their own, without paying for
pygit2 and DuckDB. Without a daemon, with a stale socket or a daemon that does not answer,
they sync themselves. The daemons here are real `orchsync watch` processes.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import (
    GIT_ENV,
    commit_all,
    git,
    replace_in,
    set_status,
    task_path,
    trailers,
    wait_for,
    write,
)

from orchsync.errors import SnapshotBlocked, UsageError
from orchsync.repo import find_repo
from orchsync.watch import client as remote

T3 = task_path("phase-3-template-generation")
T4 = task_path("phase-4-agent-init")
T5 = task_path("phase-5-pm-commands")
T6 = task_path("phase-6-integration")


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def sock(repo: Path) -> Path:
    return repo / ".git" / "orchsync" / "daemon.sock"


def daemon_log(repo: Path) -> str:
    path = repo / ".git" / "orchsync" / "daemon.log"
    return path.read_text("utf-8") if path.exists() else ""


def handed_over(repo: Path, sha: str, timeout: float = 10.0) -> bool:
    """The daemon logs that it made this commit for a write command (its own say no "for"),
    once it has indexed it too."""

    def logged() -> bool:
        return any(
            f"committed {sha[:10]} (" in line and ") for " in line
            for line in daemon_log(repo).splitlines()
        )

    try:
        return bool(wait_for(logged, timeout, what="the daemon's log line"))
    except AssertionError:
        return False


# The daemon also sees the edits and would commit them itself after its quiet window; a long
# one leaves each test's explicit sync to the write command.
SLOW_DEBOUNCE = ("--debounce", "4000", "--max-latency", "8000")


def without_times(parsed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parsed if k not in ("Orchsync-Correlation", "Orchsync-Time")]


def events_of(repo: Path, sha: str) -> list[tuple[object, ...]]:
    """The indexed events of one commit, without what differs between two clones."""
    from orchsync import query

    with query.reader(find_repo(repo)) as con:  # waits for the daemon's catch-up
        rows = con.execute(
            "SELECT event_type, entity_type, entity_code, path, hash, agent, session_key, "
            'payload FROM events WHERE "commit" = ? ORDER BY seq',
            [sha],
        ).fetchall()
    return [(*row[:-1], json.loads(row[-1] or "{}")) for row in rows]


@pytest.fixture
def twin(example_repo: Path, tmp_path: Path) -> Path:
    """A byte-for-byte copy of example_repo (same history): the in-process control."""
    copy = tmp_path / "twin"
    shutil.copytree(example_repo, copy, symlinks=True)
    return copy


# --- the same result, from the daemon --------------------------------------------------------


@pytest.mark.slow
def test_sync_is_handed_to_the_daemon_and_its_result_is_the_in_process_one(
    orchsync, daemon, example_repo, twin, monkeypatch
):
    daemon(example_repo, *SLOW_DEBOUNCE)
    for repo in (example_repo, twin):
        set_status(repo, T3, "in_progress")

    via_daemon = orchsync(
        example_repo, "sync", T3, "--actor", "qa-engineer", "--session", "K-1", "--json"
    )
    monkeypatch.setenv("ORCHSYNC_NO_DAEMON", "1")
    in_process = orchsync(twin, "sync", T3, "--actor", "qa-engineer", "--session", "K-1", "--json")

    a, b = json.loads(via_daemon.stdout), json.loads(in_process.stdout)
    assert (via_daemon.exit_code, in_process.exit_code) == (0, 0)
    assert a.pop("commit") == head(example_repo) and b.pop("commit") == head(twin)
    assert a == b
    assert a["events"] and a["files"] == [T3]
    assert handed_over(example_repo, head(example_repo))
    assert without_times(trailers(example_repo)) == without_times(trailers(twin))
    assert ("Orchsync-Agent", "qa-engineer") in trailers(example_repo)
    assert ("Orchsync-Session", "K-1") in trailers(example_repo)
    assert git(example_repo, "status", "--porcelain") == ""
    # The daemon answered before indexing; a reader waits for it and sees the events.
    assert events_of(example_repo, head(example_repo)) == events_of(twin, head(twin))
    assert events_of(example_repo, head(example_repo))


@pytest.mark.slow
def test_the_text_output_is_the_same_through_the_daemon(orchsync, daemon, example_repo):
    daemon(example_repo, *SLOW_DEBOUNCE)
    set_status(example_repo, T4, "blocked")

    result = orchsync(example_repo, "sync", T4)

    sha = head(example_repo)
    assert result.exit_code == 0
    assert result.stdout == (
        f"committed {sha[:12]}: task phase-4-agent-init: pending -> blocked (1 file)\n"
    )
    assert handed_over(example_repo, sha)


@pytest.mark.slow
def test_task_status_is_handed_to_the_daemon(orchsync, daemon, example_repo, twin, monkeypatch):
    daemon(example_repo, *SLOW_DEBOUNCE)
    args = ("task", "status", "T:phase-5-pm-commands", "in_progress", "--actor", "pm", "--json")

    via_daemon = orchsync(example_repo, *args)
    monkeypatch.setenv("ORCHSYNC_NO_DAEMON", "1")
    in_process = orchsync(twin, *args)

    a, b = json.loads(via_daemon.stdout), json.loads(in_process.stdout)
    assert (via_daemon.exit_code, in_process.exit_code) == (0, 0)
    assert a.pop("commit") == head(example_repo) and b.pop("commit") == head(twin)
    assert a == b
    assert "orchestration.task.started" in [e["event_type"] for e in a["events"]]
    assert handed_over(example_repo, head(example_repo))
    assert git(example_repo, "status", "--porcelain") == ""


@pytest.mark.slow
def test_an_invalid_file_exits_1_with_its_diagnostics_through_the_daemon(
    orchsync, daemon, example_repo
):
    daemon(example_repo, *SLOW_DEBOUNCE)
    write(example_repo, T6, "---\ntitle: [unclosed\nstatus: pending\n---\n")

    result = orchsync(example_repo, "sync", T6)

    assert result.exit_code == 1
    assert result.stdout.startswith(
        f"committed {head(example_repo)[:12]}: task phase-6-integration: updated ("
    )
    assert result.stderr == f"invalid: {T6}:3: invalid YAML: did not find expected ',' or ']'\n"
    assert handed_over(example_repo, head(example_repo))


@pytest.mark.slow
def test_errors_come_back_as_the_errors_an_in_process_sync_raises(
    orchsync, daemon, example_repo, monkeypatch
):
    daemon(example_repo, *SLOW_DEBOUNCE)
    repo = find_repo(example_repo)

    with pytest.raises(UsageError) as via_daemon:
        remote.sync_via_daemon(repo, [str(example_repo / "README.md")])
    monkeypatch.setenv("ORCHSYNC_NO_DAEMON", "1")
    with pytest.raises(UsageError) as in_process:
        remote.sync_anywhere(repo, [str(example_repo / "README.md")])
    assert str(via_daemon.value) == str(in_process.value)
    assert via_daemon.value.exit_code == in_process.value.exit_code


@pytest.mark.slow
def test_a_merge_in_progress_is_reported_as_waiting_through_the_daemon(
    orchsync, daemon, example_repo
):
    daemon(example_repo, *SLOW_DEBOUNCE)
    (example_repo / ".git" / "MERGE_HEAD").write_text(head(example_repo) + "\n")
    set_status(example_repo, T3, "in_progress")
    before = head(example_repo)

    result = orchsync(example_repo, "sync", T3)

    assert result.exit_code == 1
    assert result.stderr == "waiting: a merge is in progress; snapshots wait until it ends\n"
    assert head(example_repo) == before
    with pytest.raises(SnapshotBlocked):
        remote.sync_via_daemon(find_repo(example_repo), [T3], raise_blocked=True)


# --- the user's git index ----------------------------------------------------------------------


@pytest.mark.slow
def test_what_the_user_stages_between_two_handed_over_syncs_stays_staged(daemon, example_repo):
    """The daemon keeps the git index read between syncs; it must re-read it once git wrote it."""
    daemon(example_repo, *SLOW_DEBOUNCE)
    repo = find_repo(example_repo)
    set_status(example_repo, T3, "in_progress")
    assert remote.sync_via_daemon(repo, [T3]).commit  # the daemon has read the index now
    write(example_repo, "notes.txt", "work in progress\n")
    git(example_repo, "add", "notes.txt")
    set_status(example_repo, T4, "blocked")
    git(example_repo, "add", T4)  # staged as blocked...
    staged = (example_repo / T4).read_text()
    set_status(example_repo, T4, "in_progress")  # ...then edited again and synced

    assert remote.sync_via_daemon(repo, [T4]).commit

    assert "status: in_progress" in git(example_repo, "show", f"HEAD:{T4}")
    assert git(example_repo, "show", f":{T4}") == staged
    assert git(example_repo, "status", "--porcelain") == f"MM {T4}\nA  notes.txt\n"


# --- never a failure because of the fast path ----------------------------------------------------


def test_without_a_daemon_the_command_syncs_itself(orchsync, example_repo):
    set_status(example_repo, T3, "in_progress")

    assert remote.sync_via_daemon(find_repo(example_repo), [T3]) is None
    result = orchsync(example_repo, "sync", T3)

    assert result.exit_code == 0
    assert result.stdout.startswith(f"committed {head(example_repo)[:12]}: ")


def test_a_stale_socket_file_is_ignored(orchsync, example_repo):
    """kill -9 leaves daemon.sock behind: nobody listens, so the command syncs itself."""
    path = sock(example_repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    set_status(example_repo, T3, "in_progress")

    started = time.monotonic()
    assert remote.sync_via_daemon(find_repo(example_repo), [T3]) is None
    assert time.monotonic() - started < 10  # refused at once; only a hang fails this
    result = orchsync(example_repo, "sync", T3)

    assert result.exit_code == 0
    assert git(example_repo, "status", "--porcelain") == ""


class FakeDaemon:
    """A socket that behaves badly in one way: never acknowledges, or acknowledges and dies."""

    def __init__(self, repo: Path, behaviour: str, on_request=None) -> None:
        self.behaviour = behaviour
        self.on_request = on_request  # called as each request arrives
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock(repo).parent.mkdir(parents=True, exist_ok=True)
        self.server.bind(str(sock(repo)))
        self.server.listen(4)
        self.requests: list[dict] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return  # closed without a client
        with conn:
            self.requests.append(json.loads(conn.makefile("rb").readline()))
            if self.on_request is not None:
                self.on_request()
            if self.behaviour == "ack-then-die":
                conn.sendall(b'{"accepted": true}\n')
            elif self.behaviour == "decline":
                conn.sendall(b'{"accepted": false, "reason": "stopping"}\n')
            elif self.behaviour == "silent":
                time.sleep(1.0)

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("behaviour", ["silent", "ack-then-die", "decline"])
def test_a_daemon_that_does_not_answer_leaves_the_sync_to_the_command(
    orchsync, example_repo, monkeypatch, behaviour
):
    monkeypatch.setattr(remote, "ACCEPT_TIMEOUT", 0.2)
    fake = FakeDaemon(example_repo, behaviour)
    set_status(example_repo, T3, "in_progress")
    try:
        assert remote.sync_via_daemon(find_repo(example_repo), [T3], actor="a") is None
        assert fake.requests[0]["paths"] == [str(example_repo / T3)]
        assert fake.requests[0]["options"] == {"actor": "a"}
        result = orchsync(example_repo, "sync", T3)
    finally:
        fake.close()
    assert result.exit_code == 0
    assert result.stdout.startswith(f"committed {head(example_repo)[:12]}: ")


def test_ORCHSYNC_NO_DAEMON_turns_the_fast_path_off(example_repo, monkeypatch):
    fake = FakeDaemon(example_repo, "decline")
    monkeypatch.setenv("ORCHSYNC_NO_DAEMON", "1")
    try:
        assert remote.sync_via_daemon(find_repo(example_repo), [T3]) is None
        assert fake.requests == []
    finally:
        fake.close()


# --- many clients at once ------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_write_commands_each_get_their_own_commit(daemon, example_repo):
    d = daemon(example_repo, *SLOW_DEBOUNCE)
    files = [T3, T4, T5, T6]
    for i, path in enumerate(files):
        set_status(example_repo, path, ["in_progress", "blocked", "completed", "in_progress"][i])
    before = head(example_repo)

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "orchsync", "--repo", str(example_repo), "sync", path],
            env={**GIT_ENV, "ORCHSYNC_ACTOR": f"agent-{i}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, path in enumerate(files)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0] * len(files), outputs
    shas = git(example_repo, "rev-list", f"{before}..HEAD").split()
    assert len(shas) == len(files)
    for i, path in enumerate(files):
        sha = next(s for s in shas if f"committed {s[:12]}:" in outputs[i][0])
        assert git(example_repo, "show", "--format=", "--name-only", sha).split() == [path]
        body = git(example_repo, "log", "-1", "--format=%B", sha)
        assert f"Orchsync-Agent: agent-{i}" in body
        assert handed_over(example_repo, sha)
    assert git(example_repo, "status", "--porcelain") == ""
    assert d.alive()


@pytest.mark.slow
def test_stopping_the_daemon_removes_its_socket_and_commands_sync_themselves(
    orchsync, daemon, example_repo
):
    d = daemon(example_repo, *SLOW_DEBOUNCE)
    assert sock(example_repo).exists()
    assert d.terminate() == 0
    assert not sock(example_repo).exists()
    set_status(example_repo, T3, "in_progress")

    result = orchsync(example_repo, "sync", T3)

    assert result.exit_code == 0
    assert not handed_over(example_repo, head(example_repo), timeout=0.5)


# --- searches are answered by the daemon too ----------------------------------------------


@pytest.mark.slow
def test_a_search_is_answered_by_the_daemon_as_it_would_be_in_process(
    orchsync, daemon, example_repo, monkeypatch
):
    daemon(example_repo, *SLOW_DEBOUNCE)
    repo = find_repo(example_repo)

    served = remote.search_via_daemon(
        repo, "templte generaton", kind=None, status=None, limit=5
    )  # a typo in each word
    through_cli = orchsync(example_repo, "search", "templte generaton", "--limit", "5", "--json")
    monkeypatch.setenv("ORCHSYNC_NO_DAEMON", "1")
    alone = orchsync(example_repo, "search", "templte generaton", "--limit", "5", "--json")

    assert served is not None and served["hits"][0]["key"] == "T:phase-3-template-generation"
    assert json.loads(through_cli.stdout) == json.loads(alone.stdout) == served


@pytest.mark.slow
def test_a_search_through_the_daemon_sees_a_commit_made_outside_orchsync(daemon, example_repo):
    daemon(example_repo, *SLOW_DEBOUNCE)
    replace_in(
        example_repo,
        T4,
        "# AGENT INIT and the context broker\n",
        "# AGENT INIT and the context broker\n\nzanzibar quokka\n",
    )
    commit_all(example_repo, "a word no task had")  # plain git, not orchsync

    served = remote.search_via_daemon(
        find_repo(example_repo), "quokka", kind=None, status=None, limit=5
    )

    assert served is not None
    assert [h["key"] for h in served["hits"]] == ["T:phase-4-agent-init"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "search, message",
    [
        ({"text": ["a", "list"], "kind": None, "status": None, "limit": 5}, "must be a string"),
        ({"text": "x" * 501, "kind": None, "status": None, "limit": 5}, "at most 500"),
        ({"text": "x", "kind": "../../etc", "status": None, "limit": 5}, "unknown kind"),
        ({"text": "x", "kind": None, "status": {"$ne": 1}, "limit": 5}, "unknown status"),
        ({"text": "x", "kind": None, "status": None, "limit": 10**9}, "limit must be"),
        ({"text": "x", "kind": None, "status": None, "limit": True}, "limit must be"),
        ("not an object", "must be a string"),
    ],
)
def test_a_hostile_search_request_is_refused_and_the_daemon_keeps_serving(
    daemon, example_repo, search, message
):
    """Anything on the socket may have been written by an attacker: each value is checked
    as the CLI and MCP check it, the answer is the usage error, and the daemon goes on."""
    d = daemon(example_repo, *SLOW_DEBOUNCE)
    request = {"orchsync": 1, "op": "search", "root": str(example_repo), "search": search}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    with remote.socket_address(sock(example_repo)) as address:
        conn.connect(address)
    conn.sendall(json.dumps(request).encode() + b"\n")
    reader = conn.makefile("rb")
    assert json.loads(reader.readline()) == {"accepted": True}
    answer = json.loads(reader.readline())
    conn.close()

    assert answer["ok"] is False and answer["error"]["type"] == "UsageError"
    assert message in answer["error"]["message"] and answer["error"]["exit_code"] == 2
    assert d.alive()
    ok = remote.search_via_daemon(find_repo(example_repo), "agent", kind=None, status=None, limit=1)
    assert ok is not None and len(ok["hits"]) == 1


# --- a write command claims its paths before it writes ---------------------------------------


def commits_touching(repo: Path, since: str, path: str) -> list[str]:
    return git(repo, "rev-list", f"{since}..HEAD", "--", path).split()


@pytest.mark.slow
@pytest.mark.parametrize("claim_first", [True, False])
def test_a_write_claimed_before_it_is_written_is_committed_in_the_writers_name(
    daemon, example_repo, claim_first
):
    """A swarm delays a write command between its write and its sync for longer than the
    daemon's quiet window. Claimed before the write, the file waits for the command's sync,
    which names the agent; unclaimed (the control), the daemon's own batch takes it first."""
    daemon(example_repo, "--debounce", "50", "--max-latency", "200")
    repo = find_repo(example_repo)
    before = head(example_repo)

    with remote.claim(repo, [str(example_repo / T3)] if claim_first else []) as held:
        assert (held is not None) is claim_first
        set_status(example_repo, T3, "in_progress")
        time.sleep(1.5)  # the command is descheduled; the daemon's window passes
        result = remote.sync_anywhere(repo, [T3], claim=held, actor="agent-7")

    shas = commits_touching(example_repo, before, T3)
    assert len(shas) == 1
    agent = dict(trailers(example_repo, shas[0])).get("Orchsync-Agent")
    if claim_first:
        assert result.commit == shas[0] and agent == "agent-7"
    else:
        assert not result.commit and agent != "agent-7"


@pytest.mark.slow
def test_a_claim_closed_without_a_sync_gives_the_file_back_to_the_daemon(daemon, example_repo):
    """The command wrote, then died (or failed) before its sync: its connection closes, the
    claim goes with it, and the daemon commits the file itself."""
    daemon(example_repo, "--debounce", "50", "--max-latency", "200")
    repo = find_repo(example_repo)
    before = head(example_repo)

    with remote.claim(repo, [str(example_repo / T3)]) as held:
        assert held is not None
        set_status(example_repo, T3, "in_progress")
        time.sleep(1.0)
        assert commits_touching(example_repo, before, T3) == []  # left to the command

    wait_for(lambda: commits_touching(example_repo, before, T3), 10, what="the daemon's commit")


def test_every_write_command_claims_its_paths_before_it_writes(example_repo, monkeypatch):
    """The claim names the file and arrives before the file changes: a daemon that takes
    no claim (`decline`) sees the request while the task is still pending on disk."""
    monkeypatch.setattr(remote, "ACCEPT_TIMEOUT", 0.5)
    from orchsync.pm import tasks

    seen: list[bytes] = []
    fake = FakeDaemon(
        example_repo, "decline", on_request=lambda: seen.append((example_repo / T3).read_bytes())
    )
    before = (example_repo / T3).read_bytes()
    try:
        tasks.update_task_status(find_repo(example_repo), "phase-3-template-generation", "blocked")
    finally:
        fake.close()
    assert fake.requests[0]["op"] == "claim"
    assert fake.requests[0]["paths"] == [str(example_repo / T3)]
    assert seen == [before]
    assert b"status: blocked" in (example_repo / T3).read_bytes()


# --- the client is cheap, the daemon's leftovers are freed ----------------------------------------


def test_the_client_imports_nothing_heavy():
    code = (
        "import sys, orchsync.watch.client, orchsync.faces.cli.sync; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pygit2', 'duckdb', '_duckdb', 'yaml', 'ruamel', 'jinja2', 'watchfiles'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    out = subprocess.run(
        [sys.executable, "-c", "import sys, orchsync.repo; print('orchsync.model' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "False"


def test_the_options_a_command_hands_over_are_the_sync_options():
    """The client names them without importing the sync (it must stay as cheap as --help)."""
    from dataclasses import fields

    from orchsync.sync import SyncOptions
    from orchsync.watch.client import OPTIONS

    # `index` is not handed over: the daemon always indexes what it commits; `progress` is a
    # callback of the process that shows it (`init`), which never crosses a socket.
    assert set(OPTIONS) == {f.name for f in fields(SyncOptions)} - {"index", "progress"}


def test_repo_and_layout_agree_on_the_delegation_folder():
    from orchsync import repo
    from orchsync.parse import layout

    assert repo.DELEGATION == layout.DELEGATION


def test_a_sync_frees_its_pygit2_repository_without_the_cyclic_collector(example_repo):
    """pygit2 ties each Repository in a reference cycle; GitStore breaks it (daemon RSS)."""
    import pygit2

    from orchsync.sync import sync

    repo = find_repo(example_repo)
    gc.collect()
    gc.disable()
    try:
        for status in ("in_progress", "blocked", "completed"):
            set_status(example_repo, T3, status)
            assert sync(repo, [T3]).commit
        alive = [o for o in gc.get_objects() if isinstance(o, pygit2.Repository)]
    finally:
        gc.enable()
    assert alive == []


# --- pieces -----------------------------------------------------------------------------------


def test_snapshot_blocked_reads_files_and_agrees_with_gitstore(example_repo, tmp_path):
    from orchsync.git.state import snapshot_blocked
    from orchsync.git.store import GitStore

    def both(path: Path) -> tuple[str | None, str | None]:
        r = find_repo(path)
        return snapshot_blocked(r), GitStore(r).blocked_reason()

    assert both(example_repo) == (None, None)
    (example_repo / ".git" / "MERGE_HEAD").write_text(head(example_repo) + "\n")
    a, b = both(example_repo)
    assert a == b and a is not None and a.startswith("a merge is in progress")
    (example_repo / ".git" / "MERGE_HEAD").unlink()
    git(example_repo, "checkout", "-q", "--detach")
    a, b = both(example_repo)
    assert a == b and a is not None and a.startswith("HEAD is detached")
    unborn = tmp_path / "unborn"
    unborn.mkdir()
    git(unborn, "init", "-q", "-b", "main")
    a, b = both(unborn)
    assert a == b and a is not None and a.startswith("the branch has no commits yet")


def test_a_task_code_is_found_without_listing_every_task(example_repo, monkeypatch):
    from orchsync.parse import resolve

    def no_listing(root):  # pragma: no cover - must not be called for an exact code
        raise AssertionError("listed every task for an exact code")

    monkeypatch.setattr(resolve, "task_codes", no_listing)
    target = resolve.resolve(find_repo(example_repo), "T:phase-3-template-generation")
    assert target.path == T3


def test_a_duplicated_task_code_is_still_reported(example_repo):
    from orchsync.errors import UnknownEntity
    from orchsync.parse import resolve

    dup = task_path("phase-3-template-generation", sprint="another-sprint")
    write(example_repo, dup, (example_repo / T3).read_text())
    commit_all(example_repo, "duplicate")
    with pytest.raises(UnknownEntity, match="is duplicated"):
        resolve.resolve(find_repo(example_repo), "T:phase-3-template-generation")


def test_the_quiet_window_counts_from_when_the_source_last_saw_a_change():
    from orchsync.watch.settle import Settler

    s = Settler(300, 2000, stat=lambda p: (1, 1, 1, 1))
    s.add(["delegation/a.md"], 10.0, age=0.01)
    assert s.deadline() == pytest.approx(10.29)
    assert s.take(10.289) == set()
    assert s.take(10.291) == {"delegation/a.md"}


def test_socket_paths_too_long_for_bind_are_reached_through_their_folder(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "daemon.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with remote.socket_address(path) as address:
        assert address.startswith("/proc/self/fd/") if os.name == "posix" else True
        server.bind(address)
    server.listen(1)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with remote.socket_address(path) as address:
        client.connect(address)
    client.close()
    server.close()
    assert path.exists()


def test_an_idle_daemon_drops_its_duckdb_instance_and_a_change_warms_it_up(
    example_repo, monkeypatch
):
    from orchsync.watch import daemon as daemon_module

    d = daemon_module.Daemon(find_repo(example_repo), serve=False)
    set_status(example_repo, T3, "in_progress")
    assert d._call_sync([str(example_repo / T3)]).commit
    assert d._warm.index._db is not None
    d._cool_down()
    assert d._warm.index._db is not None  # just used: kept

    monkeypatch.setattr(daemon_module, "COOL_AFTER", 0.0)
    d._cool_down()
    assert d._warm.index._db is None
    d._warm_up()  # what the first change seen afterwards does
    wait_for(lambda: d._warm.index._db is not None, what="the warm-up thread")
    set_status(example_repo, T3, "blocked")
    assert d._call_sync([str(example_repo / T3)]).commit
    assert git(example_repo, "status", "--porcelain") == ""
    d._warm.close()


def test_the_daemons_own_batch_leaves_a_claimed_file_to_the_write_command(example_repo):
    """A write command that waits behind others (a swarm of agents) has claimed its file:
    the daemon's batch, due meanwhile, leaves it, and the command's sync commits it in
    the writer's name (`Daemon._claim`)."""
    from orchsync.git.state import read_git_state
    from orchsync.watch.daemon import Daemon

    repo = find_repo(example_repo)
    d = Daemon(repo, serve=False)
    set_status(example_repo, T3, "in_progress")  # written by a command...
    set_status(example_repo, T4, "blocked")  # ...and by an editor
    d.queue.update({T3, T4})
    claimed = d._claim([str(example_repo / T3)])  # its request has come
    tip = head(example_repo)

    d._do_sync(read_git_state(repo))

    assert git(example_repo, "diff", "--name-only", tip, "HEAD").split() == [T4]
    assert T3 in d.queue  # still queued: the request commits it
    d._unclaim(claimed)
    result = d._call_sync([str(example_repo / T3)], actor="writer")
    assert result.commit and ("Orchsync-Agent", "writer") in trailers(example_repo)
