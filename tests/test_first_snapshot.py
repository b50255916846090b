"""Big snapshots: many new files become one pack of objects, and git's index gets stat data.

A first snapshot (`orchsync init` on a tree of 10,000 tasks) or any sync of hundreds of
files writes its blobs and trees as one pack (`orchsync.git.pack`), not one loose object
each, and parses the files on every core while it does. What must hold is what holds for
any snapshot: git reads the objects (`git fsck`), the tree is the one `git add -A` would
make, `git status` is clean without git re-reading a file (the index entries carry the
files' stat data), and the index orchsync builds equals a rebuild from git.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import GIT_ENV, dump_index, git, init_repo, write

from orchsync import query
from orchsync.git.store import BULK_MIN
from orchsync.parse.parallel import PARALLEL_MIN
from orchsync.repo import find_repo
from orchsync.sync import sync

SPRINT = "delegation/sprints/s1"
# Names whose order in a git tree is easy to get wrong: a folder sorts as if it ended in "/".
TRICKY = ["a.md", "a-b.md", "a0.md", "b", "b.md", "b-c"]


def task(n: int) -> str:
    return f"---\ntitle: Task {n}\nstatus: pending\npriority: P2\n---\n\n## Goal\n\nDo {n}.\n"


def make_tree(repo: Path, tasks: int) -> None:
    write(repo, f"{SPRINT}/SPRINT.md", "---\ntitle: S1\nstatus: active\n---\n")
    for n in range(tasks):
        write(repo, f"{SPRINT}/t{n:05d}/TASK.md", task(n))
    for name in TRICKY:
        if name.endswith(".md"):
            write(repo, f"delegation/docs/{name}", f"# {name}\n")
        else:
            write(repo, f"delegation/docs/{name}/x.md", f"# {name}/x\n")


def tree_git_would_make(repo: Path) -> str:
    """The tree id of delegation/ as `git add -A` + `git write-tree` make it, in a scratch index."""
    env = {**GIT_ENV, "GIT_INDEX_FILE": str(repo / ".git" / "scratch-index")}
    subprocess.run(["git", "-C", str(repo), "add", "-A", "delegation"], env=env, check=True)
    out = subprocess.run(
        ["git", "-C", str(repo), "write-tree", "--prefix=delegation/"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    os.unlink(env["GIT_INDEX_FILE"])
    return out.stdout.strip()


def loose_objects(repo: Path) -> int:
    counts = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
    return int(counts["count"])


def test_a_first_snapshot_of_many_files_is_one_pack_git_reads_as_its_own(tmp_path, orchsync):
    repo = init_repo(tmp_path / "repo")
    make_tree(repo, BULK_MIN)

    result = orchsync(repo, "init")

    assert result.exit_code == 0, result.output
    assert git(repo, "rev-parse", "HEAD:delegation").strip() == tree_git_would_make(repo)
    assert loose_objects(repo) <= 2  # the commit (and nothing else) outside the packs
    subprocess.run(["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"], check=True)
    assert git(repo, "status", "--porcelain") == ""
    # Each entry has the file's stat data: git compares without reading any file.
    assert git(repo, "diff-files", "--name-only") == ""


def test_a_big_sync_onto_an_existing_tree_rebuilds_only_what_changed(example_repo):
    make_tree(example_repo, BULK_MIN)
    (example_repo / "delegation/adr").rename(example_repo / "delegation/decisions")
    before = git(example_repo, "rev-parse", "HEAD").strip()

    result = sync(find_repo(example_repo))

    assert len(result.files) > BULK_MIN
    assert git(example_repo, "rev-parse", "HEAD~1").strip() == before
    assert git(example_repo, "rev-parse", "HEAD:delegation").strip() == tree_git_would_make(
        example_repo
    )
    assert git(example_repo, "status", "--porcelain") == ""
    assert git(example_repo, "diff-files", "--name-only") == ""


def test_what_the_user_staged_stays_staged_in_a_big_snapshot(tmp_path):
    repo = init_repo(tmp_path / "repo")
    make_tree(repo, BULK_MIN)
    write(repo, "src/app.py", "print('staged')\n")
    staged = f"{SPRINT}/t00001/TASK.md"
    git(repo, "add", "src/app.py", staged)
    (repo / staged).write_text(task(1) + "\nEdited after staging.\n")

    sync(find_repo(repo), allow_unborn=True)

    # The staged version stays in git's index; the commit took the bytes on disk.
    assert git(repo, "status", "--porcelain").splitlines() == [f"MM {staged}", "A  src/app.py"]
    assert git(repo, "show", f":{staged}") == task(1)
    assert "Edited after staging." in git(repo, "show", f"HEAD:{staged}")


@pytest.mark.slow
def test_a_snapshot_parsed_on_every_core_indexes_as_a_rebuild_does(tmp_path, orchsync):
    repo = init_repo(tmp_path / "repo")
    make_tree(repo, PARALLEL_MIN)
    write(repo, f"{SPRINT}/bad/TASK.md", "---\ntitle: [unclosed\n---\n")

    assert orchsync(repo, "init").exit_code == 0
    with query.reader(find_repo(repo)) as con:
        (tasks,) = con.execute("SELECT count(*) FROM tasks").fetchone()
        (invalid,) = con.execute("SELECT count(*) FROM files WHERE NOT valid").fetchone()
    live = dump_index(repo)
    assert orchsync(repo, "reindex").exit_code == 0

    assert tasks == PARALLEL_MIN + 1  # the invalid one is a task too, indexed as invalid
    assert invalid == 1
    assert dump_index(repo) == live
    assert git(repo, "status", "--porcelain") == ""


def test_a_first_snapshot_reports_its_progress_to_a_callback(tmp_path):
    from orchsync.pm.setup import init

    repo = init_repo(tmp_path / "repo")
    make_tree(repo, BULK_MIN)
    seen: list[tuple[int, int]] = []

    init(find_repo(repo), progress=lambda done, total: seen.append((done, total)))

    files = int(git(repo, "ls-files", "delegation").count("\n"))
    assert seen and seen[-1] == (files, files)
    assert all(done <= total for done, total in seen)
