"""A yes/no check of front matter against our schemas, without importing jsonschema.

Importing jsonschema costs ~110 ms, more than a whole single-file sync may take, while
almost every file people save is valid. So this small interpreter of the JSON Schema
keywords our schemas use answers "valid?" first; only when it says no does jsonschema run
to produce the authoritative diagnostics. `SUPPORTED` names the keywords it understands; a
test fails if a schema uses any other, and another checks both agree on many documents.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

__all__ = ["SUPPORTED", "is_valid"]

SUPPORTED = frozenset(
    {
        "$id",
        "$schema",
        "title",
        "description",  # annotations
        "type",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "oneOf",
        "pattern",
        "minLength",
        "minimum",
        "maximum",
    }
)

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _type_ok(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return name == "boolean"
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float))
    return isinstance(value, _TYPES[name])


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def is_valid(schema: dict[str, Any], value: Any) -> bool:
    """True when `value` satisfies `schema` (Draft 2020-12, for the keywords in SUPPORTED)."""
    t = schema.get("type")
    if t is not None:
        names = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, n) for n in names):
            return False
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        return False
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return False
        if "pattern" in schema and not _regex(schema["pattern"]).search(value):
            return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return False
        if "maximum" in schema and value > schema["maximum"]:
            return False
    if isinstance(value, dict):
        if any(k not in value for k in schema.get("required", ())):
            return False
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for k, v in value.items():
            sub = props.get(k)
            if sub is not None:
                if not is_valid(sub, v):
                    return False
            elif extra is False or isinstance(extra, dict) and not is_valid(extra, v):
                return False
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = schema["items"]
        if not all(is_valid(items, v) for v in value):
            return False
    return "oneOf" not in schema or sum(1 for s in schema["oneOf"] if is_valid(s, value)) == 1
