"""Parsing: bytes in, an entity and `path:line: field: message` diagnostics out.

The parser never raises on what people write. Each malformed input below gets one
diagnostic that says where (line), what (field) and why (message), and the entity is still
produced, marked invalid, with whatever could be read.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orchsync.model import (
    Adr,
    AgentProfile,
    Bug,
    ChecklistItem,
    Diagnostic,
    Kind,
    ParsedFile,
    Session,
    Sprint,
    Task,
    TaskAgentConfig,
    content_hash,
    entity_id,
)
from orchsync.parse import parse_file
from orchsync.parse.layout import InvalidId, check_segment, classify
from orchsync.parse.yamldoc import MAX_FILE_BYTES

TASK = "delegation/sprints/s1/t1/TASK.md"
SPRINT = "delegation/sprints/s1/SPRINT.md"
TASK_AGENT = "delegation/sprints/s1/t1/AGENT.yml"
AGENT = "delegation/agents/reviewer.yml"
ADR = "delegation/adr/ADR-007-use-duckdb.md"
BUG = "delegation/backlog/BUG-0042-crash-on-save.md"
SESSION = "delegation/sessions/2025-10-14-reviewer.md"
CONFIG = "delegation/orchsync.yml"

EXAMPLE_TREE = Path(__file__).resolve().parents[1] / "delegation"


def parse(path: str, content: str | bytes) -> ParsedFile:
    return parse_file(path, content.encode("utf-8") if isinstance(content, str) else content)


def only_diagnostic(parsed: ParsedFile) -> Diagnostic:
    """The single diagnostic of a file (fails, listing them all, if there are more or none)."""
    assert len(parsed.diagnostics) == 1, [str(d) for d in parsed.diagnostics]
    return parsed.diagnostics[0]


def lines(parsed: ParsedFile) -> list[str]:
    return [str(d) for d in parsed.diagnostics]


# --- a well-formed task ---------------------------------------------------------------------


GOOD_TASK = """\
---
title: Build the event system
status: in_progress
priority: P0
agent: backend-engineer
depends_on:
  - T:phase-1
context:
  - README.md
---

Free text.
"""


def test_a_well_formed_task_parses_without_diagnostics():
    parsed = parse(TASK, GOOD_TASK)

    assert parsed.kind is Kind.TASK
    assert parsed.diagnostics == []
    assert parsed.valid
    assert parsed.hash == content_hash(GOOD_TASK.encode())
    assert parsed.size == len(GOOD_TASK.encode())
    task = parsed.entity
    assert isinstance(task, Task)
    assert (task.code, task.sprint, task.key) == ("t1", "s1", "T:t1")
    assert task.title == "Build the event system"
    assert task.status == "in_progress"
    assert task.priority == "P0"
    assert task.agent == "backend-engineer"
    assert task.depends_on == ["phase-1"]  # the `T:` prefix people type is dropped
    assert task.context == ["README.md"]
    assert task.body == "\nFree text.\n"
    assert task.valid


def test_field_lines_are_recorded_for_cross_file_checks():
    parsed = parse(TASK, GOOD_TASK)

    assert parsed.lines["title"] == 2
    assert parsed.lines["depends_on"] == 6
    assert parsed.lines["context"] == 8


# --- malformed input: one diagnostic each, with line, field and message ---------------------


def test_a_task_without_front_matter_is_reported_at_line_1():
    parsed = parse(TASK, "# Build the event system\n\nNo front matter here.\n")

    d = only_diagnostic(parsed)
    assert (d.line, d.field) == (1, None)
    assert "no front matter: start the file with a '---' YAML block" in d.message
    assert parsed.entity is not None
    assert parsed.entity.title == "Build the event system"  # the first heading stands in
    assert not parsed.entity.valid


def test_a_sprint_without_front_matter_is_reported_too():
    d = only_diagnostic(parse(SPRINT, "Just a paragraph.\n"))

    assert (d.line, d.field) == (1, None)
    assert "no front matter" in d.message


def test_an_empty_task_file_is_reported_and_still_yields_an_entity():
    parsed = parse(TASK, b"")

    d = only_diagnostic(parsed)
    assert str(d) == f"{TASK}:1: no front matter: start the file with a '---' YAML block"
    assert isinstance(parsed.entity, Task)
    assert (parsed.entity.code, parsed.entity.title, parsed.entity.status) == (
        "t1",
        "t1",
        "pending",
    )
    assert parsed.hash == content_hash(b"")


def test_an_empty_config_file_means_all_defaults():
    parsed = parse(CONFIG, b"")

    assert parsed.kind is Kind.CONFIG
    assert parsed.diagnostics == []
    assert parsed.entity is None  # config is settings, not an entity


def test_crlf_line_endings_parse_exactly_like_lf():
    lf = parse(TASK, GOOD_TASK)
    crlf = parse(TASK, GOOD_TASK.replace("\n", "\r\n"))

    assert crlf.diagnostics == []
    assert crlf.entity.fields() == lf.entity.fields()
    assert crlf.lines == lf.lines
    assert crlf.hash != lf.hash  # the hash is of the bytes on disk, which differ


def test_crlf_diagnostics_point_at_the_same_line_as_lf():
    text = "---\ntitle: X\nstatus: doing\n---\n"

    lf = only_diagnostic(parse(TASK, text))
    crlf = only_diagnostic(parse(TASK, text.replace("\n", "\r\n")))

    assert (crlf.line, crlf.field, crlf.message) == (lf.line, lf.field, lf.message)
    assert crlf.line == 3


def test_a_utf8_byte_order_mark_is_ignored():
    plain = parse(TASK, GOOD_TASK)
    with_bom = parse(TASK, b"\xef\xbb\xbf" + GOOD_TASK.encode())

    assert with_bom.diagnostics == []
    assert with_bom.entity.fields() == plain.entity.fields()


def test_tabs_in_yaml_indentation_are_reported_with_a_hint():
    text = "---\ntitle: X\nlabels:\n\t- api\n---\n"

    d = only_diagnostic(parse(TASK, text))

    assert d.line == 4
    assert d.field is None
    assert d.message.startswith("invalid YAML: ")
    assert "tabs are not allowed for indentation in YAML; use spaces" in d.message


def test_a_tab_inside_a_nested_list_is_reported_at_its_line():
    text = "---\ntitle: X\nobjectives:\n  - one\n\t- two\n---\n"

    d = only_diagnostic(parse(TASK, text))

    assert d.line == 5
    assert "tabs are not allowed for indentation" in d.message


def test_bytes_that_are_not_utf8_are_reported_and_replaced():
    parsed = parse(TASK, b"---\ntitle: caf\xe9\n---\n")

    d = only_diagnostic(parsed)
    assert d.line == 2
    assert d.field is None
    assert "not valid UTF-8 (byte 0xe9 at offset 14)" in d.message
    assert parsed.entity.title == "caf\ufffd"
    assert not parsed.entity.valid


def test_a_duplicate_key_is_reported_at_the_second_occurrence_and_the_last_value_wins():
    parsed = parse(TASK, "---\ntitle: X\nstatus: pending\nstatus: completed\n---\n")

    d = only_diagnostic(parsed)
    assert str(d) == f"{TASK}:4: status: duplicate key (first at line 3); the last value is used"
    assert parsed.entity.status == "completed"


def test_a_duplicate_key_inside_a_mapping_names_the_dotted_field():
    text = "debounce_ms: 300\nevents:\n  min_level: info\n  min_level: debug\n"

    d = only_diagnostic(parse(CONFIG, text))

    assert (d.line, d.field) == (4, "events.min_level")
    assert "duplicate key (first at line 3)" in d.message


@pytest.mark.parametrize(
    ("front_matter", "what"),
    [
        ("- a\n- b\n", "list"),
        ("just some text\n", "scalar (str)"),
        ("42\n", "scalar (int)"),
    ],
)
def test_front_matter_that_is_not_a_mapping_is_reported(front_matter, what):
    parsed = parse(TASK, f"---\n{front_matter}---\nbody\n")

    d = only_diagnostic(parsed)
    assert (d.line, d.field) == (2, None)
    assert d.message == f"front matter must be a mapping of keys, not a {what}"
    assert parsed.entity.title == "t1"  # nothing usable was read; the folder names it


def test_a_yaml_file_that_is_a_list_is_reported():
    d = only_diagnostic(parse(TASK_AGENT, "- backend-engineer\n- qa-engineer\n"))

    assert (d.line, d.field) == (1, None)
    assert d.message == "the file must be a mapping of keys, not a list"


def test_dates_written_as_yaml_dates_or_strings_give_the_same_iso_string():
    as_date = parse(SPRINT, "---\ntitle: S\nstart_date: 2025-10-12\n---\n")
    as_string = parse(SPRINT, "---\ntitle: S\nstart_date: '2025-10-12'\n---\n")

    assert as_date.diagnostics == as_string.diagnostics == []
    assert as_date.entity.start_date == as_string.entity.start_date == "2025-10-12"


def test_yaml_timestamps_become_iso_strings():
    parsed = parse(SESSION, "---\nstarted_at: 2025-10-14T09:05:00Z\n---\n")

    assert parsed.diagnostics == []
    assert parsed.entity.started_at == "2025-10-14T09:05:00+00:00"


def test_a_date_in_another_format_is_reported_at_its_line():
    d = only_diagnostic(parse(SPRINT, "---\ntitle: S\nstart_date: 12/10/2025\n---\n"))

    assert (d.line, d.field) == (3, "start_date")
    assert d.message.startswith("'12/10/2025' does not match")


def test_a_file_over_one_mebibyte_is_refused_quickly():
    raw = b"---\ntitle: big\n---\n" + b"x" * MAX_FILE_BYTES

    started = time.perf_counter()
    parsed = parse(TASK, raw)
    elapsed = time.perf_counter() - started

    d = only_diagnostic(parsed)
    assert (d.line, d.field) == (None, None)
    assert d.message == (f"file is {len(raw):,} bytes, over the 1,048,576-byte limit; not parsed")
    assert str(d).startswith(f"{TASK}: file is ")  # no line to point at
    assert parsed.hash == content_hash(raw)  # still hashed, so it can still be committed
    assert not parsed.entity.valid
    assert elapsed < 10  # not constructed: only a runaway parse fails this


def test_yaml_aliases_are_refused_at_the_alias():
    parsed = parse(TASK, "---\ntitle: &name Build it\nagent: *name\n---\n")

    d = only_diagnostic(parsed)
    assert str(d) == (
        f"{TASK}:3: agent: YAML anchors and aliases are not allowed (refused to expand them)"
    )
    assert parsed.entity.agent is None  # nothing was expanded


def test_a_yaml_merge_key_is_an_alias_too():
    text = "---\ntitle: X\nbase: &b {labels: [a]}\nextra:\n  <<: *b\n---\n"

    d = only_diagnostic(parse(TASK, text))

    assert (d.line, d.field) == (5, "extra.<<")
    assert "aliases are not allowed" in d.message


BILLION_LAUGHS = """\
---
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
title: lol
---
"""


def test_a_billion_laughs_document_is_refused_fast():
    started = time.perf_counter()
    parsed = parse(TASK, BILLION_LAUGHS)
    elapsed = time.perf_counter() - started

    d = only_diagnostic(parsed)
    assert (d.line, d.field) == (3, "b[0]")  # the first alias, in document order
    assert "YAML anchors and aliases are not allowed" in d.message
    assert parsed.entity.title == "t1"  # the document was not constructed at all
    assert elapsed < 10  # not constructed: only a runaway parse fails this


def test_a_binary_file_is_not_parsed():
    parsed = parse(TASK, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")

    d = only_diagnostic(parsed)
    assert (d.line, d.field) == (None, None)
    assert d.message == "binary file (NUL bytes); not parsed"
    assert not parsed.entity.valid


def test_front_matter_that_is_never_closed_is_reported_at_line_1():
    parsed = parse(TASK, "---\ntitle: X\nstatus: pending\n\nThe body started too early.\n")

    d = only_diagnostic(parsed)
    assert str(d) == f"{TASK}:1: front matter opened with '---' but never closed"
    assert parsed.entity.status == "pending"  # the default: nothing was read


def test_a_wrong_status_and_priority_are_reported_at_their_lines():
    parsed = parse(TASK, "---\ntitle: X\nstatus: doing\npriority: P9\n---\n")

    assert lines(parsed) == [
        f"{TASK}:3: status: 'doing' is not one of pending, in_progress, completed, blocked",
        f"{TASK}:4: priority: 'P9' is not one of P0, P1, P2, P3",
    ]
    assert parsed.entity.status == "doing"  # kept as written, so the file can be fixed
    assert not parsed.entity.valid


@pytest.mark.parametrize(
    ("path", "front_matter", "expected"),
    [
        (SPRINT, "title: S\nstatus: open\n", "3: status: 'open' is not one of planning, active"),
        (ADR, "title: A\nstatus: done\n", "3: status: 'done' is not one of proposed, accepted"),
        (BUG, "title: B\npriority: high\n", "3: priority: 'high' is not one of P0, P1, P2, P3"),
        (SESSION, "status: closed\n", "2: status: 'closed' is not one of open, handed_off, ended"),
    ],
)
def test_wrong_enum_values_in_every_kind(path, front_matter, expected):
    d = only_diagnostic(parse(path, f"---\n{front_matter}---\n"))

    assert str(d).startswith(f"{path}:{expected}")


def test_wrong_types_are_reported_per_field():
    text = "---\ntitle: 5\ndepends_on: {a: 1}\nlabels: api\n---\n"

    assert lines(parse(TASK, text)) == [
        f"{TASK}:2: title: 5 is not of type 'string'",
        f"{TASK}:3: depends_on: {{'a': 1}} has the wrong type (expected string or list)",
        f"{TASK}:4: labels: 'api' is not of type 'array'",
    ]


def test_a_wrong_type_inside_a_list_names_the_item():
    text = "---\ntitle: X\nobjectives:\n  - ship it\n  - [nested, list]\n---\n"

    d = only_diagnostic(parse(TASK, text))

    assert (d.line, d.field) == (5, "objectives[1]")
    assert "has the wrong type (expected string or mapping)" in d.message


def test_a_missing_required_field_is_reported():
    d = only_diagnostic(parse(TASK, "---\nstatus: pending\n---\n"))

    assert (d.line, d.field, d.message) == (2, "title", "required field is missing")


def test_wrong_types_in_yaml_files():
    assert lines(parse(CONFIG, "debounce_ms: fast\nrun_hooks: yes please\n")) == [
        f"{CONFIG}:1: debounce_ms: 'fast' is not of type 'integer'",
        f"{CONFIG}:2: run_hooks: 'yes please' is not of type 'boolean'",
    ]
    assert lines(parse(AGENT, "role: Reviewer\ncapabilities: python\n")) == [
        f"{AGENT}:2: capabilities: 'python' is not of type 'array'",
    ]


def test_a_config_sampling_rate_out_of_range_names_the_nested_field():
    text = "events:\n  sampling:\n    orchestration.file.synced: 2\n"

    d = only_diagnostic(parse(CONFIG, text))

    assert (d.line, d.field) == (3, "events.sampling.orchestration.file.synced")
    assert "2 is greater than the maximum of 1" in d.message


# --- objectives, deliverables and acceptance criteria ---------------------------------------


FRONT_MATTER_LAYOUT = """\
---
title: Event system
objectives:
  - Emit an event for every change
  - text: Derive events from old and new entity
    done: true
deliverables:
  - "[x] Event derivation"
  - Commit trailers
acceptance_criteria:
  - One status change gives one event
---

Notes only.
"""

SECTIONS_LAYOUT = """\
---
title: Event system
---

Some introduction.

## Objectives

- [ ] Emit an event for every change
- [x] Derive events from old and new entity

## Deliverables

- [x] Event derivation
- [ ] Commit trailers

## Acceptance Criteria

- [ ] One status change gives one event

## Notes

- not a checklist item
"""


def test_both_task_layouts_give_the_same_checklists():
    in_front_matter = parse(TASK, FRONT_MATTER_LAYOUT).entity
    in_sections = parse(TASK, SECTIONS_LAYOUT).entity

    for field in ("objectives", "deliverables", "acceptance_criteria"):
        assert getattr(in_front_matter, field) == getattr(in_sections, field), field
    assert in_sections.objectives == [
        ChecklistItem("Emit an event for every change", done=False),
        ChecklistItem("Derive events from old and new entity", done=True),
    ]
    assert in_sections.deliverables == [
        ChecklistItem("Event derivation", done=True),
        ChecklistItem("Commit trailers", done=False),
    ]
    assert in_sections.acceptance_criteria == [ChecklistItem("One status change gives one event")]


def test_section_items_may_wrap_and_nest_and_code_fences_are_skipped():
    text = """\
---
title: X
---
## Acceptance Criteria

- [X] A long criterion that
  wraps onto a second line
  - a nested item counts too
```
- [ ] inside a code fence: not an item
```
### Performance

- [ ] A sub-heading stays in its section
"""

    task = parse(TASK, text).entity

    assert task.acceptance_criteria == [
        ChecklistItem("A long criterion that wraps onto a second line", done=True),
        ChecklistItem("a nested item counts too"),
        ChecklistItem("A sub-heading stays in its section"),
    ]


def test_front_matter_lists_win_over_body_sections():
    text = "---\ntitle: X\nobjectives: [From front matter]\n---\n## Objectives\n- From body\n"

    assert parse(TASK, text).entity.objectives == [ChecklistItem("From front matter")]


# --- metadata, codes and folders ------------------------------------------------------------


def test_unknown_front_matter_keys_land_in_metadata():
    text = "---\ntitle: X\nestimate: 3d\nlabels: [api]\nreviewers:\n  - ana\n---\n"

    task = parse(TASK, text).entity

    assert task.metadata == {"estimate": "3d", "labels": ["api"], "reviewers": ["ana"]}
    assert "title" not in task.metadata


def test_unknown_keys_of_an_agent_profile_land_in_metadata():
    profile = parse(AGENT, "name: reviewer\nrole: Reviewer\ndescription: Reads diffs.\n").entity

    assert profile.metadata == {"description": "Reads diffs."}


def test_a_code_that_does_not_match_its_folder_is_reported():
    parsed = parse(TASK, "---\ntitle: X\ncode: other-task\n---\n")

    d = only_diagnostic(parsed)
    assert str(d) == (
        f"{TASK}:3: code: code 'other-task' does not match its folder 't1'; rename one of them"
    )
    assert parsed.entity.code == "t1"  # the folder decides


def test_a_code_that_matches_its_folder_is_fine():
    assert parse(TASK, "---\ntitle: X\ncode: t1\n---\n").diagnostics == []


def test_a_sprint_field_that_disagrees_with_the_folder_is_a_warning():
    parsed = parse(TASK, "---\ntitle: X\nsprint: other\n---\n")

    d = only_diagnostic(parsed)
    assert d.severity == "warning"
    assert str(d) == f"{TASK}:3: sprint: sprint 'other' does not match the folder it sits in ('s1')"
    assert parsed.valid  # warnings do not make a file invalid
    assert parsed.entity.sprint == "s1"


def test_a_folder_name_that_is_not_a_safe_code_is_reported():
    parsed = parse("delegation/sprints/s1/-flag/TASK.md", "---\ntitle: X\n---\n")

    d = only_diagnostic(parsed)
    assert (d.line, d.field) == (None, "code")
    assert "task folder '-flag' is reserved" in d.message


# --- every kind of file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind", "code"),
    [
        ("delegation/sprints/orchestration-api-v2/SPRINT.md", Kind.SPRINT, "orchestration-api-v2"),
        ("delegation/sprints/s/phase-1/TASK.md", Kind.TASK, "phase-1"),
        ("delegation/sprints/s/phase-1/AGENT.yml", Kind.TASK_AGENT, "phase-1"),
        ("delegation/agents/qa-engineer.yml", Kind.AGENT, "qa-engineer"),
        ("delegation/agents/qa-engineer.yaml", Kind.AGENT, "qa-engineer"),
        ("delegation/adr/ADR-001-files-are-the-truth.md", Kind.ADR, "001"),
        ("delegation/backlog/BUG-0001-crash.md", Kind.BUG, "0001"),
        ("delegation/sessions/2025-10-14-s1.md", Kind.SESSION, "2025-10-14-s1"),
        ("delegation/orchsync.yml", Kind.CONFIG, None),
        ("delegation/sprints/s/notes.md", Kind.FILE, None),
        ("delegation/sprints/s/phase-1/design.md", Kind.FILE, None),
        ("delegation/adr/README.md", Kind.FILE, None),
        ("delegation/adr/ADR-1-too-short.md", Kind.FILE, None),
        ("delegation/agents/.yml", Kind.FILE, None),
        ("README.md", Kind.FILE, None),
        ("docs/delegation/sprints/s/SPRINT.md", Kind.FILE, None),
    ],
)
def test_paths_are_classified_by_where_they_sit(path, kind, code):
    location = classify(path)

    assert (location.kind, location.code) == (kind, code)


def test_a_sprint_is_parsed():
    text = (
        "---\ntitle: Orchestration API v2\nstatus: active\nowner: Engineering Team\n"
        "start_date: 2025-10-12\nend_date: 2025-11-07\ngoal: Ship it\n"
        "context: [README.md]\n---\n# Sprint\n"
    )

    sprint = parse(SPRINT, text).entity

    assert isinstance(sprint, Sprint)
    assert (sprint.key, sprint.title, sprint.status, sprint.owner) == (
        "S:s1",
        "Orchestration API v2",
        "active",
        "Engineering Team",
    )
    assert (sprint.start_date, sprint.end_date, sprint.goal) == (
        "2025-10-12",
        "2025-11-07",
        "Ship it",
    )
    assert sprint.context == ["README.md"]


def test_a_sprint_status_defaults_to_planning():
    assert parse(SPRINT, "---\ntitle: S\n---\n").entity.status == "planning"


def test_a_task_agent_config_is_parsed():
    text = "agent: backend-engineer\nrole: Builds it\nmodel: m\ntools_allowed: [read_file]\n"

    parsed = parse(TASK_AGENT, text)

    config = parsed.entity
    assert parsed.diagnostics == []
    assert isinstance(config, TaskAgentConfig)
    assert (config.key, config.task, config.agent, config.title) == (
        "TA:t1",
        "t1",
        "backend-engineer",
        "Builds it",
    )
    assert config.config == {
        "agent": "backend-engineer",
        "role": "Builds it",
        "model": "m",
        "tools_allowed": ["read_file"],
    }


def test_an_agent_profile_is_parsed():
    text = """\
name: reviewer
role: Code reviewer
model: claude-sonnet-4-5
capabilities: [python, review]
tools_allowed: [read_file]
safety_rails:
  - Never push
"""

    profile = parse(AGENT, text).entity

    assert isinstance(profile, AgentProfile)
    assert (profile.key, profile.title, profile.role, profile.model) == (
        "A:reviewer",
        "reviewer",
        "Code reviewer",
        "claude-sonnet-4-5",
    )
    assert profile.capabilities == ["python", "review"]
    assert profile.tools_allowed == ["read_file"]
    assert profile.safety_rails == ["Never push"]


def test_an_agent_profile_needs_a_role():
    d = only_diagnostic(parse(AGENT, "name: reviewer\n"))

    assert (d.line, d.field, d.message) == (1, "role", "required field is missing")


def test_an_adr_is_parsed():
    text = "---\ntitle: Use DuckDB\nstatus: accepted\ndate: 2025-10-12\ndeciders: [ana]\n---\n"

    adr = parse(ADR, text).entity

    assert isinstance(adr, Adr)
    assert (adr.key, adr.number, adr.title, adr.status, adr.date) == (
        "ADR:007",
        7,
        "Use DuckDB",
        "accepted",
        "2025-10-12",
    )
    assert adr.metadata == {"deciders": ["ana"]}


def test_a_bug_is_parsed():
    text = (
        "---\ntitle: Crash on save\npriority: P2\nsprint: orchestration-api-v2\n"
        "reported_by: qa-engineer\nreported_at: 2025-10-20\n---\n"
    )

    bug = parse(BUG, text).entity

    assert isinstance(bug, Bug)
    assert (bug.key, bug.number, bug.status, bug.priority, bug.sprint, bug.reported_by) == (
        "BUG:0042",
        42,
        "open",
        "P2",
        "orchestration-api-v2",
        "qa-engineer",
    )
    assert bug.metadata == {"reported_at": "2025-10-20"}


def test_a_session_is_parsed():
    text = """\
---
task: T:phase-1
agent: backend-engineer
status: ended
started_at: 2025-10-14T09:05:00Z
ended_at: 2025-10-14T17:40:00Z
handoffs:
  - {from: backend-engineer, to: qa-engineer, note: over to you}
---
Notes.
"""

    session = parse(SESSION, text).entity

    assert isinstance(session, Session)
    assert (session.key, session.task, session.agent, session.status) == (
        "SESSION:2025-10-14-reviewer",
        "phase-1",
        "backend-engineer",
        "ended",
    )
    assert session.ended_at == "2025-10-14T17:40:00+00:00"
    assert session.handoffs == [
        {"from": "backend-engineer", "to": "qa-engineer", "note": "over to you"}
    ]


def test_a_config_file_is_validated_but_yields_no_entity():
    parsed = parse(CONFIG, "debounce_ms: 300\nevents:\n  min_level: info\n")

    assert (parsed.kind, parsed.entity, parsed.diagnostics) == (Kind.CONFIG, None, [])


def test_a_plain_file_is_hashed_and_nothing_more():
    raw = b"---\nnot: [valid\n"

    parsed = parse("delegation/sprints/s1/notes.md", raw)

    assert (parsed.kind, parsed.entity, parsed.diagnostics) == (Kind.FILE, None, [])
    assert parsed.hash == content_hash(raw)


def test_every_file_of_the_example_tree_parses_cleanly():
    for file in sorted(EXAMPLE_TREE.rglob("*")):
        if file.is_file():
            rel = file.relative_to(EXAMPLE_TREE.parent).as_posix()
            parsed = parse_file(rel, file.read_bytes())
            assert parsed.diagnostics == [], lines(parsed)


# --- ids ------------------------------------------------------------------------------------


def test_entity_ids_are_derived_from_kind_and_code_and_never_change():
    # Stored in every index and every clone: a change here breaks existing indexes.
    assert entity_id("task", "phase-1-api-foundation") == 1248243046777327159
    assert entity_id("sprint", "orchestration-api-v2") == 4916250855742273068


def test_entity_ids_are_positive_bigints_that_differ_by_kind():
    ids = {entity_id(kind, "phase-1") for kind in ("task", "sprint", "agent", "session")}

    assert len(ids) == 4
    assert all(0 < i < 2**63 for i in ids)


def test_an_entity_id_does_not_depend_on_file_content():
    first = parse(TASK, GOOD_TASK).entity
    edited = parse(TASK, GOOD_TASK.replace("in_progress", "completed")).entity

    assert first.id == edited.id == entity_id("task", "t1")


# --- path safety ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "task code must not be empty"),
        ("..", "task code '..' is reserved"),
        ("../x", "task code '../x' must not contain '/' or '\\' (one path segment)"),
        ("a/b", "task code 'a/b' must not contain '/'"),
        ("a\\b", "must not contain '/' or '\\'"),
        ("bad\x00name", "task code 'bad\\x00name' must not contain control characters"),
        ("line\nbreak", "must not contain control characters"),
        ("x" * 101, "is longer than 100 characters"),
        (".hidden", "task code '.hidden' is reserved; use letters, digits, '-' and '_'"),
        (".git", "is reserved"),
        ("-rf", "is reserved"),
        ("CON", "is reserved"),
        (" padded", "must not start or end with white space"),
    ],
)
def test_unsafe_codes_are_refused_with_a_clear_message(value, message):
    with pytest.raises(InvalidId) as excinfo:
        check_segment(value, "task code")

    assert message in str(excinfo.value)


@pytest.mark.parametrize("value", ["phase-1-api-foundation", "ADR_7", "x" * 100, "v2.1"])
def test_safe_codes_are_returned_unchanged(value):
    assert check_segment(value) == value


@pytest.mark.parametrize(
    "line, value",
    [
        ("date: 2024-13-45", "month must be in 1..12"),
        ("flag: !!bool maybe", "maybe"),
        ("n: !!int 0b_", "int()"),
    ],
)
def test_a_value_yaml_cannot_construct_is_a_diagnostic_not_a_crash(line: str, value: str) -> None:
    parsed = parse_file(
        "delegation/adr/ADR-001-x.md", f"---\ntitle: X\nstatus: proposed\n{line}\n---\n".encode()
    )
    assert not parsed.valid
    assert any("invalid YAML value" in d.message and value in d.message for d in parsed.diagnostics)
