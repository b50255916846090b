"""Decode bytes, split front matter from body, and load YAML safely with line numbers.

PyYAML's C loader reads (it is ~10x faster than ruamel at 10,000 files); ruamel is kept
for writes that must round-trip comments. The node graph is walked once before
construction: that is where aliases (billion laughs) are refused in O(nodes), duplicate
keys are caught, and every field's line is recorded so diagnostics can point at it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["MAX_FILE_BYTES", "Document", "decode", "load_yaml", "split_front_matter"]

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 20_000

try:  # the C loader when libyaml is there; the pure one otherwise (same results, slower)
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

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
    lines: dict[FieldPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


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
    finally:
        loader.dispose()
    return doc


def _walk(root: yaml.Node, doc: Document, first_line: int) -> bool:
    """Record field lines, refuse aliases and count nodes; duplicate keys are reported."""
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
        doc.lines.setdefault(path, node.start_mark.line + first_line)
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
                doc.lines[(*path, key)] = line
            # pushed in reverse so nodes are visited in document order: an anchor is met
            # before its aliases, and the alias (not the anchor) is the one reported
            for key_node, value_node in reversed(node.value):
                stack.append((value_node, (*path, str(key_node.value))))
        elif isinstance(node, yaml.SequenceNode):
            for i in reversed(range(len(node.value))):
                stack.append((node.value[i], (*path, i)))
    return True


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
