"""What a new user tripped over (issue 16, items 3 to 8), one test (or a few) for each.

3. revisions and content hashes are read the same way by every command;
4. every commit names its actor;
5. invalid rows are marked in listings;
6. template placeholders are flagged by `check` and left out of AGENT INIT;
7. `events --follow` prints rows under its header, and JSON Lines with --json;
8. the smaller ones: unknown filter values, plurals, titles from ids, session timestamps,
   SQL errors, help texts, `log` order, completion, template paths.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import SPRINT, commit_all, git, set_status, task_path, trailers, write

from orchsync.repo import find_repo
from orchsync.sync import sync

T3 = "T:phase-3-template-generation"
PHASE3 = task_path("phase-3-template-generation")


def head(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev).strip()


def sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def snapshot(repo: Path, **options):
    return sync(find_repo(repo), **options)


# --- 3. one reading of revisions and content hashes ------------------------------------------


@pytest.fixture
def versions(example_repo) -> Path:
    """phase-3 pending (the example tree), then in_progress, then blocked: three versions."""
    set_status(example_repo, PHASE3, "in_progress")
    snapshot(example_repo, actor="dev")
    set_status(example_repo, PHASE3, "blocked")
    snapshot(example_repo, actor="dev")
    return example_repo


def test_a_short_content_hash_from_log_works_in_rollback_show_and_replay(orchsync, versions):
    in_progress = git(versions, "show", f"HEAD~1:{PHASE3}")
    digest = sha(in_progress)
    (newest, middle, _first) = json.loads(orchsync(versions, "log", T3, "--json").stdout)
    assert middle["hash"] == digest  # what `log` shows is what the others take

    shown = orchsync(versions, "show", T3, "--hash", digest[:4])
    replayed = json.loads(orchsync(versions, "replay", T3, "--since", digest[:8], "--json").stdout)
    since = json.loads(orchsync(versions, "log", T3, "--since", digest[:8], "--json").stdout)
    rolled = orchsync(versions, "rollback", T3, "--to", digest[:8])

    assert shown.stdout == in_progress
    assert [v["commit"] for v in replayed] == [newest["commit"]]
    assert [v["commit"] for v in since] == [newest["commit"]]
    assert rolled.exit_code == 0, rolled.output
    assert sha((versions / PHASE3).read_bytes()) == digest


def test_a_short_commit_id_works_in_show_rollback_and_replay(orchsync, versions):
    first = head(versions, "HEAD~2")
    pending = git(versions, "show", f"HEAD~2:{PHASE3}")

    shown = orchsync(versions, "show", T3, "--at", first[:7])
    replayed = json.loads(orchsync(versions, "replay", T3, "--since", first[:8], "--json").stdout)
    rolled = orchsync(versions, "rollback", T3, "--to", first[:8])

    assert shown.stdout == pending
    assert len(replayed) == 2
    assert rolled.exit_code == 0, rolled.output
    assert (versions / PHASE3).read_text() == pending


def _colliding_texts() -> tuple[str, str, str]:
    """Two TASK.md texts whose sha256 share their first 4 hex digits, and that prefix."""
    seen: dict[str, str] = {}
    for n in range(100_000):
        text = f"---\ntitle: Colliding {n}\nstatus: pending\n---\n"
        prefix = sha(text)[:4]
        if prefix in seen:
            return seen[prefix], text, prefix
        seen[prefix] = text
    raise AssertionError("no collision")  # pragma: no cover - the birthday bound says ~300


def test_an_ambiguous_prefix_lists_the_candidates(orchsync, example_repo):
    one, two, prefix = _colliding_texts()
    path = task_path("collide")
    write(example_repo, path, one)
    commit_all(example_repo, "one")
    write(example_repo, path, two)
    commit_all(example_repo, "two")

    result = orchsync(example_repo, "show", "T:collide", "--hash", prefix)

    assert result.exit_code == 2
    message = result.stderr.removeprefix("Error: ")
    assert message.startswith(
        f"'{prefix}' is ambiguous: content sha256:{sha(two)[:16]} ({path} at "
    )
    assert (
        f"content sha256:{sha(one)[:16]} ({path} at {head(example_repo, 'HEAD~1')[:12]})" in message
    )
    assert message.endswith("; give more digits\n")
    longer = orchsync(example_repo, "show", "T:collide", "--hash", sha(one)[:8])
    assert longer.stdout == one


def test_too_short_or_unknown_prefixes_say_so(orchsync, versions):
    assert orchsync(versions, "rollback", T3, "--to", "abc").stderr == (
        "Error: 'abc' is too short: give at least 4 hex digits\n"
    )
    unknown = orchsync(versions, "rollback", T3, "--to", "0123456789ab")
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        f"Error: no commit or content hash 0123456789ab of {T3} in the history of refs/heads/main\n"
    )


# --- 4. every commit names its actor ----------------------------------------------------------


def test_a_rollback_without_a_daemon_names_gits_user(orchsync, versions):
    orchsync(versions, "rollback", T3, "--to", "HEAD~2")

    assert ("Orchsync-Agent", "Test Author") in trailers(versions)
    newest = json.loads(orchsync(versions, "log", T3, "--json").stdout)[0]
    assert newest["agent"] == "Test Author"


def test_a_plain_sync_names_the_configured_actor_else_gits_user(orchsync, example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    orchsync(example_repo, "sync")
    assert ("Orchsync-Agent", "Test Author") in trailers(example_repo)

    config = example_repo / "delegation/orchsync.yml"
    config.write_text(config.read_text() + "actor: ci-bot\n")
    set_status(example_repo, PHASE3, "blocked")
    orchsync(example_repo, "sync")
    assert ("Orchsync-Agent", "ci-bot") in trailers(example_repo)
    events = json.loads(orchsync(example_repo, "events", "--entity", T3, "--json").stdout)
    assert events[-1]["agent"] == "ci-bot"


@pytest.mark.slow
def test_the_daemon_names_gits_user_on_its_own_commits(example_repo, daemon):
    from conftest import wait_for

    daemon(example_repo)
    before = head(example_repo)
    set_status(example_repo, PHASE3, "in_progress")

    wait_for(lambda: head(example_repo) != before, timeout=30, what="the daemon's commit")
    assert ("Orchsync-Agent", "Test Author") in trailers(example_repo)


# --- 5. invalid rows are marked ----------------------------------------------------------------


def test_a_broken_task_is_marked_invalid_in_the_table_with_a_footer(orchsync, example_repo):
    text = (example_repo / PHASE3).read_text()
    write(example_repo, PHASE3, text.replace("status: pending", "status: [pending", 1))
    orchsync(example_repo, "sync")

    table = orchsync(example_repo, "tasks").stdout.splitlines()
    rows = json.loads(orchsync(example_repo, "tasks", "--json").stdout)

    assert table[0].startswith("!  task ")
    assert [line[:3] for line in table[2:-1]] == ["   "] * 5 + ["!  "]
    assert table[-2].startswith("!  phase-3-template-generation  ")
    assert table[-1] == (
        "! 1 file is invalid: the row shows what could be read; `orchsync check` says what is wrong"
    )
    assert [r["task"] for r in rows if not r["valid"]] == ["phase-3-template-generation"]
    assert orchsync(example_repo, "tasks", "--format", "csv").stdout.startswith("task,")


def test_invalid_adrs_bugs_and_sprints_are_marked_too(orchsync, example_repo):
    adr = "delegation/adr/ADR-001-files-are-the-truth.md"
    bug = "delegation/backlog/BUG-0001-crlf-task-files-show-spurious-diffs.md"
    sprint = f"delegation/sprints/{SPRINT}/SPRINT.md"
    for path in (adr, bug, sprint):
        text = (example_repo / path).read_text()
        write(example_repo, path, text.replace("status: ", "status: [", 1))
    orchsync(example_repo, "sync")

    for args in (("adr", "list"), ("bug", "list"), ("sprints",)):
        lines = orchsync(example_repo, *args).stdout.splitlines()
        assert lines[2].startswith("!  "), args
        assert lines[-1].startswith("! 1 file is invalid: "), args


def test_valid_listings_look_as_before(orchsync, example_repo):
    assert orchsync(example_repo, "tasks").stdout.startswith("task ")
    assert "invalid" not in orchsync(example_repo, "tasks").stdout


# --- 6. template placeholders ------------------------------------------------------------------


def test_check_warns_of_untouched_placeholders_and_exits_0(orchsync, example_repo):
    orchsync(example_repo, "sprint", "create", "--id", "fresh")
    orchsync(example_repo, "task", "create", "--sprint", "fresh", "--id", "t1")

    result = orchsync(example_repo, "check", "delegation/sprints/fresh")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "delegation/sprints/fresh/SPRINT.md:15: placeholder: section 'Goal' has only the "
        'template\'s placeholder ("What this sprint delivers, in one or two sentences."); '
        "write it or delete the line (warning)"
    )
    assert len(lines) == 9 and all(line.endswith("(warning)") for line in lines)
    assert result.stderr == "4 files checked, 0 errors, 9 warnings\n"


def test_writing_a_section_answers_its_placeholder(orchsync, example_repo):
    orchsync(example_repo, "sprint", "create", "--id", "fresh")
    path = "delegation/sprints/fresh/SPRINT.md"
    text = (example_repo / path).read_text()
    marker = "<!-- placeholder: What this sprint delivers, in one or two sentences. -->\n"
    write(example_repo, path, text.replace(marker, marker + "\nShip the cache.\n"))

    lines = orchsync(example_repo, "check", path).stdout

    assert "'Goal'" not in lines and "'Context'" in lines


def test_the_example_tree_has_no_placeholder(orchsync, example_repo):
    result = orchsync(example_repo, "check")
    assert (result.exit_code, result.stdout) == (0, "")


def test_agent_init_leaves_placeholders_out_and_says_so(orchsync, example_repo, agent_init):
    orchsync(example_repo, "sprint", "create", "--id", "fresh", "--set", "goal=Ship the cache")
    orchsync(example_repo, "task", "create", "--sprint", "fresh", "--id", "t1")

    sprint = agent_init(example_repo, "S:fresh")
    task = agent_init(example_repo, "T:t1")
    markdown = orchsync(example_repo, "agent", "init", "S:fresh").stdout

    assert sprint["sprint"]["goal"] == "Ship the cache"
    assert "placeholder" not in sprint["sprint"]["body"]
    assert "Ship the cache" in sprint["sprint"]["body"]
    assert sprint["warnings"] == [
        "delegation/sprints/fresh/SPRINT.md: 4 template placeholders left out (sections nobody "
        "has written yet; `orchsync check` lists them)"
    ]
    assert "placeholder" not in task["task"]["body"]
    assert task["task"]["objectives"] == []
    assert "<!--" not in markdown and "4 template placeholders left out" in markdown


def test_placeholders_in_code_fences_are_text():
    from orchsync.parse.placeholders import find, strip

    text = (
        "# T\n\n```\n<!-- placeholder: an example -->\n```\n\n## Next\n\n<!-- placeholder: x -->\n"
    )

    found = find(text)

    assert [(p.line, p.section, p.hint, p.untouched) for p in found] == [(9, "Next", "x", True)]
    assert strip(text) == (text.replace("<!-- placeholder: x -->\n", ""), 1)


# --- 7. events --follow --------------------------------------------------------------------------


def _follow(repo: Path, *args: str, lines: int, change) -> list[str]:
    """Run `orchsync events --follow ARGS` as a child process, make `change()` once the first
    `lines` lines are out, and return every line printed until one more arrives."""
    import subprocess
    import sys
    import time

    from conftest import GIT_ENV

    proc = subprocess.Popen(
        [sys.executable, "-m", "orchsync", "--repo", str(repo), "events", "--follow", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=GIT_ENV,
    )
    try:
        assert proc.stdout is not None
        got = [proc.stdout.readline() for _ in range(lines)]
        change()
        deadline = time.monotonic() + 60
        got.append(proc.stdout.readline())  # blocks until the followed event is printed
        assert time.monotonic() < deadline
        return [line.rstrip("\n") for line in got]
    finally:
        proc.terminate()
        proc.wait(10)


def test_follow_prints_rows_under_its_header(example_repo):
    def change() -> None:
        set_status(example_repo, PHASE3, "in_progress")
        snapshot(example_repo, actor="dev")

    lines = _follow(example_repo, "--limit", "1", "--type", "task.*", lines=3, change=change)

    header, rule, first, followed = lines
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    assert header.split() == [
        "id",
        "emitted_at",
        "event_type",
        "entity_type",
        "entity_code",
        "agent",
        "session_key",
        "commit",
    ]
    assert [m.start() for m in re.finditer(r"-+", rule)] == starts
    cells = followed.split()
    assert cells[0].isdigit() and followed.index(cells[0]) == starts[0]  # the stable event id
    assert cells[2:6] == [
        "orchestration.task.status_updated",
        "task",
        "phase-3-template-generation",
        "dev",
    ]
    assert followed.index("orchestration.task") == starts[2]
    assert followed.index("phase-3-template-generation") == starts[4]
    assert followed.index(" dev ") + 1 == starts[5]
    assert cells[-1] == head(example_repo)[:12] and followed.rindex(cells[-1]) == starts[7]


def test_follow_json_is_json_lines_from_the_first_line(example_repo):
    def change() -> None:
        set_status(example_repo, PHASE3, "blocked")
        snapshot(example_repo)

    lines = _follow(
        example_repo, "--json", "--limit", "2", "--type", "task.*", lines=2, change=change
    )

    events = [json.loads(line) for line in lines]  # each line is one JSON object
    assert [type(e) for e in events] == [dict, dict, dict]
    assert events[-1]["event_type"] == "orchestration.task.status_updated"
    assert events[-1]["payload"] == {"from": "pending", "to": "blocked"}


def test_a_listing_without_follow_stays_a_json_array(orchsync, example_repo):
    out = orchsync(example_repo, "events", "--limit", "2", "--json").stdout
    assert isinstance(json.loads(out), list) and out.startswith("[\n")


# --- 8. the smaller ones -------------------------------------------------------------------------


def test_an_unknown_filter_value_is_an_error_naming_the_known_ones(orchsync, example_repo):
    sprint = orchsync(example_repo, "tasks", "--sprint", "nope")
    agent = orchsync(example_repo, "tasks", "--agent", "nobody")
    empty = orchsync(example_repo, "tasks", "--sprint", SPRINT, "--status", "blocked")

    assert (sprint.exit_code, sprint.stdout) == (2, "")
    assert sprint.stderr == f"Error: unknown sprint 'nope'; sprints: {SPRINT}\n"
    assert agent.exit_code == 2
    assert agent.stderr == (
        "Error: unknown agent 'nobody'; agents: backend-engineer, qa-engineer, tech-writer\n"
    )
    assert (empty.exit_code, empty.stdout) == (0, "no tasks\n")  # known values, no match


def test_the_mcp_tasks_tool_refuses_unknown_values_too(example_repo):
    from test_mcp import fails, run

    async def body(s):
        return await fails(s, "tasks", status="done"), await fails(s, "tasks", sprint="nope")

    status, sprint = run(example_repo, body, tools="core")
    assert "unknown status 'done'; valid: pending, in_progress, completed, blocked" in status
    assert f"unknown sprint 'nope'; sprints: {SPRINT}" in sprint


def test_counts_are_singular_for_one(orchsync, example_repo):
    set_status(example_repo, PHASE3, "in_progress")
    synced = orchsync(example_repo, "sync")
    checked = orchsync(example_repo, "check", PHASE3)

    assert synced.stdout.endswith(" (1 file)\n")
    assert checked.stderr == "1 file checked, 0 errors\n"


def test_session_files_quote_both_timestamps_alike(orchsync, example_repo, session_cmd):
    started = session_cmd(example_repo, "start", "T:phase-3", "--agent", "qa-engineer")
    key = started["key"]
    session_cmd(example_repo, "end", key)

    text = (example_repo / f"delegation/sessions/{key}.md").read_text()
    stamps = re.findall(r"^(started_at|ended_at): (.*)$", text, re.MULTILINE)
    assert [name for name, _ in stamps] == ["started_at", "ended_at"]
    assert all(re.fullmatch(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', value) for _, value in stamps)


def test_sql_errors_are_one_line_and_know_the_view_names(orchsync, example_repo):
    wrong = orchsync(example_repo, "query", "SELECT task_code FROM tasks")
    typo = orchsync(example_repo, "query", "SELEC 1")

    assert wrong.exit_code == 2 and wrong.stdout == ""
    assert wrong.stderr.count("\n") == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.startswith(
        'Error: SQL error: Referenced column "task_code" not found in FROM clause (candidates: '
    )
    assert wrong.stderr.endswith("; line 1; tasks.code is orchestration_tasks.task_code)\n")
    assert typo.stderr == 'Error: SQL error: syntax error at or near "SELEC" (line 1)\n'
    view = orchsync(example_repo, "query", "SELECT task_code FROM orchestration_tasks LIMIT 1")
    assert view.exit_code == 0  # the seed's view keeps its column names


def test_init_shows_progress_on_a_terminal_only(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    from conftest import GIT_ENV, init_repo, new_task

    repo = init_repo(tmp_path / "fresh")
    for n in range(3):
        new_task(repo, f"t{n}", sprint="s1")
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchsync", "--repo", str(repo), "init"],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env=GIT_ENV,
    )
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(60)
    os.close(main)

    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "snapshot  [" in text and "100%" in text


def _complete(repo: Path, words: str, shell: str = "bash") -> tuple[list[str], set[str]]:
    """What the shell would offer for `words` (the last one being completed), and the
    modules the completing process imported."""
    import subprocess
    import sys

    from conftest import GIT_ENV

    env = {
        **GIT_ENV,
        "_ORCHSYNC_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "orchsync"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines()], imported


def test_completion_offers_task_and_sprint_codes_without_heavy_imports(orchsync, example_repo):
    tasks, imported = _complete(example_repo, "orchsync task status phase-")
    sprints, _ = _complete(example_repo, "orchsync tasks --sprint orch")
    keys, _ = _complete(example_repo, "orchsync agent init T:phase-3")

    assert tasks == [
        "phase-1-api-foundation",
        "phase-2-event-system",
        "phase-3-template-generation",
        "phase-4-agent-init",
        "phase-5-pm-commands",
        "phase-6-integration",
    ]
    assert sprints == [SPRINT]
    assert keys == ["T:phase-3-template-generation"]
    assert not imported & {"duckdb", "pygit2", "jinja2", "mcp"}


def test_completion_prints_a_script_for_each_shell(orchsync, example_repo):
    for shell in ("bash", "zsh", "fish"):
        script = orchsync(example_repo, "completion", shell)
        assert script.exit_code == 0
        assert "_ORCHSYNC_COMPLETE" in script.stdout
