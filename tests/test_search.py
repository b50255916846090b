"""`orchsync search`: ranked full-text search over the index's term table.

A small board of tasks, a sprint, an ADR, a bug and a session, committed: the search must
put the entity a person means first, also with a typo or half a word, filter by kind and
status, show a snippet with the match marked, and treat the query as data. The term table
is part of the index: a rebuild (from git or from the files) reproduces it row for row.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import dump_index, git, write

from orchsync.index.terms import TOKEN_PATTERN
from orchsync.query import search as search_lib
from orchsync.repo import find_repo

SPRINT = "core"


def task(code: str, title: str, status: str, body: str, **extra: str) -> tuple[str, str]:
    front = "".join(f"{k}: {v}\n" for k, v in extra.items())
    text = (
        f"---\ntitle: {title}\nstatus: {status}\npriority: P2\n{front}---\n\n# {title}\n\n{body}\n"
    )
    return f"delegation/sprints/{SPRINT}/{code}/TASK.md", text


BOARD = dict(
    [
        (
            f"delegation/sprints/{SPRINT}/SPRINT.md",
            "---\ntitle: Core platform\nstatus: active\ngoal: Make the session store fast\n---\n",
        ),
        task(
            "cache-eviction",
            "Cache eviction for the session store",
            "pending",
            "Evict the least recently used entries when the cache is full.\n\n"
            "## Acceptance Criteria\n\n- [ ] Memory stays under 512 MB with 1M sessions",
            labels="[performance]",
        ),
        task(
            "login-redesign",
            "Login page redesign",
            "completed",
            "A new layout for the login form. It sends cache headers too.",
        ),
        task(
            "session-timeout",
            "Session timeout handling",
            "in_progress",
            "Sessions expire after 30 minutes of inactivity; idle ones are dropped.",
        ),
        task("metrics-dashboard", "Metrics dashboard", "pending", "Charts for p95 latency."),
        (
            "delegation/adr/ADR-001-use-lru-caching.md",
            "---\ntitle: Use LRU caching\nstatus: accepted\ndate: 2025-01-10\n---\n\n"
            "## Decision\n\nRendered pages are kept in an LRU cache.\n",
        ),
        (
            "delegation/backlog/BUG-0001-cache-grows-without-bound.md",
            "---\ntitle: Cache grows without bound\nstatus: open\npriority: P1\n---\n\n"
            "The cache keeps every entry; memory grows until the process is killed.\n",
        ),
        (
            "delegation/sessions/cache-eviction-claude-20250101-0900.md",
            "---\ntitle: Eviction spike\ntask: T:cache-eviction\nagent: claude\nstatus: open\n"
            "started_at: 2025-01-01T09:00:00Z\n---\n\n## Notes\n\n- Tried a heap of timestamps.\n",
        ),
    ]
)


@pytest.fixture
def board(empty_repo: Path, orchsync) -> Path:
    for path, text in BOARD.items():
        write(empty_repo, path, text)
    assert orchsync(empty_repo, "sync").exit_code == 0
    assert orchsync(empty_repo, "tasks").exit_code == 0  # the first read builds the index
    return empty_repo


def hits(orchsync, repo: Path, *args: str) -> list[dict]:
    result = orchsync(repo, "search", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["hits"]


def keys(orchsync, repo: Path, *args: str) -> list[str]:
    return [h["key"] for h in hits(orchsync, repo, *args)]


# --- ranking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("cache eviction", "T:cache-eviction"),  # both words, one in the title
        ("cahce eviction", "T:cache-eviction"),  # a transposed typo
        ("cache evicton", "T:cache-eviction"),  # a dropped letter
        ("login redes", "T:login-redesign"),  # the last word is a prefix
        ("cache-eviction", "T:cache-eviction"),  # a code
        ("T:login-redesign", "T:login-redesign"),  # a key
        ("inactivity", "T:session-timeout"),  # a word only the body has
        ("performance", "T:cache-eviction"),  # a label
        ("512 MB memory", "T:cache-eviction"),  # acceptance criteria
        ("lru", "ADR:001"),
        ("grows without bound", "BUG:0001"),
        ("heap timestamps", "SESSION:cache-eviction-claude-20250101-0900"),
        ("session store fast", "S:core"),
    ],
)
def test_the_entity_meant_comes_first(orchsync, board, text, first):
    assert keys(orchsync, board, text)[0] == first


def test_a_title_match_outranks_a_passing_mention(orchsync, board):
    found = keys(orchsync, board, "cache")
    assert found.index("T:cache-eviction") < found.index("T:login-redesign")
    assert set(found) >= {"T:cache-eviction", "T:login-redesign", "ADR:001", "BUG:0001"}


def test_the_json_says_how_a_typo_was_read(orchsync, board):
    result = orchsync(board, "search", "cahce evictoin", "--json")
    data = json.loads(result.stdout)
    assert data["words"] == ["cahce", "evictoin"]
    assert data["matched"] == {"cahce": ["cache"], "evictoin": ["eviction"]}


def test_html_comments_are_not_searched(orchsync, board):
    path = board / "delegation/sprints/core/metrics-dashboard/TASK.md"
    path.write_text(path.read_text() + "\n<!-- One line each: what this task achieves -->\n")
    orchsync(board, "sync")
    assert keys(orchsync, board, "achieves") == []
    assert keys(orchsync, board, "p95 latency") == ["T:metrics-dashboard"]


def test_nothing_found_is_no_error(orchsync, board):
    result = orchsync(board, "search", "kubernetes")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no matches\n")
    assert hits(orchsync, board, "kubernetes") == []


# --- filters ------------------------------------------------------------------------------------


def test_kind_and_status_filters(orchsync, board):
    assert keys(orchsync, board, "cache", "--kind", "bug") == ["BUG:0001"]
    assert keys(orchsync, board, "cache", "--kind", "adr") == ["ADR:001"]
    assert keys(orchsync, board, "cache", "--status", "completed") == ["T:login-redesign"]
    assert keys(orchsync, board, "cache", "--kind", "task", "--status", "pending") == [
        "T:cache-eviction"
    ]
    assert keys(orchsync, board, "cache", "--limit", "2") == keys(orchsync, board, "cache")[:2]


def test_a_status_change_is_searchable_after_its_sync(orchsync, board):
    orchsync(board, "task", "status", "cache-eviction", "completed")
    assert keys(orchsync, board, "eviction", "--status", "completed") == ["T:cache-eviction"]


def test_an_unknown_status_or_kind_is_a_usage_error(orchsync, board):
    result = orchsync(board, "search", "cache", "--kind", "task", "--status", "open")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: unknown status 'open'; valid: pending, in_progress, completed, blocked\n"
    )
    assert orchsync(board, "search", "cache", "--kind", "epic").exit_code == 2


# --- output -------------------------------------------------------------------------------------


def test_json_shape(orchsync, board):
    data = json.loads(orchsync(board, "search", "eviction", "--limit", "1", "--json").stdout)
    assert list(data) == ["query", "words", "matched", "count", "hits"]
    (hit,) = data["hits"]
    assert list(hit) == [
        "kind",
        "code",
        "key",
        "title",
        "status",
        "path",
        "score",
        "snippet",
        "highlights",
    ]
    assert hit["kind"] == "task" and hit["code"] == "cache-eviction"
    assert hit["title"] == "Cache eviction for the session store"
    assert hit["status"] == "pending"
    assert hit["path"] == "delegation/sprints/core/cache-eviction/TASK.md"
    assert hit["score"] > 0
    assert [hit["snippet"][s:e] for s, e in hit["highlights"]] == ["eviction"]


def test_snippets_mark_every_match_in_the_body(orchsync, board):
    (hit,) = hits(orchsync, board, "memory", "--kind", "bug")
    assert hit["snippet"] == (
        "The cache keeps every entry; memory grows until the process is killed."
    )
    assert [hit["snippet"][s:e] for s, e in hit["highlights"]] == ["memory"]


def test_the_terminal_shows_matches_in_bold_and_a_pipe_gets_plain_text(runner, board):
    from orchsync.faces.cli import cli

    args = ["--repo", str(board), "search", "grows", "--kind", "bug"]
    plain = runner.invoke(cli, args, catch_exceptions=False).stdout
    coloured = runner.invoke(cli, args, color=True, catch_exceptions=False).stdout
    assert plain.splitlines() == [
        "BUG:0001  open  Cache grows without bound  (" + plain.split("(")[1].split(")")[0] + ")",
        "    The cache keeps every entry; memory grows until the process is killed.",
        "    delegation/backlog/BUG-0001-cache-grows-without-bound.md",
    ]
    assert "\x1b[33m\x1b[1mgrows\x1b[0m" in coloured and "\x1b" not in plain


def test_snippets_come_from_files_inside_the_repository_only(board, tmp_path):
    secret = tmp_path / "secret.md"
    secret.write_text("---\ntitle: x\n---\nTOP SECRET eviction plans\n")
    target = board / "delegation/sprints/core/cache-eviction/TASK.md"
    target.unlink()
    target.symlink_to(secret)  # after indexing: the index still has the real task
    (hit,) = search_lib.search(find_repo(board), "eviction", kind="task")
    assert hit.key == "T:cache-eviction" and "SECRET" not in hit.snippet


# --- the query is data --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["%", "%_%", "'; DROP TABLE tasks; --", '") OR 1=1 --', ".*(+[?{\\", "$(rm -rf /)", "   "],
)
def test_hostile_queries_find_nothing_and_change_nothing(orchsync, board, text):
    before = dump_index(board)
    result = orchsync(board, "search", text, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hits"] == []
    assert dump_index(board) == before


def test_sql_and_regex_words_are_searched_as_words(orchsync, board):
    assert keys(orchsync, board, "'; drop table cache --")[0] in ("BUG:0001", "T:cache-eviction")
    assert keys(orchsync, board, "(cache|login)*") == keys(orchsync, board, "cache login")


def test_a_long_query_and_a_silly_limit_are_refused(orchsync, board):
    result = orchsync(board, "search", "cache " * 2000)
    assert result.exit_code == 2
    assert result.stderr == "Error: the search text is 12,000 characters; at most 500\n"
    assert orchsync(board, "search", "cache", "--limit", "0").exit_code == 2
    assert orchsync(board, "search", "cache", "--limit", "100000").exit_code == 2
    with pytest.raises(Exception, match="limit must be a whole number from 1 to 100"):
        search_lib.search(find_repo(board), "cache", limit=10**9)


def test_the_python_and_sql_tokenisers_agree():
    import re

    import duckdb

    samples = [
        "Cache-eviction_x s042-t04137 ÉTÉ naïve 1.2.3 foo/bar#baz",
        "日本語のテキスト ½ ² ٣ Ⅻ résumé Straße ǅ",
        "tabs\tand\nnewlines, 'quotes' \"double\" (parens) [x] {y} <z>",
    ]
    con = duckdb.connect()
    for text in samples:
        (sql,) = con.execute(
            f"SELECT regexp_extract_all(lower(?), '{TOKEN_PATTERN}')", [text]
        ).fetchone()
        assert re.findall(r"[^\W_]+", text.lower()) == sql, text


# --- the term table is part of the index --------------------------------------------------------


def test_terms_follow_edits_moves_and_deletes_and_a_rebuild_reproduces_them(orchsync, board):
    path = board / "delegation/sprints/core/metrics-dashboard/TASK.md"
    path.write_text(path.read_text().replace("Charts for p95 latency.", "Grafana panels."))
    write(board, "delegation/sprints/next/SPRINT.md", "---\ntitle: Next\n---\n")
    shutil.move(board / "delegation/sprints/core/login-redesign", board / "delegation/sprints/next")
    shutil.rmtree(board / "delegation/sprints/core/session-timeout")
    assert orchsync(board, "sync").exit_code == 0

    assert keys(orchsync, board, "grafana") == ["T:metrics-dashboard"]
    assert keys(orchsync, board, "latency") == []
    assert keys(orchsync, board, "inactivity") == []
    assert hits(orchsync, board, "login")[0]["path"] == (
        "delegation/sprints/next/login-redesign/TASK.md"
    )
    live = dump_index(board)
    assert len(live["terms"]) > 50 and len(live["term_docs"]) == 8

    for args in (["reindex"], ["reindex", "--from-files"]):
        for index in (board / ".git/orchsync").glob("index.duckdb*"):
            index.unlink()
        assert orchsync(board, *args).exit_code == 0
        rebuilt = dump_index(board)
        assert rebuilt["terms"] == live["terms"], args
        assert rebuilt["term_docs"] == live["term_docs"], args


def test_a_rebuild_in_chunks_gives_the_same_terms_in_term_order(orchsync, board, monkeypatch):
    """A rebuild tokenises a bounded number of files at a time (100,000 tasks at once do not
    fit in its memory limit), then sorts the table by term as a single pass leaves it."""
    import duckdb

    from orchsync.index import terms

    live = dump_index(board)
    monkeypatch.setattr(terms, "REBUILD_CHUNK", 3)  # the board's files in several chunks
    for index in (board / ".git/orchsync").glob("index.duckdb*"):
        index.unlink()
    assert orchsync(board, "reindex", "--from-files").exit_code == 0

    assert dump_index(board)["terms"] == live["terms"]
    assert dump_index(board)["term_docs"] == live["term_docs"]
    path = board / ".git/orchsync/index.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        stored = [r[0] for r in con.execute("SELECT term FROM terms").fetchall()]
    assert stored == sorted(stored)


def test_search_works_before_the_first_sync_catches_the_index_up(orchsync, empty_repo):
    for path, text in BOARD.items():
        write(empty_repo, path, text)
    git(empty_repo, "add", "-A")
    git(empty_repo, "commit", "-qm", "a plain commit, no orchsync")
    assert keys(orchsync, empty_repo, "eviction")[0] == "T:cache-eviction"
    assert not os.environ.get("ORCHSYNC_NO_DAEMON_TEST")


# --- MCP ------------------------------------------------------------------------------------------


def test_the_mcp_tool_answers_like_the_library_and_refuses_like_the_cli(board):
    from test_mcp import fails, ok, run

    async def body(client):
        found = await ok(client, "search", text="cahce evicton", limit=3)
        filtered = await ok(client, "search", text="cache", kind="bug", status="open")
        refused = await fails(client, "search", text="x" * 600)
        return found, filtered, refused

    found, filtered, refused = run(board, body)
    expected = search_lib.search(find_repo(board), "cahce evicton", limit=3)
    assert found == {"hits": [h.to_dict() for h in expected], "count": len(expected)}
    assert found["hits"][0]["key"] == "T:cache-eviction"
    assert [h["key"] for h in filtered["hits"]] == ["BUG:0001"]
    assert refused.endswith(": the search text is 600 characters; at most 500")


def test_search_is_in_the_all_profile_only():
    from orchsync.faces.mcp.server import ALL_TOOLS, CORE_TOOLS

    assert "orchestration_search" in ALL_TOOLS and "orchestration_search" not in CORE_TOOLS
