"""A whole-tree sync tells unchanged files apart by their stat data, as `git status` does.

`orchsync sync` (and `orchsync status`, and the daemon's start) compare the whole
`delegation/` tree with the branch tip. A file whose inode, size, mtime, ctime and mode
are what they were when orchsync last read it is not read again (`orchsync.sync.statcache`).
These tests pin what that must never cost: an edit that keeps the size and the mtime, a
file written in the same instant as the scan, a cache that is corrupt or stale, a tip
moved by someone else.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import SPRINT, commit_all, git, replace_in, task_path, write

from orchsync.parse.fsread import Reader
from orchsync.repo import find_repo
from orchsync.sync import pending_changes, statcache, sync

PHASE3 = task_path("phase-3-template-generation")
PHASE4 = task_path("phase-4-agent-init")
CONFIG = "delegation/orchsync.yml"


@pytest.fixture
def reads(monkeypatch):
    """Every path a Reader reads (the real read runs): which files a sync opened."""
    seen: list[str] = []
    real = Reader.read

    def spy(self, rel):
        seen.append(rel)
        return real(self, rel)

    monkeypatch.setattr(Reader, "read", spy)
    return seen


@pytest.fixture
def short_margin(monkeypatch):
    """A 50 ms racy margin instead of 2 s, so a test need not wait for files to age."""
    monkeypatch.setattr(statcache, "MARGIN_NS", 50_000_000)


def age() -> None:
    time.sleep(0.1)  # past the (short) margin: what was just written is no longer racy


def whole_tree(repo: Path):
    return sync(find_repo(repo))


def test_after_one_edit_a_whole_tree_sync_reads_only_that_file(example_repo, reads, short_margin):
    age()
    whole_tree(example_repo)  # no cache yet: reads every file once, and records them
    age()
    replace_in(example_repo, PHASE3, "status: pending", "status: in_progress")
    reads.clear()

    result = whole_tree(example_repo)

    assert result.files == [PHASE3]
    assert set(reads) - {CONFIG} == {PHASE3}  # the settings are read by every command


def test_an_edit_that_keeps_the_size_and_the_mtime_is_still_committed(example_repo, short_margin):
    path = example_repo / PHASE3
    age()
    whole_tree(example_repo)
    age()
    before = path.stat()
    data = path.read_bytes()
    path.write_bytes(data.replace(b"status: pending", b"status: blocked"))  # same length
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back; ctime moves

    result = whole_tree(example_repo)

    assert result.files == [PHASE3]
    assert "status: blocked" in git(example_repo, "show", f"HEAD:{PHASE3}")


def test_a_file_read_within_the_margin_is_read_again_next_time(example_repo, reads):
    # The real margin (2 s): everything was written just now, so nothing is trusted yet.
    whole_tree(example_repo)
    reads.clear()

    assert whole_tree(example_repo).files == []

    assert PHASE3 in reads and PHASE4 in reads


def test_a_corrupt_cache_is_an_empty_one(example_repo, short_margin):
    age()
    whole_tree(example_repo)
    (find_repo(example_repo).runtime / "stat-cache").write_bytes(b"orchsync-stat-cache 1 nonsense")
    replace_in(example_repo, PHASE3, "status: pending", "status: in_progress")

    assert whole_tree(example_repo).files == [PHASE3]
    assert whole_tree(example_repo).files == []


def test_a_cache_from_another_version_is_ignored(example_repo, short_margin):
    age()
    whole_tree(example_repo)
    cache = find_repo(example_repo).runtime / "stat-cache"
    cache.write_bytes(cache.read_bytes().replace(b"stat-cache 1 ", b"stat-cache 0 ", 1))
    replace_in(example_repo, PHASE3, "status: pending", "status: in_progress")

    assert whole_tree(example_repo).files == [PHASE3]


def test_a_tip_moved_by_a_plain_commit_is_followed(example_repo, short_margin):
    age()
    whole_tree(example_repo)
    age()
    replace_in(example_repo, PHASE3, "status: pending", "status: in_progress")
    (example_repo / PHASE4).unlink()
    commit_all(example_repo, "by hand")  # the cached tree listing is now one commit behind

    assert whole_tree(example_repo).files == []
    assert pending_changes(find_repo(example_repo)) == []

    replace_in(example_repo, PHASE3, "status: in_progress", "status: completed")
    assert whole_tree(example_repo).files == [PHASE3]


def test_a_reset_to_an_older_tip_commits_what_differs_from_it(example_repo, short_margin):
    age()
    whole_tree(example_repo)
    replace_in(example_repo, PHASE3, "status: pending", "status: in_progress")
    whole_tree(example_repo)
    age()
    git(example_repo, "reset", "-q", "--soft", "HEAD~1")  # the file on disk is unchanged

    assert whole_tree(example_repo).files == [PHASE3]


def test_a_file_swapped_for_a_link_with_the_same_text_is_committed_as_a_link(
    example_repo, short_margin
):
    notes = example_repo / f"delegation/sprints/{SPRINT}/notes.md"
    write(example_repo, notes.relative_to(example_repo).as_posix(), "README.md")
    age()
    whole_tree(example_repo)
    age()
    notes.unlink()
    notes.symlink_to("README.md")

    result = whole_tree(example_repo)

    assert result.files == [f"delegation/sprints/{SPRINT}/notes.md"]
    assert git(
        example_repo, "ls-tree", "HEAD", notes.relative_to(example_repo).as_posix()
    ).startswith("120000")


def test_a_runtime_folder_that_refuses_the_cache_costs_only_reads(example_repo, short_margin):
    runtime = find_repo(example_repo).runtime
    age()
    whole_tree(example_repo)
    (runtime / "stat-cache").unlink()
    (runtime / "stat-cache").mkdir()  # cannot be replaced by a file
    replace_in(example_repo, PHASE3, "status: pending", "status: in_progress")

    assert whole_tree(example_repo).files == [PHASE3]
    assert whole_tree(example_repo).files == []
