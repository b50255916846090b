"""Rebuilds in bounded memory: streamed from history, parsed once across runs.

`orchsync reindex` replays history in chunks, loading rows in batches
(`orchsync.sync.rebuild`), and `reindex --from-files` loads each chunk of files as it
is parsed; both keep what they parsed in `.git/orchsync/parsed.sqlite` for the next
rebuild. What must hold: the index is the one an incremental, one-piece replay makes,
whatever the chunk sizes; a stored parse is used only by the parser that made it; and a
rebuild cut short is never taken for a current index.
"""

from __future__ import annotations

import pytest
from conftest import dump_index, task_path
from test_index import delete_index, live_history, sql

from orchsync import query
from orchsync.config import load_config
from orchsync.git.store import GitStore
from orchsync.index import database
from orchsync.parse import entities
from orchsync.repo import find_repo, repo_lock
from orchsync.sync import catchup, parsecache, rebuild

PHASE3 = task_path("phase-3-template-generation")


@pytest.fixture
def parses(monkeypatch):
    """Every file parsed in this process (the real parser runs); rebuilds stay in-process."""
    monkeypatch.setenv("ORCHSYNC_PARSE_WORKERS", "1")
    seen: list[str] = []
    real = entities.parse_file

    def spy(path, data, **kwargs):
        seen.append(path)
        return real(path, data, **kwargs)

    for module in (entities, rebuild, catchup, parsecache):
        monkeypatch.setattr(module, "parse_file", spy, raising=False)
    return seen


def reindex(repo, *, files: bool = False):
    r = find_repo(repo)
    config = load_config(r.root)
    with repo_lock(r):
        store = GitStore(r, config.target_ref)
        if files:
            return catchup.index_from_files(r, store, config)
        return catchup.catch_up(r, store, config, full=True)


def test_a_rebuild_in_tiny_chunks_equals_the_index_built_live(example_repo, monkeypatch):
    live_history(example_repo)  # moves, links, a merge of two branches
    live = dump_index(example_repo)
    monkeypatch.setattr(rebuild, "CHUNK", 2)
    monkeypatch.setattr(rebuild, "WINDOW", 2)
    monkeypatch.setattr(database.RowSink.__init__, "__defaults__", (3,))
    delete_index(example_repo)

    reindex(example_repo)

    assert dump_index(example_repo) == live


def test_a_second_rebuild_parses_nothing(example_repo, parses):
    live_history(example_repo)
    delete_index(example_repo)
    reindex(example_repo)
    rebuilt = dump_index(example_repo)
    parses.clear()

    reindex(example_repo)
    reindex(example_repo, files=True)

    assert parses == []
    assert dump_index(example_repo) == rebuilt


def test_a_store_made_by_another_parser_is_not_used(example_repo, parses, monkeypatch):
    reindex(example_repo)
    monkeypatch.setattr(parsecache, "parser_version", lambda: "another parser")
    parses.clear()

    reindex(example_repo)

    assert PHASE3 in parses


def test_a_corrupt_store_is_no_store(example_repo):
    reindex(example_repo)
    rebuilt = dump_index(example_repo)
    (find_repo(example_repo).runtime / "parsed.sqlite").write_bytes(b"not a database" * 100)

    reindex(example_repo)
    reindex(example_repo, files=True)

    assert sql(example_repo, "SELECT count(*) FROM tasks") == [(6,)]
    reindex(example_repo)
    assert dump_index(example_repo) == rebuilt


def test_a_rebuild_from_files_cut_short_is_rebuilt_by_the_next_reader(example_repo, monkeypatch):
    reindex(example_repo)
    rebuilt = dump_index(example_repo)

    def cut(self, table, text):
        raise KeyboardInterrupt  # killed half way through the loads

    monkeypatch.setattr(database.RowSink, "add_encoded", cut)
    with pytest.raises(KeyboardInterrupt):
        reindex(example_repo, files=True)
    monkeypatch.undo()

    with query.reader(find_repo(example_repo)) as con:  # not current: rebuilt first
        (tasks,) = con.execute("SELECT count(*) FROM tasks").fetchone()

    assert tasks == 6
    assert dump_index(example_repo) == rebuilt
