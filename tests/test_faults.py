"""Faults are states, not crashes: a full disk, a read-only folder, git's index.lock held.

The faults are real. A full disk is a 20 MB tmpfs filled with a ballast file (mounting one
needs root or CAP_SYS_ADMIN). A read-only runtime folder is `.git/orchsync` bind-mounted
read-only where mounting is allowed, else made read-only by its permissions (which root
ignores), else by the immutable attribute (`chattr +i`, as root). A test whose fault none
of these can make here is skipped, and says why; the daemon's test falls back from the
full disk to the read-only runtime folder.

What must hold, whatever the fault: the daemon stays up, says what is wrong in its log
(once) and in `orchsync status`, and commits every edit once the fault is gone; a command
exits 1 with one line on stderr that says what failed, where the edit is and what to do;
no edit is lost; the user's git index never holds an older blob than the branch tip.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import (
    EXAMPLE_TREE,
    GIT_ENV,
    DaemonProcess,
    commit_all,
    git,
    init_repo,
    task_path,
    wait_for,
)

from orchsync.errors import fault_errno, mount_point

T3 = task_path("phase-3-template-generation")
T4 = task_path("phase-4-agent-init")
T5 = task_path("phase-5-pm-commands")
T6 = task_path("phase-6-integration")
NO_DAEMON = {**GIT_ENV, "ORCHSYNC_NO_DAEMON": "1"}


# --- the faults ------------------------------------------------------------------------------


def _run(*args: str) -> bool:
    return subprocess.run(args, capture_output=True, check=False).returncode == 0


def _can_mount(where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    if not _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)):
        return False
    _run("umount", str(where))
    return True


def _can_chattr(where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("chattr"):
        return False
    ok = _run("chattr", "+i", str(where))
    _run("chattr", "-i", str(where))
    return ok


class FullDisk:
    """A 20 MB tmpfs to make repositories in, and a ballast file that fills it."""

    reason = "disk full (ENOSPC)"

    def __init__(self, mount: Path) -> None:
        self.root = mount
        mount.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], check=True)

    def begin(self, repo: Path) -> None:
        """Fill every byte: 1 MiB writes, then 4 KiB, then single bytes, until ENOSPC."""
        for n, size in enumerate((1 << 20, 4096, 1)):
            fd = os.open(self.root / f"ballast-{n}", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
            finally:
                os.close(fd)

    def end(self, repo: Path) -> None:
        for ballast in self.root.glob("ballast-*"):
            ballast.unlink()

    def close(self) -> None:
        if not _run("umount", str(self.root)):
            _run("umount", "-l", str(self.root))  # a process we started still sits in it


class ReadOnlyRuntime:
    """`.git/orchsync` read-only: a read-only bind mount, its permissions, or `chattr +i`."""

    def __init__(self, root: Path, how: str) -> None:
        self.root, self.how = root, how
        self.reason = {
            "mount": "read-only file system (EROFS)",
            "chmod": "permission denied (EACCES)",
            "chattr": "operation not permitted (EPERM)",
        }[how]
        self.made: list[Path] = []

    def begin(self, repo: Path) -> None:
        runtime = repo / ".git" / "orchsync"
        self.made.append(runtime)
        if self.how == "mount":
            subprocess.run(["mount", "--bind", str(runtime), str(runtime)], check=True)
            subprocess.run(["mount", "-o", "remount,ro,bind", str(runtime)], check=True)
        elif self.how == "chmod":
            runtime.chmod(0o555)
        else:
            subprocess.run(["chattr", "+i", str(runtime)], check=True)

    def end(self, repo: Path) -> None:
        runtime = repo / ".git" / "orchsync"
        if runtime not in self.made:
            return
        self.made.remove(runtime)
        if self.how == "mount":
            _run("umount", str(runtime)) or _run("umount", "-l", str(runtime))
        elif self.how == "chmod":
            runtime.chmod(0o755)
        else:
            _run("chattr", "-i", str(runtime))

    def close(self) -> None:
        for runtime in list(self.made):
            self.end(runtime.parent.parent)


@pytest.fixture
def full_disk(tmp_path):
    if not _can_mount(tmp_path / "probe"):
        pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")
    disk = FullDisk(tmp_path / "disk")
    try:
        yield disk
    finally:
        disk.close()


def _read_only_runtime(tmp_path: Path, how: str | None = None) -> ReadOnlyRuntime:
    """A read-only runtime folder made `how`, or the best way this machine allows."""
    can = {
        "mount": lambda: _can_mount(tmp_path / "probe"),
        "chmod": lambda: os.geteuid() != 0,  # root ignores permissions
        "chattr": lambda: _can_chattr(tmp_path / "probe"),
    }
    for way in [how] if how else list(can):
        if can[way]():
            return ReadOnlyRuntime(tmp_path, way)
    pytest.skip(
        f"cannot make a folder read-only by {how} here"
        if how
        else "cannot make a folder read-only here: no mount permission, root ignores file "
        "permissions, and this file system has no immutable attribute (chattr)"
    )


@pytest.fixture(params=["mount", "chmod", "chattr"])
def read_only_runtime(request, tmp_path):
    """Every way of making `.git/orchsync` read-only that works here (others skip)."""
    fault = _read_only_runtime(tmp_path, request.param)
    try:
        yield fault
    finally:
        fault.close()


@pytest.fixture(params=["full disk", "read-only runtime folder"])
def disk_fault(request, tmp_path):
    """A full disk (where a tmpfs can be mounted), then a read-only runtime folder."""
    if request.param == "full disk":
        if not _can_mount(tmp_path / "probe"):
            pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")
        fault: FullDisk | ReadOnlyRuntime = FullDisk(tmp_path / "disk")
    else:
        fault = _read_only_runtime(tmp_path)
    try:
        yield fault
    finally:
        fault.close()


@pytest.fixture
def read_only_git_dir(tmp_path):
    """`.git` itself refuses new files (git's index.lock); objects and refs still go in.

    `toggle(repo, True)` makes it so, `toggle(repo, False)` undoes it.
    """
    as_root = os.geteuid() == 0
    if as_root and not _can_chattr(tmp_path / "probe"):
        pytest.skip("as root, only the immutable attribute (chattr) makes .git refuse files")
    made: list[Path] = []

    def toggle(repo: Path, on: bool) -> None:
        if (repo in made) == on:
            return
        if as_root:
            subprocess.run(["chattr", "+i" if on else "-i", str(repo / ".git")], check=True)
        else:
            (repo / ".git").chmod(0o555 if on else 0o755)
        (made.append if on else made.remove)(repo)

    yield toggle
    for repo in list(made):
        toggle(repo, False)


# --- helpers -----------------------------------------------------------------------------------


def make_repo(where: Path) -> Path:
    """The example tree, committed and synced once (index built), in `where`/repo."""
    repo = init_repo(where / "repo")
    shutil.copytree(EXAMPLE_TREE, repo / "delegation")
    (repo / "README.md").write_text("# example\n")
    commit_all(repo, "example delegation tree")
    assert cli(repo, "sync").returncode == 0
    return repo


def cli(repo: Path, *args: str, env: dict[str, str] = NO_DAEMON) -> subprocess.CompletedProcess:
    """`orchsync --repo REPO ARGS` as a real process: a traceback would show as it would."""
    return subprocess.run(
        [sys.executable, "-m", "orchsync", "--repo", str(repo), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The command failed as a state, not a crash: exit 1 and one `Error:` line on stderr."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def edit_in_place(repo: Path, relpath: str, status: str) -> bytes:
    """Rewrite the status line in the file's own pages (as `>` in a shell does): a full tmpfs
    takes it, where a new file (an editor's atomic save) would be refused."""
    path = repo / relpath
    new = re.sub(rb"(?m)^status: \w+", b"status: " + status.encode(), path.read_bytes(), count=1)
    with open(path, "r+b") as fh:
        fh.write(new)
        fh.truncate()
    return new


def plain_git(repo: Path, *args: str) -> str:
    """git that does not try to refresh the index (which a full disk would refuse)."""
    return git(repo, "--no-optional-locks", *args)


def committed(repo: Path, relpath: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{relpath}"], env=GIT_ENV, capture_output=True
    ).stdout


def fsck_clean(repo: Path) -> bool:
    proc = subprocess.run(
        ["git", "-C", str(repo), "fsck", "--full", "--no-dangling"],
        env=GIT_ENV,
        capture_output=True,
        text=True,
    )
    return proc.returncode == 0 and not proc.stdout.strip()


def daemon_fault(repo: Path) -> dict | None:
    proc = cli(repo, "status", "--json", env=GIT_ENV)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["daemon"].get("fault")


# --- the daemon --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_daemon_survives_a_storage_fault_and_commits_every_edit_afterwards(
    disk_fault, tmp_path
):
    repo = make_repo(disk_fault.root)
    daemon = DaemonProcess(repo, log=tmp_path / "daemon.stderr").start()
    try:
        disk_fault.begin(repo)
        edits = {path: edit_in_place(repo, path, "blocked") for path in (T3, T4)}

        # The fault is reported, not fatal: the daemon retries, quietly.
        fault = wait_for(
            lambda: (f := daemon_fault(repo)) and f["attempts"] >= 2 and f,
            timeout=60,
            what="a retried fault in `orchsync status`",
        )
        assert daemon.alive()
        assert fault["what"].startswith(disk_fault.reason + " writing .git/")
        shown = cli(repo, "status", env=GIT_ENV).stdout
        assert re.search(
            rf"(?m)^fault: {re.escape(fault['what'])} since .+ UTC; retrying every \d+ s; "
            r"\d+ change\(s\) wait on disk$",
            shown,
        ), shown
        edits[T5] = edit_in_place(repo, T5, "in_progress")  # made while the fault lasts

        disk_fault.end(repo)
        wait_for(
            lambda: all(committed(repo, p) == data for p, data in edits.items()),
            timeout=90,
            what="every edit in HEAD",
        )
        assert daemon.alive()
        wait_for(lambda: daemon_fault(repo) is None, timeout=30, what="the fault to clear")
        assert all((repo / p).read_bytes() == data for p, data in edits.items())
        assert git(repo, "status", "--porcelain") == ""
        assert fsck_clean(repo)
    finally:
        disk_fault.end(repo)
        if daemon.alive():
            daemon.terminate()
    log = daemon.stderr()
    assert "Traceback" not in log
    faults = [line.split(" fault: ", 1)[1] for line in log.splitlines() if " fault: " in line]
    assert faults and len(faults) == len(set(faults))  # one line per fault, not per retry
    assert "fault cleared" in log


@pytest.mark.slow
def test_the_git_index_never_holds_an_older_blob_than_the_tip(read_only_git_dir, tmp_path):
    """The issue's `MM`: the commit landed, the git index could not follow, and a plain
    `git commit` would have reverted the snapshot. Now the commit is taken back."""
    repo = make_repo(tmp_path)
    before = git(repo, "rev-parse", "HEAD").strip()
    edited = edit_in_place(repo, T3, "blocked")
    read_only_git_dir(repo, True)
    try:
        line = one_line_error(cli(repo, "sync"))
        assert git(repo, "rev-parse", "HEAD").strip() == before
        assert plain_git(repo, "status", "--porcelain") == f" M {T3}\n"  # not MM
    finally:
        read_only_git_dir(repo, False)
    assert line.startswith("Error: ") and " writing .git/index; " in line
    assert (
        f"the snapshot was taken back because the git index could not follow; the edit to {T3} is on disk, not committed yet"
        in line
    )
    assert "undo snapshot" in git(repo, "reflog", "-1")
    assert (repo / T3).read_bytes() == edited

    assert cli(repo, "sync").returncode == 0
    assert committed(repo, T3) == edited
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.slow
def test_with_the_daemon_the_git_index_follows_once_it_can(read_only_git_dir, tmp_path):
    repo = make_repo(tmp_path)
    daemon = DaemonProcess(repo, log=tmp_path / "daemon.stderr").start()
    try:
        read_only_git_dir(repo, True)
        edited = edit_in_place(repo, T4, "in_progress")
        fault = wait_for(lambda: daemon_fault(repo), timeout=60, what="the fault reported")
        assert fault["what"].endswith("writing .git/index")
        assert plain_git(repo, "status", "--porcelain") == f" M {T4}\n"  # never MM
        read_only_git_dir(repo, False)
        wait_for(lambda: committed(repo, T4) == edited, timeout=60, what="the commit")
        wait_for(lambda: git(repo, "status", "--porcelain") == "", timeout=30, what="clean")
        assert daemon.alive()
    finally:
        if daemon.alive():
            daemon.terminate()
    assert "Traceback" not in daemon.stderr()


# --- one-shot commands -------------------------------------------------------------------------


@pytest.mark.slow
def test_commands_on_a_full_disk_exit_1_with_one_line_and_keep_the_edit(full_disk):
    repo = make_repo(full_disk.root)
    before = git(repo, "rev-parse", "HEAD").strip()
    full_disk.begin(repo)
    free = f"free space on {full_disk.root}"

    edited = edit_in_place(repo, T3, "blocked")
    assert one_line_error(cli(repo, "sync")) == (
        f"Error: disk full (ENOSPC) writing .git/objects; the edit to {T3} is on disk, "
        f"not committed yet; {free}, then run `orchsync sync`"
    )
    # A write command cannot even write its file: nothing written, the old bytes intact.
    old = (repo / T4).read_bytes()
    line = one_line_error(cli(repo, "task", "status", "phase-4-agent-init", "completed"))
    assert line == (
        f"Error: disk full (ENOSPC) writing {repo / T4}; nothing was written; "
        f"{free}, then run the command again"
    )
    assert (repo / T4).read_bytes() == old
    assert one_line_error(cli(repo, "reindex")) == (
        "Error: disk full (ENOSPC) writing .git/orchsync/index.duckdb; "
        f"{free}, then run the command again (the index catches up by itself)"
    )
    # A current index still answers: reading needs no room.
    assert cli(repo, "tasks", "--json").returncode == 0
    assert one_line_error(cli(repo, "agent", "init", "T:phase-3-template-generation")) == (
        f"Error: disk full (ENOSPC) writing .git/orchsync/journal; {free}, "
        "then run the command again"
    )
    assert git(repo, "rev-parse", "HEAD").strip() == before

    full_disk.end(repo)
    assert cli(repo, "sync").returncode == 0
    assert committed(repo, T3) == edited
    assert git(repo, "status", "--porcelain") == ""
    assert fsck_clean(repo)


@pytest.mark.slow
def test_commands_with_a_read_only_runtime_folder_exit_1_with_one_line(read_only_runtime, tmp_path):
    repo = make_repo(tmp_path)
    before = git(repo, "rev-parse", "HEAD").strip()
    read_only_runtime.begin(repo)
    reason = read_only_runtime.reason

    edited = edit_in_place(repo, T3, "blocked")
    line = one_line_error(cli(repo, "sync"))
    assert line.startswith(f"Error: {reason} writing .git/orchsync/")
    assert f"; the edit to {T3} is on disk, not committed yet; " in line
    assert line.endswith(", then run `orchsync sync`")

    line = one_line_error(cli(repo, "task", "status", "phase-4-agent-init", "completed"))
    assert f"task phase-4-agent-init: pending -> completed: the edit to {T4} is on disk" in line
    assert line.endswith("then run `orchsync sync`")
    assert b"status: completed" in (repo / T4).read_bytes()  # written, waiting

    assert one_line_error(cli(repo, "reindex")).startswith(
        f"Error: {reason} writing .git/orchsync/"
    )
    assert one_line_error(cli(repo, "watch")).startswith(f"Error: {reason} writing .git/orchsync/")
    # The index is current: queries answer from it without writing anything.
    listed = cli(repo, "query", "select count(*) as n from tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    # Behind git (a commit made by hand), it cannot catch up: it says so, it does not lie.
    git(repo, "commit", "-q", "--allow-empty", "-m", "by hand")
    line = one_line_error(cli(repo, "tasks"))
    assert line.startswith(f"Error: {reason} writing .git/orchsync/")
    assert "the index is behind git and cannot catch up" in line
    assert git(repo, "rev-list", "--count", f"{before}..HEAD").strip() == "1"

    read_only_runtime.end(repo)
    assert cli(repo, "sync").returncode == 0
    assert committed(repo, T3) == edited
    assert b"status: completed" in committed(repo, T4)
    assert git(repo, "status", "--porcelain") == ""
    assert fsck_clean(repo)


# --- git's index.lock --------------------------------------------------------------------------


@pytest.mark.slow
def test_task_status_while_git_holds_its_index_lock_says_the_edit_waits(tmp_path):
    repo = make_repo(tmp_path)
    before = git(repo, "rev-parse", "HEAD").strip()
    lock = repo / ".git" / "index.lock"
    lock.touch()

    line = one_line_error(cli(repo, "task", "status", "phase-3-template-generation", "completed"))

    assert line == (
        "Error: task phase-3-template-generation: pending -> completed: written to "
        f"{T3}, not committed: {lock} is held by another git process; waited 5 s. If no "
        "git command is running, that process died: remove the file yourself. The edit is "
        "on disk and waits for a snapshot: run `orchsync sync` once the lock is released."
    )
    assert b"status: completed" in (repo / T3).read_bytes()
    assert git(repo, "rev-parse", "HEAD").strip() == before
    lock.unlink()
    assert cli(repo, "sync").returncode == 0
    assert b"status: completed" in committed(repo, T3)


@pytest.mark.slow
def test_with_the_daemon_an_edit_waiting_for_the_index_lock_is_committed_after(tmp_path):
    repo = make_repo(tmp_path)
    daemon = DaemonProcess(repo, log=tmp_path / "daemon.stderr").start()
    try:
        lock = repo / ".git" / "index.lock"
        lock.touch()
        line = one_line_error(
            cli(repo, "task", "status", "phase-6-integration", "in_progress", env=GIT_ENV)
        )
        assert line.endswith(
            "The edit is on disk and waits for a snapshot: the running `orchsync watch` "
            "commits it once the lock is released."
        )
        lock.unlink()
        wait_for(
            lambda: b"status: in_progress" in committed(repo, T6),
            timeout=60,
            what="the daemon to commit the waiting edit",
        )
        wait_for(lambda: git(repo, "status", "--porcelain") == "", timeout=30, what="clean")
    finally:
        daemon.terminate()


# --- reading the layers' errors ----------------------------------------------------------------


def test_the_errors_of_the_layers_below_are_read_for_their_cause(tmp_path):
    # pygit2 raises OSError without an errno, the cause only in the message
    assert fault_errno(OSError("failed to write out file: No space left on device")) == (
        errno.ENOSPC
    )
    assert fault_errno(OSError(errno.EROFS, "Read-only file system")) == errno.EROFS
    # not a storage fault: raised as it was
    assert fault_errno(OSError(errno.ENOENT, "No such file or directory")) is None
    assert fault_errno(ValueError("No space left on device")) is None
    # no cause in the message: the folder is probed with a real write (which works here)
    assert fault_errno(OSError("failed to write out file"), tmp_path) is None
    assert list(tmp_path.iterdir()) == []  # the probe cleaned up
    assert mount_point(tmp_path) in (tmp_path, *tmp_path.parents)
