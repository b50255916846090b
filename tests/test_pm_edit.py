"""`pm.edits.edit_task`: change a task after it was created, byte for byte and in one commit.

Each edit changes only the bytes of the values asked for (comments, key order, quoting, CRLF
and the body stay), is validated before anything is written, refuses to overwrite a file that
changed since the caller read it (`expected_hash`), and lands as one snapshot commit whose
trailers and `task.updated` event come from the one sync function.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_all, git, trailers, write

from orchsync import query
from orchsync.errors import StaleWrite, UnknownEntity, UsageError
from orchsync.model import content_hash
from orchsync.parse import parse_file
from orchsync.parse.markdown import checklist_item, checklist_positions, sections
from orchsync.pm import update_task_status
from orchsync.pm.edits import edit_task
from orchsync.pm.frontmatter_edit import set_list, tick_list_item, tick_section_item
from orchsync.repo import find_repo

SPRINT = "orchestration-api-v2"
P2 = f"delegation/sprints/{SPRINT}/phase-2-event-system/TASK.md"
P3 = f"delegation/sprints/{SPRINT}/phase-3-template-generation/TASK.md"
P5 = f"delegation/sprints/{SPRINT}/phase-5-pm-commands/TASK.md"


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def clean(repo: Path) -> bool:
    return git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def changed_lines(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    """Line pairs that differ, for edits that keep the number of lines."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), (before, after)
    return [(o, n) for o, n in zip(old, new, strict=True) if o != n]


def edit(repo: Path, task: str, **kwargs):
    return edit_task(find_repo(repo), task, actor=kwargs.pop("actor", "ed"), **kwargs)


def entity(repo: Path, path: str):
    return parse_file(path, (repo / path).read_bytes()).entity


# --- what an edit writes ---------------------------------------------------------------------------


def test_title_priority_and_agent_change_only_their_values(example_repo):
    before = (example_repo / P5).read_bytes()

    result = edit(
        example_repo, "phase-5", title="PM tools: ADRs & bugs", priority="P0", agent="qa-engineer"
    )

    after = (example_repo / P5).read_bytes()
    assert changed_lines(before, after) == [
        (
            b"title: PM command tools - ADRs, bug reports and status updates\n",
            b'title: "PM tools: ADRs & bugs"\n',
        ),
        (b"priority: P1\n", b"priority: P0\n"),
        (b"agent: backend-engineer\n", b"agent: qa-engineer\n"),
    ]
    assert result.message == "task phase-5-pm-commands: changed agent, priority, title"
    assert result.paths == [P5]
    assert result.details["hash"] == content_hash(after)
    assert result.commit == head(example_repo)
    assert result.subject == "task phase-5-pm-commands: agent, priority, title edited"
    assert ("Orchsync-Agent", "ed") in trailers(example_repo)
    assert (
        "Orchsync-Event",
        "orchestration.task.updated T:phase-5-pm-commands",
    ) in trailers(example_repo)
    assert ("Orchsync-Hash", f"{content_hash(after)} {P5}") in trailers(example_repo)
    assert clean(example_repo)
    with query.reader(find_repo(example_repo)) as con:
        events = query.events(con, entity="T:phase-5-pm-commands", type="task.updated")
        row = next(t for t in query.tasks(con) if t["task"] == "phase-5-pm-commands")
    assert events[-1]["commit"] == result.commit
    assert events[-1]["payload"]["changes"]["priority"] == {"old": "P1", "new": "P0"}
    assert (row["title"], row["priority"], row["agent"]) == (
        "PM tools: ADRs & bugs",
        "P0",
        "qa-engineer",
    )


def test_unassigning_writes_null(example_repo):
    edit(example_repo, "phase-5", agent="")

    assert b"\nagent: null\n" in (example_repo / P5).read_bytes()
    assert entity(example_repo, P5).agent is None


def test_an_agent_without_a_profile_is_assigned_with_a_warning(example_repo):
    result = edit(example_repo, "phase-5", agent="nobody")

    assert result.warnings == [
        "agent 'nobody' has no profile in delegation/agents/; assigned anyway"
    ]
    assert entity(example_repo, P5).agent == "nobody"


def test_dependencies_are_added_and_removed_in_the_block_list(example_repo):
    before = (example_repo / P5).read_bytes()

    edit(example_repo, "phase-5", add_deps=["T:phase-1-api-foundation", "phase-2-event-system"])
    middle = (example_repo / P5).read_bytes()
    edit(example_repo, "phase-5", rm_deps=["phase-4-agent-init"])

    assert middle == before.replace(
        b"  - phase-4-agent-init\n",
        b"  - phase-4-agent-init\n  - phase-1-api-foundation\n  - phase-2-event-system\n",
    )
    assert (example_repo / P5).read_bytes() == before.replace(
        b"  - phase-4-agent-init\n", b"  - phase-1-api-foundation\n  - phase-2-event-system\n"
    )
    assert entity(example_repo, P5).depends_on == ["phase-1-api-foundation", "phase-2-event-system"]


def test_removing_every_dependency_leaves_an_empty_flow_list(example_repo):
    edit(example_repo, "phase-5", rm_deps=["phase-4-agent-init"])

    text = (example_repo / P5).read_text()
    assert "\ndepends_on: []\ncontext:\n" in text
    assert entity(example_repo, P5).depends_on == []


def test_labels_replace_add_and_remove(example_repo):
    edit(example_repo, "phase-5", add_labels=["board"], rm_labels=["cli"])
    assert "labels:\n  - mcp\n  - board\nestimate: 4d\n" in (example_repo / P5).read_text()

    edit(example_repo, "phase-5", labels=["a: b", "ok"])
    assert 'labels:\n  - "a: b"\n  - ok\nestimate: 4d\n' in (example_repo / P5).read_text()
    assert entity(example_repo, P5).metadata["labels"] == ["a: b", "ok"]


def test_set_fields_sets_any_other_value(example_repo):
    before = (example_repo / P5).read_bytes()

    edit(example_repo, "phase-5", set_fields={"estimate": "2d", "reviewer": "kim"})

    assert (example_repo / P5).read_bytes() == before.replace(
        b"estimate: 4d\n---\n", b"estimate: 2d\nreviewer: kim\n---\n"
    )


def test_crlf_comments_quotes_and_bom_stay(example_repo):
    path = f"delegation/sprints/{SPRINT}/t-crlf/TASK.md"
    write(
        example_repo,
        path,
        "\ufeff---\r\n"
        "title: 'Quoted: title'   # single-quoted on purpose\r\n"
        'status: "pending"  # the current state\r\n'
        "priority:   P2   # keep me\r\n"
        "depends_on: [ ]\r\n"
        "labels:\r\n"
        "    - odd-indent   # four spaces\r\n"
        "---\r\n"
        "\r\n"
        "## Acceptance Criteria\r\n"
        "\r\n"
        "- [ ] first\r\n"
        "- second, no box\r\n",
    )
    commit_all(example_repo, "a hand-written task")

    edit(
        example_repo,
        "t-crlf",
        title="It's new",
        priority="P1",
        add_deps=["phase-1-api-foundation"],
        add_labels=["two"],
        checklist=[("acceptance_criteria", 0, True), ("acceptance_criteria", 1, True)],
    )

    assert (example_repo / path).read_bytes() == (
        "\ufeff---\r\n"
        "title: 'It''s new'   # single-quoted on purpose\r\n"
        'status: "pending"  # the current state\r\n'
        "priority:   P1   # keep me\r\n"
        "depends_on: [phase-1-api-foundation]\r\n"
        "labels:\r\n"
        "    - odd-indent   # four spaces\r\n"
        "    - two\r\n"
        "---\r\n"
        "\r\n"
        "## Acceptance Criteria\r\n"
        "\r\n"
        "- [x] first\r\n"
        "- [x] second, no box\r\n"
    ).encode()


# --- checklists ------------------------------------------------------------------------------------


def test_ticking_a_markdown_section_item_flips_its_box(example_repo):
    before = (example_repo / P3).read_bytes()

    result = edit(example_repo, "phase-3", checklist=[("deliverables", 1, True)])

    assert changed_lines(before, (example_repo / P3).read_bytes()) == [
        (
            b"- [ ] Template lookup: `delegation/.templates/` first, then the templates shipped in the package\n",
            b"- [x] Template lookup: `delegation/.templates/` first, then the templates shipped in the package\n",
        )
    ]
    assert [i.done for i in entity(example_repo, P3).deliverables] == [False, True, False, False]
    assert result.details["changed"] == ["deliverables"]


def test_ticking_front_matter_items_of_every_form(example_repo):
    # phase-2: objectives hold {text, done} maps and plain strings
    before = (example_repo / P2).read_bytes()

    edit(
        example_repo,
        "phase-2",
        checklist=[("objectives", 0, False), ("objectives", 2, True), ("deliverables", 1, True)],
    )

    after = (example_repo / P2).read_bytes()
    assert changed_lines(before, after) == [
        (b"    done: true\n", b"    done: false\n"),
        (
            b"  - Make event volume configurable with per-type levels and sampling\n",
            b'  - "[x] Make event volume configurable with per-type levels and sampling"\n',
        ),
        (
            b"  - Snapshot commits carrying Orchsync-Event, Orchsync-Entity and Orchsync-Hash trailers\n",
            b'  - "[x] Snapshot commits carrying Orchsync-Event, Orchsync-Entity and Orchsync-Hash trailers"\n',
        ),
    ]
    e = entity(example_repo, P2)
    assert [i.done for i in e.objectives] == [False, True, True, False]
    assert (
        e.objectives[2].text == "Make event volume configurable with per-type levels and sampling"
    )


def test_a_map_item_without_done_gets_a_done_line():
    raw = b"---\ntitle: t\nobjectives:\n  - text: one\n    why: because\n  - two\n---\n"
    assert tick_list_item(raw, "objectives", 0, True) == (
        b"---\ntitle: t\nobjectives:\n  - text: one\n    why: because\n    done: true\n  - two\n---\n"
    )
    assert tick_list_item(raw, "objectives", 0, False) == raw


def test_unticking_a_boxed_string_and_a_section_item():
    raw = b"---\nobjectives:\n  - '[x] it''s done'\n---\n\n## Deliverables\n\n- [X] shipped\n"
    assert tick_list_item(raw, "objectives", 0, False) == (
        b"---\nobjectives:\n  - '[ ] it''s done'\n---\n\n## Deliverables\n\n- [X] shipped\n"
    )
    assert tick_section_item(raw, "deliverables", 0, False) == raw.replace(b"[X]", b"[ ]")


def test_checklist_positions_agree_with_sections_on_every_example_task():
    tasks = sorted(Path(__file__).resolve().parents[1].glob("delegation/sprints/*/*/TASK.md"))
    bodies = [p.read_text().split("\n---\n", 1)[1] for p in tasks] + [
        "## Objectives\n- a\n  wrapped\n-  \n  only continuation\n```\n- fenced\n```\n"
        "### Sub\n- nested\n## Goals\n1. numbered\n## Other\n- not an item\n"
    ]
    for body in bodies:
        found = sections(body)
        positions = checklist_positions(body)
        assert {k: len(v) for k, v in positions.items()} == {k: len(v) for k, v in found.items()}
        for name, offsets in positions.items():
            for offset, item in zip(offsets, found[name], strict=True):
                first_line = body[offset:].split("\n", 1)[0]
                assert item.text.startswith(checklist_item(first_line).text)


def test_set_list_keeps_kept_items_bytes():
    raw = b"---\ndepends_on:\n  - a   # why a\n  - 'b'\n# trailing\nlabels: [x]\n---\n"
    assert set_list(raw, "depends_on", ["b", "c"]) == (
        b"---\ndepends_on:\n  - 'b'\n  - c\n# trailing\nlabels: [x]\n---\n"
    )
    assert set_list(raw, "labels", ["x", "y z"]) == raw.replace(b"[x]", b'[x, "y z"]')
    assert (
        set_list(b"---\ntitle: t\n---\n", "labels", ["q"]) == b"---\ntitle: t\nlabels: [q]\n---\n"
    )


# --- refusals: nothing written ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"priority": "P9"}, UsageError, "unknown priority 'P9'; valid: P0, P1, P2, P3"),
        ({"title": "  \n "}, UsageError, "title must not be empty"),
        ({"agent": "../x"}, UsageError, "agent '../x' must not contain '/'"),
        ({"agent": "a b"}, UsageError, "agent 'a b' may only hold ASCII letters, digits"),
        (
            {"add_deps": ["nope"]},
            UnknownEntity,
            "unknown task 'nope' as a dependency; nothing written",
        ),
        (
            {"add_deps": ["phase-5-pm-commands"]},
            UsageError,
            "task 'phase-5-pm-commands' cannot depend on itself",
        ),
        (
            {"add_deps": ["phase-6-integration"]},
            UsageError,
            "depending on 'phase-6-integration' would make a cycle: "
            "phase-5-pm-commands -> phase-6-integration -> phase-5-pm-commands; nothing written",
        ),
        (
            {"rm_deps": ["phase-1-api-foundation"]},
            UsageError,
            "task 'phase-5-pm-commands' does not depend on 'phase-1-api-foundation'",
        ),
        ({"set_fields": {"status": "completed"}}, UsageError, "'status' has its own option"),
        ({"set_fields": {"a b": "x"}}, UsageError, "field name 'a b' is not valid"),
        ({"set_fields": {"context": "x"}}, UsageError, "'context' is a list or mapping"),
        ({"checklist": [("objectives", 9, True)]}, UsageError, "objectives has no item 10"),
        ({"checklist": [("goals!", 0, True)]}, UsageError, "unknown checklist 'goals!'"),
        ({"labels": ["a\x07b"]}, UsageError, "no control characters"),
    ],
)
def test_bad_edits_are_refused_and_write_nothing(example_repo, kwargs, error, message):
    before, commit = (example_repo / P5).read_bytes(), head(example_repo)

    with pytest.raises(error) as exc:
        edit(example_repo, "phase-5", **kwargs)

    assert message in str(exc.value)
    assert (example_repo / P5).read_bytes() == before
    assert head(example_repo) == commit


def test_a_longer_cycle_is_named_in_full(example_repo):
    with pytest.raises(UsageError) as exc:
        edit(example_repo, "phase-2", add_deps=["phase-5-pm-commands"])

    assert str(exc.value) == (
        "depending on 'phase-5-pm-commands' would make a cycle: phase-2-event-system -> "
        "phase-5-pm-commands -> phase-4-agent-init -> phase-3-template-generation -> "
        "phase-2-event-system; nothing written"
    )


def test_a_stale_hash_is_refused_with_the_current_one(example_repo):
    shown = content_hash((example_repo / P5).read_bytes())
    (example_repo / P5).write_bytes((example_repo / P5).read_bytes() + b"\nAn editor's save.\n")
    now = content_hash((example_repo / P5).read_bytes())
    commit = head(example_repo)

    with pytest.raises(StaleWrite) as exc:
        edit(example_repo, "phase-5", priority="P0", expected_hash=shown)

    assert (exc.value.path, exc.value.expected_hash, exc.value.current_hash) == (P5, shown, now)
    assert str(exc.value) == (
        f"{P5} changed since it was read (expected sha256 {shown[:12]}, now {now[:12]}); "
        "nothing written: reload it and try again"
    )
    assert (example_repo / P5).read_bytes().endswith(b"An editor's save.\n")
    assert head(example_repo) == commit
    assert edit(example_repo, "phase-5", priority="P0", expected_hash=now).commit is not None


def test_update_task_status_takes_an_expected_hash_too(example_repo):
    repo = find_repo(example_repo)
    shown = content_hash((example_repo / P5).read_bytes())
    update_task_status(repo, "phase-5", "in_progress", actor="a", expected_hash=shown)

    with pytest.raises(StaleWrite):
        update_task_status(repo, "phase-5", "completed", actor="a", expected_hash=shown)
    assert entity(example_repo, P5).status == "in_progress"


def test_nothing_to_change_writes_nothing(example_repo):
    commit = head(example_repo)

    result = edit(example_repo, "phase-5", priority="P1", add_labels=["cli"])

    assert (result.changed, result.commit, result.message) == (
        False,
        None,
        "task phase-5-pm-commands: nothing to change; nothing written",
    )
    assert head(example_repo) == commit


# --- hostile values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "evil\n---\nstatus: completed\n---\n# pwned",
        "a: b # c",
        "- [x] list?",
        "'quoted' \"double\" \\ back",
        "yes",
        "{flow: map}",
        "<script>alert(1)</script>",
        "&anchor *alias !!python/object:os.system",
    ],
)
def test_hostile_titles_stay_one_value(example_repo, title):
    before = entity(example_repo, P5)

    edit(example_repo, "phase-5", title=title)

    after = entity(example_repo, P5)
    raw = (example_repo / P5).read_bytes()
    assert after.title == " ".join(title.split())
    assert (after.status, after.priority, after.depends_on, after.body) == (
        before.status,
        before.priority,
        before.depends_on,
        before.body,
    )
    assert parse_file(P5, raw).valid
    assert raw.count(b"\n---\n") == 1  # the front matter still closes once


def test_hostile_field_values_and_labels_stay_values(example_repo):
    edit(
        example_repo,
        "phase-5",
        set_fields={"note": "x\n---\nstatus: completed"},
        add_labels=["]: [", "#not-a-comment"],
    )

    e = entity(example_repo, P5)
    assert e.status == "pending"
    assert e.metadata["note"] == "x\n---\nstatus: completed"
    assert e.metadata["labels"] == ["cli", "mcp", "]: [", "#not-a-comment"]
