"""A hostile file system under delegation/: links, FIFOs, huge files, odd names, conflicts.

Anyone who can write under `delegation/` (an agent steered by text it read) can make a
symbolic link there, a FIFO, a 2 GB file, a folder named `TASK.md` or `-x`, or leave a
stash-pop conflict behind. orchsync records what git would record and nothing more: a link
is its link text (mode 120000), never its target's bytes; a FIFO is never opened; a huge
file is refused by its size; a conflict in git's index holds snapshots back; and `check`
says what is wrong with each, naming the file, the line and the rule.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    GIT_ENV,
    SPRINT,
    commit_all,
    git,
    new_task,
    set_status,
    task_path,
    wait_for,
    write,
)

from orchsync.context.refs import expand
from orchsync.git.state import unmerged_paths
from orchsync.parse.fsread import MAX_FILE_BYTES, read_entry
from orchsync.parse.worktree import list_files
from orchsync.watch.settle import NotifySource, real_folders

T1 = task_path("phase-1-api-foundation")
T3 = task_path("phase-3-template-generation")
SPRINT_DIR = f"delegation/sprints/{SPRINT}"


@pytest.fixture
def no_daemon(monkeypatch):
    """Commands sync themselves (ORCHSYNC_NO_DAEMON=1), as in the issue's reproduction."""
    monkeypatch.setenv("ORCHSYNC_NO_DAEMON", "1")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the repository, with front matter, that must never reach git or an agent."""
    path = tmp_path / "outside" / "secret.md"
    path.parent.mkdir()
    path.write_text("---\ntitle: TOPSECRET-42\nstatus: pending\n---\n\nTOPSECRET-42 body\n")
    return path


def tree_entry(repo: Path, path: str, rev: str = "HEAD") -> tuple[str, str] | None:
    """(mode, content) of a path in a commit, as git itself reads it."""
    line = git(repo, "ls-tree", rev, "--", path)
    if not line:
        return None
    mode, _type, blob = line.split("\t")[0].split()
    return mode, git(repo, "cat-file", "-p", blob)


def link(repo: Path, rel: str, target: str | Path) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def index_row(repo: Path, path: str) -> tuple | None:
    from orchsync import query
    from orchsync.repo import find_repo

    with query.reader(find_repo(repo)) as con:
        return con.execute(
            "SELECT kind, valid, diagnostics FROM files WHERE path = ?", [path]
        ).fetchone()


# --- symbolic links are recorded as links, never followed ------------------------------------


def test_a_task_that_links_to_etc_passwd_is_committed_as_the_link_text(
    orchsync, example_repo, no_daemon
):
    evil = f"{SPRINT_DIR}/evil/TASK.md"
    link(example_repo, evil, "/etc/passwd")

    result = orchsync(example_repo, "sync")

    assert result.exit_code == 1  # committed, and invalid
    assert tree_entry(example_repo, evil) == ("120000", "/etc/passwd")
    assert "root:" not in git(example_repo, "log", "-p", "-1")
    assert git(example_repo, "status", "--porcelain") == ""  # the git index has the 120000 entry
    assert git(example_repo, "ls-files", "-s", evil).startswith("120000 ")
    message = (
        f"{evil}: symlink: not read: a symbolic link (to '/etc/passwd'); orchsync never "
        "follows links: replace it with a regular file"
    )
    assert f"invalid: {message}\n" in result.stderr
    kind, valid, diagnostics = index_row(example_repo, evil)
    assert (kind, valid) == ("task", False)
    assert json.loads(diagnostics)[0]["field"] == "symlink"

    checked = orchsync(example_repo, "check")
    assert checked.exit_code == 1
    assert checked.stdout == f"{message}\n"


def test_agent_init_never_shows_a_linked_files_target(orchsync, example_repo, secret, no_daemon):
    link(example_repo, f"{SPRINT_DIR}/evil/TASK.md", "/etc/passwd")
    link(example_repo, f"{SPRINT_DIR}/evil2/TASK.md", secret)
    orchsync(example_repo, "sync")

    for code in ("evil", "evil2"):
        result = orchsync(example_repo, "agent", "init", f"T:{code}", "--format", "json")
        doc = json.loads(result.stdout)
        text = json.dumps(doc)
        assert "root:" not in text and "TOPSECRET" not in text
        assert doc["task"]["valid"] is False and doc["task"]["body"] == ""
        assert any("symlink: not read" in w for w in doc["warnings"]), doc["warnings"]
        markdown = orchsync(example_repo, "agent", "init", f"T:{code}").stdout
        assert "root:" not in markdown and "TOPSECRET" not in markdown


def test_a_linked_folder_is_one_link_entry_and_is_never_walked(orchsync, example_repo, no_daemon):
    link(example_repo, f"{SPRINT_DIR}/etc-sprint", "/etc")
    link(example_repo, "delegation/sprints/S", "/etc")  # a "sprint folder"
    link(example_repo, "delegation/adr/inside", "../sprints")  # a link that stays inside

    orchsync(example_repo, "sync")

    assert tree_entry(example_repo, "delegation/sprints/S") == ("120000", "/etc")
    assert tree_entry(example_repo, f"{SPRINT_DIR}/etc-sprint") == ("120000", "/etc")
    assert tree_entry(example_repo, "delegation/adr/inside") == ("120000", "../sprints")
    listed = git(example_repo, "ls-tree", "-r", "--name-only", "HEAD", "delegation")
    assert "passwd" not in listed and "delegation/adr/inside/" not in listed
    assert git(example_repo, "status", "--porcelain") == ""
    checked = orchsync(example_repo, "check")
    assert checked.exit_code == 1
    assert "delegation/sprints/S: symlink: not read" in checked.stdout


def test_a_path_through_a_linked_folder_does_not_exist(example_repo, secret):
    link(example_repo, "delegation/sprints/S", secret.parent)

    assert read_entry(example_repo, "delegation/sprints/S/secret.md").kind == "missing"
    assert read_entry(example_repo, "delegation/sprints/S").data == os.fsencode(secret.parent)
    assert list_files(example_repo, "delegation/sprints/S") == ["delegation/sprints/S"]


def test_syncing_a_path_below_a_linked_folder_commits_nothing_from_outside(
    orchsync, example_repo, secret, no_daemon
):
    link(example_repo, "delegation/sprints/S", secret.parent)

    result = orchsync(example_repo, "sync", "delegation/sprints/S/secret.md")

    assert result.exit_code == 0
    assert "TOPSECRET" not in git(example_repo, "log", "-p")


def test_the_delegation_folder_itself_as_a_link_is_not_walked(orchsync, empty_repo, no_daemon):
    link(empty_repo, "delegation", "/etc")

    orchsync(empty_repo, "sync")

    assert tree_entry(empty_repo, "delegation") == ("120000", "/etc")
    assert git(empty_repo, "ls-tree", "-r", "--name-only", "HEAD") == "README.md\ndelegation\n"


def test_a_linked_config_is_not_read(orchsync, example_repo, tmp_path):
    outside = tmp_path / "config.yml"
    outside.write_text("target_ref: refs/orchsync/<branch>\n")
    (example_repo / "delegation/orchsync.yml").unlink()
    link(example_repo, "delegation/orchsync.yml", outside)

    status = orchsync(example_repo, "status")

    assert "snapshots to: refs/heads/main" in status.stdout
    assert "config: delegation/orchsync.yml is not a regular file" in status.stdout


# --- the daemon keeps committing beside a link -------------------------------------------------


@pytest.mark.slow
def test_the_daemon_commits_every_other_edit_beside_a_link_to_outside(example_repo, daemon):
    d = daemon()
    link(example_repo, f"{SPRINT_DIR}/evil/TASK.md", "/etc/passwd")
    set_status(example_repo, T3, "in_progress")
    new_task(example_repo, "after-the-link")

    wait_for(
        lambda: git(example_repo, "status", "--porcelain") == "",
        timeout=30,
        what="every edit committed",
    )
    assert tree_entry(example_repo, f"{SPRINT_DIR}/evil/TASK.md") == ("120000", "/etc/passwd")
    assert "status: in_progress" in tree_entry(example_repo, T3)[1]
    assert tree_entry(example_repo, task_path("after-the-link")) is not None
    assert d.alive()
    assert "sync failed" not in d.stderr() and "outside the repository" not in d.stderr()
    assert "root:" not in git(example_repo, "log", "-p")


@pytest.mark.slow
def test_a_daemon_started_beside_a_link_to_the_root_does_not_walk_it(example_repo, daemon):
    link(example_repo, f"{SPRINT_DIR}/root", "/")

    d = daemon()
    set_status(example_repo, T3, "in_progress")

    wait_for(
        lambda: "status: in_progress" in tree_entry(example_repo, T3)[1],
        timeout=30,
        what="the edit committed",
    )
    assert tree_entry(example_repo, f"{SPRINT_DIR}/root") == ("120000", "/")
    assert d.alive()


def test_a_tree_with_a_linked_folder_is_watched_folder_by_folder(example_repo, tmp_path):
    delegation = str(example_repo / "delegation")
    assert real_folders(delegation) is None  # no link: one recursive watch is safe
    outside = tmp_path / "outside"
    outside.mkdir()
    link(example_repo, f"{SPRINT_DIR}/root", str(outside))

    folders = real_folders(delegation)

    assert folders is not None and all(f.startswith(delegation) for f in folders)
    assert f"{delegation}/sprints/{SPRINT}/root" not in folders
    source = NotifySource(delegation)
    try:
        assert f"{delegation}/sprints/{SPRINT}/root" not in source._notify.folders
        (example_repo / SPRINT_DIR / "new-task").mkdir()  # a new folder gets its own watch
        wait_for(lambda: source.wait(200, None), timeout=10, what="the new folder's event")
        while source.wait(200, None):
            pass  # (a backend that rescans reports the whole tree once more)
        write(example_repo, f"{SPRINT_DIR}/new-task/TASK.md", "---\ntitle: x\n---\n")
        seen = wait_for(lambda: source.wait(200, None), timeout=10, what="an event inside it")
        assert (1, f"{delegation}/sprints/{SPRINT}/new-task/TASK.md") in seen
        (outside / "x.md").write_text("beyond the link\n")
        assert source.wait(500, None) == set()  # nothing from beyond the link
    finally:
        source.close()


def test_mcp_serves_no_linked_files_target(example_repo, secret, no_daemon, orchsync):
    from test_mcp import run

    link(example_repo, f"{SPRINT_DIR}/evil/TASK.md", secret)
    orchsync(example_repo, "sync")

    async def body(s):
        with pytest.raises(Exception, match="is a symbolic link"):
            await s.read_resource("orchsync://task/evil")
        result = await s.call_tool("orchestration_agent_init", {"target": "T:evil"})
        return json.dumps(result.model_dump(), default=str)

    assert "TOPSECRET" not in run(example_repo, body)


def test_a_folder_moved_in_with_a_link_inside_is_watched_but_not_the_link(example_repo, tmp_path):
    delegation = str(example_repo / "delegation")
    outside = tmp_path / "outside-dir"
    outside.mkdir()
    prepared = tmp_path / "prepared"
    (prepared / "sub").mkdir(parents=True)
    (prepared / "sub" / "link").symlink_to(outside)
    source = NotifySource(delegation)
    try:
        os.rename(prepared, example_repo / SPRINT_DIR / "prepared")
        wait_for(lambda: source.wait(200, None), timeout=10, what="the folder's event")
        while source.wait(200, None):
            pass  # (a backend that rescans reports the whole tree once more)

        folders = source._notify.folders
        assert f"{delegation}/sprints/{SPRINT}/prepared/sub" in folders
        assert f"{delegation}/sprints/{SPRINT}/prepared/sub/link" not in folders
        (outside / "x.md").write_text("outside\n")
        assert source.wait(500, None) == set()  # no event from beyond the link
    finally:
        source.close()


# --- writes never go through a link ------------------------------------------------------------


def test_task_status_on_a_linked_task_is_refused_and_the_target_untouched(
    orchsync, example_repo, secret, no_daemon
):
    link(example_repo, f"{SPRINT_DIR}/evil/TASK.md", secret)
    orchsync(example_repo, "sync")
    before = secret.read_bytes()
    head = git(example_repo, "rev-parse", "HEAD")

    result = orchsync(example_repo, "task", "status", "evil", "completed")

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {SPRINT_DIR}/evil/TASK.md is a symbolic link; orchsync does not follow links: "
        "replace it with a regular file (nothing written)\n"
    )
    assert secret.read_bytes() == before
    assert git(example_repo, "rev-parse", "HEAD") == head


def test_a_task_folder_that_is_a_link_is_no_task_to_write(orchsync, example_repo, secret):
    (secret.parent / "t-out").mkdir()
    (secret.parent / "t-out" / "TASK.md").write_text("---\ntitle: out\nstatus: pending\n---\n")
    link(example_repo, f"{SPRINT_DIR}/t-out", secret.parent / "t-out")

    result = orchsync(example_repo, "task", "status", "t-out", "completed")

    assert result.exit_code == 2
    assert "unknown task 't-out'" in result.stderr
    assert "pending" in (secret.parent / "t-out" / "TASK.md").read_text()


def test_no_task_is_created_in_a_sprint_folder_that_is_a_link(orchsync, example_repo, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "SPRINT.md").write_text("---\ntitle: S\n---\n")
    link(example_repo, "delegation/sprints/S", outside)

    result = orchsync(example_repo, "task", "create", "--sprint", "S", "--id", "t1", "--title", "x")

    assert result.exit_code == 2
    assert sorted(p.name for p in outside.iterdir()) == ["SPRINT.md"]


def test_a_rollback_replaces_a_link_and_never_writes_into_its_target(
    orchsync, example_repo, secret, no_daemon
):
    original = (example_repo / T3).read_bytes()
    before = secret.read_bytes()
    (example_repo / T3).unlink()
    link(example_repo, T3, secret)
    orchsync(example_repo, "sync")

    result = orchsync(example_repo, "rollback", T3, "--to", "HEAD~1")

    assert result.exit_code == 0, result.output
    assert not (example_repo / T3).is_symlink()
    assert (example_repo / T3).read_bytes() == original
    assert secret.read_bytes() == before
    assert tree_entry(example_repo, T3)[0] == "100644"
    assert git(example_repo, "status", "--porcelain") == ""

    back = orchsync(example_repo, "rollback", T3, "--to", "HEAD~1")  # to the link version
    assert back.exit_code == 2
    assert "is a symbolic link (to " in back.stderr and "does not restore links" in back.stderr


def test_a_linked_session_file_is_not_edited(orchsync, example_repo, secret, session_cmd):
    key = session_cmd(
        example_repo, "start", "T:phase-2-event-system", "--agent", "backend-engineer"
    )["key"]
    path = example_repo / f"delegation/sessions/{key}.md"
    path.unlink()
    path.symlink_to(secret)
    before = secret.read_bytes()

    result = orchsync(example_repo, "session", "note", key, "hello")

    assert result.exit_code == 2
    assert "is a symbolic link" in result.stderr
    assert secret.read_bytes() == before


def test_a_linked_repository_template_is_refused(orchsync, example_repo, secret):
    folder = example_repo / "delegation/.templates/task/leak"
    folder.mkdir(parents=True)
    (folder / "TASK.md.j2").symlink_to(secret)

    result = orchsync(
        example_repo, "task", "create", "--sprint", SPRINT, "--id", "t9", "--template", "leak"
    )

    assert result.exit_code == 2
    assert "templates are not read through links" in result.stderr
    assert not (example_repo / task_path("t9")).exists()


# --- context references never leave the repository --------------------------------------------


def _context(repo: Path, *entries: str) -> None:
    """Point phase-1's `context` at these entries (and commit)."""
    path = repo / T1
    text = path.read_text()
    start, end = text.index("context:\n"), text.index("labels:\n")
    items = "".join(f"  - {json.dumps(e)}\n" for e in entries)
    path.write_text(text[:start] + "context:\n" + items + text[end:])
    commit_all(repo, "new context")


def test_context_globs_never_leave_the_repository(example_repo, agent_init, secret):
    (example_repo / "docs").mkdir()
    (example_repo / "docs" / "real.md").write_text("inside\n")
    link(example_repo, "docs/escape.md", secret)
    link(example_repo, "docs/inside-link.md", "real.md")  # points inside: still not followed
    link(example_repo, "docs/outdir", secret.parent)
    link(example_repo, "docs/loop", ".")  # `**` must not loop
    _context(
        example_repo,
        "../outside/secret.md",
        str(secret),
        "docs/escape.md",
        "docs/inside-link.md",
        "docs/outdir/secret.md",
        "docs/outdir/*.md",
        "docs/**/*.md",
        "docs/**",
        ".GIT/config",
        "docs/\x1b[2Jx.md",
    )

    doc = agent_init(example_repo, "T:phase-1-api-foundation")

    refs = {r["path"]: r for r in doc["references"]}
    assert json.dumps(doc).count("TOPSECRET") == 0
    assert refs["../outside/secret.md"]["status"] == "refused"
    assert refs[str(secret)]["reason"].startswith("absolute paths are refused")
    for path in ("docs/escape.md", "docs/inside-link.md", "docs/loop"):
        assert refs[path]["status"] == "refused"
        assert refs[path]["reason"] == "a symbolic link; orchsync does not follow links"
    assert refs["docs/outdir/secret.md"]["status"] == "refused"
    assert refs["docs/outdir/secret.md"]["reason"].startswith(
        "beyond a symbolic link (docs/outdir)"
    )
    assert refs["docs/outdir"]["status"] == "refused"  # met by `docs/**`, never entered
    assert refs["docs/real.md"]["status"] == "ok"
    assert refs[".GIT/config"]["reason"] == "files inside .git are refused"
    assert refs["docs/\x1b[2Jx.md"]["reason"] == "control characters are refused"


def test_a_glob_walks_real_folders_only(example_repo):
    link(example_repo, "docs/loop", ".")
    link(example_repo, "docs/up", "..")
    write(example_repo, "docs/a/b.md", "x")

    matches, refused = expand(example_repo, "docs/**/*.md")

    assert refused is None
    assert matches == ["docs/a/b.md", "docs/loop", "docs/up"]  # links listed, to be refused


# --- special files and sizes -----------------------------------------------------------------


def test_a_fifo_never_blocks_sync_or_check(example_repo, tmp_path):
    os.mkfifo(example_repo / SPRINT_DIR / "pipe")
    code = (
        "import sys; from orchsync.faces.cli import main; sys.argv = ['orchsync', '--repo', sys.argv[1],"
        " sys.argv[2]]; main()"
    )
    env = {**GIT_ENV, "ORCHSYNC_NO_DAEMON": "1"}
    for command in ("sync", "check", "status"):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(example_repo), command],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,  # a hang, not a bound on speed
        )
        assert proc.returncode in (0, 1), proc.stderr
        if command == "sync":
            assert "not synced: " in proc.stderr and "a FIFO (named pipe)" in proc.stderr
        if command == "check":
            assert f"{SPRINT_DIR}/pipe: file: a FIFO (named pipe); not read" in proc.stdout
    assert tree_entry(example_repo, f"{SPRINT_DIR}/pipe") is None


def test_a_socket_and_a_device_are_reported_not_opened(
    orchsync, example_repo, no_daemon, monkeypatch
):
    monkeypatch.chdir(example_repo / SPRINT_DIR)  # a socket's path must be short
    sock = socket.socket(socket.AF_UNIX)
    sock.bind("sock")
    try:
        try:
            os.mknod(example_repo / SPRINT_DIR / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
            device = True
        except PermissionError:
            device = False
        special: list[str] = []
        list_files(example_repo, special=special)
        checked = orchsync(example_repo, "check")
    finally:
        sock.close()

    assert f"{SPRINT_DIR}/sock" in special
    assert f"{SPRINT_DIR}/sock: file: a socket; not read" in checked.stdout
    if device:
        assert f"{SPRINT_DIR}/null: file: a character device; not read" in checked.stdout


def test_a_2_gb_file_is_refused_by_its_size_before_it_is_read(orchsync, example_repo, no_daemon):
    big = example_repo / SPRINT_DIR / "phase-1-api-foundation" / "dump.md"
    with open(big, "wb") as fh:
        fh.truncate(2 * 1024**3)  # sparse: no disk used, and reading it would take 2 GB
    set_status(example_repo, T3, "in_progress")

    result = orchsync(example_repo, "sync")
    checked = orchsync(example_repo, "check")

    assert result.exit_code == 1
    assert "not synced: " in result.stderr and "above the 16.0 MB limit" in result.stderr
    assert tree_entry(example_repo, str(big.relative_to(example_repo))) is None
    assert "status: in_progress" in tree_entry(example_repo, T3)[1]  # the rest is committed
    assert f"dump.md: file: 2,048.0 MB, above the {MAX_FILE_BYTES // 2**20}.0 MB limit" in (
        checked.stdout
    )


def test_a_file_growing_past_the_limit_keeps_its_committed_version(
    orchsync, example_repo, no_daemon
):
    committed = tree_entry(example_repo, T3)
    with open(example_repo / T3, "ab") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)

    result = orchsync(example_repo, "sync")

    assert result.exit_code == 1
    assert tree_entry(example_repo, T3) == committed  # not deleted, not replaced


def test_a_hard_link_is_an_ordinary_file(orchsync, example_repo, no_daemon):
    os.link(example_repo / T3, example_repo / SPRINT_DIR / "phase-3-template-generation/copy.md")

    result = orchsync(example_repo, "sync")

    assert result.exit_code == 0
    entry = tree_entry(example_repo, f"{SPRINT_DIR}/phase-3-template-generation/copy.md")
    assert entry == ("100644", (example_repo / T3).read_text())


def test_a_folder_named_task_md_is_reported(orchsync, example_repo):
    write(example_repo, f"{SPRINT_DIR}/odd/TASK.md/notes.md", "x\n")

    checked = orchsync(example_repo, "check")

    assert checked.exit_code == 1
    assert (
        f"{SPRINT_DIR}/odd/TASK.md/notes.md: name: {SPRINT_DIR}/odd/TASK.md is a folder; "
        "it must be a file\n"
    ) in checked.stdout


# --- unmerged paths in git's index block snapshots ---------------------------------------------


def stash_pop_conflict(repo: Path, path: str) -> None:
    """The issue's case: `echo A>>T; git stash; echo B>>T; git commit -qam B; git stash pop`."""
    with open(repo / path, "a") as fh:
        fh.write("A\n")
    git(repo, "stash", "-q")
    with open(repo / path, "a") as fh:
        fh.write("B\n")
    git(repo, "commit", "-qam", "B")
    proc = subprocess.run(
        ["git", "-C", str(repo), "stash", "pop"], env=GIT_ENV, capture_output=True, text=True
    )
    assert proc.returncode != 0 and "CONFLICT" in proc.stdout


def test_a_conflicting_stash_pop_holds_snapshots_back(orchsync, example_repo, no_daemon):
    stash_pop_conflict(example_repo, T3)
    head = git(example_repo, "rev-parse", "HEAD")
    reason = (
        f"unmerged paths in the git index: {T3}; resolve them and `git add` "
        "(snapshots wait until then)"
    )

    result = orchsync(example_repo, "sync")
    status = orchsync(example_repo, "status")
    task = orchsync(example_repo, "task", "status", "phase-4-agent-init", "completed")

    assert (result.exit_code, result.stderr) == (1, f"waiting: {reason}\n")
    assert git(example_repo, "rev-parse", "HEAD") == head
    assert f"snapshots wait: {reason}\n" in status.stdout
    assert (task.exit_code, task.stderr) == (1, f"Error: {reason}; nothing written\n")

    git(example_repo, "add", T3)  # resolved, markers and all
    resolved = orchsync(example_repo, "sync")
    checked = orchsync(example_repo, "check")

    assert resolved.exit_code == 1  # committed (the edit is never lost), and invalid
    assert git(example_repo, "rev-parse", "HEAD") != head
    assert git(example_repo, "status", "--porcelain") == ""
    lines = (example_repo / T3).read_text().split("\n")
    first = lines.index("<<<<<<< Updated upstream") + 1
    assert checked.stdout.splitlines()[0] == (
        f"{T3}:{first}: body: merge conflict marker '<<<<<<<' left in the file; resolve the "
        "conflict and remove the markers"
    )
    assert len(checked.stdout.splitlines()) == 3  # <<<<<<<, =======, >>>>>>>


def test_checkout_m_with_a_conflict_holds_snapshots_back(orchsync, example_repo, no_daemon):
    git(example_repo, "checkout", "-q", "-b", "other")
    set_status(example_repo, T3, "blocked")
    commit_all(example_repo, "other side")
    git(example_repo, "checkout", "-q", "main")
    set_status(example_repo, T3, "completed")
    subprocess.run(
        ["git", "-C", str(example_repo), "checkout", "-m", "other"],
        env=GIT_ENV,
        capture_output=True,
    )

    result = orchsync(example_repo, "sync")

    assert result.exit_code == 1
    assert "unmerged paths in the git index" in result.stderr


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_unmerged_paths_are_read_from_every_index_version(example_repo, version):
    stash_pop_conflict(example_repo, T3)
    git(example_repo, "update-index", "--index-version", version)

    assert unmerged_paths(example_repo / ".git") == [T3]
    git(example_repo, "add", T3)
    assert unmerged_paths(example_repo / ".git") == []


def test_a_sync_that_wrote_the_git_index_vouches_for_it_and_git_replacing_it_does_not(
    orchsync, example_repo, no_daemon, monkeypatch
):
    """The sync that has just written git's index knows it holds no conflict: the next
    snapshot's check reads no index entry (`_conflicts`). A conflict git writes afterwards
    makes a new index file, which is read again and holds the snapshot back."""
    import orchsync.git.state as state

    set_status(example_repo, T3, "in_progress")
    assert orchsync(example_repo, "sync", T3).exit_code == 0
    read = []
    real = state._conflicts
    monkeypatch.setattr(state, "_conflicts", lambda *a: read.append(1) or real(*a))

    assert unmerged_paths(example_repo / ".git") == []
    assert read == []

    stash_pop_conflict(example_repo, T3)
    assert unmerged_paths(example_repo / ".git") == [T3]
    assert read == [1]


@pytest.mark.slow
def test_the_daemon_waits_on_unmerged_paths_and_commits_once_they_are_added(example_repo, daemon):
    d = daemon()
    stash_pop_conflict(example_repo, T3)
    set_status(example_repo, T1, "blocked")

    wait_for(
        lambda: "unmerged paths" in (d.state().get("waiting") or ""),
        timeout=30,
        what="the daemon to say why it waits",
    )
    git(example_repo, "add", T3)  # the index changes: asked again at once, not in 30 s

    wait_for(
        lambda: git(example_repo, "status", "--porcelain") == "",
        timeout=20,
        what="both edits committed",
    )
    assert "status: blocked" in tree_entry(example_repo, T1)[1]


def test_conflict_markers_in_front_matter_are_reported_there(orchsync, example_repo):
    text = (example_repo / T3).read_text()
    write(
        example_repo,
        T3,
        text.replace(
            "status: pending\n",
            "<<<<<<< HEAD\nstatus: pending\n=======\nstatus: completed\n>>>>>>> other\n",
        ),
    )

    checked = orchsync(example_repo, "check")

    assert f"{T3}:" in checked.stdout
    assert ": front matter: merge conflict marker '<<<<<<<'" in checked.stdout


def test_a_heading_underlined_with_seven_equals_signs_is_no_conflict(orchsync, example_repo):
    with open(example_repo / T3, "a") as fh:
        fh.write("\nNotes\n=======\n\nFine.\n")

    assert orchsync(example_repo, "check").exit_code == 0


# --- one rule for codes, and no file silently left out ----------------------------------------


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("with space", "may only hold ASCII letters, digits, '.', '-' and '_'"),
        ("ünï-cødé", "may only hold ASCII letters, digits, '.', '-' and '_'"),
        ("-x", "is reserved"),
        ("x" * 101, "is longer than 100 characters"),
        ("tab\there", "must not contain control characters"),
        ("cr\r", "must not contain control characters"),
    ],
)
def test_check_refuses_the_folder_names_the_cli_refuses(orchsync, example_repo, code, rule):
    new_task(example_repo, code)
    refused = orchsync(
        example_repo, "task", "create", "--sprint", SPRINT, "--id", code, "--title", "x"
    )

    checked = orchsync(example_repo, "check", "--json")

    assert refused.exit_code == 2 and rule in refused.stderr
    diagnostics = json.loads(checked.stdout)["diagnostics"]
    (found,) = [d for d in diagnostics if d["path"] == task_path(code)]
    assert found["field"] == "code" and rule in found["message"]
    assert found["message"].startswith(f"task folder {code!r}")


def test_a_sprint_folder_name_is_checked_too(orchsync, example_repo):
    write(example_repo, "delegation/sprints/ünï-cødé/SPRINT.md", "---\ntitle: S\n---\n")
    write(example_repo, "delegation/sprints/ünï-cødé/t1/TASK.md", "---\ntitle: T\n---\n")

    checked = orchsync(example_repo, "check")

    assert "delegation/sprints/ünï-cødé/SPRINT.md: code: sprint folder 'ünï-cødé'" in checked.stdout
    assert "delegation/sprints/ünï-cødé/t1/TASK.md: sprint: sprint folder 'ünï-cødé'" in (
        checked.stdout
    )


def test_agent_and_session_names_follow_the_rule(orchsync, example_repo):
    write(example_repo, "delegation/agents/bad name.yml", "role: x\n")
    write(example_repo, "delegation/sessions/-s.md", "---\ntitle: s\nstatus: open\n---\n")

    out = orchsync(example_repo, "check").stdout

    assert "delegation/agents/bad name.yml: code: agent name 'bad name' may only hold" in out
    assert "delegation/sessions/-s.md: code: session key '-s' is reserved" in out


def test_no_misnamed_entity_file_is_silently_left_out(orchsync, example_repo):
    for name in ("ADR-009-new\nline.md", "ADR-9-x.md", "notes.md", "README.md"):
        write(example_repo, f"delegation/adr/{name}", "---\ntitle: x\nstatus: proposed\n---\n")
    write(example_repo, "delegation/backlog/BUG-12.md", "---\ntitle: x\n---\n")
    write(example_repo, f"{SPRINT_DIR}/phase-1-api-foundation/notes.md", "attachment\n")
    write(example_repo, f"{SPRINT_DIR}/retro.md", "sprint notes\n")
    write(example_repo, f"{SPRINT_DIR}/phase-2-event-system/task.md", "x\n")

    out = orchsync(example_repo, "check").stdout
    listed = json.loads(orchsync(example_repo, "adr", "list", "--json").stdout)

    assert "delegation/adr/ADR-009-new\\nline.md: code: file name" in out  # escaped, one line
    assert "must not contain control characters" in out
    assert [a["path"] for a in listed if a["id"] == "ADR-009"] == [
        "delegation/adr/ADR-009-new\nline.md"
    ]
    assert (
        "delegation/adr/ADR-9-x.md: name: not an ADR: name must be ADR-<nnn>-<slug>.md "
        "(3 or more digits), directly in delegation/adr/\n"
    ) in out
    assert "delegation/adr/notes.md: name: not an ADR" in out
    assert "delegation/backlog/BUG-12.md: name: not a bug: name must be BUG-<nnnn>-<slug>.md" in out
    assert f"{SPRINT_DIR}/phase-2-event-system/task.md: name: name must be exactly TASK.md" in out
    for quiet in ("README.md", "phase-1-api-foundation/notes.md", "retro.md"):
        assert quiet not in out


def test_a_file_name_cannot_forge_a_trailer(orchsync, example_repo, no_daemon):
    write(example_repo, f"{SPRINT_DIR}/phase-1-api-foundation/x\nOrchsync-Agent: evil.md", "x\n")

    orchsync(example_repo, "sync", "--actor", "lead")

    agents = git(
        example_repo, "log", "-1", "--format=%(trailers:key=Orchsync-Agent,valueonly)"
    ).split()
    assert agents == ["lead"]
