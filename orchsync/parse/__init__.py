"""Bytes in, entities and diagnostics out: the first stage of the pipeline.

Parsing never raises on what people write; every problem becomes a Diagnostic and the
entity is still produced (marked invalid) with whatever could be read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["parse_file"]

if TYPE_CHECKING:
    from orchsync.parse.entities import parse_file


def __getattr__(name: str) -> Any:
    # Lazy, so `orchsync.parse.yamldoc` (used by config loading) does not drag in the
    # entity builders and the schema validator.
    if name == "parse_file":
        from orchsync.parse.entities import parse_file

        return parse_file
    raise AttributeError(name)
