"""The field-level merge driver, through a real `git merge`.

Each case below is one TASK.md in three versions: branch `a` (ours) and branch `b` (theirs)
each commit their change on top of the same base, then `git merge b` runs on `a` with the
orchsync driver configured. The case states the exact bytes git leaves in the work tree and
git's exit status (0: merged, 1: conflicts left for a person).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import GIT_ENV, commit_all, git, init_repo, write

from orchsync.faces.cli import cli
from orchsync.git.merge import merge_documents
from orchsync.git.merge_driver import driver_config_lines, install_merge_driver
from orchsync.parse import parse_file

TASK = "delegation/sprints/s1/t1/TASK.md"

BASE = """\
---
title: Build the API
status: pending
priority: P1
depends_on:
  - t0
acceptance_criteria:
  - Endpoint returns 200
---

# Build the API

First paragraph.

Second paragraph.
"""

COMMENTED = """\
---
# Owned by the backend team.
title: Build the API
status: pending    # moved by the daemon
priority: 'P1'     # quoted on purpose
acceptance_criteria:
  - Endpoint returns 200

# Done when all of the above hold.
estimate: 3d
---
Body.
"""


def edit(text: str, *changes: tuple[str, str]) -> str:
    """Apply (old, new) replacements, each of which must match exactly once."""
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} must occur once"
        text = text.replace(old, new)
    return text


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


FIRST = ("First paragraph.", "First paragraph, edited on a.")
SECOND = ("Second paragraph.", "Second paragraph, edited on b.")
STARTED = ("status: pending", "status: in_progress")
P0 = ("priority: P1", "priority: P0")
BROKEN = ("priority: P1", "priority: [P0")

# id: (base, ours = branch a, theirs = branch b, expected bytes after `git merge b`, git's status)
CASES: dict[str, tuple[str, str, str, str, int]] = {
    "one-side key change": (
        BASE,
        edit(BASE, FIRST),
        edit(BASE, P0),
        edit(BASE, FIRST, P0),
        0,
    ),
    "same change on both sides": (
        BASE,
        edit(BASE, STARTED, FIRST),
        edit(BASE, STARTED, SECOND),
        edit(BASE, STARTED, FIRST, SECOND),
        0,
    ),
    "status and priority on different sides": (
        BASE,
        edit(BASE, STARTED),
        edit(BASE, P0),
        edit(BASE, STARTED, P0),
        0,
    ),
    "status both sides: the further state wins": (
        BASE,
        edit(BASE, STARTED),
        edit(BASE, ("status: pending", "status: completed")),
        edit(BASE, ("status: pending", "status: completed")),
        0,
    ),
    "lists merge as sets": (
        BASE,
        edit(
            BASE,
            ("  - t0\n", "  - t0\n  - t1\n"),
            ("  - Endpoint returns 200\n", "  - Endpoint returns 200\n  - Errors are JSON\n"),
        ),
        edit(
            BASE,
            ("  - t0\n", "  - t2\n"),
            ("  - Endpoint returns 200\n", "  - Endpoint returns 200\n  - Docs written\n"),
        ),
        edit(
            BASE,
            ("  - t0\n", "  - t1\n  - t2\n"),
            (
                "  - Endpoint returns 200\n",
                "  - Endpoint returns 200\n  - Errors are JSON\n  - Docs written\n",
            ),
        ),
        0,
    ),
    "body edits on different lines": (
        BASE,
        edit(BASE, FIRST),
        edit(BASE, SECOND),
        edit(BASE, FIRST, SECOND),
        0,
    ),
    "body conflict: markers in the body only": (
        BASE,
        edit(BASE, STARTED, FIRST),
        edit(BASE, P0, ("First paragraph.", "First paragraph, edited on b.")),
        edit(
            BASE,
            STARTED,
            P0,
            (
                "First paragraph.\n",
                "<<<<<<< ours\nFirst paragraph, edited on a.\n=======\n"
                "First paragraph, edited on b.\n>>>>>>> theirs\n",
            ),
        ),
        1,
    ),
    "comments, quoting and blank lines survive": (
        COMMENTED,
        edit(COMMENTED, ("status: pending ", "status: blocked ")),
        edit(
            COMMENTED,
            ("priority: 'P1'", "priority: 'P0'"),
            ("  - Endpoint returns 200\n", "  - Endpoint returns 200\n  - Docs written\n"),
            ("Body.", "Body, edited on b."),
        ),
        """\
---
# Owned by the backend team.
title: Build the API
status: blocked    # moved by the daemon
priority: 'P0'     # quoted on purpose
acceptance_criteria:
  - Endpoint returns 200
  - Docs written

# Done when all of the above hold.
estimate: 3d
---
Body, edited on b.
""",
        0,
    ),
    "key added on one side": (
        BASE,
        edit(BASE, STARTED),
        edit(BASE, ("priority: P1\n", "priority: P1\nassignee: alice\n")),
        edit(BASE, STARTED, ("priority: P1\n", "priority: P1\nassignee: alice\n")),
        0,
    ),
    "key deleted on one side": (
        BASE,
        edit(BASE, STARTED),
        edit(BASE, ("priority: P1\n", "")),
        edit(BASE, STARTED, ("priority: P1\n", "")),
        0,
    ),
    "CRLF file stays CRLF": (
        crlf(BASE),
        crlf(edit(BASE, STARTED)),
        crlf(edit(BASE, P0, SECOND)),
        crlf(edit(BASE, STARTED, P0, SECOND)),
        0,
    ),
    "invalid YAML on one side: git's line merge of the whole file": (
        BASE,
        edit(BASE, FIRST),
        edit(BASE, BROKEN),
        edit(BASE, FIRST, BROKEN),
        0,
    ),
}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def merge_repo(tmp_path: Path) -> Path:
    """A repository on `main` with the orchsync driver installed as `python -m orchsync`."""
    repo = init_repo(tmp_path / "repo")
    install_merge_driver(repo, repo / ".git", program=f"{shlex.quote(sys.executable)} -m orchsync")
    commit_all(repo, "merge driver")
    return repo


def git_merge(repo: Path, base: str, ours: str, theirs: str) -> tuple[bytes, int, str]:
    """Commit base on main, ours on branch a, theirs on b; merge b into a."""
    write(repo, TASK, base)
    commit_all(repo, "base")
    git(repo, "checkout", "-q", "-b", "b")
    write(repo, TASK, theirs)
    commit_all(repo, "theirs")
    git(repo, "checkout", "-q", "-b", "a", "main")
    write(repo, TASK, ours)
    commit_all(repo, "ours")
    proc = subprocess.run(
        ["git", "-C", str(repo), "merge", "--no-edit", "b"],
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    return (repo / TASK).read_bytes(), proc.returncode, proc.stdout + proc.stderr


# --- through git ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "ours", "theirs", "expected", "status"), CASES.values(), ids=CASES
)
def test_git_merge(
    merge_repo: Path, base: str, ours: str, theirs: str, expected: str, status: int
) -> None:
    merged, returncode, output = git_merge(merge_repo, base, ours, theirs)
    assert merged.decode() == expected
    assert merged == expected.encode()
    assert returncode == status, output
    front_matter = parse_file(TASK, merged).entity
    assert front_matter is not None and front_matter.title == "Build the API"


def test_git_merge_reports_through_git(merge_repo: Path) -> None:
    _, _, output = git_merge(merge_repo, BASE, edit(BASE, FIRST), edit(BASE, BROKEN))
    assert "theirs: front matter is not valid YAML" in output
    assert "merged the whole file with git merge-file" in output


def test_git_merge_conflict_leaves_a_parseable_file(merge_repo: Path) -> None:
    ours, theirs = edit(BASE, ("priority: P1", "priority: P2")), edit(BASE, P0)
    merged, returncode, output = git_merge(merge_repo, BASE, ours, theirs)
    assert returncode == 1
    assert "CONFLICT (priority)" in output
    assert merged.decode() == edit(
        BASE,
        ("priority: P1", "priority: P2"),
        ("---\n\n", "conflicts:\n  priority:\n    ours: P2\n    theirs: P0\n---\n\n"),
    )
    parsed = parse_file(TASK, merged)
    assert not parsed.diagnostics
    assert parsed.entity is not None and parsed.entity.valid


# --- the library ---------------------------------------------------------------------------


def test_conflicting_key_is_kept_as_ours_and_recorded() -> None:
    ours = edit(BASE, ("title: Build the API", "title: Build the REST API"), FIRST)
    theirs = edit(BASE, ("title: Build the API", "title: Build the HTTP API"), STARTED)
    result = merge_documents(BASE.encode(), ours.encode(), theirs.encode(), TASK)
    assert not result.clean
    assert [(c.key, c.ours, c.theirs) for c in result.conflicts] == [
        ("title", "Build the REST API", "Build the HTTP API")
    ]
    text = result.merged.decode()
    front_matter = yaml.safe_load(text.split("---\n")[1])
    assert front_matter["title"] == "Build the REST API"
    assert front_matter["status"] == "in_progress"
    assert front_matter["conflicts"] == {
        "title": {"ours": "Build the REST API", "theirs": "Build the HTTP API"}
    }
    assert "First paragraph, edited on a." in text
    assert "<<<<<<<" not in text


def test_status_rule_is_a_note_not_a_conflict() -> None:
    sprint = "---\ntitle: S\nstatus: planning\n---\n"
    result = merge_documents(
        sprint.encode(),
        sprint.replace("planning", "completed").encode(),
        sprint.replace("planning", "active").encode(),
        "delegation/sprints/s1/SPRINT.md",
    )
    assert result.clean
    assert result.merged == sprint.replace("planning", "completed").encode()
    assert result.notes == [
        "status: ours completed, theirs active -> completed (the further state wins)"
    ]


def test_unordered_statuses_keep_ours() -> None:
    bug = "---\ntitle: B\nstatus: open\n---\n"
    result = merge_documents(
        bug.encode(),
        bug.replace("open", "fixed").encode(),
        bug.replace("open", "wontfix").encode(),
        "delegation/backlog/BUG-0001-x.md",
    )
    assert result.clean
    assert result.merged == bug.replace("open", "fixed").encode()
    assert "kept ours" in result.notes[0]


AGENT = """\
# Agent set-up for t1; merged over delegation/agents/backend-engineer.yml.
agent: backend-engineer
model: claude-sonnet-4-5
capabilities:
  - python
  - json-schema
tools_allowed: [read_file, write_file]
safety_rails:
  - Write only under orchsync/
"""


def test_agent_yml_is_merged_as_yaml() -> None:
    ours = edit(
        AGENT,
        ("  - json-schema\n", "  - json-schema\n  - sql\n"),
        ("write_file]", "write_file, run_tests]"),
    )
    theirs = edit(
        AGENT,
        ("  - python\n", ""),
        ("model: claude-sonnet-4-5", "model: claude-opus-4"),
        ("Write only under orchsync/\n", "Write only under orchsync/\n  - Never push\n"),
    )
    result = merge_documents(
        AGENT.encode(), ours.encode(), theirs.encode(), "delegation/sprints/s1/t1/AGENT.yml"
    )
    assert result.clean
    assert (
        result.merged.decode()
        == """\
# Agent set-up for t1; merged over delegation/agents/backend-engineer.yml.
agent: backend-engineer
model: claude-opus-4
capabilities:
  - json-schema
  - sql
tools_allowed: [read_file, write_file, run_tests]
safety_rails:
  - Write only under orchsync/
  - Never push
"""
    )


def test_nested_mapping_merges_per_key() -> None:
    base = "---\ntitle: T\nmetadata:\n  owner: bob\n  team: core\n---\n"
    ours = base.replace("owner: bob", "owner: ann")
    theirs = base.replace("team: core", "team: infra")
    result = merge_documents(base.encode(), ours.encode(), theirs.encode(), TASK)
    assert result.clean
    assert result.merged.decode() == "---\ntitle: T\nmetadata:\n  owner: ann\n  team: infra\n---\n"


def test_added_on_both_sides_merges_against_an_empty_base() -> None:
    ours = "---\ntitle: T\nstatus: in_progress\n---\nBody.\n"
    theirs = "---\ntitle: T\nstatus: pending\nlabels: [api]\n---\nBody.\n"
    result = merge_documents(b"", ours.encode(), theirs.encode(), TASK)
    assert result.clean
    assert (
        result.merged.decode() == "---\ntitle: T\nstatus: in_progress\nlabels: [api]\n---\nBody.\n"
    )


def test_front_matter_that_is_not_a_mapping_falls_back() -> None:
    theirs = "---\n- just\n- a list\n---\n" + BASE.split("---\n", 2)[2]
    result = merge_documents(BASE.encode(), edit(BASE, FIRST).encode(), theirs.encode(), TASK)
    assert result.notes == [
        "theirs: front matter is not a mapping of keys; merged the whole file with git merge-file"
    ]


# --- the command ---------------------------------------------------------------------------


def test_merge_file_command_writes_ours_in_place(tmp_path: Path, runner) -> None:
    paths = {}
    for name, text in (
        ("base", BASE),
        ("ours", edit(BASE, STARTED)),
        ("theirs", edit(BASE, ("status: pending", "status: completed"), P0)),
    ):
        paths[name] = write(tmp_path, name, text)
    args = ["merge-file", *(str(paths[n]) for n in ("base", "ours", "theirs")), TASK]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        f"orchsync merge-file: {TASK}: status: ours in_progress, theirs completed -> completed"
        " (the further state wins)\n"
    )
    assert paths["ours"].read_text() == edit(BASE, ("status: pending", "status: completed"), P0)


def test_merge_file_command_exits_1_on_conflict(tmp_path: Path, runner) -> None:
    base = write(tmp_path, "base", BASE)
    ours = write(tmp_path, "ours", edit(BASE, ("priority: P1", "priority: P2")))
    theirs = write(tmp_path, "theirs", edit(BASE, P0))
    result = runner.invoke(
        cli, ["merge-file", str(base), str(ours), str(theirs)], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"orchsync merge-file: {ours}: CONFLICT (priority): changed differently on both sides;"
        " kept ours, theirs recorded under conflicts:\n"
    )
    assert "conflicts:\n  priority:\n    ours: P2\n    theirs: P0\n" in ours.read_text()


def test_merge_file_command_imports_nothing_heavy(tmp_path: Path) -> None:
    for name in ("base", "ours", "theirs"):
        write(tmp_path, name, BASE)
    code = (
        "import sys; from orchsync.faces.cli import cli\n"
        "try: cli(['merge-file', 'base', 'ours', 'theirs'], standalone_mode=False)\n"
        "finally: print(sorted(m for m in ('duckdb', 'pygit2', 'jinja2', 'mcp', 'watchfiles',"
        " 'jsonschema') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert proc.stdout == "[]\n"


# --- installing ----------------------------------------------------------------------------


def test_install_merge_driver_is_idempotent(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write(repo, ".gitattributes", "*.png binary")  # no final newline
    planned = install_merge_driver(repo, repo / ".git", dry_run=True)
    assert "orchsync" not in (repo / ".git" / "config").read_text()
    assert (repo / ".gitattributes").read_text() == "*.png binary"
    done = install_merge_driver(repo, repo / ".git")
    assert done == [
        "set merge.orchsync.name = 'orchsync: field-level merge of front matter' in git config",
        "set merge.orchsync.driver = 'orchsync merge-file %O %A %B %P' in git config",
        "appended 'delegation/**/*.md merge=orchsync' to .gitattributes",
        "appended 'delegation/**/*.yml merge=orchsync' to .gitattributes",
        "appended 'delegation/**/*.yaml merge=orchsync' to .gitattributes",
    ]
    assert planned == [
        line.replace("set", "would set").replace("appended", "would append") for line in done
    ]
    config, attributes = driver_config_lines()
    for key, value in config:
        assert git(repo, "config", "--get", key) == value + "\n"
    assert (repo / ".gitattributes").read_text() == "*.png binary\n" + "".join(
        f"{line}\n" for line in attributes
    )
    assert install_merge_driver(repo, repo / ".git") == []
    assert git(repo, "check-attr", "merge", "--", TASK) == f"{TASK}: merge: orchsync\n"


def test_a_lone_string_in_a_list_field_merges_as_a_list() -> None:
    base = "---\ntitle: T\ndepends_on: t0\n---\n"
    ours = base.replace("depends_on: t0", "depends_on: t1")
    theirs = base.replace("depends_on: t0", "depends_on: [t0, t2]")
    result = merge_documents(base.encode(), ours.encode(), theirs.encode(), TASK)
    assert result.clean
    assert result.merged.decode() == "---\ntitle: T\ndepends_on:\n  - t1\n  - t2\n---\n"


def test_deleted_on_one_side_changed_on_the_other_is_a_conflict() -> None:
    ours = edit(BASE, ("priority: P1\n", ""))
    theirs = edit(BASE, P0)
    result = merge_documents(BASE.encode(), ours.encode(), theirs.encode(), TASK)
    assert [(c.key, c.resolution) for c in result.conflicts] == [
        (
            "priority",
            "deleted on ours, changed on theirs; kept ours, theirs recorded under conflicts:",
        )
    ]
    assert result.merged.decode() == edit(
        ours, ("---\n\n", "conflicts:\n  priority:\n    theirs: P0\n---\n\n")
    )
