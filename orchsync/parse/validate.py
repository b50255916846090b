"""JSON Schema validation of front matter, with diagnostics that name the field and line."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from orchsync.parse.quickcheck import Check, compile_schema
from orchsync.parse.resources import data_dir
from orchsync.parse.yamldoc import Document, Problem, dotted

__all__ = ["schema_for", "validate"]


@cache
def raw_schema(kind: str) -> dict[str, Any] | None:
    path = data_dir("schemas") / f"{kind}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def quick_check(kind: str) -> Check | None:
    """The compiled yes/no check of one kind (compiled once per process)."""
    schema = raw_schema(kind)
    return None if schema is None else compile_schema(schema)


@cache
def schema_for(kind: str) -> Any:
    """A compiled Draft 2020-12 validator for one kind, or None if the kind has no schema."""
    schema = raw_schema(kind)
    if schema is None:
        return None
    import jsonschema  # 110 ms: only when a document is really invalid (see quickcheck)

    return jsonschema.Draft202012Validator(schema)


def validate(kind: str, doc: Document) -> list[Problem]:
    """Schema errors of doc.data as problems at the line of the offending field."""
    check = quick_check(kind)
    if check is None or not isinstance(doc.data, dict) or check(doc.data):
        return []
    validator = schema_for(kind)
    problems = []
    for error in sorted(
        validator.iter_errors(doc.data), key=lambda e: list(map(str, e.absolute_path))
    ):
        path = tuple(error.absolute_path)
        field = dotted(path) or None
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else None
            field = dotted((*path, missing)) if missing else field
            message = "required field is missing"
        elif error.validator == "enum":
            message = (
                f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
            )
        elif error.validator == "oneOf" and error.context:
            message = f"{error.instance!r} has the wrong type ({_expected(error.validator_value)})"
        else:
            message = error.message
        line = _line_of(doc, path)
        problems.append(Problem(line, field, message))
    return problems


def _expected(options: list[dict[str, Any]]) -> str:
    kinds = []
    for option in options:
        t = option.get("type")
        kinds.append("list" if t == "array" else "mapping" if t == "object" else str(t))
    return "expected " + " or ".join(kinds)


def _line_of(doc: Document, path: tuple[Any, ...]) -> int | None:
    while path:
        if path in doc.lines:
            return doc.lines[path]
        path = path[:-1]
    return doc.lines.get((), None)
