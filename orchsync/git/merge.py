"""Three-way merge of delegation files, field by field: the library half of the git merge driver.

Two clones change the same TASK.md (one moves `status`, the other edits `priority`) and git's
line merge would leave conflict markers inside the YAML. `merge_documents` merges the front
matter per top-level key instead, and the Markdown body with git's own line merge:

| base → ours / theirs                          | result                                         |
|-----------------------------------------------|------------------------------------------------|
| changed on one side only (or added, deleted)  | that side's change                             |
| the same change on both sides                 | that change, no conflict                       |
| a list changed on both sides                  | 3-way set: removals applied, additions appended|
| a mapping changed on both sides               | the same rules, one level down (`a.b` keys)    |
| `status` changed differently on both sides    | the further state wins (a note, not a conflict)|
| any other key changed differently             | ours kept, theirs under `conflicts:`; not clean|
| the body                                      | `git merge-file`; markers only there           |
| a side whose front matter does not parse      | `git merge-file` on the whole file (a note)    |

Formatting survives because the result is spliced from the sides' own text: every top-level key
keeps the exact lines of the side its value came from (comments, quoting, indentation), and only
keys merged from both sides are written anew by ruamel.yaml's round-trip dumper. The spliced
text is parsed again and compared with the merged data; if they differ, the whole front matter is
dumped by ruamel from ours' round-trip document instead. Ours' line endings, byte-order mark and
final newline are kept.

Nothing here imports click, duckdb or pygit2: the driver runs on every conflicting file of a
`git merge` and must start fast.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from orchsync.errors import OrchsyncError

__all__ = [
    "LIST_FIELDS",
    "STATUS_ORDERS",
    "Conflict",
    "MergeError",
    "MergeResult",
    "merge_documents",
    "merge_file",
]

log = logging.getLogger(__name__)

# "The further state wins", lowest first: tasks, then sprints. A status pair found in neither
# (bugs, ADRs, a typo) keeps ours.
STATUS_ORDERS: tuple[tuple[str, ...], ...] = (
    ("pending", "in_progress", "blocked", "completed"),
    ("planning", "active", "completed"),
)

_YAML_SUFFIXES = (".yml", ".yaml")

# Fields that may be written as one string but mean a list: merged as sets when a side
# turns one into the other. (Every list merges as a set; these also accept a lone string.)
LIST_FIELDS = frozenset(
    {
        "depends_on",
        "labels",
        "acceptance_criteria",
        "objectives",
        "deliverables",
        "context",
        "capabilities",
        "tools_allowed",
        "safety_rails",
    }
)
_MAX_NODES = 20_000  # as in parse.yamldoc: aliases must not blow up a comparison
_FENCE = "---\n"


class MergeError(OrchsyncError):
    """git merge-file could not run (git missing, or it failed rather than found conflicts)."""


@dataclass(slots=True)
class Conflict:
    """Something the merge could not decide; `key` is dotted (`metadata.owner`) or `body`/`file`."""

    key: str
    ours: Any
    theirs: Any
    resolution: str


@dataclass(slots=True)
class MergeResult:
    merged: bytes
    conflicts: list[Conflict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


# --- the merge -----------------------------------------------------------------------------


def merge_documents(
    base: bytes, ours: bytes, theirs: bytes, path: str = "", *, marker_size: int = 7
) -> MergeResult:
    """Merge three versions of a delegation file; `path` (repo-relative) picks YAML vs Markdown.

    Markdown files are `---\\nYAML\\n---\\nbody`; `.yml`/`.yaml` files are YAML throughout. With
    no path, a file that opens with a closed `---` fence is Markdown, one that parses as a
    mapping is YAML, and anything else is merged as text.
    """
    texts = [_decode(raw) for raw in (base, ours, theirs)]
    if any(t is None for t in texts):
        return _text_merge(base, ours, theirs, marker_size, "not UTF-8 text")
    tb, to, tt = (t for t in texts if t is not None)
    form = _Form.of(ours)
    as_yaml = path.lower().endswith(_YAML_SUFFIXES) or (
        not path and not _has_front_matter(to) and _looks_like_yaml_mapping(to)
    )
    try:
        if as_yaml:
            fm, notes, conflicts = _merge_yaml_text(tb, to, tt, front_matter=False)
            return MergeResult(form.encode(fm), conflicts, notes)
        return _merge_markdown(tb, to, tt, form, marker_size)
    except _Unmergeable as exc:
        return _text_merge(base, ours, theirs, marker_size, str(exc), form=form, texts=(tb, to, tt))


def merge_file(
    base_path: str | os.PathLike[str],
    ours_path: str | os.PathLike[str],
    theirs_path: str | os.PathLike[str],
    path: str = "",
    *,
    marker_size: int = 7,
) -> MergeResult:
    """The merge driver: merge three files and write the result over ours (git's `%A`)."""
    result = merge_documents(
        Path(base_path).read_bytes(),
        Path(ours_path).read_bytes(),
        Path(theirs_path).read_bytes(),
        path,
        marker_size=marker_size,
    )
    Path(ours_path).write_bytes(result.merged)
    return result


class _Unmergeable(Exception):
    """A side cannot be merged field by field; the message says which side and why."""


_MISSING: Any = object()


@dataclass(slots=True)
class _Form:
    """Ours' byte-level habits: line endings, byte-order mark, final newline."""

    crlf: bool
    bom: bool
    final_newline: bool
    empty: bool

    @classmethod
    def of(cls, raw: bytes) -> _Form:
        return cls(b"\r\n" in raw, raw.startswith(b"\xef\xbb\xbf"), raw.endswith(b"\n"), not raw)

    def encode(self, text: str) -> bytes:
        if not self.empty:
            if self.final_newline and text and not text.endswith("\n"):
                text += "\n"
            elif not self.final_newline and text.endswith("\n"):
                text = text[:-1]
        if self.crlf:
            text = text.replace("\n", "\r\n")
        return (b"\xef\xbb\xbf" if self.bom else b"") + text.encode("utf-8")


def _decode(raw: bytes) -> str | None:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw[:8192]:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


# --- Markdown: front matter + body ---------------------------------------------------------


@dataclass(slots=True)
class _Split:
    yaml: str
    closing: str  # the closing fence line as written ("---\n", "...\n", or "---" at EOF)
    body: str


def _looks_like_yaml_mapping(text: str) -> bool:
    try:
        data = _yaml().load(text)
    except Exception:  # noqa: BLE001 - not YAML, so Markdown or plain text
        return False
    return isinstance(data, CommentedMap) and bool(data)


def _has_front_matter(text: str) -> bool:
    return text.startswith(_FENCE) or text == "---"


def _split(text: str, side: str) -> _Split | None:
    """`---\\nYAML\\n---\\nbody` in pieces; None when the text has no front matter."""
    if not _has_front_matter(text):
        return None
    pos = 4
    while pos <= len(text):
        nl = text.find("\n", pos)
        line = text[pos:] if nl < 0 else text[pos:nl]
        if line.rstrip() in ("---", "..."):
            end = len(text) if nl < 0 else nl + 1
            return _Split(text[4:pos], text[pos:end], text[end:])
        if nl < 0:
            break
        pos = nl + 1
    raise _Unmergeable(f"{side}: front matter opened with '---' but never closed")


def _merge_markdown(tb: str, to: str, tt: str, form: _Form, marker_size: int) -> MergeResult:
    sides = {"base": tb, "ours": to, "theirs": tt}
    splits = {name: _split(text, name) for name, text in sides.items()}
    if splits["base"] is None and tb == "":  # added on both sides: an empty ancestor
        splits["base"] = _Split("", _FENCE, "")
    present = [name for name, s in splits.items() if s is not None]
    if not present:  # plain Markdown on every side: git's line merge is the whole story
        merged, n = _merge_lines(tb, to, tt, marker_size)
        return MergeResult(form.encode(merged), _body_conflicts(n, "file"), [])
    if len(present) < 3:
        missing = ", ".join(name for name in sides if splits[name] is None)
        raise _Unmergeable(f"no front matter on {missing}")
    sb, so, st = (s for s in splits.values() if s is not None)
    fm, notes, conflicts = _merge_yaml_text(sb.yaml, so.yaml, st.yaml, front_matter=True)
    body, n = _merge_lines(sb.body, so.body, st.body, marker_size)
    closing = so.closing if so.closing.endswith("\n") or not body else so.closing + "\n"
    conflicts += _body_conflicts(n, "body")
    return MergeResult(form.encode(_FENCE + fm + closing + body), conflicts, notes)


def _body_conflicts(n: int, where: str) -> list[Conflict]:
    if not n:
        return []
    s = "" if n == 1 else "s"
    return [Conflict(where, None, None, f"{n} conflict{s} left as markers by git merge-file")]


def _text_merge(
    base: bytes,
    ours: bytes,
    theirs: bytes,
    marker_size: int,
    reason: str,
    *,
    form: _Form | None = None,
    texts: tuple[str, str, str] | None = None,
) -> MergeResult:
    """The fallback: git's line merge of the whole file (LF-normalised when the sides decode)."""
    note = f"{reason}; merged the whole file with git merge-file"
    if form is None or texts is None:
        merged_raw, n = _git_merge_file(base, ours, theirs, marker_size)
        return MergeResult(merged_raw, _body_conflicts(n, "file"), [note])
    merged, n = _merge_lines(*texts, marker_size)
    return MergeResult(form.encode(merged), _body_conflicts(n, "file"), [note])


def _merge_lines(base: str, ours: str, theirs: str, marker_size: int) -> tuple[str, int]:
    """git's 3-way line merge of three texts: (result, number of conflicts)."""
    if ours == theirs or theirs == base:
        return ours, 0
    if ours == base:
        return theirs, 0
    raw, n = _git_merge_file(
        base.encode("utf-8"), ours.encode("utf-8"), theirs.encode("utf-8"), marker_size
    )
    return raw.decode("utf-8", errors="replace"), n


def _git_merge_file(base: bytes, ours: bytes, theirs: bytes, marker_size: int) -> tuple[bytes, int]:
    with tempfile.TemporaryDirectory(prefix="orchsync-merge-") as tmp:
        names = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = os.path.join(tmp, name)
            with open(p, "wb") as fh:
                fh.write(data)
            names.append(p)
        cmd = [
            "git",
            "merge-file",
            "-p",
            f"--marker-size={marker_size}",
            *("-L", "ours", "-L", "base", "-L", "theirs"),
            *names,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, check=False)
        except OSError as exc:
            raise MergeError(f"cannot run git merge-file: {exc}") from exc
    if proc.returncode < 0 or proc.returncode > 127:
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        raise MergeError(f"git merge-file failed ({proc.returncode}): {err}")
    return proc.stdout, proc.returncode


# --- YAML: per-key merge -------------------------------------------------------------------


def _yaml(indent: tuple[int, int, int] = (2, 4, 2)) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 1 << 16  # never re-wrap a long line
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return y


def _load(text: str, side: str, front_matter: bool) -> CommentedMap:
    where = "front matter" if front_matter else "YAML"
    try:
        data = _yaml().load(text)
    except Exception as exc:  # ruamel raises many kinds; any of them means "not mergeable"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + (2 if front_matter else 1)}" if mark is not None else ""
        raise _Unmergeable(f"{side}: {where} is not valid YAML ({problem}{at})") from exc
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise _Unmergeable(f"{side}: {where} is not a mapping of keys")
    try:
        _norm(data, [0])
    except _Unmergeable as exc:
        raise _Unmergeable(f"{side}: {exc}") from None
    return data


def _merge_yaml_text(
    tb: str, to: str, tt: str, *, front_matter: bool
) -> tuple[str, list[str], list[Conflict]]:
    """Merge three YAML mapping texts; returns (text, notes, unresolved conflicts)."""
    base, ours, theirs = (
        _load(text, side, front_matter)
        for text, side in ((tb, "base"), (to, "ours"), (tt, "theirs"))
    )
    if to == tt or tt == tb:
        return to, [], []
    if to == tb:
        return tt, [], []
    merger = _Merger()
    sources = merger.merge_map(base, ours, theirs, prefix="")
    if merger.conflicts:
        _record_conflicts(ours, merger.recorded)
        sources["conflicts"] = "merged"
    indent = _guess_indent(to)
    text = _splice(tb, to, tt, base, ours, theirs, sources, indent)
    if text is None or not _same(text, ours):
        text = _dump(ours, indent)
        if not _same(text, ours):  # pragma: no cover - a ruamel round-trip bug
            raise _Unmergeable("the merged front matter did not read back the same")
    return text, merger.notes, merger.conflicts


class _Merger:
    """The per-key rules; mutates ours' document into the result."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.conflicts: list[Conflict] = []
        self.recorded: dict[str, dict[str, Any]] = {}  # the `conflicts:` block to write

    def merge_map(
        self, base: Mapping[Any, Any], ours: CommentedMap, theirs: Mapping[Any, Any], prefix: str
    ) -> dict[Any, str]:
        """Apply theirs' changes to ours in place; returns key -> ours|theirs|merged."""
        sources: dict[Any, str] = {}
        theirs_keys = list(theirs)
        for key in [*ours, *(k for k in theirs_keys if k not in ours)]:
            bv, ov, tv = base.get(key, _MISSING), ours.get(key, _MISSING), theirs.get(key, _MISSING)
            source, value = self._merge_value(f"{prefix}{key}", key, bv, ov, tv, top=not prefix)
            if source == "ours":
                if ov is not _MISSING:
                    sources[key] = "ours"
                continue
            if value is _MISSING:
                del ours[key]
                continue
            if key in ours:
                ours[key] = value
            else:
                ours.insert(_insert_at(ours, theirs_keys, key), key, value)
            sources[key] = source
        return sources

    def _merge_value(
        self, path: str, key: Any, bv: Any, ov: Any, tv: Any, top: bool
    ) -> tuple[str, Any]:
        nb, no, nt = (_norm(v, [0]) for v in (bv, ov, tv))
        if no == nt or nt == nb:
            return "ours", ov
        if no == nb:
            return "theirs", tv
        if ov is not _MISSING and tv is not _MISSING:
            lists = _as_lists(bv, ov, tv, key if top else None)
            if lists is not None:
                self.notes.append(
                    f"{path}: changed on both sides; merged as sets (ours' order, theirs' additions appended)"
                )
                return "merged", _merge_list(*lists)
            if isinstance(ov, CommentedMap) and isinstance(tv, Mapping) and _is(bv, Mapping):
                self.merge_map(_or_empty(bv, {}), ov, tv, prefix=f"{path}.")
                return "merged", ov
            if top and key == "status" and _is_scalar(ov) and _is_scalar(tv):
                return self._status(path, ov, tv)
        entry: dict[str, Any] = {}
        if ov is not _MISSING:
            entry["ours"] = _plain(ov)
        if tv is not _MISSING:
            entry["theirs"] = _plain(tv)
        what = (
            "deleted on ours, changed on theirs"
            if ov is _MISSING
            else "changed on ours, deleted on theirs"
            if tv is _MISSING
            else "changed differently on both sides"
        )
        self.recorded[path] = entry
        self.conflicts.append(
            Conflict(
                path,
                _plain(ov),
                _plain(tv),
                f"{what}; kept ours, theirs recorded under conflicts:",
            )
        )
        return "ours", ov

    def _status(self, path: str, ov: Any, tv: Any) -> tuple[str, Any]:
        o, t = str(ov), str(tv)
        for order in STATUS_ORDERS:
            if o in order and t in order:
                win_theirs = order.index(t) > order.index(o)
                winner = t if win_theirs else o
                self.notes.append(
                    f"{path}: ours {o}, theirs {t} -> {winner} (the further state wins)"
                )
                return ("theirs", tv) if win_theirs else ("ours", ov)
        self.notes.append(f"{path}: ours {o}, theirs {t} -> {o} (no order between them; kept ours)")
        return "ours", ov


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    """Base absent, null, or of the given kind: a side may be merged as that kind."""
    return value is _MISSING or value is None or isinstance(value, kind)


def _as_lists(bv: Any, ov: Any, tv: Any, key: Any) -> tuple[list[Any], list[Any], list[Any]] | None:
    """The three sides as lists when they merge as sets: all lists (base may be absent), or
    a known list field (`depends_on: t0`) where a side wrote a single string."""
    if isinstance(ov, list) and isinstance(tv, list) and _is(bv, list):
        return _or_empty(bv, []), ov, tv
    if key not in LIST_FIELDS or not (isinstance(ov, list) or isinstance(tv, list)):
        return None
    if not all(isinstance(v, (list, str)) for v in (ov, tv)) or not _is(bv, (list, str)):
        return None

    def as_list(v: Any) -> list[Any]:
        return v if isinstance(v, list) else CommentedSeq([] if v is None or v is _MISSING else [v])

    return as_list(bv), as_list(ov), as_list(tv)


def _or_empty(value: Any, empty: Any) -> Any:
    return empty if value is None or value is _MISSING else value


def _is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, (list, Mapping))


def _merge_list(base: list[Any], ours: list[Any], theirs: list[Any]) -> list[Any]:
    """3-way set merge into ours: drop what theirs removed, append what theirs added."""
    in_base = {_norm(v, [0]) for v in base}
    removed = in_base - {_norm(v, [0]) for v in theirs}
    for i in reversed(range(len(ours))):
        if _norm(ours[i], [0]) in removed:
            del ours[i]
    seen = {_norm(v, [0]) for v in ours}
    for item in theirs:
        n = _norm(item, [0])
        if n not in in_base and n not in seen:
            ours.append(item)
            seen.add(n)
    return ours


def _insert_at(ours: CommentedMap, theirs_keys: list[Any], key: Any) -> int:
    """Where theirs' new key goes: after the nearest key before it (in theirs) that ours has."""
    keys = list(ours)
    for prev in reversed(theirs_keys[: theirs_keys.index(key)]):
        if prev in ours:
            return keys.index(prev) + 1
    return 0


def _record_conflicts(ours: CommentedMap, recorded: dict[str, dict[str, Any]]) -> None:
    """Theirs' side of each unresolved key under `conflicts:` (a side that deleted it is absent)."""
    block = ours.get("conflicts")
    if not isinstance(block, CommentedMap):
        block = CommentedMap()
    block.update(recorded)
    ours["conflicts"] = block


def _norm(value: Any, count: list[int]) -> Any:
    """A hashable, type-exact, order-insensitive (for mappings) form of a YAML value."""
    count[0] += 1
    if count[0] > _MAX_NODES:
        raise _Unmergeable(f"more than {_MAX_NODES:,} YAML nodes (aliases?)")
    if value is _MISSING:
        return ("missing",)
    if value is None:
        return ("null",)
    if isinstance(value, Mapping):
        return ("map", frozenset((str(k), _norm(v, count)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", tuple(_norm(v, count) for v in value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", float(value))
    if isinstance(value, str):
        return ("str", str(value))
    if isinstance(value, (_dt.date, _dt.datetime)):
        return ("date", value.isoformat())
    return ("other", repr(value))


def _plain(value: Any) -> Any:
    """Ruamel's commented containers and scalar types as plain Python, for the conflicts block."""
    if value is _MISSING:
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _same(text: str, data: CommentedMap) -> bool:
    try:
        loaded = _yaml().load(text)
    except Exception:  # noqa: BLE001 - anything unreadable is "not the same"
        return False
    return _norm(loaded if loaded is not None else {}, [0]) == _norm(data, [0])


# --- writing: splice the sides' own lines, dump only what was merged -----------------------


@dataclass(slots=True)
class _Layout:
    """A YAML mapping's text cut at its top-level keys."""

    leads: dict[Any, str]  # blank and column-0 comment lines before each key
    blocks: dict[Any, str]  # each key's own lines
    tail: str  # blank and comment lines after the last key


def _layout(text: str, data: CommentedMap) -> _Layout | None:
    """Cut text at its keys' lines; None when the mapping is not one block-style key per line."""
    if text and not text.endswith("\n"):
        text += "\n"
    lines = text.splitlines(keepends=True)
    if not data:
        return _Layout({}, {}, text)
    if data.fa.flow_style():
        return None
    starts: list[int] = []
    for key in data:
        line, col = data.lc.key(key)
        if col != 0 or (starts and line <= starts[-1]):
            return None
        starts.append(line)
    leads: dict[Any, str] = {}
    blocks: dict[Any, str] = {}
    trailing = "".join(lines[: starts[0]])
    for i, key in enumerate(data):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        chunk = lines[starts[i] : end]
        j = len(chunk)
        while j > 1 and _filler(chunk[j - 1]):
            j -= 1
        leads[key] = trailing
        blocks[key] = "".join(chunk[:j])
        trailing = "".join(chunk[j:])
    return _Layout(leads, blocks, trailing)


def _filler(line: str) -> bool:
    """A line that belongs between keys rather than to one: blank, or a comment at column 0."""
    return not line.strip() or line.startswith("#")


def _pick(base: str | None, ours: str | None, theirs: str | None) -> str:
    """The 3-way rule for the text between keys: one side's change wins, else ours."""
    if ours is None:
        return theirs or ""
    if theirs is None or ours == theirs or theirs == base:
        return ours
    return theirs if ours == base else ours


def _splice(
    tb: str,
    to: str,
    tt: str,
    base: CommentedMap,
    result: CommentedMap,
    theirs: CommentedMap,
    sources: dict[Any, str],
    indent: tuple[int, int, int],
) -> str | None:
    # `result` is ours' document after the merge; its line numbers (lc) are still ours'.
    lo = _layout(to, _yaml().load(to) or CommentedMap())
    lb, lt = _layout(tb, base), _layout(tt, theirs)
    if lo is None or lb is None or lt is None:
        return None
    parts: list[str] = []
    for key in result:
        parts.append(_pick(lb.leads.get(key), lo.leads.get(key), lt.leads.get(key)))
        source = sources.get(key, "merged")
        if source == "ours":
            parts.append(lo.blocks[key])
        elif source == "theirs":
            parts.append(lt.blocks[key])
        else:
            parts.append(_dump_key(result, key, indent))
    parts.append(_pick(lb.tail, lo.tail, lt.tail))
    return "".join(parts)


def _dump_key(data: CommentedMap, key: Any, indent: tuple[int, int, int]) -> str:
    one = CommentedMap()
    one[key] = data[key]
    if key in data.ca.items:
        one.ca.items[key] = data.ca.items[key]
    lines = _dump(one, indent).splitlines(keepends=True)
    while len(lines) > 1 and _filler(lines[-1]):  # comments that belong to the next key
        lines.pop()
    return "".join(lines)


def _dump(data: CommentedMap, indent: tuple[int, int, int]) -> str:
    if not data:
        return ""
    buf = io.StringIO()
    _yaml(indent).dump(data, buf)
    return buf.getvalue()


_KEY_ONLY = re.compile(r"^( *)[^\s#-][^#]*:\s*(#.*)?$")
_ITEM = re.compile(r"^( *)- ")
_KEY = re.compile(r"^( *)[^\s#-][^:#]*:(\s|$)")


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as ours writes them; `  - item` under a key by default."""
    mapping, offset = 0, -1
    prev: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if prev is not None and (head := _KEY_ONLY.match(prev)):
            parent = len(head.group(1))
            if offset < 0 and (item := _ITEM.match(line)):
                offset = max(0, len(item.group(1)) - parent)
            elif not mapping and (key := _KEY.match(line)) and len(key.group(1)) > parent:
                mapping = len(key.group(1)) - parent
        if mapping and offset >= 0:
            break
        prev = line
    mapping = mapping or 2
    offset = 2 if offset < 0 else offset
    return mapping, offset + 2, offset
