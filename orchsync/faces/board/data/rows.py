"""What the board's read models share: rows as plain dicts, event rows, entity links, and
resolving a code or commit id from a URL (never a path: one segment, through the library)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

from orchsync.errors import InvalidId, UnknownEntity
from orchsync.parse.layout import check_segment
from orchsync.repo import Repo

ACTIVITY_LIMIT = 200
MAX_ACTIVITY_LIMIT = 1000
BOOKKEEPING = ("orchestration.file.synced",)  # one per changed file: hidden unless asked


def labels(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    return [] if value is None else [str(value)]


def diagnostics(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    out = []
    for d in value or []:
        if isinstance(d, dict):
            if d.get("severity", "error") != "error":
                continue
            where = f"line {d['line']}: " if d.get("line") else ""
            what = f"{d['field']}: " if d.get("field") else ""
            out.append(f"{where}{what}{d.get('message', '')}")
        else:
            out.append(str(d))
    return out


def disk(repo: Repo, path: str) -> bytes | None:
    """A regular file's bytes as they are on disk; None for a link, a folder, a FIFO, a file
    too large, or nothing (never a link's target: see `parse.fsread`)."""
    from orchsync.parse.fsread import FILE, read_entry

    entry = read_entry(repo.root, path)
    return entry.data if entry.kind == FILE else None


def plain(value: Any) -> Any:
    """A DuckDB value as JSON can hold it (timestamps as ISO text, UUIDs as text)."""
    if isinstance(value, (datetime, date)):
        return (
            value.isoformat(timespec="seconds")
            if isinstance(value, datetime)
            else value.isoformat()
        )
    if isinstance(value, UUID):
        return str(value)
    return value


def resolve_task(repo: Repo, code: str) -> tuple[str, str]:
    from orchsync.parse.resolve import resolve

    try:
        check_segment(code, "task code")
    except InvalidId as exc:
        raise UnknownEntity(str(exc)) from exc
    target = resolve(repo, f"T:{code}", prefix_ok=False)
    return target.code, target.path


def commit_id(rev: str) -> str:
    rev = rev.strip().lower()
    if not (4 <= len(rev) <= 64) or any(ch not in "0123456789abcdef" for ch in rev):
        raise UnknownEntity(f"{rev[:70]!r} is not a commit id")
    return rev


def event_row(e: dict[str, Any]) -> dict[str, Any]:
    etype = (e.get("event_type") or "").removeprefix("orchestration.")
    payload = e.get("payload") or {}
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = {"raw": payload}
    summary = ""
    if "from" in payload and "to" in payload:
        summary = f"{payload['from']} → {payload['to']}"
    elif isinstance(payload.get("changes"), dict):
        summary = "changed " + ", ".join(sorted(payload["changes"]))
    elif payload.get("title"):
        summary = str(payload["title"])
    elif payload.get("to_sprint"):
        summary = f"{payload.get('from_sprint')} → {payload.get('to_sprint')}"
    kind, code = e.get("entity_type"), e.get("entity_code")
    return {
        "id": str(e["id"]),
        "time": e.get("emitted_at"),
        "type": etype,
        "entity_type": kind,
        "entity_code": code,
        "entity_key": _key(kind, code),
        "entity_url": entity_url(kind, code),
        "agent": e.get("agent"),
        "session": e.get("session_key"),
        "commit": e.get("commit"),
        "path": e.get("path"),
        "hash": e.get("hash"),
        "summary": summary,
        "payload": payload,
    }


_PREFIX = {
    "task": "T",
    "sprint": "S",
    "adr": "ADR",
    "bug": "BUG",
    "agent": "A",
    "session": "SESSION",
}


def _key(kind: str | None, code: str | None) -> str | None:
    if not kind or not code:
        return None
    return f"{_PREFIX.get(kind, kind)}:{code}"


def entity_url(kind: str | None, code: str | None) -> str | None:
    """The board page of an entity (None for plain files and config)."""
    if not kind or not code:
        return None
    from urllib.parse import quote

    c = quote(str(code), safe="")
    return {
        "task": f"/task/{c}",
        "sprint": f"/sprint/{c}",
        "adr": f"/adr/{c}",
        "bug": f"/bug/{c}",
        "session": f"/session/{c}",
        "agent": "/agents",
    }.get(kind)
