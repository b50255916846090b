"""`orchsync import`: a Backlog.md project or GitHub issues become sprints, tasks and ADRs.

Each test builds a small source by hand (the files Backlog.md writes, or the JSON `gh issue
list` prints), imports it into a real repository and looks at what a user would: the files
written, the one commit and its trailers, the events, and what `check`, `tasks`, `agent
init` and `search` make of the result. Then the source changes, orchsync's copy is edited,
and the import runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import dump_index, git, trailers, write

TASK_7 = """\
---
id: TASK-7
title: "Cache eviction: drop \\"stale\\" entries"
status: In Progress
assignee:
  - '@alice'
  - '@bob'
reporter: '@carol'
created_date: '2025-06-04 19:51'
updated_date: '2025-06-05'
labels:
  - cache
  - perf
milestone: m-1
dependencies:
  - TASK-3
parent_task_id: TASK-2
priority: high
ordinal: 2000
estimate: 3d
---

## Description

<!-- SECTION:DESCRIPTION:BEGIN -->
Evict least recently used entries when the cache is full.
<!-- SECTION:DESCRIPTION:END -->

## Acceptance Criteria
<!-- AC:BEGIN -->
- [x] #1 LRU order is kept
- [ ] #2 Memory stays under 512 MB
<!-- AC:END -->

## Implementation Plan

<!-- SECTION:PLAN:BEGIN -->
1. Wrap the store in an LRU
2. Add a size bound
<!-- SECTION:PLAN:END -->

## Implementation Notes

<!-- SECTION:NOTES:BEGIN -->
Started with an OrderedDict.
<!-- SECTION:NOTES:END -->

## Definition of Done
<!-- DOD:BEGIN -->
- [ ] #1 Docs updated
<!-- DOD:END -->
"""

PROJECT = {
    "backlog/config.yml": 'project_name: "Shop"\ndefault_status: "To Do"\n'
    'statuses: ["To Do", "In Progress", "Done"]\n',
    "backlog/milestones/m-1 - v1-release.md": "---\nid: m-1\ntitle: v1 release\n---\n\n"
    "## Description\n\nThe first public release.\n",
    "backlog/tasks/task-7 - Cache-eviction.md": TASK_7,
    "backlog/tasks/task-2 - Cache-layer.md": "---\nid: TASK-2\ntitle: Cache layer\n"
    "status: To Do\nmilestone: v1 release\npriority: medium\n---\n\n## Description\n\n"
    "A cache in front of the catalogue.\n",
    "backlog/tasks/task-3 - Metrics.md": "---\nid: task-3\ntitle: Metrics\nstatus: Done\n"
    "priority: low\n---\n",
    "backlog/completed/task-1 - Setup.md": "---\nid: task-1\ntitle: Setup\nstatus: Done\n---\n",
    "backlog/drafts/draft-1 - Idea.md": "---\nid: DRAFT-1\ntitle: Idea\nstatus: Draft\n---\n",
    "backlog/archive/tasks/task-4 - Old.md": "---\nid: task-4\ntitle: Old\nstatus: To Do\n---\n",
    "backlog/decisions/decision-1 - Use-LRU.md": "---\nid: decision-1\ntitle: Use LRU\n"
    "date: '2025-06-01 10:00'\nstatus: accepted\n---\n\n## Context\n\nThe cache grows.\n\n"
    "## Decision\n\nLRU.\n",
    "backlog/docs/doc-1 - Architecture.md": "---\nid: doc-1\ntitle: Architecture\n"
    "type: other\n---\n\n# Architecture\n\nBoxes and arrows.\n",
}

TASK_7_MD = """\
---
title: 'Cache eviction: drop "stale" entries'
status: in_progress
priority: P1
agent: alice
depends_on:
- task-3
labels:
- cache
- perf
context: []
source:
  system: backlog.md
  project: Shop
  id: task-7
  path: backlog/tasks/task-7 - Cache-eviction.md
  fields:
    folder: tasks
    id: TASK-7
    status: In Progress
    assignee:
    - '@alice'
    - '@bob'
    reporter: '@carol'
    created_date: 2025-06-04 19:51
    updated_date: '2025-06-05'
    labels:
    - cache
    - perf
    milestone: m-1
    dependencies:
    - TASK-3
    parent_task_id: TASK-2
    priority: high
    ordinal: 2000
    estimate: 3d
  hash: {hash}
---

# Cache eviction: drop "stale" entries

Evict least recently used entries when the cache is full.

## Acceptance Criteria

- [x] LRU order is kept
- [ ] Memory stays under 512 MB

## Objectives

1. Wrap the store in an LRU
2. Add a size bound

## Notes

Started with an OrderedDict.

## Definition of Done

- [ ] Docs updated
"""


def make_source(tmp_path: Path, files: dict[str, str | bytes], name: str = "shop") -> Path:
    root = tmp_path / name
    for rel, text in files.items():
        write(root, rel, text)
    return root


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def import_json(orchsync, repo: Path, *args: str) -> dict:
    result = orchsync(repo, "import", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    data["exit_code"] = result.exit_code
    return data


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_source(tmp_path, PROJECT)


# --- Backlog.md: the mapping --------------------------------------------------------------------


def test_every_field_and_section_of_a_task_is_mapped_or_kept(orchsync, empty_repo, shop):
    result = orchsync(empty_repo, "import", "backlog", str(shop), "--actor", "migrator")

    assert result.exit_code == 0, result.output
    text = (empty_repo / "delegation/sprints/v1-release/task-7/TASK.md").read_text()
    recorded = text.split("  hash: ", 1)[1].split("\n", 1)[0]
    assert text == TASK_7_MD.format(hash=recorded)


def test_the_whole_project_lands_in_one_commit_with_its_events(orchsync, empty_repo, shop):
    before = head(empty_repo)
    result = orchsync(empty_repo, "import", "backlog", str(shop), "--actor", "migrator")

    assert git(empty_repo, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    assert git(empty_repo, "log", "-1", "--format=%s") == (
        "import backlog.md Shop: 12 created (4 sprints, 6 tasks, 1 ADR, 1 document)\n"
    )
    found = trailers(empty_repo)
    events = [v for k, v in found if k == "Orchsync-Event"]
    assert events[-1] == "orchestration.import.completed import:backlog.md"
    assert events.count("orchestration.task.created T:task-7") == 1
    assert "orchestration.sprint.created S:v1-release" in events
    assert "orchestration.adr.created ADR:001" in events
    assert ("Orchsync-Import", "backlog.md Shop") in found
    assert ("Orchsync-Agent", "migrator") in found
    assert result.stdout.endswith(
        f"committed {head(empty_repo)[:12]}: import backlog.md Shop: 12 created "
        "(4 sprints, 6 tasks, 1 ADR, 1 document)\n"
    )
    assert git(empty_repo, "status", "--porcelain") == ""


def test_statuses_priorities_sprints_and_folders(orchsync, empty_repo, shop):
    orchsync(empty_repo, "import", "backlog", str(shop))
    rows = json.loads(orchsync(empty_repo, "tasks", "--json").stdout)
    got = {r["task"]: (r["sprint"], r["status"], r["priority"], r["agent"]) for r in rows}
    assert got == {
        "task-7": ("v1-release", "in_progress", "P1", "alice"),
        "task-2": ("v1-release", "pending", "P2", None),  # milestone named by its title
        "task-3": ("backlog", "completed", "P3", None),  # no milestone
        "task-1": ("backlog", "completed", "P2", None),  # completed/ folder
        "draft-1": ("drafts", "pending", "P2", None),  # drafts/ folder
        "task-4": ("archive", "pending", "P2", None),  # archive/tasks/ folder
    }
    sprints = json.loads(orchsync(empty_repo, "sprints", "--json").stdout)
    assert {s["sprint"]: s["status"] for s in sprints} == {
        "archive": "planning",
        "backlog": "completed",
        "drafts": "planning",
        "v1-release": "active",
    }
    sprint = (empty_repo / "delegation/sprints/v1-release/SPRINT.md").read_text()
    assert "goal: The first public release.\n" in sprint
    assert sprint.endswith("# Sprint: v1 release\n\nThe first public release.\n")


def test_a_parent_task_waits_for_its_subtasks(orchsync, empty_repo, shop):
    orchsync(empty_repo, "import", "backlog", str(shop))
    rows = {r["task"]: r for r in json.loads(orchsync(empty_repo, "tasks", "--json").stdout)}
    assert rows["task-2"]["depends_on"] == ["task-7"]  # task-7 is a subtask of task-2
    assert rows["task-7"]["depends_on"] == ["task-3"]


def test_decisions_become_adrs_and_docs_are_kept_as_files(orchsync, empty_repo, shop):
    write(
        empty_repo, "delegation/adr/ADR-001-existing.md", "---\ntitle: X\nstatus: accepted\n---\n"
    )
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-qm", "an ADR of our own")
    orchsync(empty_repo, "import", "backlog", str(shop))

    adrs = json.loads(orchsync(empty_repo, "adr", "list", "--json").stdout)
    assert [(a["id"], a["title"], a["status"], a["date"]) for a in adrs] == [
        ("ADR-001", "X", "accepted", None),
        ("ADR-002", "Use LRU", "accepted", "2025-06-01"),  # 1 was taken
    ]
    adr = (empty_repo / "delegation/adr/ADR-002-use-lru.md").read_text()
    assert adr.endswith(
        "# ADR-002: Use LRU\n\n## Context\n\nThe cache grows.\n\n## Decision\n\nLRU.\n"
    )
    doc = (empty_repo / "delegation/docs/doc-1-architecture.md").read_text()
    assert doc.startswith("---\ntitle: Architecture\nsource:\n  system: backlog.md\n")
    assert doc.endswith("---\n\n# Architecture\n\nBoxes and arrows.\n")


def test_after_the_import_check_tasks_agent_init_and_search_work(
    orchsync, empty_repo, shop, agent_init
):
    orchsync(empty_repo, "import", "backlog", str(shop))

    check = orchsync(empty_repo, "check")
    assert (check.exit_code, check.stdout) == (0, "")
    context = agent_init(empty_repo, "T:task-7")
    assert context["task"]["title"] == 'Cache eviction: drop "stale" entries'
    assert [c["text"] for c in context["task"]["acceptance_criteria"]] == [
        "LRU order is kept",
        "Memory stays under 512 MB",
        "Docs updated",
    ]
    assert [c["text"] for c in context["task"]["objectives"]] == [
        "Wrap the store in an LRU",
        "Add a size bound",
    ]
    hits = json.loads(orchsync(empty_repo, "search", "cahce evicton", "--json").stdout)["hits"]
    assert hits[0]["key"] == "T:task-7"
    ready = json.loads(orchsync(empty_repo, "tasks", "--ready", "--json").stdout)
    assert [r["task"] for r in ready] == ["task-4", "draft-1"]  # task-2 waits for task-7


def test_a_rebuilt_index_has_the_import_event(orchsync, empty_repo, shop):
    orchsync(empty_repo, "import", "backlog", str(shop), "--actor", "migrator")
    events = json.loads(orchsync(empty_repo, "events", "--type", "import.*", "--json").stdout)
    assert [(e["entity_code"], e["agent"], e["payload"]) for e in events] == [
        (
            "backlog.md",
            "migrator",
            {
                "source": "backlog.md",
                "project": "Shop",
                "files": 12,
                "created": {"adr": 1, "file": 1, "sprint": 4, "task": 6},
                "updated": {},
            },
        )
    ]
    live = dump_index(empty_repo)
    for index in (empty_repo / ".git/orchsync").glob("index.duckdb*"):
        index.unlink()
    assert orchsync(empty_repo, "reindex").exit_code == 0
    assert dump_index(empty_repo) == live


# --- the messy cases ---------------------------------------------------------------------------


MESSY = {
    "backlog/config.yml": "project_name: Messy\nstatuses: [Icebox, Hacking, Review, Landed]\n",
    # no front matter at all: id and title from the file name
    "backlog/tasks/task-1 - Plain-notes.md": "Just some notes, no front matter.\n",
    # a bad date, a renamed status, unknown keys, quotes
    "backlog/tasks/task-2 - Dates.md": "---\nid: task-2\ntitle: 'It''s \"quoted\"'\n"
    "status: Landed\ncreated_date: 31/02/2025\nsprint_points: 5\ncustom: {a: [1, 2]}\n---\n",
    "backlog/tasks/task-3 - Hacking.md": "---\nid: task-3\ntitle: Hack\nstatus: Hacking\n---\n",
    "backlog/tasks/task-4 - Odd.md": "---\nid: task-4\ntitle: Odd\nstatus: Someday\n"
    "priority: whenever\n---\n",
    # a subtask whose parent is missing, a dependency on an unknown task
    "backlog/tasks/task-5.1 - Orphan.md": "---\nid: task-5.1\ntitle: Orphan\n"
    "parent_task_id: task-5\ndependencies: [task-99, task-3]\n---\n",
    # CRLF line ends and a BOM
    "backlog/tasks/task-6 - Windows.md": (
        "\ufeff---\r\nid: task-6\r\ntitle: Windows\r\nstatus: Icebox\r\n---\r\n\r\n"
        "## Description\r\n\r\nSaved on Windows.\r\n"
    ).encode(),
    # a decision with a bad date
    "backlog/decisions/decision-2 - Dates.md": "---\nid: decision-2\ntitle: Dates\n"
    "date: yesterday\nstatus: maybe\n---\n",
}


MESSY_WARNINGS = [
    "backlog/tasks/task-1 - Plain-notes.md: no front matter: id and title taken from the file name",
    "backlog/tasks/task-2 - Dates.md: created_date '31/02/2025' is not a date: kept as written",
    "backlog/tasks/task-4 - Odd.md: status 'Someday' is none of the configured statuses "
    "(Icebox, Hacking, Review, Landed): read as pending",
    "backlog/tasks/task-4 - Odd.md: priority 'whenever' is not high, medium or low: P2",
    "backlog/decisions/decision-2 - Dates.md: status 'maybe' is no ADR status: proposed",
    "backlog/decisions/decision-2 - Dates.md: date 'yesterday' is not a date: left out",
    "backlog/tasks/task-5.1 - Orphan.md: depends on task-99, which is not in the source: "
    "left out (kept in source.fields)",
    "backlog/tasks/task-5.1 - Orphan.md: parent task task-5 is not in the source: no link "
    "(kept in source.fields)",
]


def test_messy_files_are_imported_and_every_compromise_is_reported(orchsync, empty_repo, tmp_path):
    source = make_source(tmp_path, MESSY)
    data = import_json(orchsync, empty_repo, "backlog", str(source))

    assert data["exit_code"] == 0 and data["skipped"] == 0
    assert [f"{f['source']}: {f['message']}" for f in data["findings"]] == MESSY_WARNINGS
    assert {f["level"] for f in data["findings"]} == {"warning"}
    rows = {r["task"]: r for r in json.loads(orchsync(empty_repo, "tasks", "--json").stdout)}
    assert {t: (r["status"], r["title"]) for t, r in rows.items()} == {
        "task-1": ("pending", "Plain notes"),
        "task-2": ("completed", 'It\'s "quoted"'),  # Landed: the last configured status
        "task-3": ("in_progress", "Hack"),  # Hacking: one in between
        "task-4": ("pending", "Odd"),
        "task-5.1": ("pending", "Orphan"),
        "task-6": ("pending", "Windows"),  # Icebox: the first
    }
    assert rows["task-5.1"]["depends_on"] == ["task-3"]
    task2 = (empty_repo / rows["task-2"]["path"]).read_text()
    assert (
        "    created_date: 31/02/2025\n    sprint_points: 5\n    custom:\n      a:\n      - 1\n"
        in task2
    )
    task6 = (empty_repo / rows["task-6"]["path"]).read_bytes()
    assert task6.endswith(b"# Windows\n\nSaved on Windows.\n") and b"\r" not in task6
    assert orchsync(empty_repo, "check").exit_code == 0


def test_a_cycle_in_the_sources_dependencies_is_what_check_reports(orchsync, empty_repo, tmp_path):
    source = make_source(
        tmp_path,
        {
            "backlog/tasks/task-1.md": "---\nid: task-1\ntitle: A\ndependencies: [task-2]\n---\n",
            "backlog/tasks/task-2.md": "---\nid: task-2\ntitle: B\ndependencies: [task-1]\n---\n",
        },
    )
    orchsync(empty_repo, "import", "backlog", str(source))
    check = orchsync(empty_repo, "check")
    assert check.exit_code == 1
    assert check.stdout == (
        "delegation/sprints/backlog/task-1/TASK.md:5: depends_on: "
        "dependency cycle: task-1 -> task-2 -> task-1\n"
    )


# --- what cannot be read is skipped, never dropped silently ------------------------------------


def test_unreadable_items_are_skipped_with_the_reason_and_exit_1(orchsync, empty_repo, tmp_path):
    source = make_source(
        tmp_path,
        {
            "backlog/tasks/task-1 - Good.md": "---\nid: task-1\ntitle: Good\n---\n",
            "backlog/tasks/task-2 - Broken.md": "---\nid: task-2\ntitle: [unclosed\n---\n",
            "backlog/tasks/task-3 - Bomb.md": "---\nid: task-3\na: &a [x, x, x]\nb: [*a, *a, *a]\n---\n",
            "backlog/tasks/task-4 - Huge.md": "---\nid: task-4\n---\n" + "x" * (1024 * 1024),
            "backlog/tasks/task-5 - Latin1.md": b"---\nid: task-5\ntitle: caf\xe9\n---\n",
            "backlog/tasks/task-6 - List.md": "---\n- a\n- b\n---\n",
        },
    )
    (tmp_path / "outside.md").write_text("---\nid: task-9\ntitle: Secret\n---\n")
    os.symlink(tmp_path / "outside.md", source / "backlog/tasks/task-9 - Link.md")

    before = head(empty_repo)
    data = import_json(orchsync, empty_repo, "backlog", str(source))

    assert data["exit_code"] == 1 and data["skipped"] == 6
    skipped = {f["source"].rsplit("/", 1)[1]: f["message"] for f in data["findings"]}
    assert skipped["task-2 - Broken.md"] == (
        "YAML error at line 4: expected ',' or ']', but got '<stream end>'"
    )
    assert skipped["task-3 - Bomb.md"] == (
        "YAML error at line 4: YAML aliases are not allowed (refused to expand them)"
    )
    assert skipped["task-4 - Huge.md"] == "1,048,595 bytes, over the 1,048,576-byte limit"
    assert skipped["task-5 - Latin1.md"] == "not UTF-8 text (byte 25)"
    assert skipped["task-6 - List.md"] == "front matter is not a mapping of keys"
    assert skipped["task-9 - Link.md"] == "a symbolic link (not followed)"
    assert [i["key"] for i in data["items"] if i["kind"] == "task"] == ["T:task-1"]
    assert data["commit"] is not None and head(empty_repo) != before  # the good one is in
    assert "Secret" not in git(empty_repo, "log", "-p", "-1")


def test_hostile_ids_and_titles_stay_inside_their_folder_and_on_one_line(
    orchsync, empty_repo, tmp_path
):
    source = make_source(
        tmp_path,
        {
            "backlog/tasks/a.md": '---\nid: ../../../etc/x\ntitle: "Two\\nlines\\n---\\nhidden: true"\n---\n',
            "backlog/tasks/b.md": "---\nid: .git\ntitle: Dot\n---\n",
            "backlog/tasks/c.md": "---\nid: '-rf'\ntitle: Dash\nmilestone: ../../outside\n---\n",
            "backlog/tasks/d.md": "---\nid: task-1\ntitle: T1\n---\n",
            "backlog/tasks/e.md": "---\nid: TASK-1\ntitle: T1 again\n---\n",
        },
    )
    data = import_json(orchsync, empty_repo, "backlog", str(source))
    assert [(i["key"], i["path"]) for i in data["items"]] == [
        ("S:backlog", "delegation/sprints/backlog/SPRINT.md"),
        ("S:outside", "delegation/sprints/outside/SPRINT.md"),  # milestone ../../outside
        ("T:etc-x", "delegation/sprints/backlog/etc-x/TASK.md"),  # ../../../etc/x
        ("T:git", "delegation/sprints/backlog/git/TASK.md"),  # .git
        ("T:rf", "delegation/sprints/outside/rf/TASK.md"),  # -rf
        ("T:task-1", "delegation/sprints/backlog/task-1/TASK.md"),
    ]
    assert [f["message"] for f in data["findings"] if f["level"] == "skipped"] == [
        "id task-1 again (first in backlog/tasks/d.md)"
    ]
    text = (empty_repo / "delegation/sprints/backlog/etc-x/TASK.md").read_text()
    assert "title: 'Two lines --- hidden: true'\n" in text and "\nhidden: true" not in text
    assert orchsync(empty_repo, "check").exit_code == 0
    assert not (tmp_path / "outside").exists() and not (empty_repo / "outside").exists()


# --- running it again --------------------------------------------------------------------------


def test_a_second_run_on_the_same_source_writes_nothing(orchsync, empty_repo, shop):
    orchsync(empty_repo, "import", "backlog", str(shop))
    first = head(empty_repo)

    again = orchsync(empty_repo, "import", "backlog", str(shop))

    assert again.exit_code == 0
    assert head(empty_repo) == first
    assert "unchanged 12\n" in again.stdout
    assert again.stdout.endswith(
        "nothing changed in the source since the last import: nothing written\n"
    )


def test_a_change_in_the_source_updates_only_that_task(orchsync, empty_repo, shop):
    orchsync(empty_repo, "import", "backlog", str(shop))
    task3 = shop / "backlog/tasks/task-3 - Metrics.md"
    task3.write_text(task3.read_text().replace("status: Done", "status: In Progress"))

    data = import_json(orchsync, empty_repo, "backlog", str(shop))

    assert data["actions"] == {"unchanged": 10, "update": 2}  # the task, and its sprint's status
    assert sorted(i["key"] for i in data["items"] if i["action"] == "update") == [
        "S:backlog",
        "T:task-3",
    ]
    events = [v for k, v in trailers(empty_repo) if k == "Orchsync-Event"]
    assert "orchestration.task.started T:task-3" in events
    assert "orchestration.sprint.status_updated S:backlog" in events
    assert events[-1] == "orchestration.import.completed import:backlog.md"


def test_an_edit_made_in_orchsync_is_kept_unless_overwrite(orchsync, empty_repo, shop):
    orchsync(empty_repo, "import", "backlog", str(shop))
    orchsync(empty_repo, "task", "status", "task-3", "blocked", "--note", "waiting on infra")
    ours = (empty_repo / "delegation/sprints/backlog/task-3/TASK.md").read_bytes()

    same = import_json(orchsync, empty_repo, "backlog", str(shop))  # source unchanged
    assert same["actions"] == {"unchanged": 12} and same["commit"] is None

    task3 = shop / "backlog/tasks/task-3 - Metrics.md"
    task3.write_text(task3.read_text().replace("title: Metrics", "title: Metrics dashboard"))
    kept = import_json(orchsync, empty_repo, "backlog", str(shop))
    assert kept["exit_code"] == 0
    assert [(f["level"], f["message"]) for f in kept["findings"]] == [
        (
            "kept",
            "changed in the source, and delegation/sprints/backlog/task-3/TASK.md was edited "
            "in orchsync since the last import: kept orchsync's version (--overwrite takes "
            "the source's)",
        )
    ]
    assert (empty_repo / "delegation/sprints/backlog/task-3/TASK.md").read_bytes() == ours

    forced = import_json(orchsync, empty_repo, "backlog", str(shop), "--overwrite")
    assert [i["key"] for i in forced["items"] if i["action"] == "update"] == ["T:task-3"]
    text = (empty_repo / "delegation/sprints/backlog/task-3/TASK.md").read_text()
    assert "title: Metrics dashboard\nstatus: completed\n" in text and "infra" not in text


def test_a_task_moved_in_orchsync_stays_where_it_was_put(orchsync, empty_repo, shop):
    orchsync(empty_repo, "import", "backlog", str(shop))
    orchsync(empty_repo, "task", "move", "task-4", "--to-sprint", "backlog")
    task4 = shop / "backlog/archive/tasks/task-4 - Old.md"
    task4.write_text(task4.read_text().replace("title: Old", "title: Old and gone"))

    data = import_json(orchsync, empty_repo, "backlog", str(shop))

    assert [
        (i["key"], i["path"], i["action"]) for i in data["items"] if i["key"] == "T:task-4"
    ] == [("T:task-4", "delegation/sprints/backlog/task-4/TASK.md", "update")]
    assert [f["message"] for f in data["findings"]] == [
        "the source puts it in sprint archive; it stays in backlog "
        "(orchsync task move task-4 --to-sprint archive)"
    ]


def test_new_codes_never_take_one_in_use(orchsync, example_repo, tmp_path):
    source = make_source(
        tmp_path,
        {"backlog/tasks/x.md": "---\nid: phase-1-api-foundation\ntitle: Same code\n---\n"},
    )
    data = import_json(orchsync, example_repo, "backlog", str(source))
    (task,) = [i for i in data["items"] if i["kind"] == "task"]
    assert task["key"] == "T:phase-1-api-foundation-2"
    assert orchsync(example_repo, "check").exit_code == 0


# --- options -----------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_and_writes_nothing(orchsync, empty_repo, tmp_path):
    source = make_source(tmp_path, {**MESSY, "backlog/tasks/bad.md": "---\nid: [\n---\n"})
    before = head(empty_repo)

    result = orchsync(empty_repo, "import", "backlog", str(source), "--dry-run")

    assert result.exit_code == 1  # one item cannot be read
    assert head(empty_repo) == before and not (empty_repo / "delegation").exists()
    assert result.stdout == (
        f"backlog.md Messy ({source}/backlog): 8 items\n"
        "  sprint     1  active 1\n"
        "  task       6  completed 1, in_progress 1, pending 4\n"
        "  adr        1  proposed 1\n"
        "create 8\n"
        "skipped: backlog/tasks/bad.md: YAML error at line 3: expected the node content, "
        "but found '<stream end>'\n"
        + "".join(f"warning: {line}\n" for line in MESSY_WARNINGS)
        + "dry run: nothing written\n"
    )


def test_single_sprint_puts_every_task_in_one_existing_sprint(orchsync, example_repo, shop):
    sprint = example_repo / "delegation/sprints/orchestration-api-v2/SPRINT.md"
    before = sprint.read_bytes()
    data = import_json(
        orchsync, example_repo, "backlog", str(shop), "--sprint-from", "single:orchestration-api-v2"
    )
    assert {i["path"].split("/")[2] for i in data["items"] if i["kind"] == "task"} == {
        "orchestration-api-v2"
    }
    assert [i["action"] for i in data["items"] if i["kind"] == "sprint"] == ["adopt"]
    assert sprint.read_bytes() == before
    bad = orchsync(example_repo, "import", "backlog", str(shop), "--sprint-from", "single:../x")
    assert bad.exit_code == 2 and "--sprint-from single:<code>" in bad.stderr


def test_a_folder_that_is_no_backlog_project_is_a_usage_error(orchsync, empty_repo, tmp_path):
    result = orchsync(empty_repo, "import", "backlog", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {tmp_path}: no Backlog.md project here (no backlog/ folder with tasks/ or config.yml)\n"
    )


# --- GitHub issues -----------------------------------------------------------------------------


ISSUES = [
    {
        "number": 12,
        "title": "Cache eviction drops hot keys",
        "body": "The LRU evicts keys in use.\r\n\r\n- [x] reproduce\r\n- [ ] fix\r\n\r\n"
        "## Acceptance criteria\r\n\r\n- [ ] hot keys survive\r\n",
        "labels": [{"name": "bug"}, {"name": "priority: high"}],
        "state": "OPEN",
        "assignees": [{"login": "alice"}, {"login": "bob"}],
        "milestone": {
            "title": "v2.0",
            "description": "The big one.",
            "dueOn": "2025-12-01T00:00:00Z",
        },
        "createdAt": "2025-06-01T10:00:00Z",
        "closedAt": None,
        "url": "https://github.com/acme/shop/issues/12",
    },
    {
        "number": 13,
        "title": "Login page",
        "body": "",
        "labels": [],
        "state": "CLOSED",
        "assignees": [],
        "milestone": None,
        "createdAt": "2025-05-01T10:00:00Z",
        "closedAt": "2025-05-03T10:00:00Z",
        "url": "https://github.com/acme/shop/issues/13",
    },
    {
        "number": 14,
        "title": "Blocked on vendor",
        "body": None,
        "labels": [{"name": "blocked"}],
        "state": "OPEN",
        "assignees": [],
        "milestone": {"title": "v2.0"},
    },
    {"number": "15", "title": "A string number"},
    {"number": 16, "title": ["not", "a", "string"]},
    {"number": 17, "title": "Labels of the wrong type", "labels": [42]},
    "not an object",
]


def test_github_issues_open_and_closed_with_labels_milestones_and_checklists(
    orchsync, empty_repo, tmp_path
):
    export = tmp_path / "issues.json"
    export.write_text(json.dumps(ISSUES))

    data = import_json(orchsync, empty_repo, "github-issues", str(export), "--actor", "gh")

    assert data["exit_code"] == 1  # four entries could not be imported
    assert data["source"] == {"system": "github", "project": "acme/shop", "path": str(export)}
    assert [(f["source"], f["message"]) for f in data["findings"]] == [
        ("issues.json[3]", "number '15' is not a positive whole number"),
        ("issues.json[4]", "title is list, not str"),
        ("issues.json[5]", "labels holds a int"),
        ("issues.json[6]", "not an issue object but str"),
    ]
    rows = {r["task"]: r for r in json.loads(orchsync(empty_repo, "tasks", "--json").stdout)}
    assert {t: (r["sprint"], r["status"], r["priority"], r["agent"]) for t, r in rows.items()} == {
        "issue-12": ("v2-0", "pending", "P1", "alice"),
        "issue-13": ("issues", "completed", "P2", None),
        "issue-14": ("v2-0", "blocked", "P2", None),
    }
    task = (empty_repo / rows["issue-12"]["path"]).read_text()
    assert task.startswith(
        "---\ntitle: Cache eviction drops hot keys\nstatus: pending\npriority: P1\n"
        "agent: alice\ndepends_on: []\nlabels:\n- bug\n- 'priority: high'\n"
        "objectives:\n- text: reproduce\n  done: true\n- text: fix\n  done: false\n"
    )
    assert task.endswith(
        "# Cache eviction drops hot keys\n\nThe LRU evicts keys in use.\n\n- [x] reproduce\n"
        "- [ ] fix\n\n## Acceptance criteria\n\n- [ ] hot keys survive\n"
    )
    sprint = (empty_repo / "delegation/sprints/v2-0/SPRINT.md").read_text()
    assert "goal: The big one.\nend_date: '2025-12-01'\n" in sprint
    assert [
        (k, v) for k, v in trailers(empty_repo) if k in ("Orchsync-Import", "Orchsync-Agent")
    ] == [
        ("Orchsync-Import", "github acme/shop"),
        ("Orchsync-Agent", "gh"),
    ]
    again = import_json(orchsync, empty_repo, "github-issues", str(export))
    assert again["commit"] is None and again["actions"] == {"unchanged": 5}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"number": 1}', "expected a JSON array of issues (gh issue list --json ...), not dict"),
        ("[1, 2", "not JSON (Expecting ',' delimiter: line 1 column 6 (char 5))"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    ],
)
def test_a_github_export_that_is_no_issue_list_is_refused(
    orchsync, empty_repo, tmp_path, content, message
):
    export = tmp_path / "issues.json"
    export.write_text(content)
    result = orchsync(empty_repo, "import", "github-issues", str(export))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {export}: {message}\n"


@pytest.mark.slow
def test_with_the_daemon_watching_the_import_is_still_one_commit(
    orchsync, daemon, example_repo, shop
):
    """The daemon sees the files land; the import hands it the sync with its trailer, and the
    files are moved into place together, so the daemon's own batch finds nothing left."""
    daemon(example_repo)  # the default quiet window: 300 ms
    before = head(example_repo)

    result = orchsync(example_repo, "import", "backlog", str(shop), "--actor", "migrator")

    assert result.exit_code == 0, result.output
    assert git(example_repo, "rev-list", "--count", f"{before}..HEAD").strip() == "1"
    assert ("Orchsync-Import", "backlog.md Shop") in trailers(example_repo)
    assert git(example_repo, "status", "--porcelain") == ""
    events = json.loads(orchsync(example_repo, "events", "--type", "import.*", "--json").stdout)
    assert [e["agent"] for e in events] == ["migrator"]


def test_an_archived_tasks_id_given_to_a_new_task_keeps_both(orchsync, empty_repo, tmp_path):
    """Backlog.md hands the id of an archived task to the next task it creates."""
    source = make_source(
        tmp_path,
        {
            "backlog/archive/tasks/task-4 - Old.md": "---\nid: TASK-4\ntitle: Old\n---\n",
            "backlog/tasks/task-4 - New.md": "---\nid: TASK-4\ntitle: New\n---\n",
            "backlog/tasks/task-5 - Next.md": "---\nid: TASK-5\ntitle: Next\n"
            "dependencies: [TASK-4]\n---\n",
        },
    )
    data = import_json(orchsync, empty_repo, "backlog", str(source))
    assert data["exit_code"] == 0 and data["findings"] == []
    rows = {r["task"]: r for r in json.loads(orchsync(empty_repo, "tasks", "--json").stdout)}
    assert {t: (r["sprint"], r["title"]) for t, r in rows.items()} == {
        "task-4": ("backlog", "New"),
        "task-4-archived": ("archive", "Old"),
        "task-5": ("backlog", "Next"),
    }
    assert rows["task-5"]["depends_on"] == ["task-4"]
