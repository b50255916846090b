"""The search term table: every searchable entity's words, weighted by field, kept in SQL.

`orchsync search` ranks with BM25F over two tables (see `orchsync.search`); DuckDB's fts
extension is downloaded at run time, which an offline machine cannot do:

- `terms (doc, term, short, long)`: one row per document and term. `short` is the term's
  weighted count in the short fields (title, code, labels), `long` its count in the long ones
  (body, acceptance criteria and other checklists), which BM25 normalises by length;
- `term_docs (file_path, doc, kind, code, title, status, doc_len)`: one row per document,
  with what ranking, filters and hits need (`doc_len` is its long fields' length), so a
  search never reads the wide entity tables.

`doc` is `md5_number_lower(file_path)`: an integer joins and groups several times faster
than a path, and MD5 gives the same number on every machine and DuckDB version.

The rows are derived **in SQL from the entity rows** inside `Index.apply`, for exactly the
paths a batch touched. Live sync, `reindex` and `reindex --from-files` all load entity rows
through that one call, so the term table cannot drift from the entities it describes, and a
rebuilt index holds the same terms as the live one. Words are letters and digits
(`TOKEN_PATTERN`): `orchsync.search` splits a query the same way.

No DuckDB import here: this module only holds SQL text and constants.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DELETE_SQL",
    "FIELD_WEIGHTS",
    "LONG_FIELDS",
    "MAX_TERM",
    "MIN_TERM",
    "SEARCH_KINDS",
    "STOPWORDS",
    "TOKEN_PATTERN",
    "refresh_sql",
]

# Letters and digits of any script; everything else separates words (`cache-eviction_x`
# -> cache, eviction, x). RE2 syntax, run by DuckDB on the documents.
TOKEN_PATTERN = r"[\p{L}\p{N}]+"
MIN_TERM, MAX_TERM = 2, 32  # one letter says nothing; longer runs are hashes and base64

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

# How much one occurrence counts, by field. The words of a code mostly repeat the title (and
# a session's key repeats its task's code), so they count once; the whole code as one term
# (`key`, e.g. `phase-1-api`) is what someone typing it means.
FIELD_WEIGHTS = {"title": 3, "key": 4, "code": 1, "labels": 2, "criteria": 1, "body": 1}
# Fields whose counts are normalised by the document's length (BM25F with b = 0 for the
# others): a long body should not make a title match count less.
LONG_FIELDS = ("criteria", "body")

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

# Run first: the term rows of the documents a batch touched (found by their stored `doc`).
DELETE_SQL = """DELETE FROM terms WHERE doc IN (
    SELECT doc FROM term_docs WHERE file_path IN (SELECT path FROM touched))"""


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
    """SQL that inserts the term rows of every touched path (after DELETE_SQL and the
    deletion of their term_docs rows).

    Needs the temp table `touched(path)` and the batch's files and entity rows loaded.

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
    weight = "CASE field " + " ".join(f"WHEN '{f}' THEN {w}" for f, w in FIELD_WEIGHTS.items())
    long = ", ".join(f"'{f}'" for f in LONG_FIELDS)
    terms = f"""
        INSERT INTO terms (doc, term, short, long)
        WITH texts AS ({texts}),
        tokens AS (
            SELECT file_path, field, unnest(regexp_extract_all(lower(text), '{TOKEN_PATTERN}'))
                AS term
            FROM texts),
        words AS (
            SELECT * FROM tokens
            WHERE length(term) BETWEEN {MIN_TERM} AND {MAX_TERM} AND term NOT IN ({stop})
            UNION ALL
            SELECT file_path, 'key', lower(text) FROM texts
            WHERE field = 'code' AND NOT regexp_full_match(lower(text), '{TOKEN_PATTERN}')
        )
        SELECT md5_number_lower(file_path) AS doc, term,
               coalesce(sum({weight} END) FILTER (WHERE field NOT IN ({long})), 0)::INTEGER,
               coalesce(sum({weight} END) FILTER (WHERE field IN ({long})), 0)::INTEGER
        FROM words GROUP BY file_path, term
        ORDER BY term, doc"""
    docs = " UNION ALL ".join(
        f"""SELECT e.file_path, md5_number_lower(e.file_path), '{k}', f.code, e.title,
                   e.status, coalesce(l.n, 0)::INTEGER
            FROM {SEARCH_KINDS[k][0]} e JOIN files f ON f.path = e.file_path
                 LEFT JOIN lengths l ON l.doc = md5_number_lower(e.file_path)
            WHERE e.file_path IN (SELECT path FROM touched)"""
        for k in wanted
    )
    docs = f"""
        INSERT INTO term_docs (file_path, doc, kind, code, title, status, doc_len)
        WITH lengths AS (
            SELECT doc, sum(long) AS n FROM terms
            WHERE doc IN (SELECT md5_number_lower(path) FROM touched) GROUP BY doc)
        {docs}"""
    return [terms, docs]
