"""Edit one front-matter field, or add a note, and leave every other byte as it was.

A round trip through a YAML library re-flows lines, re-indents lists and drops odd quoting.
Here the YAML is only *composed* (PyYAML nodes carry their exact character offsets), and
the value's span is replaced in the original text: comments, key order, quoting, CRLF line
endings, a BOM and the Markdown body stay byte for byte what the user wrote.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import yaml

from orchsync.errors import UsageError

__all__ = ["FrontMatterError", "append_note", "get_field", "set_field"]

log = logging.getLogger(__name__)

_BOM = "\ufeff"
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]")
_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./+-]*$")


class FrontMatterError(UsageError):
    """The file's front matter cannot be edited safely; the message says what to fix."""


@dataclass(slots=True)
class _Text:
    bom: bool
    text: str  # without the BOM, line endings as in the file
    eol: str
    yaml_start: int  # offsets of the YAML region in `text` (end = start of the closing fence)
    yaml_end: int
    body_start: int  # first character after the closing fence line
    has_front_matter: bool

    def encode(self, text: str) -> bytes:
        return ((_BOM if self.bom else "") + text).encode("utf-8")


def _split(raw: bytes, path: str, yaml_file: bool) -> _Text:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrontMatterError(f"{path} is not valid UTF-8; fix it first (orchsync check)") from exc
    bom = text.startswith(_BOM)
    if bom:
        text = text[1:]
    nl = text.find("\n")
    eol = "\r\n" if nl > 0 and text[nl - 1] == "\r" else "\n"
    if yaml_file:
        return _Text(bom, text, eol, 0, len(text), len(text), True)
    first = text[: nl + 1] if nl >= 0 else text
    if first.rstrip("\r\n") != "---":
        return _Text(bom, text, eol, 0, 0, 0, False)
    pos = len(first)
    while pos < len(text):
        end = text.find("\n", pos)
        line_end = len(text) if end < 0 else end + 1
        if text[pos:line_end].rstrip() in ("---", "..."):
            return _Text(bom, text, eol, len(first), pos, line_end, True)
        pos = line_end
    raise FrontMatterError(f"{path}: front matter opened with '---' but never closed; fix it first")


def _compose(doc: _Text, path: str) -> yaml.MappingNode | None:
    region = doc.text[doc.yaml_start : doc.yaml_end]
    try:
        node = yaml.compose(region, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise FrontMatterError(
            f"{path}: front matter is not valid YAML; fix it first (orchsync check): {exc}"
        ) from exc
    if node is None:
        return None
    if not isinstance(node, yaml.MappingNode):
        raise FrontMatterError(f"{path}: front matter is not a mapping of keys; fix it first")
    return node


def _entries(
    root: yaml.MappingNode | None, key: str, path: str
) -> tuple[yaml.Node, yaml.Node] | None:
    if root is None:
        return None
    found = [(k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == key]
    if len(found) > 1:
        raise FrontMatterError(
            f"{path}: '{key}' appears {len(found)} times in front matter; keep one"
        )
    return found[0] if found else None


def get_field(raw: bytes, key: str, *, path: str = "file", yaml_file: bool = False) -> str | None:
    """The scalar text of a top-level key, or None when absent (or not a scalar)."""
    doc = _split(raw, path, yaml_file)
    if not doc.has_front_matter:
        return None
    entry = _entries(_compose(doc, path), key, path)
    if entry is None or not isinstance(entry[1], yaml.ScalarNode):
        return None
    return str(entry[1].value)


def _scalar(value: str, style: str | None) -> str:
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(value, ensure_ascii=False)
    if _PLAIN.match(value) and value.lower() not in (
        "null",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "~",
    ):
        return value
    return json.dumps(value, ensure_ascii=False)


def set_field(
    raw: bytes,
    key: str,
    value: str,
    *,
    path: str = "file",
    after: str | None = "title",
    yaml_file: bool = False,
) -> bytes:
    """Set top-level `key` to the string `value`; every other byte of the file is kept.

    An existing value keeps its quoting style and any comment after it. A missing key is
    added on its own line after `after` (or at the end of the front matter); a Markdown file
    without front matter gets a new front-matter block holding only this key.
    """
    doc = _split(raw, path, yaml_file)
    text = doc.text
    if not doc.has_front_matter:
        return doc.encode(f"---{doc.eol}{key}: {_scalar(value, None)}{doc.eol}---{doc.eol}" + text)
    root = _compose(doc, path)
    base = doc.yaml_start
    entry = _entries(root, key, path)
    if entry is not None:
        node = entry[1]
        if not isinstance(node, yaml.ScalarNode):
            raise FrontMatterError(
                f"{path}: '{key}' is a list or mapping, not a value; edit it by hand"
            )
        start, end = base + node.start_mark.index, base + node.end_mark.index
        old = text[start:end]
        new = _scalar(value, node.style if node.style in ("'", '"') else None)
        if start == end:
            new = " " + new
        elif "\n" in old:  # a block or multi-line scalar: becomes one line
            new += doc.eol if old.endswith("\n") else ""
        return doc.encode(text[:start] + new + text[end:])
    if root is not None and root.flow_style:
        raise FrontMatterError(
            f"{path}: front matter is a flow mapping {{...}}; add '{key}' by hand"
        )
    line = f"{key}: {_scalar(value, None)}{doc.eol}"
    anchor = _entries(root, after, path) if after else None
    if anchor is not None:
        pos = base + anchor[1].end_mark.index
        if not (pos > base and text[pos - 1] == "\n"):
            nl = text.find("\n", pos, doc.yaml_end)
            pos = doc.yaml_end if nl < 0 else nl + 1
    else:
        pos = doc.yaml_end
    if pos > 0 and text[pos - 1] != "\n":  # the region's last line has no line ending
        line = doc.eol + line
    return doc.encode(text[:pos] + line + text[pos:])


def append_note(raw: bytes, note: str, *, heading: str = "Notes", path: str = "file") -> bytes:
    """Append `note` as a list item at the end of the body's `## Notes` section.

    The section is created at the end of the file when missing. Lines inside fenced code
    blocks are never taken for headings. Nothing before the insertion point changes.
    """
    doc = _split(raw, path, yaml_file=False)
    text, eol = doc.text, doc.eol
    item = f"- {' '.join(note.split())}{eol}"
    body = text[doc.body_start :]
    lines = body.splitlines(keepends=True)
    found, level, in_fence = None, 0, False
    for i, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        if _FENCE.match(stripped):
            in_fence = not in_fence
            continue
        m = None if in_fence else _HEADING.match(stripped)
        if m is None:
            continue
        if found is None:
            if m.group(2).strip().lower() == heading.lower():
                found, level = i, len(m.group(1))
        elif len(m.group(1)) <= level:
            return doc.encode(text[: doc.body_start] + _insert(lines, found, i, item, eol))
    if found is not None:
        return doc.encode(text[: doc.body_start] + _insert(lines, found, len(lines), item, eol))
    tail = body
    if tail and not tail.endswith("\n"):
        tail += eol
    if tail.strip() and not tail.endswith(eol + eol) and not tail.endswith("\n\n"):
        tail += eol
    return doc.encode(text[: doc.body_start] + tail + f"## {heading}{eol}{eol}{item}")


def _insert(lines: list[str], heading: int, end: int, item: str, eol: str) -> str:
    """Put `item` after the last non-blank line of lines[heading+1:end] (or under the heading)."""
    lines = list(lines)
    last = next((j for j in range(end - 1, heading, -1) if lines[j].strip()), None)
    if last is None:
        if not lines[heading].endswith("\n"):
            lines[heading] += eol
        lines[heading + 1 : heading + 1] = [eol, item]
        if (
            heading + 3 < len(lines) and lines[heading + 3].strip()
        ):  # keep a blank line before what follows
            lines.insert(heading + 3, eol)
        return "".join(lines)
    if not lines[last].endswith("\n"):
        lines[last] += eol
    new = [item] if _LIST_ITEM.match(lines[last]) else [eol, item]
    if last + 1 < len(lines) and lines[last + 1].strip():  # the next heading follows directly
        new.append(eol)
    lines[last + 1 : last + 1] = new
    return "".join(lines)
