"""The jsonschema-free fast check must agree with jsonschema on every document.

`orchsync.parse.quickcheck` answers "valid?" so that saving a valid file never pays for
importing jsonschema; jsonschema still writes every diagnostic. These tests hold the two
to the same verdicts.
"""

from __future__ import annotations

import json
import random

import jsonschema
import pytest

from orchsync.parse.quickcheck import SUPPORTED, is_valid
from orchsync.parse.resources import data_dir

SCHEMAS = {p.stem: json.loads(p.read_text()) for p in sorted(data_dir("schemas").glob("*.json"))}
PARSED_KINDS = ["sprint", "task", "task_agent", "agent", "adr", "bug", "session", "config"]


def _keywords(schema: object, out: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            out.add(key)
            if key == "properties":
                for sub in value.values():
                    _keywords(sub, out)
            elif key in ("items", "additionalProperties"):
                _keywords(value, out)
            elif key == "oneOf":
                for sub in value:
                    _keywords(sub, out)
    return out


@pytest.mark.parametrize("kind", PARSED_KINDS)
def test_schemas_use_only_keywords_the_fast_check_understands(kind: str) -> None:
    assert _keywords(SCHEMAS[kind], set()) <= SUPPORTED


VALUES = [
    None,
    True,
    False,
    0,
    1,
    -3,
    2.5,
    3.0,
    "",
    "x",
    "P1",
    "pending",
    "completed",
    "2025-10-12",
    "not a date",
    "a/b",
    "ok-code",
    [],
    ["a"],
    ["a", 1],
    [{"text": "t"}],
    [{"text": ""}],
    [{"done": True}],
    {},
    {"a": 1},
    {"text": "t", "done": "yes"},
    "debug",
    0.5,
    1.5,
    60001,
]


def _valid_value(rng: random.Random, schema: dict) -> object:
    """A value that satisfies a property schema, so documents start out valid."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "oneOf" in schema:
        return _valid_value(rng, rng.choice(schema["oneOf"]))
    kind = schema.get("type", "string")
    kind = rng.choice(kind) if isinstance(kind, list) else kind
    if kind == "string":
        pattern = schema.get("pattern", "")
        return "2025-10-12" if pattern.startswith("^\\d{4}") else "ok-code"
    if kind == "array":
        items = schema.get("items")
        return (
            [_valid_value(rng, items) for _ in range(rng.randint(0, 2))]
            if isinstance(items, dict)
            else []
        )
    if kind == "object":
        return {
            key: _valid_value(rng, sub)
            for key, sub in schema.get("properties", {}).items()
            if key in schema.get("required", [])
        }
    return {"integer": 1, "number": 0.5, "boolean": True, "null": None}[kind]


def _random_doc(rng: random.Random, schema: dict) -> dict:
    """A valid document with up to two fields then replaced by arbitrary values."""
    props = schema.get("properties", {})
    chosen = set(schema.get("required", [])) | set(
        rng.sample(list(props), k=rng.randint(0, len(props)))
    )
    doc = {key: _valid_value(rng, props[key]) for key in chosen}
    for key in rng.sample(list(props), k=rng.randint(0, 2)):
        doc[key] = rng.choice(VALUES)
    if rng.random() < 0.3:
        doc["unknown_key"] = rng.choice(VALUES)
    if rng.random() < 0.1 and doc:
        del doc[rng.choice(list(doc))]
    return doc


@pytest.mark.parametrize("kind", PARSED_KINDS)
def test_fast_check_agrees_with_jsonschema_on_random_documents(kind: str) -> None:
    schema = SCHEMAS[kind]
    validator = jsonschema.Draft202012Validator(schema)
    rng = random.Random(f"quickcheck-{kind}")
    verdicts = []
    for _ in range(3000):
        doc = _random_doc(rng, schema)
        verdicts.append(validator.is_valid(doc))
        assert is_valid(schema, doc) == verdicts[-1], (kind, doc)
    assert 300 < sum(verdicts) < 2700, "the generator must produce both valid and invalid documents"


def test_booleans_are_not_integers_and_one_equals_one_point_zero() -> None:
    assert not is_valid({"type": "integer"}, True)
    assert is_valid({"type": "integer"}, 3.0)
    assert not is_valid({"enum": [1]}, True)
    assert is_valid({"enum": [1]}, 1.0)
