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

__all__ = [
    "FrontMatterError",
    "append_note",
    "get_field",
    "get_list",
    "has_field",
    "retitle_heading",
    "set_field",
    "set_list",
    "tick_list_item",
    "tick_section_item",
]

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


def _scalar(value: str | None, style: str | None) -> str:
    if value is None:
        return "null"
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
    value: str | None,
    *,
    path: str = "file",
    after: str | None = "title",
    yaml_file: bool = False,
) -> bytes:
    """Set top-level `key` to the string `value` (None: `null`); every other byte is kept.

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
    return _insert_key(doc, root, key, _scalar(value, None), after, path)


def _insert_key(
    doc: _Text,
    root: yaml.MappingNode | None,
    key: str,
    rendered: str,
    after: str | None,
    path: str,
) -> bytes:
    """Add `key: rendered` on its own line after key `after` (else at the end of the YAML)."""
    text, base = doc.text, doc.yaml_start
    if root is not None and root.flow_style:
        raise FrontMatterError(
            f"{path}: front matter is a flow mapping {{...}}; add '{key}' by hand"
        )
    line = f"{key}: {rendered}{doc.eol}"
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


# --- lists and checklists ------------------------------------------------------------------------


def has_field(raw: bytes, key: str, *, path: str = "file") -> bool:
    """Whether the front matter has a top-level `key` (whatever its value)."""
    doc = _split(raw, path, False)
    return doc.has_front_matter and _entries(_compose(doc, path), key, path) is not None


def get_list(raw: bytes, key: str, *, path: str = "file") -> list[str] | None:
    """The string items of a top-level list (a lone scalar counts as a one-item list)."""
    doc = _split(raw, path, False)
    entry = _entries(_compose(doc, path), key, path) if doc.has_front_matter else None
    if entry is None:
        return None
    node = entry[1]
    if isinstance(node, yaml.ScalarNode):
        start, end = doc.yaml_start + node.start_mark.index, doc.yaml_start + node.end_mark.index
        value = yaml.safe_load(doc.text[start:end] or "null")
        return [] if value is None or value == "" else [str(value)]
    if not isinstance(node, yaml.SequenceNode):
        raise FrontMatterError(f"{path}: '{key}' is a mapping, not a list; fix it by hand")
    return [str(item.value) for item in node.value if isinstance(item, yaml.ScalarNode)]


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_end(text: str, pos: int, limit: int) -> int:
    """The position after the line ending of the line holding `pos` (or `limit`)."""
    nl = text.find("\n", pos, limit)
    return limit if nl < 0 else nl + 1


def _content_end(text: str, node: yaml.Node, base: int) -> int:
    """Where a node's own characters end (a block node's span runs on to the next token)."""
    start, end = base + node.start_mark.index, base + node.end_mark.index
    return start + len(text[start:end].rstrip())


def _flow_item(value: str) -> str:
    return _scalar(value, None)


def set_list(
    raw: bytes, key: str, values: list[str], *, path: str = "file", after: str | None = None
) -> bytes:
    """Make top-level `key` the list `values`, keeping the bytes of the items that stay.

    In a block list (`- a` lines) a kept item keeps its line, quoting and comment; removed
    items lose their lines and new ones are appended as `- value` at the same indent. A flow
    list (`[a, b]`), an empty value or a lone scalar becomes a flow list, kept items written
    as they were. Emptying a block list writes `key: []`. A missing key is added after
    `after` (else at the end of the front matter) as a flow list.
    """
    doc = _split(raw, path, False)
    text, eol = doc.text, doc.eol
    if not doc.has_front_matter:
        flow = "[" + ", ".join(_flow_item(v) for v in values) + "]"
        return doc.encode(f"---{eol}{key}: {flow}{eol}---{eol}" + text)
    root = _compose(doc, path)
    base = doc.yaml_start
    entry = _entries(root, key, path)
    if entry is None:
        flow = "[" + ", ".join(_flow_item(v) for v in values) + "]"
        return _insert_key(doc, root, key, flow, after, path)
    key_node, node = entry
    if isinstance(node, yaml.MappingNode):
        raise FrontMatterError(f"{path}: '{key}' is a mapping, not a list; fix it by hand")
    old: list[tuple[str, yaml.Node]] = []
    if isinstance(node, yaml.SequenceNode):
        old = [(str(i.value), i) for i in node.value if isinstance(i, yaml.ScalarNode)]
        if len(old) != len(node.value):
            raise FrontMatterError(f"{path}: '{key}' holds lists or mappings; edit it by hand")
    elif (
        isinstance(node, yaml.ScalarNode)
        and node.value != ""
        and node.tag != "tag:yaml.org,2002:null"
    ):
        old = [(str(node.value), node)]
    source = {v: text[base + n.start_mark.index : base + n.end_mark.index] for v, n in old}
    block = isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value
    if not block or not values:
        flow = "[" + ", ".join(source.get(v) or _flow_item(v) for v in values) + "]"
        if block:  # emptying a block list: from after `key:` to the end of its last item
            start = base + key_node.end_mark.index
            end = _line_end(text, _content_end(text, node.value[-1], base), doc.yaml_end)
            return doc.encode(text[:start] + f": {flow}{eol}" + text[end:])
        start, end = base + node.start_mark.index, base + node.end_mark.index
        if start == end:
            flow = " " + flow
        elif text[start:end].endswith("\n"):  # a block scalar's span ends after its line
            flow += eol
        return doc.encode(text[:start] + flow + text[end:])
    # a block list that stays a block list: one range of lines per item
    starts = []
    for item in node.value:
        dash = text.rfind("-", base, base + item.start_mark.index)
        starts.append(_line_start(text, dash))
    last = node.value[-1]
    end_all = _line_end(text, _content_end(text, last, base), doc.yaml_end)
    ranges = [(s, e) for s, e in zip(starts, [*starts[1:], end_all], strict=True)]
    dash_col = text.rfind("-", base, base + node.value[0].start_mark.index) - starts[0]
    kept = {v: r for (v, _n), r in zip(old, ranges, strict=True)}
    pieces = []
    for value in values:
        if value in kept:
            s_, e_ = kept.pop(value)
            chunk = text[s_:e_]
            pieces.append(chunk if chunk.endswith("\n") else chunk + eol)
        else:
            pieces.append(" " * dash_col + "- " + _flow_item(value) + eol)
    return doc.encode(text[: starts[0]] + "".join(pieces) + text[end_all:])


def _checklist_nodes(doc: _Text, node: yaml.SequenceNode, data: list[object]) -> list[yaml.Node]:
    """The item nodes the parser turns into checklist items, in order (it skips the others)."""
    out = []
    for item, value in zip(node.value, data, strict=True):
        if isinstance(value, dict):
            if value.get("text"):
                out.append(item)
        elif isinstance(value, (str, int, float)) and str(value).strip():
            out.append(item)  # as the parser reads it: a bool is an int there too
    return out


_BOX_TEXT = re.compile(r"^\[([ xX\u2713])\]")


def tick_list_item(raw: bytes, key: str, index: int, done: bool, *, path: str = "file") -> bytes:
    """Tick (or untick) checklist item `index` of the front-matter list `key`.

    A `{text, done}` mapping gets its `done` value set (or a `done: true` line added); a
    string item gets a `[x] ` / `[ ] ` box in front of its text, re-quoted as needed. Every
    other byte stays. Unticking an item without a box changes nothing.
    """
    doc = _split(raw, path, False)
    text = doc.text
    entry = _entries(_compose(doc, path), key, path) if doc.has_front_matter else None
    if entry is None or not isinstance(entry[1], yaml.SequenceNode):
        raise FrontMatterError(f"{path}: '{key}' is not a list in the front matter")
    node = entry[1]
    base = doc.yaml_start
    data = (yaml.safe_load(text[doc.yaml_start : doc.yaml_end]) or {}).get(key)
    items = _checklist_nodes(doc, node, data if isinstance(data, list) else [])
    if not 0 <= index < len(items):
        raise FrontMatterError(f"{path}: '{key}' has no item {index + 1} (it has {len(items)})")
    item = items[index]
    if isinstance(item, yaml.ScalarNode):
        start, end = base + item.start_mark.index, base + item.end_mark.index
        value = str(yaml.safe_load(text[start:end]))
        m = _BOX_TEXT.match(value)
        if m is None and not done:
            return raw
        new_value = ("[x]" if done else "[ ]") + (value[3:] if m else " " + value)
        if m and (m.group(1) != " ") == done:
            return raw
        style = item.style if item.style in ("'", '"') else None
        return doc.encode(text[:start] + _scalar(new_value, style) + text[end:])
    if not isinstance(item, yaml.MappingNode):
        raise FrontMatterError(
            f"{path}: item {index + 1} of '{key}' cannot be ticked; edit it by hand"
        )
    found = [(k, v) for k, v in item.value if isinstance(k, yaml.ScalarNode) and k.value == "done"]
    word = "true" if done else "false"
    if found:
        v = found[0][1]
        if not isinstance(v, yaml.ScalarNode):
            raise FrontMatterError(
                f"{path}: item {index + 1} of '{key}': 'done' is not true or false"
            )
        start, end = base + v.start_mark.index, base + v.end_mark.index
        if start == end:
            word = " " + word
        return doc.encode(text[:start] + word + text[end:])
    if not done:
        return raw
    if item.flow_style:
        close = _content_end(text, item, base) - 1  # the closing brace
        return doc.encode(text[:close].rstrip() + f", done: {word}" + text[close:])
    first_key = item.value[0][0]
    indent = first_key.start_mark.column
    at = _line_end(text, _content_end(text, item, base), doc.yaml_end)
    line = " " * indent + f"done: {word}" + doc.eol
    lead = "" if text[at - 1] == "\n" else doc.eol
    return doc.encode(text[:at] + lead + line + text[at:])


def retitle_heading(raw: bytes, old: str, new: str, *, path: str = "file") -> bytes:
    """The body's first heading renamed from `old` to `new`, when it says `old` (a title
    change must not leave `# Old title` above the text); else `raw` unchanged.

    Only the first heading outside code fences counts, and only when its text is exactly the
    old title: a heading someone rewrote by hand is theirs.
    """
    doc = _split(raw, path, False)
    text = doc.text
    pos = doc.body_start
    fenced = False
    while pos < len(text):
        end = text.find("\n", pos)
        line_end = len(text) if end < 0 else end + 1
        line = text[pos:line_end].rstrip("\r\n")
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            m = _HEADING.match(line)
            if m is None or m.group(2) != old:
                return raw
            renamed = f"{m.group(1)} {new}"
            return doc.encode(text[:pos] + renamed + text[pos + len(line) :])
        pos = line_end
    return raw


def tick_section_item(
    raw: bytes, field: str, index: int, done: bool, *, path: str = "file"
) -> bytes:
    """Tick (or untick) item `index` of a Markdown checklist section (`## Objectives` ...).

    `field` is the entity field (`objectives`, `deliverables`, `acceptance_criteria`); items
    are found exactly as the parser finds them. The box character flips in place; an item
    without a box gets `[x] ` in front of its text when ticked.
    """
    from orchsync.parse.markdown import checklist_positions

    doc = _split(raw, path, False)
    text = doc.text
    body = text[doc.body_start :]
    offsets = checklist_positions(body).get(field, [])
    if not 0 <= index < len(offsets):
        raise FrontMatterError(
            f"{path}: the {field.replace('_', ' ')} section has no item {index + 1} (it has {len(offsets)})"
        )
    at = doc.body_start + offsets[index]
    m = _BOX_TEXT.match(text[at : at + 3])
    if m is not None:
        if (m.group(1) != " ") == done:
            return raw
        return doc.encode(text[: at + 1] + ("x" if done else " ") + text[at + 2 :])
    if not done:
        return raw
    return doc.encode(text[:at] + "[x] " + text[at:])
