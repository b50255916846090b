"""A yes/no check of front matter against our schemas, without importing jsonschema.

Importing jsonschema costs ~110 ms, more than a whole single-file sync may take, while
almost every file people save is valid. So this small compiler of the JSON Schema
keywords our schemas use answers "valid?" first; only when it says no does jsonschema run
to produce the authoritative diagnostics. A schema becomes nested closures once (keyword
lookups, regex compiles and type dispatch are paid at compile time, not per value): that
is ~4x cheaper than interpreting the schema dict for each of 20,000 files. `SUPPORTED` names the keywords it understands; a
test fails if a schema uses any other, and another checks both agree on many documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["SUPPORTED", "Check", "compile_schema", "is_valid"]

Check = Callable[[Any], bool]

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

_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    # JSON has no booleans among its numbers, and 3.0 is an integer
    "integer": lambda v: (
        not isinstance(v, bool)
        and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
    ),
    "number": lambda v: not isinstance(v, bool) and isinstance(v, (int, float)),
}

# id(schema) -> (schema, check); the schema is held so its id cannot be reused.
_COMPILED: dict[int, tuple[dict[str, Any], Check]] = {}


def _true(value: Any) -> bool:
    return True


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def is_valid(schema: dict[str, Any], value: Any) -> bool:
    """True when `value` satisfies `schema` (Draft 2020-12, for the keywords in SUPPORTED)."""
    hit = _COMPILED.get(id(schema))
    if hit is None or hit[0] is not schema:
        hit = _COMPILED[id(schema)] = (schema, compile_schema(schema))
    return hit[1](value)


def compile_schema(schema: dict[str, Any]) -> Check:
    """One closure answering `is_valid(schema, value)`; the schema must not change after."""
    checks: list[Check] = []
    t = schema.get("type")
    if t is not None:
        checks.append(_any([_TYPES[n] for n in (t if isinstance(t, list) else [t])]))
    if "enum" in schema:
        checks.append(_enum(schema["enum"]))
    if "minLength" in schema or "pattern" in schema:
        checks.append(_string(schema.get("minLength"), schema.get("pattern")))
    if "minimum" in schema or "maximum" in schema:
        checks.append(_number(schema.get("minimum"), schema.get("maximum")))
    extra = schema.get("additionalProperties", True)
    if "required" in schema or "properties" in schema or extra is False or isinstance(extra, dict):
        checks.append(_object(schema))
    if isinstance(schema.get("items"), dict):
        checks.append(_items(compile_schema(schema["items"])))
    if "oneOf" in schema:
        checks.append(_one_of([compile_schema(s) for s in schema["oneOf"]]))
    return _all(checks)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _true
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        for c in checks:  # noqa: SIM110 - a loop is faster than all() over a generator
            if not c(value):
                return False
        return True

    return check


def _any(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(c(value) for c in checks)


def _enum(options: list[Any]) -> Check:
    if all(type(o) is str for o in options):
        allowed = frozenset(options)  # only a string can equal a string
        return lambda value: isinstance(value, str) and value in allowed
    return lambda value: any(_equal(value, o) for o in options)


def _string(min_length: int | None, pattern: str | None) -> Check:
    search = re.compile(pattern).search if pattern is not None else None

    def check(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        if min_length is not None and len(value) < min_length:
            return False
        return search is None or search(value) is not None

    return check


def _number(minimum: float | None, maximum: float | None) -> Check:
    def check(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return True
        if minimum is not None and value < minimum:
            return False
        return maximum is None or value <= maximum

    return check


def _object(schema: dict[str, Any]) -> Check:
    required = tuple(schema.get("required", ()))
    props = {k: compile_schema(s) for k, s in schema.get("properties", {}).items()}
    extra = schema.get("additionalProperties", True)
    refuse_extra = extra is False
    extra_check = compile_schema(extra) if isinstance(extra, dict) else None

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for k in required:
            if k not in value:
                return False
        for k, v in value.items():
            sub = props.get(k)
            if sub is not None:
                if not sub(v):
                    return False
            elif refuse_extra or (extra_check is not None and not extra_check(v)):
                return False
        return True

    return check


def _items(item: Check) -> Check:
    def check(value: Any) -> bool:
        if not isinstance(value, list):
            return True
        for v in value:  # noqa: SIM110 - a loop is faster than all() over a generator
            if not item(v):
                return False
        return True

    return check


def _one_of(options: list[Check]) -> Check:
    def check(value: Any) -> bool:
        matched = 0
        for option in options:
            if option(value):
                matched += 1
        return matched == 1

    return check
