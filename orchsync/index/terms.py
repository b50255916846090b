"""The search term table: every searchable entity's words, weighted by field, kept in SQL.

`orchsync search` ranks with BM25F over two tables (see `orchsync.query.search`); DuckDB's fts
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
(`TOKEN_PATTERN`): `orchsync.query.search` splits a query the same way.

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
    "rebuild",
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

# The texts of a document, by field. Tasks, sprints and sessions carry their code; an ADR's
# or bug's is its file name's (`001` of `ADR-001-...`).
_LABELS = """CASE json_type(e.metadata, '$.labels')
        WHEN 'ARRAY' THEN array_to_string(json_extract_string(e.metadata, '$.labels[*]'), ' ')
        WHEN 'VARCHAR' THEN json_extract_string(e.metadata, '$.labels') END"""
_CRITERIA = """concat_ws(' ',
        array_to_string(json_extract_string(e.objectives, '$[*].text'), ' '),
        array_to_string(json_extract_string(e.deliverables, '$[*].text'), ' '),
        array_to_string(json_extract_string(e.acceptance_criteria, '$[*].text'), ' '))"""
_FILE_CODE = "(SELECT f.code FROM files f WHERE f.path = e.file_path)"
# A body without its HTML comments: templates leave instructions there (`<!-- One line
# each: ... -->`), which would make every templated task match "line" and "each".
_BODY = "regexp_replace(e.body, '<!--.*?-->', ' ', 'gs')"
# kind -> (table, code, labels, criteria, body): SQL expressions over one row `e`
SEARCH_KINDS: dict[str, tuple[str, str, str, str, str]] = {
    "task": ("tasks", "e.code", _LABELS, _CRITERIA, _BODY),
    "sprint": ("sprints", "e.code", _LABELS, "NULL", f"concat_ws(' ', e.goal, {_BODY})"),
    "adr": ("adrs", _FILE_CODE, _LABELS, "NULL", _BODY),
    "bug": ("bugs", _FILE_CODE, _LABELS, "NULL", _BODY),
    "session": ("sessions", "e.key", "NULL", "NULL", _BODY),
}
_TEXTS = ("title", "code", "labels", "criteria", "body")


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
        rows = " UNION ALL ".join(_select(k, *SEARCH_KINDS[k]) for k in wanted)
        texts = ", ".join(f"coalesce({t}, '')" for t in _TEXTS)
        con.execute(
            f"""CREATE TEMP TABLE new_docs AS
                SELECT md5_number_lower(file_path) AS doc, *,
                       md5(concat_ws(chr(30), {texts})) AS text_hash
                FROM ({rows})"""
        )
        new = dict(con.execute("SELECT doc, text_hash FROM new_docs").fetchall())
    else:
        new = {}
    old = dict(con.execute("SELECT doc, text_hash FROM old_docs").fetchall())
    stale = [doc for doc, digest in old.items() if new.get(doc) != digest]
    fresh = [doc for doc, digest in new.items() if old.get(doc) != digest]
    if len(stale) == 1:  # an equality filter: no join to build for the common case
        con.execute("DELETE FROM terms WHERE doc = ?", stale)
    elif stale:
        con.execute("DELETE FROM terms WHERE doc IN (SELECT unnest(?::UBIGINT[]))", [stale])
    lengths = "NULL"
    if fresh:
        con.execute(_NEW_TERMS, [fresh])
        con.execute("INSERT INTO terms SELECT * FROM new_terms ORDER BY term, doc")
        lengths = "(SELECT sum(t.long) FROM new_terms t WHERE t.doc = n.doc)"
    if wanted:
        con.execute(
            f"""INSERT INTO term_docs
                    (file_path, doc, kind, code, title, status, doc_len, text_hash)
                SELECT n.file_path, n.doc, n.kind, n.code, n.title, n.status,
                       coalesce({lengths}, o.doc_len, 0)::INTEGER, n.text_hash
                FROM new_docs n
                     LEFT JOIN old_docs o ON o.doc = n.doc AND o.text_hash = n.text_hash"""
        )
        con.execute("DROP TABLE new_docs")
    if fresh:
        con.execute("DROP TABLE new_terms")
    con.execute("DROP TABLE old_docs")


REBUILD_CHUNK = 30_000  # files whose documents a rebuild tokenises at once


def rebuild(con: Any, chunk: int | None = None) -> None:
    """Every term row again from the entity tables, for a rebuild whose rows were bulk
    loaded (`RowSink`) rather than applied as a batch of touched paths.

    A rebuild runs under a memory limit (`sync.rebuild.DUCKDB_MEMORY`), and tokenising
    100,000 tasks at once does not fit in it: the documents are tokenised `chunk` files at a
    time, and the table is then put in term order as a whole (an external sort, which DuckDB
    spills to disk), as `refresh` keeps it for lookups that prune row groups.
    """
    chunk = chunk or REBUILD_CHUNK
    con.execute("DELETE FROM terms")
    con.execute("DELETE FROM term_docs")
    paths = [row[0] for row in con.execute("SELECT path FROM files ORDER BY path").fetchall()]
    parts = [paths[i : i + chunk] for i in range(0, len(paths), chunk)] or [[]]
    for part in parts:
        con.execute("CREATE TEMP TABLE touched AS SELECT unnest(?::VARCHAR[]) AS path", [part])
        before(con)
        refresh(con)
        con.execute("DROP TABLE touched")
    if len(parts) > 1:
        con.execute("CREATE TEMP TABLE sorted_terms AS SELECT * FROM terms ORDER BY term, doc")
        con.execute("DELETE FROM terms")
        con.execute("INSERT INTO terms SELECT * FROM sorted_terms")
        con.execute("DROP TABLE sorted_terms")


def _select(kind: str, table: str, *texts: str) -> str:
    """One row per touched document of one table: what term_docs keeps, and its texts."""
    named = ", ".join(f"{expr} AS {name}" for expr, name in zip(texts, _TEXTS[1:], strict=True))
    return f"""
        SELECT e.file_path, '{kind}' AS kind, e.status, e.title AS title, {named}
        FROM {table} e WHERE e.file_path IN (SELECT path FROM touched)"""


_WEIGHT = "CASE field " + " ".join(f"WHEN '{f}' THEN {w}" for f, w in FIELD_WEIGHTS.items())
_LONG = ", ".join(f"'{f}'" for f in LONG_FIELDS)
_STOP = ", ".join(f"'{w}'" for w in STOPWORDS)
# The term rows of the documents whose text is new (the parameter): one per (document,
# term), the code also as one whole term (`key`) when it is more than one word.
_NEW_TERMS = f"""
    CREATE TEMP TABLE new_terms AS
    WITH texts AS (
        SELECT doc, field, text FROM (UNPIVOT (
            SELECT doc, {", ".join(_TEXTS)} FROM new_docs
            WHERE doc IN (SELECT unnest(?::UBIGINT[])))
        ON {", ".join(_TEXTS)} INTO NAME field VALUE text)),
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
