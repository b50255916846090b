"""Ranked full-text search over sprints, tasks, ADRs, bugs and sessions.

BM25 computed in SQL over the index's term table (`orchsync/index/terms.py`), which the
indexer keeps in step with the entity rows. Title, code and labels weigh more than the body;
the last word of the query also matches as a prefix (`evic` finds `eviction`), and a word
that matches nothing exactly is looked up with an edit distance of 1-2 (`cahce` finds
`cache`), so a typo in a short query still finds the task.

The query is data, never SQL: it is tokenised by the same SQL expression as the documents
(letters and digits only, so `%`, quotes and regex metacharacters simply vanish), every value
reaches DuckDB as a parameter, and its length, its number of words and the limit are bounded.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from orchsync.errors import UsageError
from orchsync.index.terms import MAX_TERM, MIN_TERM, SEARCH_KINDS, STOPWORDS

if TYPE_CHECKING:
    from pathlib import Path

    from orchsync.index.duck import duckdb
    from orchsync.repo import Repo

__all__ = [
    "KINDS",
    "MAX_LIMIT",
    "MAX_QUERY",
    "SearchHit",
    "SearchResult",
    "make_snippet",
    "query_words",
    "run",
    "run_on",
    "search",
]

KINDS = tuple(SEARCH_KINDS)  # task, sprint, adr, bug, session
# kind -> the prefix of its key (`T:x`), as orchsync.model.KEY_PREFIX has it: importing the
# model costs ~10 ms, a tenth of what a search may take.
KEY_PREFIXES = {"task": "T", "sprint": "S", "adr": "ADR", "bug": "BUG", "session": "SESSION"}
MAX_QUERY = 500  # characters
MAX_WORDS = 16
MAX_LIMIT = 100
PREFIX_EXPANSIONS = 20  # most frequent completions of the last word
FUZZY_EXPANSIONS = 5  # closest spellings of a word that matched nothing
# BM25 parameters (the usual ones) and how much a completed or corrected word counts.
K1, B = 1.2, 0.75
W_PREFIX, W_FUZZY_1, W_FUZZY_2 = 0.8, 0.7, 0.5
SNIPPET = 160  # characters around the first match
MAX_FILE = 1024 * 1024  # a file read for a snippet

_STOP = frozenset(STOPWORDS)


@dataclass(slots=True)
class SearchHit:
    """One entity found: what it is, where, how well it matched, and a snippet around it.

    `highlights` are [start, end) character spans of the matched words within `snippet`.
    """

    kind: str
    code: str
    key: str  # T:x, S:x, ADR:001, BUG:0001, SESSION:x
    title: str
    status: str | None
    path: str
    score: float
    snippet: str
    highlights: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["highlights"] = [list(span) for span in self.highlights]
        return out


@dataclass(slots=True)
class SearchResult:
    """Hits plus how the query was read: its words and what each was matched as."""

    query: str
    words: list[str]
    matched: dict[str, list[str]]  # query word -> index terms it matched (exact, prefix, typo)
    hits: list[SearchHit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "words": self.words,
            "matched": self.matched,
            "count": len(self.hits),
            "hits": [h.to_dict() for h in self.hits],
        }


def search(
    repo: Repo,
    text: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 20,
) -> list[SearchHit]:
    """The entities that best match `text`, best first (at most `limit`, 1-100)."""
    return run(repo, text, kind=kind, status=status, limit=limit).hits


def run(
    repo: Repo,
    text: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 20,
) -> SearchResult:
    """`search`, with how the query was read (for `--json` and the MCP tool)."""
    from orchsync import query

    check_arguments(text, kind, status, limit)
    with query.reader(repo) as con:
        return run_on(con, text, kind=kind, status=status, limit=limit, root=repo.root)


def check_arguments(text: object, kind: object, status: object, limit: object) -> None:
    """Refuse what no search should run with, before the index is opened (the values may
    come from JSON: an MCP call, a search handed to the daemon)."""
    if not isinstance(text, str):
        raise UsageError("the search text must be a string")
    if len(text) > MAX_QUERY:
        raise UsageError(f"the search text is {len(text):,} characters; at most {MAX_QUERY}")
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    if status is not None:
        from orchsync import model

        statuses = {
            "task": model.TASK_STATUSES,
            "sprint": model.SPRINT_STATUSES,
            "adr": model.ADR_STATUSES,
            "bug": model.BUG_STATUSES,
            "session": model.SESSION_STATUSES,
        }
        valid = statuses[kind] if kind else sorted({s for v in statuses.values() for s in v})
        if status not in valid:
            raise UsageError(f"unknown status {status!r}; valid: {', '.join(valid)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"limit must be a whole number from 1 to {MAX_LIMIT}")


def run_on(
    con: duckdb.DuckDBPyConnection,
    text: str,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 20,
    root: Path | None = None,
) -> SearchResult:
    """The search on an open index connection (arguments already checked).

    Snippets come from the files under `root` (the bodies in the index when None): reading
    20 small files costs less than fetching 20 bodies out of DuckDB's wide body column.
    """
    words = query_words(text)
    result = SearchResult(text, words, {}, [])
    if not words:
        return result
    expansions = _expansions(con, words, _whole(text))
    found = {i for i, _, _, df in expansions if df}
    prefixed = {i for i, _, w, _ in expansions if w == W_PREFIX}
    missing = [
        (i, w) for i, w in enumerate(words) if i not in found and i not in prefixed and len(w) >= 4
    ]
    if missing:  # a word found nowhere: read it as a typo
        expansions += _fuzzy(con, missing)
    expansions = [e for e in expansions if e[3]]  # terms that occur
    ranked = _rank(con, expansions, kind, status, limit) if expansions else []
    for i, word in enumerate(words):  # in the query's order
        terms = list(dict.fromkeys(t for qi, t, _, _ in expansions if qi == i))
        if terms:
            result.matched[word] = terms
    used = sorted({t for _, t, _, _ in expansions}, key=len, reverse=True)
    result.hits = _hits(con, ranked, used, root)
    return result


# --- reading the query ------------------------------------------------------------------------


_TOKEN = re.compile(r"[^\W_]+")  # letters and digits: the same as TOKEN_PATTERN in SQL


def query_words(text: str) -> list[str]:
    r"""The query's words, split as the documents were (lower case, letters and digits),
    without stopwords and duplicates, at most MAX_WORDS.

    Python's `[^\W_]` is the Unicode letters and digits, as RE2's `[\p{L}\p{N}]` that
    split the documents (a test keeps the two equal), which saves a round trip to DuckDB.
    """
    out: list[str] = []
    for t in _TOKEN.findall(text.lower()):
        if MIN_TERM <= len(t) <= MAX_TERM and t not in _STOP and t not in out:
            out.append(t)
    return out[:MAX_WORDS]


def _whole(text: str) -> str | None:
    """A query of one word that could be a code (`phase-1-api`, `T:phase-1-api`): that code."""
    stripped = text.strip()
    if not stripped or any(c.isspace() for c in stripped):
        return None
    prefix, sep, rest = stripped.partition(":")
    if sep and prefix.upper() in {*KEY_PREFIXES.values(), "A", "TA"}:
        stripped = rest
    return stripped.lower() or None


# (query word index, or -1 for a whole code; index term; weight; documents holding the term)
# (query word index, or -1 for a whole code; index term; weight; documents holding the term)
Expansion = tuple[int, str, float, int]


def _expansions(
    con: duckdb.DuckDBPyConnection, words: list[str], whole: str | None
) -> list[Expansion]:
    """Index terms each query word stands for: itself, and for the last word the words it
    begins (the most frequent first), each with the number of documents holding it.

    One statement: a `term = ?` count per word and a range for the prefix, joined by UNION
    ALL. The table is kept in term order, so an equality or a range lets DuckDB skip every
    row group whose min..max excludes it (`IN (SELECT ...)` would read them all), and a
    count without GROUP BY builds no hash table (a few ms each, more than the lookup)."""
    wanted = [(i, w) for i, w in enumerate(words)]
    if whole and whole not in words:
        wanted.append((-1, whole))
    parts = ["SELECT ?::INTEGER AS qi, ? AS term, count(*) AS n FROM terms WHERE term = ?"] * len(
        wanted
    )
    params: list[Any] = [v for i, w in wanted for v in (i, w, w)]
    last = words[-1] if len(words[-1]) >= 3 else None
    if last is not None:
        # A prefix completes to words only: completing `cache` to whole-code terms
        # (`cache-eviction-...`) would lift every entity whose code begins with it.
        parts.append(
            """SELECT * FROM (
                   SELECT -2 AS qi, term, count(*) AS n FROM terms
                   WHERE term > ? AND term < ? AND starts_with(term, ?)
                     AND regexp_full_match(term, '[\\p{L}\\p{N}]+')
                   GROUP BY term ORDER BY n DESC, term LIMIT ?)"""
        )
        params += [last, last + "\U0010ffff", last, PREFIX_EXPANSIONS]
    rows = con.execute(" UNION ALL ".join(parts), params).fetchall()
    out: list[Expansion] = [(qi, t, 1.0, n) for qi, t, n in rows if qi != -2]
    completions = sorted(((-n, t) for qi, t, n in rows if qi == -2))
    out += [(len(words) - 1, t, W_PREFIX, -n) for n, t in completions]
    return out


def _fuzzy(con: duckdb.DuckDBPyConnection, missing: list[tuple[int, str]]) -> list[Expansion]:
    """Terms within an edit distance (transpositions count once) of words that matched nothing:
    1 for words of up to 7 letters, 2 for longer ones."""
    # A typo rarely hits both of the first two letters: only terms sharing one are measured
    # (`term[1]`, not `left(term, 1)`: left() is ~6x slower over the whole table).
    rows = con.execute(
        """WITH q AS (SELECT unnest(?::INTEGER[]) AS qi, unnest(?::VARCHAR[]) AS word),
           vocab AS (SELECT term, count(*) AS df FROM terms
                     WHERE length(term) BETWEEN ? AND ?
                       AND (list_contains(?::VARCHAR[], term[1])
                            OR list_contains(?::VARCHAR[], term[2]))
                     GROUP BY term)
           SELECT qi, term, d, df FROM (
               SELECT q.qi, v.term, v.df, damerau_levenshtein(v.term, q.word) AS d,
                      CASE WHEN length(q.word) <= 7 THEN 1 ELSE 2 END AS most
               FROM q, vocab v
               WHERE abs(length(v.term) - length(q.word)) <= 2)
           WHERE d <= most
           QUALIFY row_number() OVER (PARTITION BY qi ORDER BY d, df DESC, term) <= ?""",
        [
            [i for i, _ in missing],
            [w for _, w in missing],
            min(len(w) for _, w in missing) - 2,
            max(len(w) for _, w in missing) + 2,
            [w[0] for _, w in missing],
            [w[1] for _, w in missing],
            FUZZY_EXPANSIONS,
        ],
    ).fetchall()
    return [(qi, term, W_FUZZY_1 if d <= 1 else W_FUZZY_2, df) for qi, term, d, df in rows]


# --- ranking -----------------------------------------------------------------------------------

Ranked = tuple[str, str, str, str | None, str | None, float]


def _rank(
    con: duckdb.DuckDBPyConnection,
    expansions: list[Expansion],
    kind: str | None,
    status: str | None,
    limit: int,
) -> list[Ranked]:
    """(path, kind, code, title, status, score) of the best documents, by BM25F: per query word, its best-matching term in each document
    counts

        w * idf * tf' * (k1 + 1) / (tf' + k1),   tf' = short + long / (1 - b + b * len / avglen)

    where `short` is the weighted count in the title, code and labels, `long` the one in the
    body and criteria, normalised by the body's length (k1 1.2, b 0.75), and `w` is 1 for
    the word itself, less for a completion or a correction. Documents matching more of the
    query's words come first, then by the sum of those scores. Each term is looked up with
    `term = ?` (see `_expansions`)."""
    postings = " UNION ALL ".join(
        "SELECT doc, ?::INTEGER AS qi, ?::DOUBLE AS w, ?::BIGINT AS df, short, long "
        "FROM terms WHERE term = ?"
        for _ in expansions
    )
    params: list[Any] = [v for qi, t, w, df in expansions for v in (qi, w, df, t)]
    where = []
    for column, value in (("kind", kind), ("status", status)):
        if value is not None:
            where.append(f"d.{column} = ?")
            params.append(value)
    params.append(limit)
    # Documents are ranked by their integer ids and joined to their paths and titles only
    # once the best `limit` are known: sorting thousands of rows with those strings cost more.
    sql = f"""
        WITH corpus AS (SELECT count(*) AS n, avg(doc_len) AS avgdl FROM term_docs),
        weighted AS (
            SELECT p.doc, p.qi, list_position({list(KINDS)!r}, d.kind) AS kind_order,
                   p.w * ln(1 + (corpus.n - p.df + 0.5) / (p.df + 0.5)) AS idf,
                   p.short + p.long / (1 - {B} + {B} * d.doc_len / greatest(corpus.avgdl, 1))
                       AS tf
            FROM ({postings}) p JOIN term_docs d USING (doc), corpus
            {"WHERE " + " AND ".join(where) if where else ""}),
        best AS (
            SELECT doc, any_value(kind_order) AS kind_order, sum(s) AS score,
                   count(*) FILTER (WHERE qi >= 0) AS words
            FROM (SELECT doc, qi, any_value(kind_order) AS kind_order,
                         max(idf * tf * ({K1} + 1) / (tf + {K1})) AS s
                  FROM weighted GROUP BY doc, qi)
            GROUP BY doc
            ORDER BY words DESC, score DESC, kind_order, doc
            LIMIT ?)
        SELECT d.file_path, d.kind, d.code, d.title, d.status, b.score
        FROM best b JOIN term_docs d USING (doc)
        ORDER BY b.words DESC, b.score DESC, b.kind_order, b.doc"""
    return con.execute(sql, params).fetchall()  # type: ignore[no-any-return]


# --- what the hits show -----------------------------------------------------------------------


def _hits(
    con: duckdb.DuckDBPyConnection, ranked: list[Ranked], terms: list[str], root: Path | None
) -> list[SearchHit]:
    if not ranked:
        return []
    bodies = _bodies_from_files(root, ranked) if root is not None else _bodies(con, ranked)
    pattern = _pattern(terms)
    out = []
    for path, kind, code, title, status, score in ranked:
        body = bodies.get(path) or ""
        snippet, spans = make_snippet(body, pattern)
        if not spans and title:  # matched in the title, code or labels only
            snippet = make_snippet(body, None)[0] or title
        out.append(
            SearchHit(
                kind=kind,
                code=code,
                key=f"{KEY_PREFIXES[kind]}:{code}",
                title=title or code,
                status=status,
                path=path,
                score=round(float(score), 4),
                snippet=snippet,
                highlights=spans,
            )
        )
    return out


def _bodies(con: duckdb.DuckDBPyConnection, ranked: list[Ranked]) -> dict[str, str]:
    """The indexed bodies of the hits (a sprint's goal first)."""
    paths = [r[0] for r in ranked]
    selects = []
    for k in dict.fromkeys(r[1] for r in ranked):
        body = "concat_ws(' ', goal, body)" if k == "sprint" else "body"
        selects.append(
            f"SELECT file_path, {body} FROM {SEARCH_KINDS[k][0]} "
            "WHERE file_path IN (SELECT unnest(?::VARCHAR[]))"
        )
    rows = con.execute(" UNION ALL ".join(selects), [paths] * len(selects)).fetchall()
    return {p: b for p, b in rows}


def _bodies_from_files(root: Path, ranked: list[Ranked]) -> dict[str, str]:
    """The hits' bodies read from the work tree: regular files inside the repository only
    (a symlink leading out of it is not read), at most 1 MiB each, front matter skipped."""
    top = os.path.realpath(root)
    out = {}
    for path, *_ in ranked:
        full = os.path.realpath(os.path.join(top, path))
        if not full.startswith(top + os.sep) or not os.path.isfile(full):
            continue
        try:
            with open(full, "rb") as fh:
                data = fh.read(MAX_FILE + 1)
        except OSError:
            continue
        if len(data) <= MAX_FILE:
            out[path] = _without_front_matter(data.decode("utf-8", errors="replace"))
    return out


def _without_front_matter(text: str) -> str:
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        return text
    for i, line in enumerate(lines[1:], 1):
        if line.rstrip() in ("---", "..."):
            return "\n".join(lines[i + 1 :])
    return ""


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    """Whole words equal to any matched term (case-insensitive); `[^\\W_]` is a letter or digit."""
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in terms)
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])", re.IGNORECASE)


# Markdown that says nothing in one line of text: comments, heading marks, list bullets.
_MARKUP = re.compile(
    r"<!--.*?-->|^\s{0,3}#{1,6}\s+|^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?", re.M | re.S
)


def make_snippet(text: str, pattern: re.Pattern[str] | None) -> tuple[str, list[tuple[int, int]]]:
    """About SNIPPET characters of `text` around its first match, on one line, with the
    [start, end) spans of every match inside it; the opening of the text when nothing matches."""
    plain = " ".join(_MARKUP.sub(" ", text).split())
    first = pattern.search(plain) if pattern is not None else None
    start = 0
    if first is not None and first.start() > SNIPPET // 3:
        start = plain.rfind(" ", 0, first.start() - SNIPPET // 3) + 1
    end = min(len(plain), start + SNIPPET)
    if end < len(plain):
        cut = plain.rfind(" ", start, end)
        end = cut if cut > (first.end() if first else start) else end
    snippet = plain[start:end]
    lead = "…" if start > 0 else ""
    tail = "…" if end < len(plain) else ""
    spans: list[tuple[int, int]] = []
    if pattern is not None:
        spans = [(m.start() + len(lead), m.end() + len(lead)) for m in pattern.finditer(snippet)]
    return lead + snippet + tail, spans
