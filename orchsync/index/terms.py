"""The search term table: every searchable entity's words, weighted by field, kept in SQL.

`orchsync search` ranks with BM25F over two tables (see `orchsync.search`); DuckDB's fts
extension is downloaded at run time, which an offline machine cannot do:

- `terms (doc, term, short, long)`: one row per document and term. `short` is the term's
  weighted count in the short fields (title, code, labels), `long` its count in the long ones
  (body, acceptance criteria and other checklists), which BM25 normalises by length;
- `term_docs (file_path, doc, kind, code, title, status, doc_len, text_hash)`: one row per
  document, with what ranking, filters and hits need (`doc_len` is its long fields' length),
  so a search never reads the wide entity tables.

`doc` is `md5_number_lower(file_path)`: an integer joins and groups several times faster
than a path, and MD5 gives the same number on every machine and DuckDB version.

The rows are derived **in SQL from the entity rows** inside `Index.apply`, for exactly the
paths a batch touched. Live sync, `reindex` and `reindex --from-files` all load entity rows
through that one call, so the term table cannot drift from the entities it describes, and a
rebuilt index holds the same terms as the live one. Words are letters and digits
(`TOKEN_PATTERN`): `orchsync.search` splits a query the same way.

No DuckDB import here: `before` and `refresh` run SQL on the connection they are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "before",
    "FIELD_WEIGHTS",
    "LONG_FIELDS",
    "MAX_TERM",
    "MIN_TERM",
    "SEARCH_KINDS",
    "STOPWORDS",
    "TOKEN_PATTERN",
    "refresh",
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


def _texts(kind: str, table: str, columns: str) -> str:
    """(file_path, kind, code, title, status, field, text) of the touched rows of one table.

    The rows are picked first and unpivoted after: a lateral list of texts per row made
    DuckDB compute every row's texts before filtering (330 ms for one touched task).
    """
    return f"""
        SELECT file_path, '{kind}' AS kind, doc_code AS code, doc_title AS title,
               doc_status AS status, field, text
        FROM (UNPIVOT (
            SELECT e.file_path, f.code AS doc_code, e.title AS doc_title,
                   e.status AS doc_status, e.title AS title, f.code AS code, {columns}
            FROM {table} e JOIN files f ON f.path = e.file_path
            WHERE e.file_path IN (SELECT path FROM touched)
        ) ON title, code, labels, {"criteria, " if kind == "task" else ""}body
          INTO NAME field VALUE text)"""


def before(con: Any) -> None:
    """Run while the touched paths' old rows are still there: remember their documents."""
    con.execute(
        """CREATE TEMP TABLE old_docs AS SELECT doc, text_hash, doc_len FROM term_docs
           WHERE file_path IN (SELECT path FROM touched)"""
    )


def refresh(con: Any, kinds: Iterable[str] | None = None) -> None:
    """Bring the term rows of the touched paths in step with their entity rows (loaded by
    now; `before` ran first, and their term_docs rows were deleted).

    Only documents whose searchable text changed are tokenised again: each document's
    `text_hash` covers its texts, so a status change (the most common edit) rewrites one
    term_docs row and leaves the terms table alone. Terms of documents that changed or went
    away are deleted by their `doc`.

    Rows are inserted in term order: DuckDB keeps each column's min and max per row group,
    so a lookup of a few terms reads a few row groups instead of all of them (3x faster at
    10,000 tasks; rows a live sync appends later are merely not pruned).

    `kinds` (when known) limits the work to the entity tables a batch can have touched: a
    one-task sync then reads the tasks table only.
    """
    wanted = [k for k in SEARCH_KINDS if kinds is None or k in kinds]
    if wanted:
        texts = " UNION ALL ".join(_texts(k, *SEARCH_KINDS[k]) for k in wanted)
        con.execute(
            f"""CREATE TEMP TABLE new_texts AS
                SELECT md5_number_lower(file_path) AS doc, * FROM ({texts})"""
        )
        con.execute(
            """CREATE TEMP TABLE new_docs AS
               SELECT doc, file_path, kind, code, title, status,
                      md5(string_agg(field || chr(31) || text, chr(30) ORDER BY field))
                          AS text_hash
               FROM new_texts GROUP BY ALL"""
        )
        stale = [
            row[0]
            for row in con.execute(
                """SELECT doc FROM old_docs o WHERE NOT EXISTS (
                       SELECT 1 FROM new_docs n WHERE n.doc = o.doc AND n.text_hash = o.text_hash)"""
            ).fetchall()
        ]
        if len(stale) == 1:  # an equality filter: no join to build for the common case
            con.execute("DELETE FROM terms WHERE doc = ?", stale)
        elif stale:
            con.execute("DELETE FROM terms WHERE doc IN (SELECT unnest(?::UBIGINT[]))", [stale])
        con.execute(_NEW_TERMS)
        con.execute("INSERT INTO terms SELECT * FROM new_terms ORDER BY term, doc")
        con.execute(
            """INSERT INTO term_docs (file_path, doc, kind, code, title, status, doc_len, text_hash)
               SELECT n.file_path, n.doc, n.kind, n.code, n.title, n.status,
                      coalesce(l.n, o.doc_len, 0)::INTEGER, n.text_hash
               FROM new_docs n
                    LEFT JOIN (SELECT doc, sum(long) AS n FROM new_terms GROUP BY doc) l
                        ON l.doc = n.doc
                    LEFT JOIN old_docs o ON o.doc = n.doc AND o.text_hash = n.text_hash"""
        )
        for table in ("new_texts", "new_docs", "new_terms"):
            con.execute(f"DROP TABLE {table}")
    con.execute("DROP TABLE old_docs")


_WEIGHT = "CASE field " + " ".join(f"WHEN '{f}' THEN {w}" for f, w in FIELD_WEIGHTS.items())
_LONG = ", ".join(f"'{f}'" for f in LONG_FIELDS)
_STOP = ", ".join(f"'{w}'" for w in STOPWORDS)
# The term rows of the documents whose text is new: one per (document, term), the code
# also as one whole term (`key`) when it is more than one word.
_NEW_TERMS = f"""
    CREATE TEMP TABLE new_terms AS
    WITH texts AS (
        SELECT doc, field, text FROM new_texts
        WHERE doc IN (
            SELECT doc FROM new_docs n WHERE NOT EXISTS (
                SELECT 1 FROM old_docs o WHERE o.doc = n.doc AND o.text_hash = n.text_hash))),
    tokens AS (
        SELECT doc, field, unnest(regexp_extract_all(lower(text), '{TOKEN_PATTERN}')) AS term
        FROM texts),
    words AS (
        SELECT * FROM tokens
        WHERE length(term) BETWEEN {MIN_TERM} AND {MAX_TERM} AND term NOT IN ({_STOP})
        UNION ALL
        SELECT doc, 'key', lower(text) FROM texts
        WHERE field = 'code' AND NOT regexp_full_match(lower(text), '{TOKEN_PATTERN}')
    )
    SELECT doc, term,
           coalesce(sum({_WEIGHT} END) FILTER (WHERE field NOT IN ({_LONG})), 0)::INTEGER
               AS short,
           coalesce(sum({_WEIGHT} END) FILTER (WHERE field IN ({_LONG})), 0)::INTEGER AS long
    FROM words GROUP BY doc, term"""
