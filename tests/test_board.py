"""`orchsync board` through Starlette's TestClient: every page and its JSON twin, every write,
the guard (Host, token, origin, CSRF token, body size), and escaping of hostile task text.

The app runs in-process on a real repository with a real index; writes make real commits.
What needs a browser (drag and drop, live updates, no script from task text) is in
tests/test_board_browser.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import commit_all, git, trailers, write
from starlette.testclient import TestClient

from orchsync import query
from orchsync.faces.board.app import create_app
from orchsync.faces.board.security import GuardSettings
from orchsync.model import content_hash
from orchsync.parse import parse_file
from orchsync.repo import find_repo

SPRINT = "orchestration-api-v2"
PORT = 8765
ORIGIN = f"http://127.0.0.1:{PORT}"
CSRF = "test-csrf-token"
P2 = f"delegation/sprints/{SPRINT}/phase-2-event-system/TASK.md"
P3 = f"delegation/sprints/{SPRINT}/phase-3-template-generation/TASK.md"
P5 = f"delegation/sprints/{SPRINT}/phase-5-pm-commands/TASK.md"


def make_client(repo: Path, **kwargs) -> TestClient:
    host = kwargs.pop("host", "127.0.0.1")
    app = create_app(
        find_repo(repo), host=host, port=PORT, csrf=CSRF, actor="board:tester", **kwargs
    )
    return TestClient(app, base_url=f"http://{host}:{PORT}", follow_redirects=False)


@pytest.fixture
def client(example_repo: Path) -> TestClient:
    return make_client(example_repo)


def post(client: TestClient, url: str, body: dict, **headers: str):
    sent = {"Origin": ORIGIN, "X-CSRF-Token": CSRF, **headers}
    return client.post(url, json=body, headers={k: v for k, v in sent.items() if v})


def sha(repo: Path, path: str) -> str:
    return content_hash((repo / path).read_bytes())


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def card(board: dict, code: str) -> dict:
    return next(c for col in board["columns"] for c in col["cards"] if c["code"] == code)


# --- the board -----------------------------------------------------------------------------------


def test_the_board_json_has_a_column_per_status_and_a_card_per_task(client, example_repo):
    board = client.get("/board.json").json()

    assert board["sprint"]["sprint"] == SPRINT
    assert [
        (c["status"], c["count"], [x["code"] for x in c["cards"]]) for c in board["columns"]
    ] == [
        (
            "pending",
            4,
            [
                "phase-4-agent-init",
                "phase-3-template-generation",
                "phase-5-pm-commands",
                "phase-6-integration",
            ],
        ),
        ("in_progress", 1, ["phase-2-event-system"]),
        ("blocked", 0, []),
        ("completed", 1, ["phase-1-api-foundation"]),
    ]
    phase2 = dict(card(board, "phase-2-event-system"))
    assert phase2.pop("updated_at")[:4].isdigit()  # the last change, from the index (UTC)
    assert phase2 == {
        "code": "phase-2-event-system",
        "title": "Event emission and observability for every PM operation",
        "status": "in_progress",
        "priority": "P0",
        "agent": "backend-engineer",
        "labels": ["events", "observability"],
        "depends_on": ["phase-1-api-foundation"],
        "valid": True,
        "diagnostics": [],
        "path": P2,
        "hash": sha(example_repo, P2),
        "synced": True,
        "on_disk": True,
        "dependencies": [
            {
                "code": "phase-1-api-foundation",
                "title": "API foundation - sprint and task CRUD with hash tracking",
                "status": "completed",
                "sprint": SPRINT,
                "done": True,
                "missing": False,
            }
        ],
        "waiting_on": [],
        "ready": False,
    }
    assert card(board, "phase-6-integration")["waiting_on"] == [
        "phase-4-agent-init",
        "phase-5-pm-commands",
    ]
    assert (board["total"], board["shown"], board["agents"]) == (
        6,
        6,
        ["backend-engineer", "qa-engineer"],
    )
    assert client.get("/?format=json").json() == board


def test_a_pending_task_whose_dependencies_are_completed_is_ready(client, example_repo):
    write(
        example_repo,
        P2,
        (example_repo / P2).read_text().replace("status: in_progress", "status: completed"),
    )
    commit_all(example_repo, "phase-2 done")

    board = client.get("/board.json").json()

    assert [c["code"] for c in board["columns"][0]["cards"] if c["ready"]] == [
        "phase-3-template-generation"
    ]
    with query.reader(find_repo(example_repo)) as con:  # the library's rule, the same answer
        assert [t["task"] for t in query.tasks(con, sprint=SPRINT, ready=True)] == [
            "phase-3-template-generation"
        ]


def test_the_board_html_carries_the_stable_hooks(client):
    html = client.get("/").text

    for status in ("pending", "in_progress", "blocked", "completed"):
        assert f'data-status="{status}"' in html
    assert html.count('draggable="true"') == 6
    assert 'data-code="phase-2-event-system"' in html
    assert '<meta name="csrf-token" content="test-csrf-token">' in html


def test_board_filters(client):
    got = client.get("/board.json?agent=qa-engineer").json()
    assert [c["code"] for col in got["columns"] for c in col["cards"]] == ["phase-6-integration"]
    got = client.get("/board.json?priority=P0&q=EVENT").json()
    assert [c["code"] for col in got["columns"] for c in col["cards"]] == ["phase-2-event-system"]
    assert (got["shown"], got["total"], got["filters"]) == (
        1,
        6,
        {"agent": "", "priority": "P0", "q": "EVENT"},
    )


def test_an_invalid_file_is_a_card_with_its_diagnostic(client, example_repo):
    write(
        example_repo,
        P5,
        (example_repo / P5).read_text().replace("priority: P1", "priority: urgent"),
    )
    commit_all(example_repo, "a bad priority")

    c = card(client.get("/board.json").json(), "phase-5-pm-commands")

    assert (c["valid"], c["priority"]) == (False, "urgent")
    assert len(c["diagnostics"]) == 1 and c["diagnostics"][0].startswith("line 4: priority: ")
    assert 'data-badge="invalid"' in client.get("/").text


def test_an_edit_on_disk_not_synced_yet_shows_as_on_disk(client, example_repo):
    write(
        example_repo,
        P5,
        (example_repo / P5).read_text().replace("status: pending", "status: blocked"),
    )

    c = card(client.get("/board.json").json(), "phase-5-pm-commands")

    assert (c["status"], c["synced"], c["hash"]) == ("blocked", False, sha(example_repo, P5))


def test_an_unknown_sprint_is_404(client):
    r = client.get("/board.json?sprint=nope")
    assert (r.status_code, r.json()["error"]) == (404, "unknown sprint 'nope'")


def test_the_partial_is_the_main_block_only(client):
    r = client.get("/", headers={"X-Board-Partial": "1"})
    assert r.status_code == 200
    assert "<html" not in r.text and r.text.lstrip().startswith(
        '<div class="page board-page" data-page="board"'
    )


# --- the other pages and their JSON twins ------------------------------------------------------------


def test_task_page_and_twin(client, example_repo):
    task = client.get("/task/phase-2-event-system.json").json()

    assert {k: task[k] for k in ("code", "key", "sprint", "path", "hash", "synced", "valid")} == {
        "code": "phase-2-event-system",
        "key": "T:phase-2-event-system",
        "sprint": SPRINT,
        "path": P2,
        "hash": sha(example_repo, P2),
        "synced": True,
        "valid": True,
    }
    assert [(c["name"], c["done"], c["total"]) for c in task["checklists"]] == [
        ("objectives", 2, 4),
        ("deliverables", 1, 4),
        ("acceptance_criteria", 0, 4),
    ]
    assert [(d["code"], d["status"], d["done"]) for d in task["dependencies"]] == [
        ("phase-1-api-foundation", "completed", True)
    ]
    assert (task["waiting_on"], task["ready"]) == ([], False)
    assert task["dependents"] == ["phase-3-template-generation"]
    assert task["agent_yml"]["path"].endswith("phase-2-event-system/AGENT.yml")
    assert [v["commit"] for v in task["history"]] == [head(example_repo)]
    assert [e["type"] for e in task["events"]] == ["task.created", "task.agent_config_created"]
    html = client.get("/task/phase-2-event-system").text
    assert 'data-hash="' + sha(example_repo, P2) + '"' in html
    assert "<h2>Description</h2>" in html and "Every file edit becomes a trackable event" in html
    assert 'data-section="objectives" data-index="0" checked' in html


def test_task_versions_show_a_diff(client, example_repo):
    first = head(example_repo)
    client.get("/board.json")  # the index is built at the first read
    write(example_repo, P5, (example_repo / P5).read_text().replace("priority: P1", "priority: P0"))
    second = commit_all(example_repo, "P0 now")  # a plain git commit: the index catches up

    v = client.get(f"/task/phase-5-pm-commands/version/{second[:10]}.json").json()

    assert (v["version"]["commit"], v["previous"]) == (second, first)
    assert [d for d in v["diff"] if d["kind"] in ("add", "del")] == [
        {"kind": "del", "text": "-priority: P1"},
        {"kind": "add", "text": "+priority: P0"},
    ]
    assert client.get(f"/task/phase-5-pm-commands/version/{second}").status_code == 200
    assert client.get("/task/phase-5-pm-commands/version/zzzz").status_code == 404


def test_sprint_page_and_twin(client):
    s = client.get(f"/sprint/{SPRINT}.json").json()

    assert (s["counts"], s["total"], s["progress"]) == (
        {"pending": 4, "in_progress": 1, "blocked": 0, "completed": 1},
        6,
        17,
    )
    assert s["stats"]["sprint"] == SPRINT
    assert sorted((e["from"], e["to"]) for e in s["graph"]["edges"]) == [
        ("phase-1-api-foundation", "phase-2-event-system"),
        ("phase-2-event-system", "phase-3-template-generation"),
        ("phase-3-template-generation", "phase-4-agent-init"),
        ("phase-4-agent-init", "phase-5-pm-commands"),
        ("phase-4-agent-init", "phase-6-integration"),
        ("phase-5-pm-commands", "phase-6-integration"),
    ]
    layers = {n["code"]: n["x"] for n in s["graph"]["nodes"]}
    assert (
        layers["phase-1-api-foundation"]
        < layers["phase-2-event-system"]
        < layers["phase-6-integration"]
    )
    html = client.get(f"/sprint/{SPRINT}").text
    assert '<svg class="graph"' in html and 'marker-end="url(#arrow)"' in html


def test_activity_page_and_twin(client, example_repo):
    post(
        client,
        "/api/task/phase-5-pm-commands/status",
        {"status": "blocked", "hash": sha(example_repo, P5)},
    )

    a = client.get("/activity.json").json()

    newest = a["events"][0]
    assert (newest["type"], newest["entity_key"], newest["agent"], newest["commit"]) == (
        "task.blocked",
        "T:phase-5-pm-commands",
        "board:tester",
        head(example_repo),
    )
    assert newest["entity_url"] == "/task/phase-5-pm-commands"
    assert "file.synced" not in {e["type"] for e in a["events"]}
    assert "file.synced" in {e["type"] for e in client.get("/activity.json?all=1").json()["events"]}
    only = client.get("/activity.json?agent=board:tester&type=task.status_updated").json()
    assert [(e["type"], e["summary"]) for e in only["events"]] == [
        ("task.status_updated", "pending → blocked")
    ]
    assert (
        client.get("/activity.json?entity=T:phase-1-api-foundation").json()["events"][0][
            "entity_code"
        ]
        == "phase-1-api-foundation"
    )
    assert f'href="/commit/{head(example_repo)}"' in client.get("/activity").text


def test_commit_page(client, example_repo):
    c = client.get(f"/commit/{head(example_repo)[:12]}.json").json()
    assert (c["commit"], c["subject"]) == (head(example_repo), "example delegation tree")
    assert {e["entity_key"] for e in c["events"]} >= {"T:phase-1-api-foundation", "S:" + SPRINT}
    assert client.get("/commit/not-a-sha").status_code == 404
    assert client.get("/commit/0000000000").status_code == 404


def test_agents_page_and_twin(client):
    agents = client.get("/agents.json").json()

    assert [a["name"] for a in agents["agents"]] == [
        "backend-engineer",
        "qa-engineer",
        "tech-writer",
    ]
    backend = agents["agents"][0]
    assert backend["tasks"] == {"completed": 1, "in_progress": 1, "pending": 3}
    assert [w["code"] for w in backend["working_on"]] == ["phase-2-event-system"]
    assert "@backend-engineer" in client.get("/agents").text


def test_sessions_pages_and_twins(client):
    listing = client.get("/sessions.json").json()
    key = "2025-10-14-backend-engineer-phase-1"
    assert [s["key"] for s in listing["sessions"]] == [key]

    s = client.get(f"/session/{key}.json").json()
    assert (s["key"], s["task"], s["agent"]) == (key, "phase-1-api-foundation", "backend-engineer")
    assert s["notes_html"].startswith("<")
    assert client.get(f"/session/{key}").status_code == 200
    assert client.get("/session/..%2F..%2Fetc").status_code == 404


def test_adr_and_bug_pages_and_twins(client):
    adrs = client.get("/adrs.json").json()
    assert [(a["id"], a["number"]) for a in adrs["items"]] == [("ADR-001", 1)]
    bugs = client.get("/bugs.json").json()
    assert [b["id"] for b in bugs["items"]] == ["BUG-0001"]
    adr = client.get("/adr/1.json").json()
    assert (adr["id"], adr["key"], adr["title"]) == (
        "ADR-001",
        "ADR:001",
        "Files are the truth, git is the history, DuckDB is a disposable index",
    )
    bug = client.get("/bug/1.json").json()
    assert (bug["id"], bug["key"]) == ("BUG-0001", "BUG:0001")
    for url in ("/adrs", "/bugs", "/adr/1", "/bug/1"):
        assert client.get(url).status_code == 200
    assert client.get("/adr/x").status_code == 404
    assert client.get("/bug/99").status_code == 404


def test_search_page_ranks_hits_and_links_each_to_its_page(client):
    got = client.get("/search.json?q=context broker").json()
    assert got["hits"][0]["code"] == "phase-4-agent-init"
    assert got["hits"][0]["url"] == "/task/phase-4-agent-init"
    adrs = client.get("/search.json?q=context broker&kind=adr").json()["hits"]
    assert {h["kind"] for h in adrs} == {"adr"}
    assert "phase-4-agent-init" in client.get("/search?q=context broker").text
    assert client.get("/search.json?kind=nope").status_code == 400


def test_agent_init_preview(client):
    got = client.get("/task/phase-2-event-system/agent-init.json").json()
    assert got["key"] == "T:phase-2-event-system"
    assert "phase-2-event-system" in got["markdown"]


@pytest.mark.parametrize(
    "url",
    [
        "/task/nope",
        "/task/..%2F..%2F..%2Fetc%2Fpasswd",
        "/task/%2e%2e",
        "/sprint/nope",
        "/nope",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2Fapp.py",
    ],
)
def test_unknown_and_hostile_paths_are_404(client, url):
    assert client.get(url).status_code == 404


def test_static_files_come_from_the_package(client):
    r = client.get("/static/board.js")
    assert r.status_code == 200 and "use strict" in r.text


# --- writes ------------------------------------------------------------------------------------------


def test_moving_a_card_changes_the_status_line_and_commits_with_trailers(client, example_repo):
    before = (example_repo / P5).read_bytes()

    r = post(
        client,
        "/api/task/phase-5-pm-commands/status",
        {"status": "in_progress", "hash": sha(example_repo, P5)},
    )

    assert r.status_code == 200
    assert r.json()["message"] == "task phase-5-pm-commands: pending -> in_progress"
    assert (example_repo / P5).read_bytes() == before.replace(
        b"status: pending", b"status: in_progress", 1
    )
    assert ("Orchsync-Agent", "board:tester") in trailers(example_repo)
    assert ("Orchsync-Event", "orchestration.task.started T:phase-5-pm-commands") in trailers(
        example_repo
    )
    assert card(client.get("/board.json").json(), "phase-5-pm-commands")["status"] == "in_progress"


def test_editing_title_priority_and_agent(client, example_repo):
    r = post(
        client,
        "/api/task/phase-5-pm-commands/edit",
        {
            "title": "New: title",
            "priority": "P3",
            "agent": "qa-engineer",
            "hash": sha(example_repo, P5),
        },
    )

    assert r.status_code == 200, r.text
    e = parse_file(P5, (example_repo / P5).read_bytes()).entity
    assert (e.title, e.priority, e.agent) == ("New: title", "P3", "qa-engineer")
    assert ("Orchsync-Agent", "board:tester") in trailers(example_repo)
    assert (
        post(
            client, "/api/task/phase-5-pm-commands/edit", {"hash": sha(example_repo, P5)}
        ).status_code
        == 400
    )


def test_ticking_a_checklist_item(client, example_repo):
    r = post(
        client,
        "/api/task/phase-3-template-generation/checklist",
        {"section": "objectives", "index": 1, "checked": True, "hash": sha(example_repo, P3)},
    )

    assert r.status_code == 200, r.text
    e = parse_file(P3, (example_repo / P3).read_bytes()).entity
    assert [i.done for i in e.objectives] == [False, True, False, False]


def test_creating_a_task_and_reporting_a_bug(client, example_repo):
    r = post(
        client,
        "/api/task",
        {
            "sprint": SPRINT,
            "id": "board-made",
            "title": "Made on the board",
            "priority": "P1",
            "depends_on": "phase-1-api-foundation",
        },
    )
    assert (r.status_code, r.json()["url"]) == (200, "/task/board-made")
    made_path = f"delegation/sprints/{SPRINT}/board-made/TASK.md"
    made = parse_file(made_path, (example_repo / made_path).read_bytes())
    assert made.entity.title == "Made on the board"
    assert "board-made" in [
        c["code"] for c in client.get("/board.json").json()["columns"][0]["cards"]
    ]

    r = post(
        client, "/api/bug", {"title": "The board is too good", "priority": "P3", "body": "Really."}
    )
    assert (r.status_code, r.json()["url"]) == (200, "/bug/2")
    assert ("Orchsync-Agent", "board:tester") in trailers(example_repo)

    r = post(client, "/api/task", {"sprint": SPRINT, "id": "../x", "title": "t"})
    assert r.status_code == 400


def test_a_form_post_with_the_csrf_field_works_without_script(client):
    r = client.post(
        "/api/bug",
        data={"csrf_token": CSRF, "title": "From a plain form", "priority": "P2"},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 200, r.text


def test_rollback_writes_the_old_version_back(client, example_repo):
    first = head(example_repo)
    post(
        client,
        "/api/task/phase-5-pm-commands/edit",
        {"priority": "P0", "hash": sha(example_repo, P5)},
    )

    r = post(
        client,
        "/api/task/phase-5-pm-commands/rollback",
        {"to": first, "hash": sha(example_repo, P5)},
    )

    assert r.status_code == 200, r.text
    assert git(example_repo, "show", f"{first}:{P5}") == (example_repo / P5).read_text()
    assert head(example_repo) == r.json()["result"]["commit"]


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/task/phase-5-pm-commands/status", {"status": "completed"}),
        ("/api/task/phase-5-pm-commands/edit", {"title": "Mine"}),
        (
            "/api/task/phase-5-pm-commands/checklist",
            {"section": "objectives", "index": 0, "checked": True},
        ),
        ("/api/task/phase-5-pm-commands/rollback", {"to": "0" * 40}),
    ],
)
def test_a_write_on_a_file_that_changed_since_is_409_with_the_newer_version(
    client, example_repo, url, body
):
    shown = sha(example_repo, P5)
    write(example_repo, P5, (example_repo / P5).read_text().replace("priority: P1", "priority: P2"))
    now, commit = sha(example_repo, P5), head(example_repo)

    r = post(client, url, {**body, "hash": shown})

    assert r.status_code == 409
    got = r.json()
    assert (got["stale"], got["current_hash"], got["task"]["hash"], got["task"]["priority"]) == (
        True,
        now,
        now,
        "P2",
    )
    assert sha(example_repo, P5) == now
    assert head(example_repo) == commit


# --- the guard -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"X-CSRF-Token": ""}, 403, "missing or wrong CSRF token: reload the page"),
        ({"X-CSRF-Token": "guess"}, 403, "missing or wrong CSRF token: reload the page"),
        (
            {"Origin": "http://evil.example"},
            403,
            "cross-origin write refused (Origin does not match the board)",
        ),
        ({"Origin": ""}, 403, "cross-origin write refused (Origin does not match the board)"),
        (
            {"Origin": f"http://localhost:{PORT}"},
            403,
            "cross-origin write refused (Origin does not match the board)",
        ),
    ],
)
def test_writes_need_the_csrf_token_and_the_same_origin(
    client, example_repo, headers, status, error
):
    commit = head(example_repo)

    r = post(
        client,
        "/api/task/phase-5-pm-commands/status",
        {"status": "completed", "hash": sha(example_repo, P5)},
        **headers,
    )

    assert (r.status_code, r.json()["error"]) == (status, error)
    assert head(example_repo) == commit


def test_a_referer_stands_in_for_a_missing_origin(client, example_repo):
    r = post(
        client,
        "/api/task/phase-5-pm-commands/status",
        {"status": "blocked", "hash": sha(example_repo, P5)},
        Origin="",
        Referer=f"{ORIGIN}/task/phase-5-pm-commands",
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:1", f"127.0.0.2:{PORT}"]
)
def test_a_foreign_host_header_is_403(client, host):
    r = client.get("/board.json", headers={"Host": host})
    assert (r.status_code, r.json()["error"]) == (
        403,
        "unknown Host header: this board answers only to its own address",
    )


def test_loopback_names_are_accepted(client):
    for host in (f"localhost:{PORT}", f"[::1]:{PORT}", f"127.0.0.1:{PORT}"):
        assert client.get("/board.json", headers={"Host": host}).status_code == 200


def test_a_non_loopback_board_needs_its_token(example_repo):
    c = make_client(example_repo, host="192.0.2.10", token="s3cret")

    assert c.get("/board.json").json() == {
        "error": "this board needs its token: open the URL `orchsync board` printed "
        "(it ends in ?token=...)",
        "status": 403,
    }
    assert c.get("/live").status_code == 403
    assert c.get("/static/board.css").status_code == 403
    assert c.get("/?token=wrong").status_code == 403
    r = c.get("/activity?token=s3cret&agent=x")
    assert (r.status_code, r.headers["location"]) == (303, "/activity?agent=x")
    assert (
        r.headers["set-cookie"]
        == f"orchsync_board_{PORT}=s3cret; Path=/; HttpOnly; SameSite=Strict"
    )
    assert c.get("/board.json").status_code == 200  # the client kept the cookie
    fresh = make_client(example_repo, host="192.0.2.10", token="s3cret")
    assert fresh.get("/board.json", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_non_loopback_board_cannot_start_without_a_token():
    with pytest.raises(ValueError, match="needs a token"):
        GuardSettings(host="0.0.0.0", port=1, token=None, csrf="x")


def test_bodies_over_the_limit_are_413(client):
    r = post(client, "/api/bug", {"title": "x" * 300_000, "priority": "P2"})
    assert r.status_code == 413


def test_every_response_has_the_security_headers(client):
    for r in (
        client.get("/"),
        client.get("/board.json"),
        client.get("/static/board.css"),
        client.get("/nope"),
    ):
        assert r.headers["content-security-policy"].startswith(
            "default-src 'none'; script-src 'self';"
        )
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


# --- hostile text ------------------------------------------------------------------------------------

HOSTILE = f"delegation/sprints/{SPRINT}/hostile/TASK.md"


@pytest.fixture
def hostile(example_repo: Path) -> Path:
    write(
        example_repo,
        HOSTILE,
        "---\n"
        "title: \"<script>alert('title')</script>\"\n"
        "status: pending\n"
        "priority: P2\n"
        "agent: \"<img src=x onerror=alert('agent')>\"\n"
        "labels: [\"<script>alert('label')</script>\"]\n"
        "---\n\n"
        "<script>alert('body')</script>\n\n"
        "[click](javascript:alert('link')) ![x](http://evil.example/t.png)\n",
    )
    commit_all(example_repo, "a hostile task")
    return example_repo


@pytest.mark.parametrize("url", ["/", "/task/hostile", "/activity", "/agents"])
def test_hostile_text_is_escaped_everywhere(client, hostile, url):
    html = client.get(url).text

    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert 'href="javascript' not in html.lower()
    assert 'src="http://evil.example' not in html


def test_hostile_text_is_shown_as_text(client, hostile):
    html = client.get("/task/hostile").text
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert('body')&lt;/script&gt;" in html  # markdown-it's escaping
    assert "[click](javascript:alert('link'))" in html  # a refused link stays text
    board = client.get("/").text
    assert "&lt;img src=x onerror=alert(&#39;agent&#39;)&gt;" in board
    assert "&lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;" in board


# --- live updates and start-up cost ------------------------------------------------------------------


def test_the_live_stream_says_hello_then_change_when_a_commit_lands(example_repo):
    import asyncio

    from orchsync.faces.board.live import changes

    async def run() -> list[dict]:
        connected = True

        async def is_disconnected() -> bool:
            return not connected

        stream = changes(find_repo(example_repo), is_disconnected, interval=0.05)
        got = [await stream.__anext__()]
        write(example_repo, P5, (example_repo / P5).read_text() + "\nmore\n")
        tip = commit_all(example_repo, "a plain git commit")
        got.append(await asyncio.wait_for(stream.__anext__(), timeout=10))
        connected = False
        await stream.aclose()
        return got + [{"tip": tip}]

    hello, change, expected = asyncio.run(run())
    assert hello["event"] == "hello"
    assert change["event"] == "change"
    assert json.loads(change["data"])["tip"] == expected["tip"]
    assert json.loads(change["data"])["kind"] == "commit"


def test_help_and_the_cli_import_no_web_stack():
    heavy = ["starlette", "uvicorn", "jinja2", "markdown_it", "sse_starlette", "anyio"]
    for args in (["--help"], ["board", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "orchsync", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        imported = {
            line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
        }
        assert not imported & set(heavy), (args, imported & set(heavy))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, orchsync.faces.cli, orchsync.faces.board; print(sorted(set({heavy!r}) & {{m.split('.')[0] for m in sys.modules}}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "[]"
