"""Sessions: `orchsync session start | note | handoff | end | list`.

A session is `delegation/sessions/<key>.md`. Each command writes that file atomically and
syncs exactly it, so every commit carries `Orchsync-Session: <key>`, the events land in the
index under that session, and `orchsync agent init --session KEY` reads it all back.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from conftest import git, trailers, write

from orchsync import query
from orchsync.parse import parse_file
from orchsync.pm import sessions
from orchsync.repo import find_repo

PHASE2 = "phase-2-event-system"
WHEN = datetime(2025, 10, 20, 9, 30, tzinfo=UTC)


def session_file(repo, key: str) -> str:
    return (repo / f"delegation/sessions/{key}.md").read_text()


def front(repo, key: str):
    parsed = parse_file(
        f"delegation/sessions/{key}.md", (repo / f"delegation/sessions/{key}.md").read_bytes()
    )
    assert parsed.valid, parsed.diagnostics
    return parsed.entity


def test_start_creates_an_open_session_with_a_readable_unique_key(example_repo, session_cmd):
    started = session_cmd(example_repo, "start", f"T:{PHASE2}", "--agent", "backend-engineer")

    key = started["key"]
    assert re.fullmatch(rf"{PHASE2}-backend-engineer-\d{{8}}-\d{{4}}", key)
    assert started["paths"] == [f"delegation/sessions/{key}.md"]
    assert started["commit"] == git(example_repo, "rev-parse", "HEAD").strip()
    entity = front(example_repo, key)
    assert (entity.task, entity.sprint, entity.agent, entity.status) == (
        PHASE2,
        "orchestration-api-v2",
        "backend-engineer",
        "open",
    )
    assert entity.handoffs == []
    assert ("Orchsync-Session", key) in trailers(example_repo)
    assert ("Orchsync-Agent", "backend-engineer") in trailers(example_repo)
    assert git(example_repo, "status", "--porcelain") == ""


def test_two_sessions_in_the_same_minute_get_a_suffix(example_repo):
    repo = find_repo(example_repo)
    first = sessions.start(repo, f"T:{PHASE2}", "backend-engineer", now=WHEN).details["key"]
    second = sessions.start(repo, f"T:{PHASE2}", "backend-engineer", now=WHEN).details["key"]

    assert first == f"{PHASE2}-backend-engineer-20251020-0930"
    assert second == f"{first}-2"


def test_a_session_on_a_sprint(example_repo, session_cmd):
    started = session_cmd(
        example_repo,
        "start",
        "S:orchestration-api-v2",
        "--agent",
        "tech-writer",
        "--title",
        "Docs pass",
    )
    entity = front(example_repo, started["key"])
    assert (entity.task, entity.sprint, entity.title) == (None, "orchestration-api-v2", "Docs pass")


def test_start_needs_an_agent_and_a_known_target(example_repo, orchsync, monkeypatch):
    monkeypatch.delenv("ORCHSYNC_ACTOR", raising=False)
    no_agent = orchsync(example_repo, "session", "start", f"T:{PHASE2}")
    assert no_agent.exit_code == 2
    assert "pass --agent NAME" in no_agent.stderr

    unknown = orchsync(example_repo, "session", "start", "T:nope", "--agent", "a")
    assert unknown.exit_code == 2
    assert not list((example_repo / "delegation/sessions").glob("nope*"))


def test_notes_are_timestamped_and_committed_in_the_session(example_repo, session_cmd):
    key = session_cmd(
        example_repo,
        "start",
        f"T:{PHASE2}",
        "--agent",
        "backend-engineer",
        "--note",
        "picked up phase 2",
    )["key"]
    noted = session_cmd(example_repo, "note", key, "derive_events\nis pure")

    assert noted["action"] == "session.note"
    body = front(example_repo, key).body
    notes = re.findall(r"(?m)^- (\S+) \[(\S+)\] (.*)$", body)
    assert [(who, text) for _, who, text in notes] == [
        ("backend-engineer", "picked up phase 2"),
        ("backend-engineer", "derive_events is pure"),
    ]
    for stamp, _, _ in notes:
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert ("Orchsync-Session", key) in trailers(example_repo)
    with query.reader(find_repo(example_repo)) as con:
        types = [e["event_type"] for e in query.events(con, session=key)]
    assert types.count("orchestration.session.updated") == 1
    assert "orchestration.session.started" in types


def test_a_handoff_passes_the_session_to_the_next_agent(example_repo, session_cmd):
    key = session_cmd(example_repo, "start", f"T:{PHASE2}", "--agent", "backend-engineer")["key"]

    first = session_cmd(example_repo, "handoff", key, "--to", "qa-engineer", "--note", "tests next")
    second = session_cmd(example_repo, "handoff", key, "--to", "tech-writer")

    assert (first["status"], first["agent"], second["agent"]) == (
        "handed_off",
        "qa-engineer",
        "tech-writer",
    )
    entity = front(example_repo, key)
    assert entity.status == "handed_off"
    assert entity.agent == "tech-writer"
    assert [(h["from"], h["to"], h["note"]) for h in entity.handoffs] == [
        ("backend-engineer", "qa-engineer", "tests next"),
        ("qa-engineer", "tech-writer", None),
    ]
    assert ("Orchsync-Agent", "qa-engineer") in trailers(example_repo)
    with query.reader(find_repo(example_repo)) as con:
        row = con.execute(
            "SELECT status, agent, json_array_length(handoffs) FROM sessions WHERE key = ?", [key]
        ).fetchone()
    assert row == ("handed_off", "tech-writer", 2)


def test_end_closes_the_session_and_refuses_a_later_handoff(example_repo, session_cmd, orchsync):
    key = session_cmd(example_repo, "start", f"T:{PHASE2}", "--agent", "backend-engineer")["key"]

    ended = session_cmd(example_repo, "end", key, "--note", "done for today")

    assert ended["status"] == "ended"
    entity = front(example_repo, key)
    assert entity.status == "ended" and entity.ended_at
    assert "[backend-engineer] done for today" in entity.body
    late = orchsync(example_repo, "session", "handoff", key, "--to", "qa-engineer")
    assert late.exit_code == 2
    assert "has ended" in late.stderr
    again = orchsync(example_repo, "session", "end", key)
    assert again.exit_code == 2


def test_an_unknown_session_is_an_error(example_repo, orchsync):
    result = orchsync(example_repo, "session", "note", "no-such-session", "hello")
    assert result.exit_code == 2
    assert "unknown session 'no-such-session'" in result.stderr
    bad = orchsync(example_repo, "session", "note", "../x", "hello")
    assert bad.exit_code == 2


def test_list_filters_by_task_and_open(example_repo, session_cmd, orchsync):
    a = session_cmd(example_repo, "start", f"T:{PHASE2}", "--agent", "backend-engineer")["key"]
    b = session_cmd(
        example_repo, "start", "T:phase-3-template-generation", "--agent", "qa-engineer"
    )["key"]
    session_cmd(example_repo, "end", b)

    import json

    every = json.loads(orchsync(example_repo, "session", "list", "--json").stdout)
    assert {r["key"] for r in every} == {a, b, "2025-10-14-backend-engineer-phase-1"}
    open_ = json.loads(orchsync(example_repo, "session", "list", "--open", "--json").stdout)
    assert [r["key"] for r in open_] == [a]
    mine = json.loads(
        orchsync(
            example_repo, "session", "list", "--task", "phase-3-template-generation", "--json"
        ).stdout
    )
    assert [(r["key"], r["status"]) for r in mine] == [(b, "ended")]
    table = orchsync(example_repo, "session", "list", "--open").stdout
    assert table.splitlines()[0].split() == [
        "key",
        "status",
        "task",
        "agent",
        "started_at",
        "ended_at",
        "handoffs",
    ]
    assert a in table


# --- editing handoffs keeps every other byte ------------------------------------------------


HEAD = "---\ntitle: S\ntask: T:x\nagent: a\nstatus: open\n"
ITEM = {"from": "a", "to": "b", "at": "2025-10-20T09:30:00Z", "note": "go"}
BLOCK = '  - from: "a"\n    to: "b"\n    at: "2025-10-20T09:30:00Z"\n    note: "go"\n'


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (HEAD + "---\nbody\n", HEAD + "handoffs:\n" + BLOCK + "---\nbody\n"),
        (
            HEAD + "handoffs: []\n# a comment\n---\n",
            HEAD + "handoffs:\n" + BLOCK + "# a comment\n---\n",
        ),
        (HEAD + "handoffs:\n---\n", HEAD + "handoffs:\n" + BLOCK + "---\n"),
        (
            HEAD + "handoffs:\n- from: x\n  to: a\nended_at: null\n---\n",
            HEAD
            + "handoffs:\n- from: x\n  to: a\n"
            + BLOCK.replace("  - ", "- ").replace("\n    ", "\n  ")
            + "ended_at: null\n---\n",
        ),
    ],
    ids=["missing", "empty-flow", "null", "block"],
)
def test_a_handoff_is_appended_to_the_list_whatever_its_form(before, after):
    out = sessions._append_handoff(before.encode(), ITEM, "s.md").decode()
    assert out == after
    assert parse_file("delegation/sessions/s.md", out.encode()).entity.handoffs[-1] == ITEM


def test_crlf_files_stay_crlf(example_repo):
    text = (HEAD + "handoffs: []\n---\n\n# S\n").replace("\n", "\r\n")
    out = sessions._append_handoff(text.encode(), ITEM, "s.md")
    assert b"\n" not in out.replace(b"\r\n", b"")
    write(example_repo, "delegation/sessions/crlf.md", out)
    entity = front(example_repo, "crlf")
    assert entity.handoffs == [ITEM]
