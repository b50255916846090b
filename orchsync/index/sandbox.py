"""User SQL on a DuckDB instance that can reach nothing but the index.

Agents pass SQL an attacker may have written, and DuckDB is a full engine: table functions
read any file (`read_text('/etc/shadow')`), `COPY ... TO` writes one (even inside `EXPLAIN
ANALYZE`), URLs download, extensions install. So the wall is the engine's own
configuration, set before the first user statement and then locked:

- a fresh in-memory instance (no state of an earlier query, no temp folder: `temp_directory`
  empty, so nothing spills to disk) with bounded `memory_limit` and `threads`, extension
  autoload and autoinstall off;
- the index attached read-only and made the default catalog; the archived Parquet events
  behind a temporary `orchestration_events_all` view that names each file;
- `allowed_paths` = exactly those archive files (never a folder: an allowed folder would
  let `COPY ... TO` create a file in it), then `enable_external_access = false`, then
  `lock_configuration = true`, in that order. DuckDB adds the attached index's own files.

Measured on DuckDB 2.0.1: `read_text`, `read_blob`, `read_csv`, `glob`, `sniff_csv`,
`parquet_metadata`, `COPY ... TO`, `EXPORT DATABASE`, `ATTACH`, `INSTALL`/`LOAD`, URLs,
`CREATE SECRET` and every `SET`/`RESET`/`PRAGMA` of a setting are refused by the engine.
The one write the engine still allows is to a file it may read (an archive file, with
`USE_TMP_FILE false`); the statement check (`check_read_only`: SELECT, or EXPLAIN of a
SELECT) refuses every COPY, and the worker process (`worker.py`) may write no file at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from orchsync.errors import QueryLimit, UsageError
from orchsync.index.duck import attach_read_only, duckdb
from orchsync.index.sqlerrors import sql_message

__all__ = [
    "READ_ONLY_MESSAGE",
    "Fetched",
    "check_read_only",
    "fetch_bounded",
    "open_sandbox",
    "plain",
]

ALIAS = "orchsync"  # the attached index: the default catalog of user SQL
READ_ONLY_MESSAGE = (
    "orchsync query is read-only: the index is rebuilt from git; edit the files instead"
)
FETCH_BATCH = 1000

# Statement types a query may run: reads only. Checked on DuckDB's own parse of every
# statement, so a comment or a `SELECT 1;` in front of a COPY ... TO cannot slip past;
# an EXPLAIN passes only when what it explains is one SELECT (EXPLAIN ANALYZE runs it).
_READ_STATEMENTS = {"SELECT", "EXPLAIN"}


def open_sandbox(
    index_path: Path,
    archive_files: Sequence[Path] = (),
    *,
    memory_limit: str = "512MB",
    threads: int = 2,
    lock_wait: float = 15.0,
) -> duckdb.DuckDBPyConnection:
    """A locked connection for user SQL over the index at `index_path` (opened read-only).

    While a writer holds the index, the attach is retried for up to `lock_wait` seconds.
    """
    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "allow_persistent_secrets": False,
            "temp_directory": "",
            "memory_limit": memory_limit,
            "threads": str(threads),
        },
    )
    try:
        con.execute("SET enable_progress_bar = false")
        _attach(con, index_path, lock_wait)
        con.execute(f"USE {ALIAS}")
        con.execute(_events_all_view(archive_files))
        files = "[" + ", ".join(_literal(str(p)) for p in archive_files) + "]"
        con.execute(f"SET allowed_paths = {files}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _attach(con: duckdb.DuckDBPyConnection, index_path: Path, lock_wait: float) -> None:
    if not index_path.is_file():
        raise UsageError(f"no index at {index_path}: run orchsync reindex")
    attach_read_only(con, index_path, ALIAS, wait=lock_wait, poll=0.01)


def _events_all_view(archive_files: Sequence[Path]) -> str:
    """`orchestration_events_all` over exactly these files: the index's own view globs the
    archive folder, which would need the folder allowed (and writable by COPY)."""
    from orchsync.index.schema import TABLES

    cols = ", ".join(f'"{c}"' for c, _ in TABLES["events"])
    sql = f"CREATE TEMP VIEW orchestration_events_all AS SELECT {cols} FROM {ALIAS}.main.events"
    if archive_files:
        files = "[" + ", ".join(_literal(str(p)) for p in archive_files) + "]"
        sql += f" UNION ALL BY NAME SELECT {cols} FROM read_parquet({files})"
    return sql


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- the statement check ---------------------------------------------------------------------


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> str | None:
    """The one read statement of `sql` (None for an empty text); a UsageError otherwise."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"SQL error: {sql_message(str(exc), sql)}") from exc
    for statement in statements:
        kind = statement.type.name
        if kind not in _READ_STATEMENTS or (
            kind == "EXPLAIN" and not _explains_a_select(con, statement.query)
        ):
            raise UsageError(READ_ONLY_MESSAGE)
    if len(statements) > 1:
        raise UsageError(
            f"orchsync query runs one statement at a time; this text holds {len(statements)}"
        )
    return statements[0].query if statements else None


def _explains_a_select(con: duckdb.DuckDBPyConnection, text: str) -> bool:
    """Whether an EXPLAIN statement's text explains exactly one SELECT.

    Tokens by DuckDB's own tokenizer (comments skipped): EXPLAIN, then ANALYZE or a
    parenthesised option list, then the explained statement, parsed again on its own.
    Anything unexpected counts as not a SELECT: refusing a strange EXPLAIN costs nothing.
    """
    every = [(pos, kind.name) for pos, kind in duckdb.tokenize(text)]
    ends = [pos for pos, _ in every[1:]] + [len(text)]
    spans = [(pos, end, kind) for (pos, kind), end in zip(every, ends, strict=True)]
    tokens = [(pos, kind) for pos, _, kind in spans if kind != "comment"]
    words = [text[pos:end].strip() for pos, end, kind in spans if kind != "comment"]
    if not words or words[0].lower() != "explain":
        return False
    i = 1
    if i < len(words) and words[i].lower() in ("analyze", "analyse"):
        i += 1
    elif i < len(words) and words[i] == "(" and _is_option_list(words, i):
        depth = 0
        while i < len(words):
            if tokens[i][1] == "operator":
                depth += words[i].count("(") - words[i].count(")")
            i += 1
            if depth <= 0:
                break
    if i >= len(words):
        return False
    try:
        inner = con.extract_statements(text[tokens[i][0] :])
    except duckdb.Error:
        return False
    return len(inner) == 1 and inner[0].type.name == "SELECT"


def _is_option_list(words: list[str], i: int) -> bool:
    """`EXPLAIN (ANALYZE, FORMAT json) ...` rather than `EXPLAIN (SELECT ...)`."""
    return i + 1 < len(words) and words[i + 1].lower() not in ("select", "from", "with", "(")


# --- bounded results -------------------------------------------------------------------------


@dataclass(slots=True)
class Fetched:
    """Rows of one query, as JSON-ready values, and why fetching stopped early (if it did)."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated: str | None = None  # "rows" or "bytes"
    size: int = 0  # bytes of the rows as JSON


def fetch_bounded(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    max_rows: int | None = None,
    max_bytes: int | None = None,
    bytes_error: bool = False,
) -> Fetched:
    """Run one statement and fetch at most `max_rows` rows and `max_bytes` of JSON.

    Rows are fetched a batch at a time from DuckDB's streaming result, so a query of a
    billion rows costs what was fetched, never the whole result. Past `max_bytes` the rows
    are cut (`truncated = "bytes"`), or with `bytes_error` it is a QueryLimit error.
    """
    try:
        cur = con.execute(sql)
        out = Fetched(columns=[d[0] for d in cur.description] if cur.description else [])
        if cur.description is None:
            return out
        while max_rows is None or len(out.rows) <= max_rows:
            want = (
                FETCH_BATCH if max_rows is None else min(FETCH_BATCH, max_rows + 1 - len(out.rows))
            )
            batch = cur.fetchmany(want)
            if not batch:
                break
            for row in batch:
                values = [plain(v) for v in row]
                size = len(json.dumps(values, default=str, ensure_ascii=False)) + 1
                if max_bytes is not None and out.size + size > max_bytes:
                    if bytes_error:
                        raise QueryLimit(
                            f"the result passed {_human(max_bytes)} (the size limit); "
                            "select fewer columns or rows (LIMIT, or --limit)"
                        )
                    out.truncated = "bytes"
                    return out
                out.rows.append(values)
                out.size += size
        if max_rows is not None and len(out.rows) > max_rows:
            del out.rows[max_rows:]
            out.truncated = "rows"
        return out
    except duckdb.Error as exc:
        raise _engine_error(exc, sql) from exc


def _engine_error(exc: Exception, sql: str = "") -> UsageError:
    name = type(exc).__name__
    text = str(exc)
    if name == "InterruptException":
        return QueryLimit("the query was interrupted (time limit)")
    if name == "OutOfMemoryException" or "Out of Memory" in text:
        first = text.splitlines()[0] if text else name
        return QueryLimit(f"the query needed more memory than its limit: {first}")
    if name == "PermissionException":
        first = text.splitlines()[0]
        return UsageError(
            f"SQL error: {first} (queries read the index only: no files, URLs or extensions)"
        )
    return UsageError(f"SQL error: {sql_message(str(exc), sql)}")


def plain(value: Any) -> Any:
    """A DuckDB value as JSON-ready data (times as ISO text, like every listing)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"
