"""The DuckDB index: a disposable, rebuildable read model of the delegation tree."""

from orchsync.index.schema import SCHEMA_VERSION
from orchsync.index.store import Batch, Index, IndexMissing

__all__ = ["SCHEMA_VERSION", "Batch", "Index", "IndexMissing"]
