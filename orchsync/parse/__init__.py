"""Bytes in, entities and diagnostics out: the first stage of the pipeline.

Parsing never raises on what people write; every problem becomes a Diagnostic and the
entity is still produced (marked invalid) with whatever could be read.
"""

from orchsync.parse.entities import parse_file

__all__ = ["parse_file"]
