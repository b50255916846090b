"""A reader for the plain YAML that front matter is nearly always written in, or None.

Composing PyYAML nodes costs ~25 us for a typical 12-line front matter, even with the C
loader: a Python node, two marks and a Python `resolve` call per scalar. Most front matter
is `key: value` lines, block lists of scalars or of small maps, and one-line `[a, b]`
lists; this module reads exactly that subset line by line, in ~40% less time, and
returns None for anything else (a multi-line scalar, an anchor, a tag, a tab, a comment
after a value, a duplicate key, ...) so that PyYAML decides. Scalars it accepts are typed
by PyYAML's own resolver and constructors (`yes` -> True, `2024-01-10` -> ISO text), so the
result is the same data PyYAML gives; tests compare the two on generated documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["read_plain"]

Scalar = Callable[[str], Any]  # plain scalar text -> value; raises when it cannot type it

# Characters that are printable to YAML and carry no special meaning anywhere in a line:
# no tab (indentation rules), no CR/NEL/LS/PS (line breaks to YAML), no BOM, no controls.
_SAFE_TEXT = re.compile(
    "[\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*"
)
# `key:` or `key: rest` (a line's text after its indent); the key a plain word whose type
# is still checked by the resolver.
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]{0,127}):(?: +(.*))?")
# A plain scalar in a one-line flow list: no indicator, quote or `:` anywhere.
_FLOW_ITEM = re.compile(r"[A-Za-z0-9_.+][A-Za-z0-9_./+@ -]*")
# What would end a plain scalar early: a mapping indicator, a comment.
_PLAIN_STOP = re.compile(r": | #|:$")
# What may not start a plain scalar (YAML indicators), and `-` unless a number follows.
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


class _Refuse(Exception):
    """Outside the subset: PyYAML reads this document."""


def read_plain(
    text: str, scalar: Scalar, max_nodes: int
) -> tuple[dict[str, Any], dict[str, int]] | None:
    """(data, top-level key -> 0-based line) for a subset document, else None.

    `scalar` types a plain scalar (str, int, bool, None, ISO date text, ...) exactly as
    PyYAML's safe loader would, raising for anything it cannot type itself. A document of
    more than `max_nodes` values (the root, each mapping value, each list item) is refused.
    """
    if _SAFE_TEXT.fullmatch(text) is None:
        return None
    rows: list[tuple[int, int, str]] = []  # (line, indent, text) of each content line
    for n, line in enumerate(text.split("\n")):
        body = line.lstrip(" ")
        if body and body[0] != "#":
            rows.append((n, len(line) - len(body), body))
    if not rows or rows[0][1] != 0:
        return None  # empty, or a root indented (PyYAML decides both)
    reader = _Reader(rows, scalar)
    try:
        data, end = reader.mapping(0, 0, reader.top)
    except (_Refuse, LookupError, ValueError, TypeError):
        return None  # includes constructor errors (a month 13): PyYAML reports them
    if end < len(rows) or reader.values + 1 > max_nodes:  # + 1: the root
        return None  # a line the root mapping did not take; too many values
    return data, reader.top


class _Reader:
    """Recursive descent over content rows; each method returns (value, next row)."""

    __slots__ = ("rows", "scalar", "top", "values")

    def __init__(self, rows: list[tuple[int, int, str]], scalar: Scalar) -> None:
        self.rows = rows
        self.scalar = scalar
        self.top: dict[str, int] = {}
        self.values = 0  # mapping values and list items read, checked against the limit

    def mapping(
        self, k: int, indent: int, lines_out: dict[str, int] | None
    ) -> tuple[dict[str, Any], int]:
        """A block mapping whose keys sit at column `indent`, from row k (a key row)."""
        out: dict[str, Any] = {}
        rows = self.rows
        while k < len(rows):
            line, width, body = rows[k]
            if width < indent:
                return out, k  # the parent's next row
            m = _KEY.fullmatch(body)
            if m is None or width > indent:
                raise _Refuse  # deeper than the keys: a multi-line scalar, or worse
            key = m.group(1)
            if key in out or self.scalar(key) != key:
                raise _Refuse  # a duplicate, or a key that is not a string (`yes:`, `null:`)
            if lines_out is not None:
                lines_out[key] = line
            self.values += 1
            rest = m.group(2)
            if rest and rest[0] != "#":  # the common case, `key: value`, without a call
                out[key] = self.inline(rest)
                k += 1
            else:
                out[key], k = self.value(rest, k, indent)
        return out, k

    def value(self, rest: str | None, k: int, indent: int) -> tuple[Any, int]:
        """The value after `key:` on row k (a key at column `indent`), and the next row."""
        rows = self.rows
        k += 1
        if rest:
            if rest[0] == "#":
                raise _Refuse  # `key: # comment`: PyYAML's rules for what follows
            return self.inline(rest), k
        if k == len(rows):
            return None, k
        _, width, body = rows[k]
        if width >= indent and body[:2] == "- ":
            return self.sequence(k, width)
        if width > indent:
            return self.mapping(k, width, None)
        return None, k  # `key:` alone is null

    def sequence(self, k: int, indent: int) -> tuple[list[Any], int]:
        """A block list whose `- ` sit at column `indent`, from row k."""
        out: list[Any] = []
        rows = self.rows
        while k < len(rows):
            _, width, body = rows[k]
            if width < indent or (width == indent and body[:2] != "- "):
                return out, k  # a dedent, or the parent's key at the same column
            if width != indent:
                raise _Refuse  # deeper than the dashes: a multi-line scalar, or worse
            self.values += 1
            rest = body[2:].lstrip(" ")
            if not rest or rest[0] == "#":
                raise _Refuse
            m = _KEY.fullmatch(rest)
            if m is not None:  # `- key: value`: a mapping whose keys sit where `key` does
                item, k = self.item_mapping(m, k, indent + len(body) - len(rest))
                out.append(item)
                continue
            out.append(self.inline(rest))
            k += 1
        return out, k

    def item_mapping(self, first: re.Match[str], k: int, indent: int) -> tuple[dict[str, Any], int]:
        key = first.group(1)
        if self.scalar(key) != key:
            raise _Refuse
        out: dict[str, Any] = {}
        self.values += 1
        out[key], k = self.value(first.group(2), k, indent)
        if k == len(self.rows) or self.rows[k][1] != indent:
            return out, k
        more, k = self.mapping(k, indent, None)
        for name, value in more.items():
            if name in out:
                raise _Refuse
            out[name] = value
        return out, k

    def inline(self, rest: str) -> Any:
        """A value written on its key's (or dash's) line."""
        first = rest[0]
        if first not in _INDICATORS or (first == "-" and rest[1:2].isdigit()):
            if _PLAIN_STOP.search(rest) is not None:
                raise _Refuse
            return self.scalar(rest.rstrip(" "))
        if first == '"':
            body = rest.rstrip(" ")
            inner = body[1:-1]
            if len(body) < 2 or body[-1] != '"' or '"' in inner or "\\" in inner:
                raise _Refuse
            return inner
        if first == "'":
            body = rest.rstrip(" ")
            inner = body[1:-1]
            if len(body) < 2 or body[-1] != "'" or "'" in inner.replace("''", ""):
                raise _Refuse
            return inner.replace("''", "'")
        if first != "[":
            raise _Refuse  # another indicator: `{`, `|`, `>`, `&`, `*`, `!`, ...
        body = rest.rstrip(" ")
        if body[-1] != "]":
            raise _Refuse
        inner = body[1:-1]
        if not inner.strip(" "):
            return []
        items = []
        parts = inner.split(",")
        self.values += len(parts)
        for part in parts:
            item = part.strip(" ")
            if _FLOW_ITEM.fullmatch(item) is None:
                raise _Refuse
            items.append(self.scalar(item))
        return items
