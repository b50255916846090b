"""The fast ways of reading YAML must give exactly what the reference path gives.

`load_yaml` reads most documents with `plainyaml` (no PyYAML nodes) or converts PyYAML's
nodes itself; `_load_nodes(fast=False)` is the original path (walk every node, then
PyYAML constructs). Generated documents, most of them near the edge of the plain subset,
must come out with the same data (types included), the same line of every field and the
same problems, or raise the same error.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from orchsync.parse import plainyaml, yamldoc
from orchsync.parse.yamldoc import MAX_NODES, Document, load_yaml

KEYS = ["title", "status", "a", "a.b", "a-b", "_x", "x1", "yes", "no", "on", "null", "Null"]
KEYS += ["true", "y", "n", "nan", "done", "text", "True", "e", "o"]
PLAIN = ["pending", "P2", "hello world", "a  b", "12", "-3", "+7", "0x1F", "0o17", "017", "08"]
PLAIN += ["1_000", "1:30", "-1:30", "0b101", "0b_", "3.5", "1e3", "1.0e+3", "-1.5", ".5"]
PLAIN += [".inf", "-.Inf", ".NaN", "2024-01-02", "2024-1-2", "2024-01-02T10:20:30Z"]
PLAIN += ["2024-01-02 10:20:30.5 +02:00", "yes", "No", "ON", "y", "true", "~", "null", "NULL"]
PLAIN += ["x:y", "http://a.b/c", "C#", "a#b", "a # b", "a: b", "a:", "-x", "-", "---", "?x"]
PLAIN += [":x", "@x", "%x", "`x", "!x", "&x", "*x", "|", ">", "{}", "{a: 1}", "é ✓", "x\u00a0"]
PLAIN += ["a\u2028b", "a\x85b", "tab\there", "[", "a]", "a,b", "T:abc", "=", "<<", "0", "1."]
QUOTED = ['"dq"', '"a: b"', '"a # b"', '"it\'s"', '"esc \\" q"', '"\\t"', '""', '"  pad  "']
QUOTED += ["'sq'", "'it''s'", "''", "''''", "'a'''", "'unterminated", '"open', "'a' x", "'a'b'"]
FLOW = ["a", "b c", "1", "-1", "+1", ".5", "x.y", "a/b", "a@b", "yes", "~", "a:b", "a#b", "'q'"]
FLOW += ['"q"', "[x]", "", " ", "2024-01-02", "a  b", "-", "@a"]
SIMPLE = ["pending", "P2", "hello world", "12", "-3", "3.5", "2024-01-02", "yes", "~", "x:y"]
SIMPLE += ["C#", "é", "T:abc", '"dq"', "'sq'", "[a, b]", "[]", "[1, 2.5, yes]", "0", "1:30"]


class _Docs:
    """Random documents; `good` is the chance of each choice staying in the plain subset."""

    def __init__(self, seed: int, good: float) -> None:
        self.rng = random.Random(seed)
        self.good = good

    def ok(self) -> bool:
        return self.rng.random() < self.good

    def key(self) -> str:
        return f"k{self.rng.randint(0, 10**6)}" if self.ok() else self.rng.choice(KEYS)

    def scalar(self) -> str:
        rng = self.rng
        if self.ok():
            return rng.choice(SIMPLE)
        r = rng.random()
        if r < 0.55:
            return rng.choice(PLAIN)
        if r < 0.75:
            return rng.choice(QUOTED)
        items = [rng.choice(FLOW) for _ in range(rng.randint(0, 4))]
        return "[" + rng.choice([", ", ",", " , "]).join(items) + rng.choice(["", ",", " "]) + "]"

    def mapping(self, indent: int, depth: int, out: list[str]) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 4)):
            key, r, ok = self.key(), rng.random(), self.ok()
            pad = " " * indent
            if depth < 3 and r < 0.2:
                out.append(pad + key + ":" + ("" if ok else rng.choice(["", " ", " # c"])))
                self.sequence(
                    indent + (rng.choice([0, 2]) if ok else rng.choice([1, 4])), depth, out
                )
            elif depth < 3 and r < 0.3:
                out.append(pad + key + ":")
                self.mapping(indent + (2 if ok else rng.choice([1, 4])), depth + 1, out)
            elif r < 0.33:
                out.append(pad + key + ":")
            else:
                tail = "" if ok else rng.choice(["", " ", "  # c"])
                out.append(pad + key + ": " + self.scalar() + tail)
            if not self.ok():
                out.append(rng.choice(["", " " * rng.randint(0, 6) + "# c"]))
            if not self.ok() and rng.random() < 0.3:
                out.append(" " * (indent + rng.randint(1, 3)) + rng.choice(PLAIN))

    def sequence(self, indent: int, depth: int, out: list[str]) -> None:
        rng = self.rng
        for _ in range(rng.randint(1, 4)):
            dash = "- " if self.ok() else rng.choice(["-  ", "-", "- "])
            pad = " " * indent
            if depth < 2 and rng.random() < 0.25:
                inner = " " * (indent + len(dash) + (0 if self.ok() else rng.choice([1, -1])))
                out.append(pad + dash + self.key() + ": " + self.scalar())
                for _ in range(rng.randint(0, 2)):
                    out.append(inner + self.key() + ": " + self.scalar())
            else:
                out.append(pad + dash + self.scalar())

    def document(self) -> str:
        out: list[str] = []
        if not self.ok():
            out.append(self.rng.choice(["# head", "---", "", "  # c"]))
        self.mapping(0 if self.ok() else 2, 0, out)
        return "\n".join(out) + self.rng.choice(["\n", "\n", "", "\n\n"])


def _read(text: str, first_line: int, fast: bool | None) -> Any:
    """Everything a caller can see of one load, or the error it raised."""
    doc = Document()
    try:
        if fast is None:
            load_yaml(text, doc, first_line)
        else:
            yamldoc._load_nodes(text, doc, first_line, fast=fast)
    except Exception as exc:  # noqa: BLE001 - a constructor error must be the same error
        return ("raised", type(exc).__name__, str(exc))
    return repr(doc.data), doc.lines, doc.problems


def _plain_takes(text: str) -> bool:
    return plainyaml.read_plain(text, yamldoc._plain_scalar, MAX_NODES) is not None


@pytest.mark.parametrize(("seed", "good"), [(1, 0.97), (2, 0.9), (3, 0.6)])
def test_fast_paths_match_the_reference_on_generated_documents(seed: int, good: float) -> None:
    docs = _Docs(seed, good)
    taken = 0
    for _ in range(2500):
        text = docs.document()
        first_line = docs.rng.choice([1, 2])
        expected = _read(text, first_line, fast=False)
        assert _read(text, first_line, fast=None) == expected, text
        assert _read(text, first_line, fast=True) == expected, text
        taken += _plain_takes(text)
    assert taken > 100, "the generator must exercise the plain reader"


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, 2, yes]\nc:\n  - t\n  - text: u\n    done: true\nd:\n  e: f\n",
        "# head\n\na: b\n",
        "a:\n- x\n- y\nb: 2\n",
        "a: 'it''s'\nb: \"q\"\n",
        "a: b\n  continued\n",
        "a:\n  - b\n    continued\n",
        "a: 2024-13-45\n",  # PyYAML's constructor raises: the same error either way
        "a: !!bool maybe\n",
        "a: &x 1\nb: *x\n",
        "a: 1\na: 2\n",
        "yes: 1\n",
        "a: x # comment\n",
        "a: |\n  block\n",
        "- a\n- b\n",
        "just text\n",
        "",
        "\ta: 1\n",
    ],
)
def test_edge_cases_match_the_reference(text: str) -> None:
    assert _read(text, 2, fast=None) == _read(text, 2, fast=False)
    assert _read(text, 2, fast=True) == _read(text, 2, fast=False)


@pytest.mark.parametrize("items", [MAX_NODES - 2, MAX_NODES - 1, MAX_NODES + 5])
def test_the_node_limit_is_the_same_on_every_path(items: int) -> None:
    block = "caps:\n" + "".join("  - x\n" for _ in range(items))
    flow = "caps: [" + ", ".join(["x"] * items) + "]\n"
    for text in (block, flow):
        assert _read(text, 1, fast=None) == _read(text, 1, fast=False)


def test_nested_lines_are_computed_only_when_asked() -> None:
    doc = load_yaml("a: 1\nb:\n  - x\n  - k: v\n", Document())
    assert doc._pending is not None and doc.line(("b",)) == 2
    assert doc._pending is not None  # a top-level line did not need the nodes
    assert doc.lines[("b", 1, "k")] == 4 and doc._pending is None
