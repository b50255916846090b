"""The benchmark corpus generator: deterministic, valid, committed, acyclic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from corpus import CorpusInfo, build_corpus  # noqa: E402

from orchsync.faces.cli import cli  # noqa: E402
from orchsync.model import Kind, Task  # noqa: E402
from orchsync.parse.checks import find_cycles  # noqa: E402
from orchsync.parse.worktree import load_tree  # noqa: E402

TASKS, HISTORY = 200, 20


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusInfo:
    return build_corpus(tmp_path_factory.mktemp("a") / "repo", tasks=TASKS, history=HISTORY)


def test_same_seed_same_tree_and_commits(
    corpus: CorpusInfo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = build_corpus(tmp_path_factory.mktemp("b") / "repo", tasks=TASKS, history=HISTORY)
    assert git(again.root, "rev-parse", "HEAD^{tree}") == git(
        corpus.root, "rev-parse", "HEAD^{tree}"
    )
    assert again.head == corpus.head
    other = build_corpus(tmp_path_factory.mktemp("c") / "repo", tasks=TASKS, seed=7)
    assert other.tree != corpus.tree


def test_tree_passes_check(corpus: CorpusInfo) -> None:
    result = CliRunner().invoke(cli, ["--repo", str(corpus.root), "check"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_work_tree_is_head(corpus: CorpusInfo) -> None:
    assert git(corpus.root, "status", "--porcelain") == ""
    assert git(corpus.root, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert int(git(corpus.root, "rev-list", "--count", "HEAD")) == HISTORY + 1
    assert git(corpus.root, "config", "user.email")


def test_history_is_small_edits_at_increasing_times(corpus: CorpusInfo) -> None:
    times = [int(t) for t in git(corpus.root, "log", "--format=%ct").split()]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)
    for sha in git(corpus.root, "rev-list", "HEAD", "--max-count", str(HISTORY)).split():
        names = git(corpus.root, "show", "--format=", "--name-only", "--no-renames", sha).split()
        assert 1 <= len(names) <= 10  # 1-5 files, a move counting old and new paths


def test_counts_and_dependencies(corpus: CorpusInfo) -> None:
    files = load_tree(corpus.root)
    tasks = {f.entity.code: f.entity for f in files if f.kind is Kind.TASK}
    assert all(isinstance(t, Task) for t in tasks.values())
    assert len(tasks) == corpus.tasks
    assert corpus.sprints == TASKS // 100
    assert {f.kind for f in files} >= {Kind.SPRINT, Kind.AGENT, Kind.ADR, Kind.BUG, Kind.SESSION}
    graph = {code: t.depends_on for code, t in tasks.items()}  # type: ignore[union-attr]
    assert all(d in tasks for deps in graph.values() for d in deps)
    assert find_cycles(graph) == []
    sample = tasks[corpus.sample_task]
    assert sample.depends_on and sample.context  # type: ignore[union-attr]
    assert all((corpus.root / p).exists() for t in tasks.values() for p in t.context)  # type: ignore[union-attr]
    statuses = {t.status for t in tasks.values()}  # type: ignore[union-attr]
    assert {"pending", "completed"} <= statuses
