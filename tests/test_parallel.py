"""Parsing in worker processes gives exactly what parsing in one process gives.

Big batches (a reindex, `orchsync check` of a whole tree) are parsed in forked workers; the
threshold is lowered here so that a small corpus takes that path, and every result (parsed
files, index rows, events) must equal the serial one.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import dump_index

from orchsync.parse import parallel
from orchsync.parse.worktree import load_tree

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from corpus import CorpusInfo, build_corpus  # noqa: E402


def _double(chunk: Sequence[int]) -> list[int]:
    return [2 * x for x in chunk]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusInfo:
    return build_corpus(tmp_path_factory.mktemp("corpus") / "repo", tasks=120, history=25)


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch of two or more items goes to a worker process."""
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 2)
    monkeypatch.setenv("ORCHSYNC_PARSE_WORKERS", "2")


def test_chunks_come_back_in_order_with_progress(forced: None) -> None:
    seen: list[tuple[int, int]] = []
    out = parallel.map_chunks(_double, range(1000), progress=lambda d, t: seen.append((d, t)))
    assert out == [2 * x for x in range(1000)]
    assert seen[-1] == (1000, 1000) and len(seen) > 1


def test_small_batches_and_one_core_stay_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHSYNC_PARSE_WORKERS", "1")
    assert parallel.worker_count() == 0 and not parallel.goes_parallel(10**6)
    monkeypatch.setenv("ORCHSYNC_PARSE_WORKERS", "2")
    assert parallel.goes_parallel(parallel.PARALLEL_MIN)
    assert not parallel.goes_parallel(parallel.PARALLEL_MIN - 1)


def test_load_tree_in_workers_equals_serial(
    corpus: CorpusInfo, forced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_workers = load_tree(corpus.root)
    monkeypatch.setenv("ORCHSYNC_PARSE_WORKERS", "1")
    assert in_workers == load_tree(corpus.root)
    assert len(in_workers) == corpus.files


@pytest.mark.parametrize("args", [["reindex"], ["reindex", "--from-files"]])
def test_reindex_in_workers_builds_the_same_index(
    corpus: CorpusInfo,
    tmp_path: Path,
    orchsync,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
) -> None:
    dumps = []
    for workers in ("1", "2"):
        repo = tmp_path / f"w{workers}"
        shutil.copytree(corpus.root, repo, symlinks=True)
        monkeypatch.setenv("ORCHSYNC_PARSE_WORKERS", workers)
        monkeypatch.setattr(parallel, "PARALLEL_MIN", 2)
        for _ in range(2):  # a fresh index, then one that already has rows
            result = orchsync(repo, *args)
            assert result.exit_code == 0, result.output
        dumps.append(dump_index(repo))
    assert dumps[0] == dumps[1]
    assert dumps[0]["tasks"] and dumps[0]["files"]
