"""Decode bytes, split front matter from body, and load YAML safely with line numbers.

PyYAML's C loader reads (it is ~10x faster than ruamel at 10,000 files); ruamel is kept
for writes that must round-trip comments. Three ways to data, fastest first; each hands a
document it is not sure about to the next, so all three give identical data, lines and
problems (tests compare them on generated documents):

- `plainyaml` reads the plain subset nearly all front matter is written in, line by line,
  without building PyYAML nodes;
- the node path without a walk, when the text has no `&` (so no anchor, hence no alias):
  PyYAML composes the nodes and `_fast_data` converts plain maps, lists and scalars itself
  (~4x cheaper than PyYAML's pure-Python constructor); anything unusual (a duplicate key,
  an unusual tag, too many nodes, a constructor error) goes on to
- the full path, which walks every node before PyYAML constructs the data: that is where
  aliases (billion laughs) are refused in O(nodes), duplicate keys are caught, and every
  field's line is recorded so diagnostics can point at it.

The first two record only the top-level lines (what cross-file checks use); the nested
ones are computed on first use of `Document.lines`, which only an invalid document needs.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from orchsync.parse.plainyaml import read_plain

__all__ = ["MAX_FILE_BYTES", "Document", "decode", "load_yaml", "split_front_matter"]

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000

try:  # the C loader when libyaml is there; the pure one otherwise (same results, slower)
    _Base: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
# BaseResolver.resolve's tables, joined once: first character -> (tag, regexp) to try.
_WILDCARD = tuple(_Base.yaml_implicit_resolvers.get(None, ()))
_IMPLICIT = {
    first: (*resolvers, *_WILDCARD)
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
    if first is not None
}
assert not _Base.yaml_path_resolvers  # what lets `resolve` below skip path resolution


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """The safe loader with BaseResolver.resolve specialised to the safe loader's tables.

    The composer calls `resolve` once per node, in Python, even from the C loader: the
    original rebuilds a list of candidates per call; this version gives the same tags in
    about half the time.
    """

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _resolve_scalar(value, implicit[0])
        return _SEQ if kind is SequenceNode else _MAP


def _resolve_scalar(value: str, plain: bool) -> str:
    """The tag of a scalar: typed by the implicit resolvers only when plain (unquoted)."""
    if plain:
        for tag, regexp in _IMPLICIT.get(value[:1], _WILDCARD):
            if regexp.match(value):
                return tag
    return _STR


FieldPath = tuple[str | int, ...]


@dataclass(slots=True)
class Problem:
    """A diagnostic before it knows its file: line (1-based, in the file), field, message."""

    line: int | None
    field: str | None
    message: str
    severity: str = "error"


@dataclass(slots=True)
class Document:
    """A text file split into its YAML data and Markdown body, with where each field sits."""

    data: Any = None
    body: str = ""
    body_line: int = 1
    has_front_matter: bool = False
    problems: list[Problem] = field(default_factory=list)
    # The root and top-level lines are always here; nested ones only once `lines` is read.
    _lines: dict[FieldPath, int] = field(default_factory=dict, init=False, repr=False)
    # (root node or YAML text, first line) whose nested lines are not recorded yet.
    _pending: tuple[yaml.Node | str, int] | None = field(default=None, init=False, repr=False)

    @property
    def lines(self) -> dict[FieldPath, int]:
        """The line of every field path (`()` is the document itself)."""
        if self._pending is not None:
            node, first_line = self._pending
            self._pending = None
            if isinstance(node, str):
                loader = _Loader(node)
                try:
                    node = loader.get_single_node()
                finally:
                    loader.dispose()
            self._lines = {}
            _walk(node, self, first_line)  # no alias or duplicate here: only lines are added
        return self._lines

    def line(self, path: FieldPath, default: int | None = None) -> int | None:
        """The line of one field, without reading nested lines for a top-level path."""
        lines = self._lines if len(path) <= 1 else self.lines
        return lines.get(path, default)

    def top_lines(self) -> dict[str, int]:
        """Top-level field (or list index, as text) -> line, for cross-file diagnostics."""
        return {str(k[0]): v for k, v in self._lines.items() if len(k) == 1}


def decode(raw: bytes) -> tuple[str | None, list[Problem]]:
    """Bytes to text, tolerating a BOM and CRLF; refuse binary and oversized files."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [
            Problem(
                None,
                None,
                f"file is {len(raw):,} bytes, over the {MAX_FILE_BYTES:,}-byte limit; not parsed",
            )
        ]
    if b"\x00" in raw[:8192]:
        return None, [Problem(None, None, "binary file (NUL bytes); not parsed")]
    problems: list[Problem] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(
            Problem(
                line,
                None,
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); read with replacement characters",
            )
        )
        text = raw.decode("utf-8", errors="replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, problems


def split_front_matter(text: str) -> Document:
    """Split `---\\nYAML\\n---\\nbody`; a file without the opening fence is all body."""
    doc = Document(body=text)
    if not (text.startswith("---\n") or text == "---"):
        return doc
    end = -1
    pos = 4
    while True:
        nl = text.find("\n", pos)
        line = text[pos:] if nl < 0 else text[pos:nl]
        if line.rstrip() in ("---", "..."):
            end = pos
            break
        if nl < 0:
            break
        pos = nl + 1
    if end < 0:
        doc.problems.append(Problem(1, None, "front matter opened with '---' but never closed"))
        doc.body = text
        return doc
    yaml_text = text[4:end]
    nl = text.find("\n", end)
    doc.body = "" if nl < 0 else text[nl + 1 :]
    doc.body_line = yaml_text.count("\n") + 3
    doc.has_front_matter = True
    load_yaml(yaml_text, doc, first_line=2)
    return doc


def load_yaml(text: str, doc: Document, first_line: int = 1) -> Document:
    """Load one YAML document into doc.data, recording problems instead of raising."""
    plain = read_plain(text, _plain_scalar, MAX_NODES)
    if plain is None:
        return _load_nodes(text, doc, first_line, fast=True)
    doc.data, top = plain
    lines = doc._lines
    lines[()] = next(iter(top.values())) + first_line  # the root starts at its first key
    for key, line in top.items():
        lines[(key,)] = line + first_line
    doc._pending = (text, first_line)
    return doc


def _load_nodes(text: str, doc: Document, first_line: int, *, fast: bool) -> Document:
    """Load through PyYAML's node graph. `fast=False` is the reference path, the one the
    faster ways must agree with: walk every node, then PyYAML constructs the data."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + first_line if mark else None
            message = f"invalid YAML: {exc.problem or exc.context}"
            rows = text.split("\n")
            bad = rows[mark.line] if mark and mark.line < len(rows) else ""
            indent = bad[: len(bad) - len(bad.lstrip(" \t"))]  # a tab here is the usual cause
            if "\t" in indent or "tab" in str(exc).lower():
                message += " (tabs are not allowed for indentation in YAML; use spaces)"
            doc.problems.append(Problem(line, None, message))
            return doc
        except yaml.YAMLError as exc:
            doc.problems.append(Problem(first_line, None, f"invalid YAML: {exc}"))
            return doc
        if node is None:
            doc.data = None
            return doc
        if fast and "&" not in text:  # without an anchor there can be no alias to refuse
            try:
                doc.data = _fast_data(loader, node)
            except Exception:  # noqa: BLE001 - the full path below reproduces it exactly
                pass
            else:
                doc._lines = _top_lines(node, first_line)
                doc._pending = (node, first_line)
                return doc
        if not _walk(node, doc, first_line):
            return doc
        try:
            doc.data = _jsonable(loader.construct_document(node))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            doc.problems.append(
                Problem(
                    mark.line + first_line if mark else first_line,
                    None,
                    f"invalid YAML value: {exc}",
                )
            )
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            # PyYAML's constructors raise plain Python errors for values such as a month 13
            # (`2024-13-45`), `!!bool maybe` or `0b_`: still a diagnostic, never a crash.
            doc.problems.append(
                Problem(_line_of_value(node, exc, first_line), None, f"invalid YAML value: {exc}")
            )
    finally:
        loader.dispose()
    return doc


def _line_of_value(root: yaml.Node, exc: Exception, first_line: int) -> int:
    """The line of the scalar a constructor choked on, when its text is in the message."""
    text = str(exc)
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.value and node.value in text:
                return node.start_mark.line + first_line
        elif isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in node.value for v in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return first_line


def _walk(root: yaml.Node, doc: Document, first_line: int) -> bool:
    """Record field lines, refuse aliases and count nodes; duplicate keys are reported."""
    lines = doc._lines
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, FieldPath]] = [(root, ())]
    count = 0
    while stack:
        node, path = stack.pop()
        if id(node) in seen:  # the second visit of a node is an alias (document order)
            doc.problems.append(
                Problem(
                    _nearest_line(doc, path, node.start_mark.line + first_line),
                    _dotted(path) or None,
                    "YAML anchors and aliases are not allowed (refused to expand them)",
                )
            )
            return False
        seen.add(id(node))
        count += 1
        if count > MAX_NODES:
            doc.problems.append(
                Problem(first_line, None, f"YAML has more than {MAX_NODES:,} nodes; not parsed")
            )
            return False
        lines.setdefault(path, node.start_mark.line + first_line)
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key_node, _value in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + first_line
                if key in keys:
                    doc.problems.append(
                        Problem(
                            line,
                            _dotted((*path, key)),
                            f"duplicate key (first at line {keys[key]}); the last value is used",
                        )
                    )
                keys[key] = line
                lines[(*path, key)] = line
            # pushed in reverse so nodes are visited in document order: an anchor is met
            # before its aliases, and the alias (not the anchor) is the one reported
            for key_node, value_node in reversed(node.value):
                stack.append((value_node, (*path, str(key_node.value))))
        elif isinstance(node, yaml.SequenceNode):
            for i in reversed(range(len(node.value))):
                stack.append((node.value[i], (*path, i)))
    return True


_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_BOOLS = SafeConstructor.bool_values
# Scalars whose PyYAML constructor the fast path calls as is (then ISO text for dates).
_CALLED = {
    "tag:yaml.org,2002:int": SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:timestamp": SafeConstructor.construct_yaml_timestamp,
}


_SAFE_CONSTRUCTOR = SafeConstructor()
# Plain scalar text -> value. Front matter repeats its values (statuses, agents, tools,
# paths) and always its keys, and a value depends on its text alone; the values are
# immutable (str, int, float, bool, None), so one object can serve every file.
_SCALARS: dict[str, Any] = {}
_SCALARS_MAX = 50_000


def _plain_scalar(value: str) -> Any:
    """A plain scalar typed as the safe loader types it (then ISO text for dates).

    Raises KeyError for a tag the fast readers leave to PyYAML's full construction.
    """
    try:
        return _SCALARS[value]
    except KeyError:
        pass
    result = _type_scalar(value)
    if len(_SCALARS) >= _SCALARS_MAX:
        _SCALARS.clear()
    _SCALARS[value] = result
    return result


def _type_scalar(value: str) -> Any:
    tag = _resolve_scalar(value, True)
    if tag == _STR:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return _BOOLS[value.lower()]
    result = _CALLED[tag](_SAFE_CONSTRUCTOR, ScalarNode(tag, value))
    return result.isoformat() if isinstance(result, _dt.date) else result


class _Irregular(Exception):
    """The document needs the full path: a duplicate key, an unusual tag, too many nodes."""


def _fast_data(loader: Any, root: yaml.Node) -> Any:
    """`_jsonable(loader.construct_document(root))` for alias-free plain YAML, much cheaper.

    Raises (_Irregular or whatever a constructor raised) when the full path must decide.
    Nodes are counted as `_walk` counts them (values, not keys) against MAX_NODES.
    """
    return _convert(root, loader, [MAX_NODES])


def _convert(node: yaml.Node, loader: Any, budget: list[int]) -> Any:
    # A module-level function, not a closure: a recursive closure is a reference cycle
    # (function -> cell -> function) that would keep each loader alive until a GC pass.
    budget[0] -= 1
    if budget[0] < 0:
        raise _Irregular
    cls, tag = node.__class__, node.tag
    if cls is ScalarNode:
        if tag == _STR:
            return node.value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return _BOOLS[node.value.lower()]
        value = _CALLED[tag](loader, node)  # type: ignore[arg-type]  # KeyError for any other tag: full path
        return value.isoformat() if isinstance(value, _dt.date) else value
    if cls is MappingNode and tag == _MAP:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.__class__ is not ScalarNode or key_node.tag != _STR:
                raise _Irregular  # merge keys, `=`, non-string keys: PyYAML's rules
            key = key_node.value
            if key in out:
                raise _Irregular  # the full path reports the duplicate
            out[key] = _convert(value_node, loader, budget)
        return out
    if cls is SequenceNode and tag == _SEQ:
        return [_convert(item, loader, budget) for item in node.value]
    raise _Irregular


def _top_lines(root: yaml.Node, first_line: int) -> dict[FieldPath, int]:
    """The entries `_walk` records for the root and its direct children, and no others."""
    lines: dict[FieldPath, int] = {(): root.start_mark.line + first_line}
    if isinstance(root, MappingNode):
        for key_node, _value in root.value:
            lines[(key_node.value,)] = key_node.start_mark.line + first_line
    elif isinstance(root, SequenceNode):
        for i, item in enumerate(root.value):
            lines[(i,)] = item.start_mark.line + first_line
    return lines


def _nearest_line(doc: Document, path: FieldPath, default: int) -> int:
    """The line recorded for path or its closest ancestor (an alias has no mark of its own)."""
    while path:
        if path in doc.lines:
            return doc.lines[path]
        path = path[:-1]
    return default


def _dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _jsonable(value: Any) -> Any:
    """Dates to ISO strings and keys to str, so data is JSON- and schema-friendly."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, set):
        return sorted(_jsonable(v) for v in value)
    return value


dotted = _dotted
