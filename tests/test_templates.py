"""Templates: the shipped set, a repository's overrides, variables, and strict rendering.

Every template renders a file that parses clean; a template that would render an invalid
file, or uses a variable nobody set, is refused with a message and nothing is written.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import git, write

from orchsync.errors import UnknownEntity
from orchsync.faces.cli import cli
from orchsync.parse import parse_file
from orchsync.parse.resources import data_dir
from orchsync.pm.templates import TemplateError, find_template, list_templates, render, yaml_value
from orchsync.repo import find_repo

TODAY = date.today().isoformat()
SHIPPED = [
    ("adr", "default"),
    ("agent", "default"),
    ("bug", "default"),
    ("session", "default"),
    ("sprint", "bugfix"),
    ("sprint", "default"),
    ("sprint", "research"),
    ("task", "default"),
]


def run(runner, repo: Path, *args: str, input: str | None = None):
    return runner.invoke(cli, ["--repo", str(repo), *args], input=input, catch_exceptions=False)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def assert_refused(runner, repo: Path, args: list[str], message: str, code: int = 2) -> None:
    """The command fails with exactly `message`, and leaves no file and no commit behind."""
    before = head(repo)
    result = run(runner, repo, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (code, "", f"Error: {message}\n")
    assert head(repo) == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


# Variables every kind gets from its command, for rendering templates directly.
SAMPLE = {
    "sprint": {
        "id": "s1",
        "code": "s1",
        "sprint": "s1",
        "title": "Sprint one",
        "owner": "ann",
        "start": "2025-01-06",
        "end": "2025-01-20",
        "question": "Does it scale?",
    },
    "task": {
        "id": "t1",
        "code": "t1",
        "sprint": "s1",
        "title": "Task one",
        "priority": "P1",
        "agent": "backend-engineer",
        "depends_on": ["t0"],
        "status": "pending",
    },
    "adr": {
        "number": 7,
        "code": "007",
        "id": "ADR-007",
        "title": "Use: colons",
        "status": "proposed",
    },
    "bug": {
        "number": 3,
        "code": "0003",
        "id": "BUG-0003",
        "title": "Crash",
        "priority": "P1",
        "sprint": None,
        "body": None,
        "status": "open",
    },
    "session": {
        "key": "k1",
        "id": "k1",
        "title": "Handoff",
        "task": "t1",
        "sprint": "s1",
        "agent": "qa-engineer",
    },
    "agent": {
        "id": "a1",
        "code": "a1",
        "name": "a1",
        "role": "Reviewer: of code",
        "model": None,
        "description": None,
        "capabilities": ["review"],
        "tools_allowed": [],
    },
}
TARGETS = {
    "SPRINT.md": "delegation/sprints/s1/SPRINT.md",
    "TASK.md": "delegation/sprints/s1/t1/TASK.md",
    "AGENT.yml": "delegation/sprints/s1/t1/AGENT.yml",
    "ADR.md": "delegation/adr/ADR-007-use-colons.md",
    "BUG.md": "delegation/backlog/BUG-0003-crash.md",
    "SESSION.md": "delegation/sessions/k1.md",
    "PROFILE.yml": "delegation/agents/a1.yml",
}


def variables(kind: str) -> dict[str, object]:
    base = {"today": TODAY, "now": f"{TODAY}T10:00:00Z", "actor": "ann", "session": None}
    return base | SAMPLE[kind]


# --- the shipped set ---------------------------------------------------------------------------


def test_the_shipped_templates_are_found_in_the_package():
    found = [(t.kind, t.name) for t in list_templates()]

    assert found == SHIPPED
    assert all(
        t.source == "shipped" and t.path.parent.parent == data_dir("templates")
        for t in list_templates()
    )


@pytest.mark.parametrize(("kind", "name"), SHIPPED)
def test_every_shipped_template_renders_files_that_parse_clean(kind, name):
    template = find_template(None, kind, name)

    texts = render(template, variables(kind))

    assert set(texts) == set(template.files)
    for file_name, text in texts.items():
        parsed = parse_file(TARGETS[file_name], text.encode())
        assert parsed.valid, parsed.diagnostics
        assert parsed.entity is not None


def test_a_rendered_task_carries_what_the_command_was_given():
    texts = render(find_template(None, "task", "default"), variables("task"))

    task = parse_file(TARGETS["TASK.md"], texts["TASK.md"].encode()).entity
    agent = parse_file(TARGETS["AGENT.yml"], texts["AGENT.yml"].encode()).entity

    assert (task.title, task.status, task.priority, task.agent, task.depends_on) == (
        "Task one",
        "pending",
        "P1",
        "backend-engineer",
        ["t0"],
    )
    assert agent.agent == "backend-engineer"


def test_a_missing_required_variable_names_it_and_how_to_set_it():
    template = find_template(None, "sprint", "research")
    values = variables("sprint")
    del values["question"]

    with pytest.raises(TemplateError) as err:
        render(template, values)

    assert str(err.value) == "template sprint/research needs 'question': pass --set question=VALUE"


def test_an_unknown_template_lists_the_names_there_are(example_repo):
    with pytest.raises(UnknownEntity) as err:
        find_template(find_repo(example_repo), "sprint", "nope")

    assert str(err.value) == "no sprint template 'nope'; available: bugfix, default, research"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain words", "plain words"),
        ("Use: colons", '"Use: colons"'),
        ("yes", '"yes"'),
        ("007", '"007"'),
        ("- leading dash", '"- leading dash"'),
        ('it\'s "quoted"', '"it\'s \\"quoted\\""'),
        ("", '""'),
        (None, "null"),
        (["a", "b c", "x: y"], '[a, b c, "x: y"]'),
        ([], "[]"),
        ("2025-10-12", "2025-10-12"),
    ],
)
def test_the_yaml_filter_quotes_only_what_needs_it(value, expected):
    assert yaml_value(value) == expected


# --- orchsync templates list -------------------------------------------------------------------


def test_templates_list_shows_the_shipped_set(runner, example_repo):
    result = run(runner, example_repo, "templates", "list")

    assert result.exit_code == 0
    assert result.stdout == (
        "kind     name      source   path                     description\n"
        "-------  --------  -------  -----------------------  ----------------------------------------------------------\n"
        "adr      default   shipped  shipped:adr/default      Decision record: context, decision, consequences.\n"
        "agent    default   shipped  shipped:agent/default    Agent profile: role, capabilities, tools and safety rails.\n"
        "bug      default   shipped  shipped:bug/default      Bug report: steps to reproduce, expected, actual.\n"
        "session  default   shipped  shipped:session/default  Session memory: done, decisions, next steps.\n"
        "sprint   bugfix    shipped  shipped:sprint/bugfix    Short sprint that fixes bugs, a regression test for each.\n"
        "sprint   default   shipped  shipped:sprint/default   Sprint with a goal, success metrics, phases and risks.\n"
        "sprint   research  shipped  shipped:sprint/research  Time-boxed investigation that ends in an ADR or a plan.\n"
        "task     default   shipped  shipped:task/default     TASK.md (objectives, deliverables, criteria) + AGENT.yml.\n"
    )
    # a wheel user has no templates/ folder: the paths shown say where a template comes from
    data = json.loads(run(runner, example_repo, "templates", "list", "--json").stdout)
    assert all(Path(r["abspath"]).is_dir() for r in data)


def spike_template(repo: Path) -> None:
    """A repository's own task template `spike`, with a required variable."""
    write(
        repo,
        "delegation/.templates/task/spike/template.yml",
        "description: A time-boxed spike\nrequired: [hypothesis]\ndefaults:\n  timebox: 2d\n",
    )
    write(
        repo,
        "delegation/.templates/task/spike/TASK.md.j2",
        "---\ntitle: {{ title | yaml }}\nstatus: pending\npriority: {{ priority }}\n"
        "depends_on: {{ depends_on | yaml }}\ntimebox: {{ timebox }}\n---\n\n# Spike: {{ title }}\n\n"
        "Hypothesis: {{ hypothesis }}\n",
    )


def override_sprint_default(repo: Path) -> None:
    write(
        repo, "delegation/.templates/sprint/default/template.yml", "description: Our house style\n"
    )
    write(
        repo,
        "delegation/.templates/sprint/default/SPRINT.md.j2",
        "---\ntitle: {{ title | yaml }}\nstatus: planning\nowner: {{ owner | yaml }}\n"
        "start_date: {{ start }}\nteam: {{ team | default('core') }}\n---\n\n# {{ title }} (house style)\n",
    )


def test_templates_list_shows_repo_overrides_and_additions(runner, example_repo):
    spike_template(example_repo)
    override_sprint_default(example_repo)

    result = run(runner, example_repo, "templates", "list", "--json")

    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert result.exit_code == 0
    assert sorted(rows) == sorted([*SHIPPED, ("task", "spike")])
    assert rows[("sprint", "default")] | {"abspath": None} == {
        "kind": "sprint",
        "name": "default",
        "source": "repo",
        "path": "delegation/.templates/sprint/default",
        "abspath": None,
        "description": "Our house style",
        "required": [],
        "files": ["SPRINT.md"],
    }
    assert rows[("task", "spike")]["required"] == ["hypothesis"]
    assert rows[("task", "spike")]["source"] == "repo"
    assert rows[("sprint", "bugfix")]["source"] == "shipped"


def test_templates_list_filters_by_kind(runner, example_repo):
    result = run(runner, example_repo, "templates", "list", "--kind", "sprint", "--format", "csv")

    assert result.exit_code == 0
    assert [line.split(",")[:3] for line in result.stdout.splitlines()] == [
        ["kind", "name", "source"],
        ["sprint", "bugfix", "shipped"],
        ["sprint", "default", "shipped"],
        ["sprint", "research", "shipped"],
    ]


# --- templates in use ----------------------------------------------------------------------------


def test_a_repo_override_is_used_by_sprint_create(runner, example_repo):
    override_sprint_default(example_repo)
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "our templates")

    result = run(
        runner,
        example_repo,
        "sprint",
        "create",
        "--id",
        "house",
        "--title",
        "House",
        "--actor",
        "ann",
        "--set",
        "team=platform",
    )

    assert result.exit_code == 0, result.stderr
    assert (example_repo / "delegation/sprints/house/SPRINT.md").read_text() == (
        f"---\ntitle: House\nstatus: planning\nowner: ann\nstart_date: {TODAY}\nteam: platform\n---\n\n"
        "# House (house style)\n"
    )


def test_set_variables_and_manifest_defaults_reach_a_repo_template(runner, example_repo):
    spike_template(example_repo)
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "spike template")

    result = run(
        runner,
        example_repo,
        "task",
        "create",
        "--sprint",
        "orchestration-api-v2",
        "--id",
        "spike-1",
        "--template",
        "spike",
        "--title",
        "Try DuckDB FTS",
        "--set",
        "hypothesis=FTS is not needed",
        "--actor",
        "ann",
    )

    assert result.exit_code == 0, result.stderr
    text = (example_repo / "delegation/sprints/orchestration-api-v2/spike-1/TASK.md").read_text()
    assert text == (
        "---\ntitle: Try DuckDB FTS\nstatus: pending\npriority: P2\ndepends_on: []\ntimebox: 2d\n---\n\n"
        "# Spike: Try DuckDB FTS\n\nHypothesis: FTS is not needed\n"
    )
    # The spike template has no AGENT.yml.j2: only TASK.md is written.
    assert not (example_repo / "delegation/sprints/orchestration-api-v2/spike-1/AGENT.yml").exists()


def test_a_missing_required_variable_refuses_and_writes_nothing(runner, example_repo):
    spike_template(example_repo)
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "spike template")

    assert_refused(
        runner,
        example_repo,
        [
            "task",
            "create",
            "--sprint",
            "orchestration-api-v2",
            "--id",
            "spike-1",
            "--template",
            "spike",
        ],
        "template task/spike needs 'hypothesis': pass --set hypothesis=VALUE",
    )


def test_research_sprint_needs_its_question(runner, example_repo):
    assert_refused(
        runner,
        example_repo,
        ["sprint", "create", "--id", "r1", "--template", "research"],
        "template sprint/research needs 'question': pass --set question=VALUE",
    )

    result = run(
        runner,
        example_repo,
        "sprint",
        "create",
        "--id",
        "r1",
        "--template",
        "research",
        "--set",
        "question=Can DuckDB hold 100k tasks?",
        "--actor",
        "ann",
    )

    assert result.exit_code == 0
    sprint = parse_file(
        "delegation/sprints/r1/SPRINT.md",
        (example_repo / "delegation/sprints/r1/SPRINT.md").read_bytes(),
    )
    assert sprint.valid
    assert sprint.entity.goal == "Answer: Can DuckDB hold 100k tasks?"
    assert sprint.entity.metadata["labels"] == ["research"]


def test_an_undefined_variable_in_a_template_is_named(runner, example_repo):
    write(
        example_repo,
        "delegation/.templates/adr/default/ADR.md.j2",
        "---\ntitle: {{ title | yaml }}\nstatus: proposed\nowner: {{ decider }}\n---\n",
    )
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "broken adr template")

    assert_refused(
        runner,
        example_repo,
        ["adr", "create", "--title", "Anything"],
        "template adr/default (ADR.md.j2): 'decider' is undefined; "
        "pass --set decider=VALUE or give it a default in template.yml",
    )


def test_a_template_that_renders_an_invalid_file_is_refused(runner, example_repo):
    folder = example_repo / "delegation/.templates/bug/default"
    write(
        example_repo,
        "delegation/.templates/bug/default/BUG.md.j2",
        "---\ntitle: {{ title | yaml }}\nstatus: squashed\npriority: {{ priority }}\n---\n",
    )
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "broken bug template")

    assert_refused(
        runner,
        example_repo,
        ["bug", "report", "--title", "Boom", "--priority", "P1"],
        f"template bug/default ({folder / 'BUG.md.j2'}) renders an invalid BUG.md: "
        "delegation/backlog/BUG-0002-boom.md:3: status: 'squashed' is not one of "
        "open, triaged, in_progress, fixed, closed, wontfix; fix the template (nothing was written)",
    )


def test_a_template_syntax_error_points_at_its_line(runner, example_repo):
    folder = example_repo / "delegation/.templates/sprint/default"
    write(
        example_repo,
        "delegation/.templates/sprint/default/SPRINT.md.j2",
        "---\ntitle: x\n{% if %}\n---\n",
    )
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "broken sprint template")

    result = run(runner, example_repo, "sprint", "create", "--id", "s9")

    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: template sprint/default: {folder / 'SPRINT.md.j2'}:3: "
    )
    assert not (example_repo / "delegation/sprints/s9").exists()


def test_set_may_not_shadow_a_builtin_variable(runner, example_repo):
    assert_refused(
        runner,
        example_repo,
        ["sprint", "create", "--id", "s9", "--set", "title=Sneaky"],
        "--set title=...: 'title' is set by orchsync itself; use the command's own option for it",
    )
    assert_refused(
        runner,
        example_repo,
        ["sprint", "create", "--id", "s9", "--set", "no-equals-sign"],
        "--set 'no-equals-sign': expected NAME=VALUE with NAME made of letters, digits and '_'",
    )
