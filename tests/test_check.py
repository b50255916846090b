"""`orchsync check`: every problem in the tree as `path:line: field: message`, exit 1 if any.

Diagnostics go to stdout, one per line; a summary (`N files checked, M errors`) goes to
stderr. Exit codes: 0 clean, 1 problems found, 2 the command could not run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write

from orchsync.faces.cli import cli


def check(runner, repo: Path, *args: str):
    return runner.invoke(cli, ["--repo", str(repo), "check", *args], catch_exceptions=False)


def sprint(repo: Path, code: str) -> None:
    write(repo, f"delegation/sprints/{code}/SPRINT.md", f"---\ntitle: Sprint {code}\n---\n")


def task(repo: Path, sprint_code: str, code: str, depends_on: list[str] | None = None) -> str:
    path = task_path(sprint_code, code)
    deps = f"depends_on: [{', '.join(depends_on)}]\n" if depends_on is not None else ""
    write(repo, path, f"---\ntitle: Task {code}\nstatus: pending\n{deps}---\n")
    return path


def task_path(sprint_code: str, code: str) -> str:
    return f"delegation/sprints/{sprint_code}/{code}/TASK.md"


# --- a clean tree ---------------------------------------------------------------------------


def test_the_example_tree_is_clean(runner, example_repo):
    files = [p for p in (example_repo / "delegation").rglob("*") if p.is_file()]

    result = check(runner, example_repo)

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == f"{len(files)} files checked, 0 errors\n"


def test_a_repo_without_a_delegation_tree_has_nothing_to_check(runner, empty_repo):
    result = check(runner, empty_repo)

    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "",
        "0 files checked, 0 errors\n",
    )


def test_the_default_tree_is_found_from_any_working_directory(
    runner, example_repo, monkeypatch, tmp_path
):
    monkeypatch.chdir(example_repo / "delegation" / "adr")
    from_inside = runner.invoke(cli, ["check"], catch_exceptions=False)
    monkeypatch.chdir(tmp_path)
    from_outside = check(runner, example_repo)

    assert from_inside.exit_code == from_outside.exit_code == 0
    assert from_inside.stderr == from_outside.stderr
    assert not from_inside.stderr.startswith("0 files")


# --- one file's problems --------------------------------------------------------------------


def test_an_invalid_file_is_listed_with_line_and_field(runner, example_repo):
    path = "delegation/sprints/orchestration-api-v2/phase-3-template-generation/TASK.md"
    text = (example_repo / path).read_text()
    write(example_repo, path, text.replace("status: pending", "status: doing"))

    result = check(runner, example_repo)

    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:3: status: 'doing' is not one of pending, in_progress, completed, blocked\n"
    )
    assert result.stderr.endswith(" files checked, 1 error\n")


def test_warnings_are_marked_and_do_not_fail_the_check(runner, example_repo):
    path = "delegation/sprints/orchestration-api-v2/phase-1-api-foundation/TASK.md"
    text = (example_repo / path).read_text()
    write(example_repo, path, text.replace("status: completed", "status: completed\nsprint: v1"))

    result = check(runner, example_repo)

    assert result.exit_code == 0
    assert result.stdout == (
        f"{path}:4: sprint: sprint 'v1' does not match the folder it sits in "
        "('orchestration-api-v2') (warning)\n"
    )


# --- rules that span files ------------------------------------------------------------------


def test_a_task_code_used_in_two_sprints_names_both_files(runner, example_repo):
    sprint(example_repo, "hotfixes")
    first = "delegation/sprints/orchestration-api-v2/phase-1-api-foundation/TASK.md"
    second = task(example_repo, "hotfixes", "phase-1-api-foundation")

    result = check(runner, example_repo)

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [  # in path order: hotfixes/ sorts first
        f"{second}: code: duplicate task code 'phase-1-api-foundation' (also in {first})",
        f"{first}: code: duplicate task code 'phase-1-api-foundation' (also in {second})",
    ]


def test_a_dependency_on_an_unknown_task_is_reported_at_depends_on(runner, empty_repo):
    sprint(empty_repo, "s1")
    task(empty_repo, "s1", "build")
    path = task(empty_repo, "s1", "ship", depends_on=["build", "T:phase-9"])

    result = check(runner, empty_repo)

    assert result.exit_code == 1
    assert result.stdout == f"{path}:4: depends_on: depends on unknown task 'phase-9'\n"


def test_a_dependency_cycle_is_printed_as_a_path(runner, empty_repo):
    sprint(empty_repo, "s1")
    a = task(empty_repo, "s1", "a", depends_on=["b"])
    task(empty_repo, "s1", "b", depends_on=["a"])

    result = check(runner, empty_repo)

    assert result.exit_code == 1
    assert result.stdout == f"{a}:4: depends_on: dependency cycle: a -> b -> a\n"


def test_a_longer_cycle_is_reported_once_at_its_first_member(runner, empty_repo):
    sprint(empty_repo, "s1")
    task(empty_repo, "s1", "design", depends_on=["review"])
    build = task(empty_repo, "s1", "build", depends_on=["design"])
    task(empty_repo, "s1", "review", depends_on=["build"])
    task(empty_repo, "s1", "docs", depends_on=["build"])  # depends on the cycle, not in it

    result = check(runner, empty_repo)

    assert result.exit_code == 1
    assert result.stdout == (
        f"{build}:4: depends_on: dependency cycle: build -> design -> review -> build\n"
    )


def test_a_task_depending_on_itself_is_reported(runner, empty_repo):
    sprint(empty_repo, "s1")
    path = task(empty_repo, "s1", "loop", depends_on=["loop"])

    result = check(runner, empty_repo)

    assert result.stdout == f"{path}:4: depends_on: a task cannot depend on itself\n"


def test_a_task_in_a_folder_without_sprint_md_is_reported(runner, empty_repo):
    path = task(empty_repo, "ghost", "orphan")

    result = check(runner, empty_repo)

    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}: sprint: task is in sprint folder 'ghost', which has no SPRINT.md\n"
    )


def test_two_adrs_with_one_number_are_both_reported(runner, example_repo):
    first = "delegation/adr/ADR-001-files-are-the-truth.md"
    second = "delegation/adr/ADR-001-use-postgres.md"
    write(example_repo, second, "---\ntitle: Use Postgres\nstatus: rejected\n---\n")

    result = check(runner, example_repo)

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{first}: code: duplicate ADR number '001' (also in {second})",
        f"{second}: code: duplicate ADR number '001' (also in {first})",
    ]


# --- output and scope -----------------------------------------------------------------------


def test_json_output_has_a_stable_shape(runner, empty_repo):
    sprint(empty_repo, "s1")
    path = write(empty_repo, task_path("s1", "t1"), "---\ntitle: T\npriority: urgent\n---\n")

    result = check(runner, empty_repo, "--json")

    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "files": 2,
        "errors": 1,
        "diagnostics": [
            {
                "path": path.relative_to(empty_repo).as_posix(),
                "line": 3,
                "field": "priority",
                "message": "'urgent' is not one of P0, P1, P2, P3",
                "severity": "error",
            }
        ],
    }
    assert result.stderr == ""  # nothing but JSON, so it can be piped


def test_json_output_of_a_clean_tree(runner, example_repo):
    result = check(runner, example_repo, "--json")

    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (data["errors"], data["diagnostics"]) == (0, [])
    assert data["files"] > 0


def test_paths_limit_the_report_to_the_files_asked_about(runner, empty_repo, monkeypatch):
    sprint(empty_repo, "s1")
    bad_task = write(empty_repo, task_path("s1", "t1"), "---\ntitle: T\nstatus: doing\n---\n")
    write(empty_repo, "delegation/adr/ADR-002-x.md", "---\ntitle: X\nstatus: maybe\n---\n")
    monkeypatch.chdir(empty_repo)

    everything = runner.invoke(cli, ["check"], catch_exceptions=False)
    one_folder = runner.invoke(cli, ["check", "delegation/sprints"], catch_exceptions=False)
    one_file = runner.invoke(cli, ["check", str(bad_task)], catch_exceptions=False)

    assert everything.stdout.splitlines() == [
        "delegation/adr/ADR-002-x.md:3: status: 'maybe' is not one of proposed, accepted, "
        "rejected, deprecated, superseded",
        "delegation/sprints/s1/t1/TASK.md:3: status: 'doing' is not one of pending, "
        "in_progress, completed, blocked",
    ]
    assert one_folder.stdout == one_file.stdout == everything.stdout.splitlines()[1] + "\n"
    assert one_folder.stderr == "2 files checked, 1 error\n"
    assert one_file.stderr == "1 file checked, 1 error\n"


def test_cross_file_rules_see_the_whole_tree_but_report_only_the_paths_asked(
    runner, empty_repo, monkeypatch
):
    sprint(empty_repo, "s1")
    sprint(empty_repo, "s2")
    first = task(empty_repo, "s1", "dup")
    task(empty_repo, "s2", "dup")
    monkeypatch.chdir(empty_repo)

    result = runner.invoke(cli, ["check", "delegation/sprints/s1"], catch_exceptions=False)

    assert result.exit_code == 1
    assert result.stdout == (
        f"{first}: code: duplicate task code 'dup' (also in {task_path('s2', 'dup')})\n"
    )


def test_a_clean_path_passes_even_when_another_file_is_broken(runner, example_repo):
    write(example_repo, "delegation/backlog/BUG-0002-broken.md", "---\ntitle: [unclosed\n---\n")

    result = check(runner, example_repo, str(example_repo / "delegation" / "adr"))

    assert (result.exit_code, result.stdout) == (0, "")


def test_a_path_that_does_not_exist_is_a_usage_error(runner, example_repo, monkeypatch):
    monkeypatch.chdir(example_repo)

    result = runner.invoke(cli, ["check", "delegation/sprintz"], catch_exceptions=False)

    assert result.exit_code == 2
    assert result.stderr == "Error: no such file or directory: delegation/sprintz\n"


# --- where it runs --------------------------------------------------------------------------


def test_outside_a_git_repository_is_a_clear_error(runner, tmp_path):
    plain = tmp_path / "not-a-repo"
    plain.mkdir()

    result = check(runner, plain)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: not a git repository (or any parent up to /): {plain.resolve()}; "
        "run `git init` first\n"
    )


def test_the_repo_option_is_accepted_after_the_command_too(runner, example_repo):
    result = runner.invoke(cli, ["check", "--repo", str(example_repo)], catch_exceptions=False)

    assert result.exit_code == 0


HEAVY_MODULES = ("duckdb", "pygit2", "watchfiles", "jinja2", "mcp")

IMPORTS_AFTER = """
import json, sys
from orchsync.faces.cli import cli
try:
    cli({args!r}, prog_name="orchsync")
except SystemExit:
    pass
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print(json.dumps(heavy), file=sys.stderr)
"""


def heavy_imports(*args: str, cwd: Path | None = None) -> list[str]:
    """Run the CLI in a fresh interpreter and return which heavy modules it imported."""
    code = IMPORTS_AFTER.format(args=list(args), heavy=HEAVY_MODULES)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, check=False
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["check", "--help"]])
def test_help_imports_no_heavy_module(args):
    assert heavy_imports(*args) == []


def test_check_itself_imports_no_heavy_module(example_repo):
    assert heavy_imports("--repo", str(example_repo), "check") == []
