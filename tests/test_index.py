"""The DuckDB index: a disposable read model that a rebuild from git reproduces row for row.

Every query catches the index up with git first (a sync, a plain `git commit`, a pull), an
index of another schema version or a corrupt file is rebuilt on first use, and the views
speak the seed schema's names (`orchestration_tasks`, ...).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import (
    SPRINT,
    commit_all,
    commit_at,
    dump_index,
    git,
    init_repo,
    new_task,
    replace_in,
    set_status,
    task_path,
    write,
)

import orchsync.sync.catchup
from orchsync import query
from orchsync.index import SCHEMA_VERSION
from orchsync.repo import find_repo
from orchsync.sync import sync

PHASE3 = task_path("phase-3-template-generation")


def snapshot(repo: Path, **kwargs):
    return sync(find_repo(repo), **kwargs)


def index_file(repo: Path) -> Path:
    return repo / ".git" / "orchsync" / "index.duckdb"


def delete_index(repo: Path) -> None:
    for path in index_file(repo).parent.glob("index.duckdb*"):
        path.unlink()


def sql(repo: Path, text: str) -> list[tuple]:
    with query.reader(find_repo(repo)) as con:
        return con.execute(text).fetchall()


@pytest.fixture
def catch_ups(monkeypatch):
    """Every `catch_up` the code under test runs, with its result (commits, rebuilt...)."""
    seen = []
    real = orchsync.sync.catchup.catch_up

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(orchsync.sync.catchup, "catch_up", spy)
    return seen


# --- a rebuild from git equals the live index --------------------------------------------------


def live_history(repo: Path) -> None:
    """Creates, edits, status changes, a move, a delete, an invalid file and a real merge."""
    snapshot(repo)  # indexes the plain `git commit` of the example tree
    new_task(repo, "t-a", priority="P2")
    snapshot(repo, actor="backend-engineer", session="K-1")
    replace_in(repo, task_path("t-a"), "priority: P2", "priority: P0")
    snapshot(repo, actor="backend-engineer", session="K-1")
    set_status(repo, task_path("t-a"), "in_progress")
    snapshot(repo)
    set_status(repo, task_path("t-a"), "completed")
    snapshot(repo)
    write(repo, "delegation/sprints/s2/SPRINT.md", "---\ntitle: S2\nstatus: planning\n---\n")
    shutil.move(
        repo / f"delegation/sprints/{SPRINT}/phase-5-pm-commands", repo / "delegation/sprints/s2"
    )
    snapshot(repo)
    shutil.rmtree(repo / f"delegation/sprints/{SPRINT}/phase-6-integration")
    snapshot(repo)
    write(repo, task_path("bad"), "---\ntitle: [unclosed\n---\n")
    snapshot(repo)
    # Symbolic links: recorded as links (mode 120000, the link text), parsed as links.
    (repo / task_path("t-link")).parent.mkdir()
    (repo / task_path("t-link")).symlink_to("/etc/passwd")
    (repo / "delegation/sprints/s-link").symlink_to("/etc")
    write(repo, f"delegation/sprints/{SPRINT}/t-a/notes.md", "../phase-3-template-generation\n")
    snapshot(repo)
    (repo / task_path("t-link")).unlink()  # a link becomes a file
    write(repo, task_path("t-link"), "---\ntitle: Now a file\nstatus: pending\n---\n")
    notes = repo / f"delegation/sprints/{SPRINT}/t-a/notes.md"
    notes.unlink()  # a file becomes a link with the very same bytes: only the mode differs
    notes.symlink_to("../phase-3-template-generation\n")
    snapshot(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "delegation/adr/ADR-002-linked.md").symlink_to("ADR-001-files-are-the-truth.md")
    replace_in(
        repo,
        "delegation/adr/ADR-001-files-are-the-truth.md",
        "status: accepted",
        "status: superseded",
    )
    write(
        repo, "delegation/backlog/BUG-0002-x.md", "---\ntitle: X\nstatus: open\npriority: P1\n---\n"
    )
    commit_all(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    set_status(repo, PHASE3, "blocked")
    snapshot(repo)
    git(repo, "merge", "-q", "--no-ff", "feature", "-m", "merge feature")
    snapshot(repo)  # nothing to commit: catches the index up with the merge


def test_a_rebuild_from_git_equals_the_index_built_live(orchsync, example_repo):
    live_history(example_repo)
    live = dump_index(example_repo)
    delete_index(example_repo)

    result = orchsync(example_repo, "reindex")

    assert result.exit_code == 0
    assert re.fullmatch(
        r"indexed \d+ files, 12 commits, \d+ events in \d+\.\d\d s\n", result.stdout
    )
    assert dump_index(example_repo) == live
    assert len(live["events"]) > 50
    assert {r[0] for r in live["files"]} >= {task_path("bad"), "delegation/backlog/BUG-0002-x.md"}
    links = {
        r[0]: r for r in live["files"] if r[0].endswith(("s-link", "notes.md", "ADR-002-linked.md"))
    }
    assert set(links) == {
        "delegation/sprints/s-link",
        f"delegation/sprints/{SPRINT}/t-a/notes.md",
        "delegation/adr/ADR-002-linked.md",
    }
    assert all("symlink" in json.dumps(r, default=str) for r in links.values())


AWKWARD_ROWS = [
    {
        "id": 1,
        "event_type": "orchestration.task.updated",
        "payload": {"x": 1e-05, "ctl": '\u001b/"', "é": [None, True, 2.5]},
        "emitted_at": "2026-11-30T17:05:10.123456+02:00",
        "correlation_id": "6f1c2b7e-3d4a-5b8c-9e0f-a1b2c3d4e5f6",
        "entity_id": 2**63 - 7,
        "seq": 3,
    },
    {"id": 2, "event_type": "x", "payload": "plain text", "entity_code": 5, "seq": None},
    {"id": 3, "event_type": "y", "payload": None, "agent": True},
]


def test_a_small_load_stores_what_the_bulk_loader_stores(tmp_path):
    """A live batch loads its few rows as parameters, a rebuild through a JSON file: the
    same rows must come out byte for byte (JSON text, times with offsets, big ids), or a
    rebuild would not equal the live index."""
    from orchsync.index.database import SMALL_LOAD, Index
    from orchsync.index.schema import TABLES

    def load(name: str, rows: list[dict]) -> list[tuple]:
        index = Index(tmp_path / f"{name}.duckdb")
        with index.writer() as con:
            index.reset(con)
            index._load(con, tmp_path, "events", TABLES["events"], rows)
            return con.execute(
                "SELECT id, event_type, payload::VARCHAR, emitted_at, correlation_id, "
                "entity_id, entity_code, agent, seq FROM events ORDER BY id"
            ).fetchall()

    padding = [{"id": 100 + i, "event_type": "pad"} for i in range(SMALL_LOAD)]
    small = load("small", AWKWARD_ROWS)
    bulk = load("bulk", AWKWARD_ROWS + padding)[: len(AWKWARD_ROWS)]
    assert small == bulk
    assert small[0][2] == '{"x":0.00001,"ctl":"\\u001B/\\"","é":[null,true,2.5]}'


def test_the_merged_branchs_edits_are_attributed_to_the_branch_commit_once(example_repo):
    live_history(example_repo)

    rows = sql(
        example_repo,
        """SELECT e.event_type FROM events e
           WHERE e.path = 'delegation/backlog/BUG-0002-x.md' ORDER BY seq""",
    )
    (commit,) = sql(
        example_repo, "SELECT DISTINCT \"commit\" FROM events WHERE path LIKE '%BUG-0002%'"
    )

    assert rows == [("orchestration.bug.reported",), ("orchestration.file.synced",)]
    assert git(example_repo, "log", "-1", "--format=%s", commit[0]) == "feature work\n"


def test_a_plain_commit_and_a_fast_forward_pull_are_caught_up_incrementally(
    example_repo, tmp_path, catch_ups
):
    snapshot(example_repo)
    set_status(example_repo, PHASE3, "in_progress")
    git(example_repo, "commit", "-q", "-am", "a plain commit by the user")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(example_repo), str(clone))
    new_task(clone, "from-the-clone")
    snapshot(clone, actor="remote-agent")
    set_status(clone, task_path("from-the-clone"), "in_progress")
    snapshot(clone, actor="remote-agent")
    catch_ups.clear()

    sql(example_repo, "SELECT 1")  # the next query sees the plain commit
    git(example_repo, "pull", "-q", "--ff-only", str(clone), "main")
    rows = sql(example_repo, "SELECT code, status FROM tasks WHERE code = 'from-the-clone'")

    assert [(c.commits, c.rebuilt) for c in catch_ups] == [(1, False), (2, False)]
    assert rows == [("from-the-clone", "in_progress")]
    caught_up = dump_index(example_repo)
    delete_index(example_repo)
    sql(example_repo, "SELECT 1")
    assert dump_index(example_repo) == caught_up


def test_a_rewritten_history_is_rebuilt(example_repo, catch_ups):
    set_status(example_repo, PHASE3, "in_progress")
    snapshot(example_repo)
    git(example_repo, "reset", "-q", "--hard", "HEAD~1")
    catch_ups.clear()

    rows = sql(example_repo, f"SELECT status FROM tasks WHERE file_path = '{PHASE3}'")

    assert rows == [("pending",)]
    assert [c.rebuilt for c in catch_ups] == [True]


# --- the seed schema's views ------------------------------------------------------------------


def columns(repo: Path, view: str) -> dict[str, str]:
    return {name: type_ for name, type_, *_ in sql(repo, f"DESCRIBE {view}")}


SEED_COLUMNS = {
    "orchestration_sprints": "id sprint_code title status hash metadata file_path created_at updated_at",
    "orchestration_tasks": "id task_code sprint_id title status priority hash metadata agent_config file_path created_at updated_at",
    "orchestration_events": "id event_type entity_type entity_id correlation_id session_key agent_id payload emitted_at",
}


@pytest.mark.parametrize("view", list(SEED_COLUMNS))
def test_the_views_have_the_seed_schemas_columns(example_repo, view):
    found = columns(example_repo, view)

    assert list(found)[: len(SEED_COLUMNS[view].split())] == SEED_COLUMNS[view].split()


def test_view_column_types(example_repo):
    events = columns(example_repo, "orchestration_events")
    tasks = columns(example_repo, "orchestration_tasks")

    assert events["correlation_id"] == "UUID"
    assert events["payload"] == tasks["metadata"] == tasks["agent_config"] == "JSON"
    assert events["emitted_at"] == tasks["created_at"] == "TIMESTAMP"
    assert tasks["id"] == tasks["sprint_id"] == "BIGINT"


def test_created_and_updated_times_are_commit_times_and_survive_a_rebuild(tmp_path):
    repo = init_repo(tmp_path / "dated")
    new_task(repo, "t-1", sprint="s1")
    commit_at(repo, "plan", "2025-10-12T09:00:00Z")
    set_status(repo, task_path("t-1", "s1"), "in_progress")
    commit_at(repo, "start", "2025-10-13T10:30:00Z")
    wanted = "SELECT task_code, created_at::VARCHAR, updated_at::VARCHAR FROM orchestration_tasks"

    live = sql(repo, wanted)
    delete_index(repo)
    rebuilt = sql(repo, wanted)

    assert live == rebuilt == [("t-1", "2025-10-12 09:00:00", "2025-10-13 10:30:00")]


def test_a_task_keeps_its_created_at_when_it_moves(tmp_path):
    repo = init_repo(tmp_path / "dated")
    new_task(repo, "t-1", sprint="s1")
    commit_at(repo, "plan", "2025-10-12T09:00:00Z")
    shutil.move(repo / "delegation/sprints/s1/t-1", repo / "delegation/sprints/s2/t-1")
    commit_at(repo, "move", "2025-10-13T10:30:00Z")

    rows = sql(repo, "SELECT sprint_code, created_at::VARCHAR, updated_at::VARCHAR FROM tasks")

    assert rows == [("s2", "2025-10-12 09:00:00", "2025-10-13 10:30:00")]


# --- an index it cannot use is rebuilt ----------------------------------------------------------


def test_an_index_of_another_schema_version_is_rebuilt_on_first_use(example_repo):
    sql(example_repo, "SELECT 1")
    with duckdb.connect(str(index_file(example_repo))) as con:
        con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
        con.execute("DELETE FROM tasks")

    rows = sql(example_repo, "SELECT count(*) FROM tasks")

    assert rows == [(6,)]
    assert sql(example_repo, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]


def test_a_corrupt_index_file_is_rebuilt_on_first_use(orchsync, example_repo):
    sql(example_repo, "SELECT 1")
    index_file(example_repo).write_bytes(b"not a database " * 1000)

    result = orchsync(example_repo, "tasks", "--status", "completed", "--format", "csv")

    assert (result.exit_code, result.stdout) == (
        0,
        "task,sprint,status,priority,agent,title\n"
        "phase-1-api-foundation,orchestration-api-v2,completed,P0,backend-engineer,"
        "API foundation - sprint and task CRUD with hash tracking\n",
    )


def test_reindex_from_files_shows_edits_that_are_not_committed(orchsync, example_repo):
    sql(example_repo, "SELECT 1")
    set_status(example_repo, PHASE3, "in_progress")

    result = orchsync(example_repo, "reindex", "--from-files")
    listed = orchsync(example_repo, "tasks", "--status", "in_progress", "--json")

    assert re.fullmatch(r"indexed 20 files in \d+\.\d\d s\n", result.stdout)
    assert [t["task"] for t in json.loads(listed.stdout)] == [
        "phase-2-event-system",
        "phase-3-template-generation",
    ]
    assert git(example_repo, "status", "--porcelain") == f" M {PHASE3}\n"


# --- the event policy --------------------------------------------------------------------------


def with_policy(repo: Path, events_yaml: str) -> None:
    """Replace the `events:` section of orchsync.yml and commit it before anything is indexed."""
    config = repo / "delegation/orchsync.yml"
    text = config.read_text()
    config.write_text(text[: text.index("\nevents:")] + "\nevents:\n" + events_yaml)
    commit_all(repo, "event policy")


def event_types(repo: Path) -> list[str]:
    return [r[0] for r in sql(repo, "SELECT DISTINCT event_type FROM events ORDER BY 1")]


def test_min_level_info_drops_debug_events(example_repo):
    with_policy(example_repo, "  min_level: info\n")
    set_status(example_repo, PHASE3, "in_progress")

    result = snapshot(example_repo)

    assert [e.event_type for e in result.events] == [
        "orchestration.task.status_updated",
        "orchestration.task.started",
    ]
    assert "orchestration.file.synced" not in event_types(example_repo)


def test_sampling_keeps_a_deterministic_subset_that_a_rebuild_keeps_too(example_repo):
    with_policy(example_repo, "  sampling:\n    orchestration.file.synced: 0.5\n")
    paths = [new_task(example_repo, f"t-{n:02d}") for n in range(20)]
    snapshot(example_repo)
    wanted = "SELECT path FROM events WHERE event_type = 'orchestration.file.synced' AND path LIKE '%/t-%' ORDER BY 1"

    kept = [r[0] for r in sql(example_repo, wanted)]
    delete_index(example_repo)
    rebuilt = [r[0] for r in sql(example_repo, wanted)]

    def sampled(path: str) -> bool:
        digest = hashlib.sha256((example_repo / path).read_bytes()).hexdigest()
        key = hashlib.sha256(f"orchestration.file.synced:{digest}".encode()).digest()
        return int.from_bytes(key[:8], "big") / 2**64 < 0.5

    assert kept == rebuilt == sorted(p for p in paths if sampled(p))
    assert 0 < len(kept) < 20


# --- archiving old events ---------------------------------------------------------------------


@pytest.fixture
def old_and_new_events(tmp_path) -> Path:
    """Events from January 2025 (plain commits with dates) and from a live sync today."""
    repo = init_repo(tmp_path / "aged")
    new_task(repo, "t-old", sprint="s1")
    commit_at(repo, "plan", "2025-01-10T09:00:00Z")
    set_status(repo, task_path("t-old", "s1"), "in_progress")
    commit_at(repo, "start", "2025-01-11T09:00:00Z")
    new_task(repo, "t-new", sprint="s1")
    snapshot(repo)
    return repo


def count(repo: Path, table: str) -> int:
    return sql(repo, f"SELECT count(*) FROM {table}")[0][0]


def test_archived_events_leave_the_table_but_not_the_history(orchsync, old_and_new_events):
    repo = old_and_new_events
    total = count(repo, "events")

    result = orchsync(repo, "events", "archive", "--before", "2025-06-01")
    listed_all = orchsync(repo, "events", "--all", "--limit", "0", "--json")
    listed_live = orchsync(repo, "events", "--limit", "0", "--json")

    (archive,) = (repo / ".git/orchsync/archive").glob("*.parquet")
    assert result.stdout == f"archived 5 events to {archive}\n"
    assert (count(repo, "events"), count(repo, "orchestration_events_all")) == (total - 5, total)
    assert len(json.loads(listed_all.stdout)) == total
    assert {e["entity_code"] for e in json.loads(listed_live.stdout)} == {"t-new"}


def test_a_rebuild_does_not_bring_archived_events_back_twice(orchsync, old_and_new_events):
    repo = old_and_new_events
    total = count(repo, "events")
    orchsync(repo, "events", "archive", "--before", "2025-06-01")

    orchsync(repo, "reindex")

    assert (count(repo, "events"), count(repo, "orchestration_events_all")) == (total - 5, total)


# --- the query commands -------------------------------------------------------------------------


@pytest.fixture
def board(tmp_path) -> Path:
    """Two sprints, six tasks with dependencies, and a dated history of status changes.

    s1: a (P0, alice) pending -> in_progress (Oct 14 09:00) -> completed (Oct 14 15:00);
        b (P1, bob) pending, needs a; c (P1, alice) pending, needs d; d (P2, bob) started Oct 14.
    s2: e (P0) pending, no dependencies; f (P3) blocked.
    """
    repo = init_repo(tmp_path / "board")
    for code in ("s1", "s2"):
        write(
            repo,
            f"delegation/sprints/{code}/SPRINT.md",
            f"---\ntitle: Sprint {code}\nstatus: active\n---\n",
        )
    new_task(repo, "a", "s1", priority="P0", agent="alice")
    new_task(repo, "b", "s1", priority="P1", agent="bob", depends_on="[a]")
    new_task(repo, "c", "s1", priority="P1", agent="alice", depends_on="[d]")
    new_task(repo, "d", "s1", priority="P2", agent="bob")
    new_task(repo, "e", "s2", priority="P0")
    new_task(repo, "f", "s2", priority="P3", status="blocked")
    commit_at(repo, "plan", "2025-10-13T09:00:00Z")
    set_status(repo, task_path("a", "s1"), "in_progress")
    set_status(repo, task_path("d", "s1"), "in_progress")
    commit_at(repo, "start a and d", "2025-10-14T09:00:00Z")
    set_status(repo, task_path("a", "s1"), "completed")
    commit_at(repo, "a done", "2025-10-14T15:00:00Z")
    return repo


def task_codes(result) -> list[str]:
    return [t["task"] for t in json.loads(result.stdout)]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["a", "b", "c", "d", "e", "f"]),
        (["--sprint", "s2"], ["e", "f"]),
        (["--status", "pending"], ["b", "c", "e"]),
        (["--priority", "P0"], ["a", "e"]),
        (["--agent", "alice"], ["a", "c"]),
        (["--ready"], ["b", "e"]),
        (["--ready", "--sprint", "s1"], ["b"]),
        (["--at", "HEAD~2"], ["a", "b", "c", "d", "e", "f"]),
        (["--at", "HEAD~2", "--status", "pending"], ["a", "b", "c", "d", "e"]),
    ],
)
def test_tasks_filters(orchsync, board, args, expected):
    result = orchsync(board, "tasks", *args, "--json")

    assert result.exit_code == 0
    assert task_codes(result) == expected


def test_an_invalid_task_is_never_offered_as_ready_work(orchsync, board):
    """A pending task whose file is invalid (here a priority outside the schema) is listed,
    but not as ready: an agent would start from what the file does not say right."""
    new_task(board, "g", "s2", priority="P9")
    commit_at(board, "a bad priority", "2025-10-15T09:00:00Z")

    assert "g" in task_codes(orchsync(board, "tasks", "--json"))
    assert task_codes(orchsync(board, "tasks", "--ready", "--json")) == ["b", "e"]
    shown = json.loads(orchsync(board, "task", "show", "T:g", "--json").stdout)
    assert shown["ready"] is False


def test_tasks_as_a_table(orchsync, board):
    result = orchsync(board, "tasks", "--sprint", "s1")

    assert result.stdout == (
        "task  sprint  status       priority  agent  title\n"
        "----  ------  -----------  --------  -----  ------\n"
        "a     s1      completed    P0        alice  Task a\n"
        "b     s1      pending      P1        bob    Task b\n"
        "c     s1      pending      P1        alice  Task c\n"
        "d     s1      in_progress  P2        bob    Task d\n"
    )


def test_tasks_as_csv_and_json_have_the_same_rows(orchsync, board):
    as_csv = orchsync(board, "tasks", "--format", "csv", "--status", "blocked")
    as_json = orchsync(board, "tasks", "--json", "--status", "blocked")

    assert as_csv.stdout == "task,sprint,status,priority,agent,title\nf,s2,blocked,P3,,Task f\n"
    (row,) = json.loads(as_json.stdout)
    assert row == {
        "task": "f",
        "sprint": "s2",
        "title": "Task f",
        "status": "blocked",
        "priority": "P3",
        "agent": None,
        "depends_on": [],
        "valid": True,
        "path": task_path("f", "s2"),
        "updated_at": "2025-10-13T09:00:00",
    }


def test_sprints_count_their_tasks_by_status(orchsync, board):
    result = orchsync(board, "sprints")

    assert result.stdout == (
        "sprint  status  tasks  completed  in_progress  blocked  title\n"
        "------  ------  -----  ---------  -----------  -------  ---------\n"
        "s1      active  4      1          1            0        Sprint s1\n"
        "s2      active  2      0          0            1        Sprint s2\n"
    )


def events_json(orchsync, repo: Path, *args: str) -> list[dict]:
    result = orchsync(repo, "events", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_events_filters(orchsync, board):
    set_status(board, task_path("b", "s1"), "in_progress")
    snapshot(board, actor="bob", session="K-7")

    status_changes = events_json(orchsync, board, "--type", "task.status_updated")
    of_a = events_json(orchsync, board, "--entity", "T:a", "--type", "task.*")
    of_session = events_json(orchsync, board, "--session", "K-7")
    recent = events_json(orchsync, board, "--since", "1h")
    last_two = events_json(orchsync, board, "--limit", "2")

    assert [(e["entity_code"], e["payload"]["to"]) for e in status_changes] == [
        ("a", "in_progress"),
        ("d", "in_progress"),
        ("a", "completed"),
        ("b", "in_progress"),
    ]
    assert [e["event_type"] for e in of_a] == [
        "orchestration.task.created",
        "orchestration.task.status_updated",
        "orchestration.task.started",
        "orchestration.task.status_updated",
        "orchestration.task.completed",
    ]
    assert [e["event_type"] for e in of_session] == [
        "orchestration.task.status_updated",
        "orchestration.task.started",
        "orchestration.file.synced",
    ]
    assert {(e["agent"], e["session_key"]) for e in of_session} == {("bob", "K-7")}
    assert recent == of_session
    assert last_two == of_session[1:]


def test_the_newest_events_are_last_even_within_one_second(orchsync, board):
    for status in ("in_progress", "blocked", "in_progress", "completed"):
        set_status(board, task_path("b", "s1"), status)
        snapshot(board)

    newest = events_json(orchsync, board, "--limit", "2", "--entity", "T:b")

    assert [e["event_type"] for e in newest] == [
        "orchestration.task.completed",
        "orchestration.file.synced",
    ]
    assert newest[0]["payload"] == {"from": "in_progress"}


def test_query_runs_sql_over_the_seed_views(orchsync, board):
    result = orchsync(
        board,
        "query",
        "SELECT task_code, status FROM orchestration_tasks WHERE sprint_code = 's2' ORDER BY 1",
        "--format",
        "csv",
    )

    assert (result.exit_code, result.stdout) == (0, "task_code,status\ne,pending\nf,blocked\n")


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM tasks",
        "  insert into tasks (code) values ('x')",
        "-- a comment first\nDROP TABLE tasks",
        "SELECT 1; COPY (SELECT * FROM tasks) TO 'tasks.csv'",
        "ATTACH 'other.duckdb'",
    ],
)
def test_query_refuses_writes(orchsync, board, statement, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    result = orchsync(board, "query", "--", statement)

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: orchsync query is read-only: the index is rebuilt from git; edit the files instead\n"
    )
    assert list(tmp_path.iterdir()) == [board]
    assert sql(board, "SELECT count(*) FROM tasks") == [(6,)]


def test_query_reports_sql_errors_as_usage_errors(orchsync, board):
    result = orchsync(board, "query", "SELECT nope FROM tasks")

    assert result.exit_code == 2
    assert result.stderr.startswith(
        'Error: SQL error: Referenced column "nope" not found in FROM clause (candidates: '
    )
    assert result.stderr.endswith("; line 1)\n") and result.stderr.count("\n") == 1


def test_query_at_a_revision_answers_from_that_tree(orchsync, board):
    then = orchsync(
        board,
        "query",
        "SELECT count(*) AS done FROM tasks WHERE status = 'completed'",
        "--at",
        "HEAD~1",
        "--format",
        "csv",
    )
    now = orchsync(
        board,
        "query",
        "SELECT count(*) AS done FROM tasks WHERE status = 'completed'",
        "--format",
        "csv",
    )

    assert (then.stdout, now.stdout) == ("done\n0\n", "done\n1\n")


def test_stats_measure_cycle_time_from_started_to_completed(orchsync, board):
    result = orchsync(board, "stats", "--json")

    stats = json.loads(result.stdout)
    assert stats["tasks_by_status"] == {
        "blocked": 1,
        "completed": 1,
        "in_progress": 1,
        "pending": 3,
    }
    s1 = stats["sprints"][0]
    assert (s1["sprint"], s1["tasks"], s1["completed"], s1["median_cycle_hours"]) == (
        "s1",
        4,
        1,
        6.0,
    )


def test_the_csv_renderer_quotes_what_needs_quoting(orchsync, board):
    replace_in(board, task_path("e", "s2"), "title: Task e", 'title: "Task e, with a comma"')
    snapshot(board)

    result = orchsync(board, "tasks", "--sprint", "s2", "--format", "csv")

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[1][-1] == "Task e, with a comma"
