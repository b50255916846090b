"""The DuckDB index: a disposable, rebuildable read model of the delegation tree.

`schema` needs no DuckDB; `store` imports it. Attributes load lazily so that reading the
schema version (to key cached answers) never pays the ~100 ms DuckDB import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchsync.index.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from orchsync.index.database import Batch, Index, IndexMissing

__all__ = ["SCHEMA_VERSION", "Batch", "Index", "IndexMissing"]


def __getattr__(name: str) -> Any:
    if name in ("Batch", "Index", "IndexMissing"):
        from orchsync.index import database as store

        return getattr(store, name)
    raise AttributeError(name)
