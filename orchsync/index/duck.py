"""DuckDB for orchsync: the engine module, without the Python package's start-up cost.

`import duckdb` costs ~100 ms on the reference machine, and ~65 ms of it is not the engine:
the package wraps `_duckdb` (the compiled engine) in Python helpers orchsync never calls
(the relational API, expressions, typing aliases) and looks its own version up in the
installed package metadata (`importlib.metadata`, which pulls in `email`). `import _duckdb`
is the engine alone, ~25 ms, with the same `connect`, connection, exception classes and
results: they are the objects `duckdb` re-exports.

    from orchsync.index.duck import duckdb

Where `_duckdb` is not a top-level module (DuckDB before 1.4 ships it as `duckdb.duckdb`),
the package is imported as usual. Once anything in the process imports the full `duckdb`
package, both names refer to the same classes, so mixing them is safe.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from orchsync.errors import LockTimeout

__all__ = ["attach_read_only", "duckdb"]

if TYPE_CHECKING:
    import duckdb
else:
    try:
        import _duckdb as duckdb
    except ImportError:  # pragma: no cover - older DuckDB
        import duckdb


def attach_read_only(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, *, wait: float, poll: float
) -> None:
    """ATTACH the index at `path` read-only as `alias`, asking again every `poll` seconds
    while a writer holds the file (DuckDB refuses at once rather than waiting), for at most
    `wait` seconds; any other error is raised as it is."""
    literal = "'" + str(path).replace("'", "''") + "'"
    sql = f"ATTACH {literal} AS {alias} (READ_ONLY)"
    deadline = time.monotonic() + wait
    while True:
        try:
            con.execute(sql)
            return
        except duckdb.Error as exc:
            text = str(exc).lower()
            if "lock" not in text and "conflicting" not in text:
                raise
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"the index {path} stayed locked by a writer for {wait:.0f} s"
                ) from exc
            time.sleep(poll)
