"""The search term table: every searchable entity's words, counted per field, kept in SQL.

`orchsync search` ranks with BM25 over this table (see `orchsync.search`). DuckDB's fts
extension is downloaded at run time, which an offline machine cannot do, so the index keeps
its own term table instead: one row per (file, field, term) with the term's count, and the
document's length on every row (what BM25 normalises by).

The rows are derived **in SQL from the entity rows** inside `Index.apply`, for exactly the
paths a batch touched. Live sync, `reindex` and `reindex --from-files` all load entity rows
through that one call, so the term table cannot drift from the entities it describes, and a
rebuilt index holds the same terms as the live one. Queries are tokenised by the same SQL
expression (`TOKENS`), so a word is split the same way on both sides.

No DuckDB import here: this module only holds SQL text and constants.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "FIELD_WEIGHTS",
    "LENGTH_FIELDS",
    "MAX_TERM",
    "MIN_TERM",
    "SEARCH_KINDS",
    "STOPWORDS",
    "TOKENS",
    "refresh_sql",
]

# Letters and digits of any script; everything else separates words (`cache-eviction_x`
# -> cache, eviction, x). RE2 syntax, run by DuckDB on both the documents and the query.
TOKEN_PATTERN = r"[\p{L}\p{N}]+"
MIN_TERM, MAX_TERM = 2, 32  # one letter says nothing; longer runs are hashes and base64


def TOKENS(expr: str) -> str:  # noqa: N802 - reads as the SQL macro it is
    """SQL: the lower-cased tokens of a text expression, as a list."""
    return f"regexp_extract_all(lower({expr}), '{TOKEN_PATTERN}')"


# Words so common that they match nearly every document: skipped on both sides.
STOPWORDS = [
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "by",
    "for",
    "from",
    "has",
    "have",
    "in",
    "into",
    "is",
    "it",
    "its",
    "of",
    "on",
    "or",
    "that",
    "the",
    "this",
    "to",
    "was",
    "were",
    "will",
    "with",
]

# How much a term counts, by where it occurs (BM25F-style weighted term frequency).
# The words of a code mostly repeat the title (and a session's key repeats its task's code),
# so they count once; the whole code as one term (`key`) is what someone typing it means.
FIELD_WEIGHTS = {
    "title": 3.0,
    "key": 4.0,
    "code": 1.0,
    "labels": 2.0,
    "criteria": 1.0,
    "body": 1.0,
}
# Fields whose term counts are normalised by the document's length (BM25F with b = 0 for the
# short fields): a long body should not make a title match count less.
LENGTH_FIELDS = ("criteria", "body")

# kind -> (table, SQL columns of one row `e`: each column's name is the field of its text).
_LABELS = """CASE json_type(e.metadata, '$.labels')
        WHEN 'ARRAY' THEN array_to_string(json_extract_string(e.metadata, '$.labels[*]'), ' ')
        WHEN 'VARCHAR' THEN json_extract_string(e.metadata, '$.labels') END AS labels"""
_CRITERIA = """concat_ws(' ',
        array_to_string(json_extract_string(e.objectives, '$[*].text'), ' '),
        array_to_string(json_extract_string(e.deliverables, '$[*].text'), ' '),
        array_to_string(json_extract_string(e.acceptance_criteria, '$[*].text'), ' ')) AS criteria"""
SEARCH_KINDS: dict[str, tuple[str, str]] = {
    "task": ("tasks", f"{_LABELS}, {_CRITERIA}, e.body AS body"),
    "sprint": ("sprints", f"{_LABELS}, concat_ws(' ', e.goal, e.body) AS body"),
    "adr": ("adrs", f"{_LABELS}, e.body AS body"),
    "bug": ("bugs", f"{_LABELS}, e.body AS body"),
    "session": ("sessions", "NULL AS labels, e.body AS body"),
}


def _texts(kind: str, table: str, columns: str) -> str:
    """(file_path, field, text) of the touched rows of one entity table.

    The rows are picked first and unpivoted after: a lateral list of texts per row made
    DuckDB compute every row's texts before filtering (330 ms for one touched task).
    """
    return f"""
        SELECT file_path, field, text
        FROM (UNPIVOT (
            SELECT e.file_path, e.title AS title, f.code AS code, {columns}
            FROM {table} e JOIN files f ON f.path = e.file_path
            WHERE e.file_path IN (SELECT path FROM touched)
        ) ON title, code, labels, {"criteria, " if kind == "task" else ""}body
          INTO NAME field VALUE text)"""


def refresh_sql(kinds: Iterable[str] | None = None) -> list[str]:
    """SQL that inserts the term rows of every touched path (their old rows are deleted first).

    Needs the temp table `touched(path)` and the batch's files and entity rows loaded. The
    code also counts as one whole term (`phase-1-api`), so typing a code finds its entity.
    Each document's kind, code, title, status and length go to `term_docs` (one row per
    file): what ranking, filters and hits need without touching the wide entity tables (a
    length column on every term row cost a window over all of them: a second per 10,000).

    Rows are inserted in term order: DuckDB keeps each column's min and max per row group,
    so a lookup of a few terms then reads a few row groups instead of all of them (3x
    faster at 10,000 tasks; rows a live sync appends later are merely not pruned).

    `kinds` (when known) limits the work to the entity tables a batch can have touched: a
    one-task sync then reads the tasks table only.
    """
    wanted = [k for k in SEARCH_KINDS if kinds is None or k in kinds]
    if not wanted:
        return []
    texts = " UNION ALL ".join(_texts(k, *SEARCH_KINDS[k]) for k in wanted)
    stop = ", ".join(f"'{w}'" for w in STOPWORDS)
    terms = f"""
        INSERT INTO terms (file_path, field, term, tf)
        WITH texts AS ({texts}),
        tokens AS (SELECT file_path, field, unnest({TOKENS("text")}) AS term FROM texts),
        words AS (
            SELECT * FROM tokens
            WHERE length(term) BETWEEN {MIN_TERM} AND {MAX_TERM} AND term NOT IN ({stop})
            UNION ALL
            SELECT file_path, 'key', lower(text) FROM texts
            WHERE field = 'code' AND NOT list_contains({TOKENS("text")}, lower(text))
        )
        SELECT file_path, field, term, count(*)::INTEGER FROM words GROUP BY ALL
        ORDER BY term, file_path, field"""
    docs = " UNION ALL ".join(
        f"""SELECT e.file_path, '{k}', f.code, e.title, e.status, coalesce(l.n, 0)::INTEGER
            FROM {SEARCH_KINDS[k][0]} e JOIN files f ON f.path = e.file_path
                 LEFT JOIN lengths l ON l.file_path = e.file_path
            WHERE e.file_path IN (SELECT path FROM touched)"""
        for k in wanted
    )
    long = ", ".join(f"'{f}'" for f in LENGTH_FIELDS)
    docs = f"""
        INSERT INTO term_docs (file_path, kind, code, title, status, doc_len)
        WITH lengths AS (
            SELECT file_path, sum(tf) FILTER (WHERE field IN ({long})) AS n FROM terms
            WHERE file_path IN (SELECT path FROM touched) GROUP BY 1)
        {docs}"""
    return [terms, docs]
