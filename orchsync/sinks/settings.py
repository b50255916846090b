"""The `sinks:` list of `delegation/orchsync.yml`: where events go, read and checked.

Each entry names a sink, its type (`jsonl`, `webhook`, `otlp`), an optional filter and the
type's own keys. A bad entry is a diagnostic with file, line and field (`orchsync check`
and `orchsync sinks status` print them) and is not delivered to; the good ones still are.
The file is committed and shared, so nothing secret may sit in it: a webhook names the
environment variable that holds its secret (`secret_env`), never the secret.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from orchsync.config import CONFIG_FILE, LEVELS
from orchsync.model import Diagnostic, Kind
from orchsync.parse.layout import DELEGATION
from orchsync.repo import Repo

__all__ = [
    "EventFilter",
    "SINK_TYPES",
    "SinkSettings",
    "SinkSpec",
    "jsonl_path_problem",
    "load_sinks",
    "parse_sinks",
    "redact_url",
]

SINK_TYPES = ("jsonl", "webhook", "otlp")
NAME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z"
)  # also a folder name in .git/orchsync/sinks/
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
ENTITY_TYPES = tuple(
    k.value for k in Kind if k is not Kind.TASK_AGENT
)  # AGENT.yml events are the task's
MAX_PATTERNS = 100
MAX_PATTERN = 200
MAX_URL = 2048
JSONL_SUFFIXES = (".jsonl", ".ndjson")

COMMON = {
    "name": "a name for the sink (letters, digits, `_.-`), unique in the list",
    "type": "jsonl, webhook or otlp",
    "enabled": "false to keep the sink configured but not deliver to it",
    "start": "latest (events from when the sink is first seen; the default) or all",
    "events": "event types to send, globs (`orchestration.task.*`); default: all",
    "min_level": "debug, info or warning",
    "entities": "entity kinds to send (task, sprint, ...); default: all",
    "batch_size": "events per delivery, 1 to 5000",
    "max_backlog": "events the sink may fall behind before status reports it",
}
TYPE_KEYS = {
    "jsonl": {"path", "max_bytes", "keep", "fsync"},
    "webhook": {"url", "secret_env", "timeout", "retries"},
    "otlp": {"endpoint", "service_name", "timeout"},
}
REQUIRED = {"jsonl": ("path",), "webhook": ("url", "secret_env"), "otlp": ()}


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a sink takes: all of `events` (globs), `min_level` and `entities`."""

    events: tuple[str, ...] = ()
    min_level: str = "debug"
    entities: tuple[str, ...] = ()

    def matches(self, event: dict[str, Any]) -> bool:
        level = event.get("level") or "info"
        if level in LEVELS and LEVELS.index(level) < LEVELS.index(self.min_level):
            return False
        if self.entities and event.get("entity_type") not in self.entities:
            return False
        kind = str(event.get("event_type") or "")
        return not self.events or any(fnmatch.fnmatchcase(kind, p) for p in self.events)


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """One valid entry of `sinks:`. `options` holds the type's keys, checked and defaulted."""

    name: str
    type: str
    filter: EventFilter = EventFilter()
    options: dict[str, Any] = field(default_factory=dict, compare=True, hash=False)
    enabled: bool = True
    start: str = "latest"
    batch_size: int = 500
    max_backlog: int = 100_000
    line: int | None = field(default=None, compare=False)

    def target(self) -> str:
        """Where the events go, fit to print: a URL without its credentials or query."""
        if self.type == "jsonl":
            return str(self.options["path"])
        if self.type == "webhook":
            return redact_url(self.options["url"])
        endpoint = self.options.get("endpoint")
        return redact_url(endpoint) if endpoint else "OTEL_EXPORTER_OTLP_* environment"


@dataclass(frozen=True, slots=True)
class SinkSettings:
    sinks: tuple[SinkSpec, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    def named(self, name: str) -> SinkSpec | None:
        return next((s for s in self.sinks if s.name == name), None)


def load_sinks(repo: Repo) -> SinkSettings:
    """The sinks of the repository's config file as it is on disk (a link is never read)."""
    from orchsync.parse.fsread import read_entry

    entry = read_entry(repo.root, CONFIG_FILE)
    return parse_sinks(entry.data, repo)


def parse_sinks(raw: bytes | None, repo: Repo) -> SinkSettings:
    """Read `sinks:` from config bytes; problems become diagnostics, never exceptions."""
    if raw is None or b"sinks" not in raw:
        return SinkSettings()  # (no YAML parser imported for a config without sinks)
    from orchsync.parse.yamldoc import Document, decode, load_yaml

    text, _ = decode(raw)
    doc = load_yaml(text or "", Document())
    data = doc.data if isinstance(doc.data, dict) else {}
    entries = data.get("sinks")
    if entries is None:
        return SinkSettings()
    out = _Reader(doc, repo)
    if not isinstance(entries, list):
        out.problem(("sinks",), "expected a list of sinks (`- name: ...` entries)")
        return SinkSettings((), tuple(out.diagnostics))
    names: set[str] = set()
    for i, entry in enumerate(entries):
        spec = out.sink(i, entry)
        if spec is None:
            continue
        if spec.name in names:
            out.problem(("sinks", i, "name"), f"{spec.name!r} is used by an earlier sink")
            continue
        names.add(spec.name)
        out.specs.append(spec)
    return SinkSettings(tuple(out.specs), tuple(sorted(out.diagnostics, key=_by_line)))


def _by_line(d: Diagnostic) -> int:
    return d.line or 0


class _Reader:
    """Checks entries one key at a time, collecting diagnostics that point at the line."""

    def __init__(self, doc: Any, repo: Repo) -> None:
        self.doc = doc
        self.repo = repo
        self.specs: list[SinkSpec] = []
        self.diagnostics: list[Diagnostic] = []
        self._bad = False

    def problem(self, path: tuple[Any, ...], message: str) -> None:
        from orchsync.parse.yamldoc import dotted

        line = None
        for n in range(len(path), 0, -1):
            line = self.doc.line(path[:n])
            if line is not None:
                break
        self.diagnostics.append(Diagnostic(CONFIG_FILE, line, dotted(path), message))
        self._bad = True

    def sink(self, i: int, entry: Any) -> SinkSpec | None:
        at = ("sinks", i)
        if not isinstance(entry, dict):
            self.problem(at, "each sink is a mapping with at least `name` and `type`")
            return None
        self._bad = False
        kind = entry.get("type")
        if kind not in SINK_TYPES:
            self.problem((*at, "type"), f"{kind!r} is not one of {', '.join(SINK_TYPES)}")
            return None
        for key in entry:
            if key not in COMMON and key not in TYPE_KEYS[kind]:
                self.problem((*at, str(key)), _unknown(str(key), kind))
        for key in ("name", *REQUIRED[kind]):
            if entry.get(key) in (None, ""):
                self.problem((*at, key), "required")
        name = entry.get("name")
        if isinstance(name, str) and not NAME.match(name):
            self.problem((*at, "name"), "use 1 to 64 letters, digits, `_`, `.` or `-`")
        options = getattr(self, f"_{kind}")(at, entry)
        spec = SinkSpec(
            name=str(name),
            type=kind,
            filter=self._filter(at, entry),
            options=options,
            enabled=self._bool(at, entry, "enabled", True),
            start=self._choice(at, entry, "start", ("latest", "all"), "latest"),
            batch_size=self._int(at, entry, "batch_size", 500, 1, 5000),
            max_backlog=self._int(at, entry, "max_backlog", 100_000, 1, 10**9),
            line=self.doc.line(at),
        )
        return None if self._bad else spec

    # --- the filter ---------------------------------------------------------------------

    def _filter(self, at: tuple[Any, ...], entry: dict[str, Any]) -> EventFilter:
        events = self._strings(at, entry, "events")
        for n, pattern in enumerate(events):
            if len(pattern) > MAX_PATTERN:
                self.problem((*at, "events", n), f"a pattern is at most {MAX_PATTERN} characters")
        entities = self._strings(at, entry, "entities")
        for n, kind in enumerate(entities):
            if kind not in ENTITY_TYPES:
                self.problem(
                    (*at, "entities", n), f"{kind!r} is not one of {', '.join(ENTITY_TYPES)}"
                )
        return EventFilter(
            events=tuple(
                p if p.startswith("orchestration.") else f"orchestration.{p}" for p in events
            ),
            min_level=self._choice(at, entry, "min_level", LEVELS, "debug"),
            entities=tuple(entities),
        )

    # --- the types ----------------------------------------------------------------------

    def _jsonl(self, at: tuple[Any, ...], entry: dict[str, Any]) -> dict[str, Any]:
        raw = entry.get("path")
        path: Path | None = None
        if isinstance(raw, str) and raw:
            path = _expand(raw, self.repo.root)
            why = jsonl_path_problem(path, self.repo)
            if why:
                self.problem((*at, "path"), why)
        elif raw not in (None, ""):
            self.problem((*at, "path"), "expected a file path")
        return {
            "path": path,
            "max_bytes": self._int(at, entry, "max_bytes", 100 * 2**20, 4096, 2**40),
            "keep": self._int(at, entry, "keep", 5, 0, 100),
            "fsync": self._bool(at, entry, "fsync", True),
        }

    def _webhook(self, at: tuple[Any, ...], entry: dict[str, Any]) -> dict[str, Any]:
        url = self._url(at, entry, "url")
        env = entry.get("secret_env")
        if env not in (None, "") and not (isinstance(env, str) and ENV_NAME.match(env)):
            self.problem(
                (*at, "secret_env"),
                "the name of an environment variable (letters, digits, `_`), not the secret",
            )
        return {
            "url": url,
            "secret_env": env,
            "timeout": self._number(at, entry, "timeout", 10.0, 300.0),
            "retries": self._int(at, entry, "retries", 5, 0, 20),
        }

    def _otlp(self, at: tuple[Any, ...], entry: dict[str, Any]) -> dict[str, Any]:
        # Unset keys stay None: OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT and
        # OTEL_EXPORTER_OTLP_TIMEOUT (or the SDK's defaults) apply then.
        service = entry.get("service_name")
        if service is not None and (not isinstance(service, str) or not 0 < len(service) <= 200):
            self.problem((*at, "service_name"), "expected a short text")
        return {
            "endpoint": self._url(at, entry, "endpoint"),
            "service_name": service,
            "timeout": self._number(at, entry, "timeout", 10.0, 300.0)
            if "timeout" in entry
            else None,
        }

    # --- values -------------------------------------------------------------------------

    def _url(self, at: tuple[Any, ...], entry: dict[str, Any], key: str) -> str | None:
        value = entry.get(key)
        if value in (None, ""):
            return None
        why = _url_problem(value)
        if why:
            self.problem((*at, key), why)
            return None
        return str(value)

    def _strings(self, at: tuple[Any, ...], entry: dict[str, Any], key: str) -> list[str]:
        value = entry.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem((*at, key), "expected a list of texts")
            return []
        if len(value) > MAX_PATTERNS:
            self.problem((*at, key), f"at most {MAX_PATTERNS} entries")
            return []
        return list(value)

    def _int(
        self, at: tuple[Any, ...], entry: dict[str, Any], key: str, default: int, lo: int, hi: int
    ) -> int:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.problem((*at, key), f"expected a whole number from {lo} to {hi}")
            return default
        return value

    def _number(
        self, at: tuple[Any, ...], entry: dict[str, Any], key: str, default: float, hi: float
    ) -> float:
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= hi:
            self.problem((*at, key), f"expected seconds, more than 0 and at most {hi:.0f}")
            return default
        return float(value)

    def _bool(self, at: tuple[Any, ...], entry: dict[str, Any], key: str, default: bool) -> bool:
        value = entry.get(key, default)
        if not isinstance(value, bool):
            self.problem((*at, key), "expected true or false")
            return default
        return value

    def _choice(
        self,
        at: tuple[Any, ...],
        entry: dict[str, Any],
        key: str,
        options: tuple[str, ...],
        default: str,
    ) -> str:
        value = entry.get(key, default)
        if value not in options:
            self.problem((*at, key), f"{value!r} is not one of {', '.join(options)}")
            return default
        return str(value)


def _unknown(key: str, kind: str) -> str:
    if key in ("secret", "token", "password", "api_key"):
        return (
            "secrets are never read from this file (it is committed): put it in an "
            "environment variable and name that in `secret_env`"
        )
    if key == "headers":
        return (
            "unknown key: extra headers are not supported (OTLP reads OTEL_EXPORTER_OTLP_HEADERS)"
        )
    known = sorted(set(COMMON) | TYPE_KEYS[kind])
    return f"unknown key for a {kind} sink (known: {', '.join(known)})"


def _url_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "expected a URL"
    if len(value) > MAX_URL or any(c.isspace() or not c.isprintable() for c in value):
        return "not a URL (too long, or spaces or control characters in it)"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"only http and https URLs are sent to, not {parts.scheme or 'a URL without scheme'}"
    if not parts.hostname:
        return "the URL has no host"
    return None


def redact_url(url: str) -> str:
    """A URL to print: no user or password, no query (either may carry a token)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        if ":" in (parts.hostname or ""):
            host = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")
    except ValueError:
        return "(an invalid URL)"


def _expand(raw: str, root: Path) -> Path:
    """`~` expanded, relative to the repository root, `..` folded (not links: see below)."""
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = root / path
    return Path(os.path.normpath(path))


def jsonl_path_problem(path: Path, repo: Repo) -> str | None:
    """Why a JSON Lines sink may not write to `path`, or None.

    Never into delegation/ (every write there becomes a commit, and a sink writing what it
    read would feed itself) nor into git's own folder; checked on the path as written and
    again with its folders' links resolved. Only `.jsonl`/`.ndjson` files, so a config
    cannot aim the sink at a shell profile or an authorized_keys file.
    """
    if path.suffix.lower() not in JSONL_SUFFIXES:
        return f"the file name must end in {' or '.join(JSONL_SUFFIXES)}"
    forbidden = {
        repo.root / DELEGATION: f"inside the repository's {DELEGATION}/ tree",
        repo.root / ".git": "inside the repository's .git folder",
        repo.git_dir: "inside the repository's .git folder",
        repo.common_dir: "inside the repository's .git folder",
    }
    candidates = [path]
    with contextlib.suppress(OSError):
        candidates.append(Path(os.path.realpath(path.parent)) / path.name)
    for candidate in candidates:
        for folder, why in forbidden.items():
            for base in {folder, Path(os.path.realpath(folder))}:
                if candidate == base or base in candidate.parents:
                    return f"{path} is {why}; write it somewhere else"
    return None
