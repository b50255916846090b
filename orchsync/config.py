"""The team's settings, from `delegation/orchsync.yml` (committed, shared); defaults otherwise."""

from __future__ import annotations

import json
import os
import stat
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchsync.repo import DELEGATION

# Here rather than in parse.layout (which re-exports it): every command loads the settings,
# and layout pulls in the model (~10 ms) that a stored answer or a daemon's answer never needs.
CONFIG_FILE = f"{DELEGATION}/orchsync.yml"

__all__ = ["Config", "EventPolicy", "LEVELS", "load_config", "parse_config"]

LEVELS = ("debug", "info", "warning")

# High-volume or bookkeeping events are debug; things a lead must notice are warnings.
DEFAULT_LEVELS = {
    "orchestration.file.synced": "debug",
    "orchestration.file.deleted": "debug",
    "orchestration.context.assembled": "debug",
    "orchestration.file.invalid": "warning",
    "orchestration.task.blocked": "warning",
}


@dataclass(frozen=True, slots=True)
class EventPolicy:
    """Which events are recorded: a minimum level, per-type levels and sampling rates."""

    min_level: str = "debug"
    levels: dict[str, str] = field(default_factory=dict)
    sampling: dict[str, float] = field(default_factory=dict)

    def level_of(self, event_type: str) -> str:
        return self.levels.get(event_type) or DEFAULT_LEVELS.get(event_type, "info")

    def keeps(self, event_type: str, sample_key: str) -> bool:
        """Deterministic: the decision hangs on the content hash, so a rebuild keeps the same events."""
        if LEVELS.index(self.level_of(event_type)) < LEVELS.index(self.min_level):
            return False
        rate = self.sampling.get(event_type, 1.0)
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        import hashlib

        digest = hashlib.sha256(f"{event_type}:{sample_key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass(frozen=True, slots=True)
class Config:
    debounce_ms: int = 300
    max_latency_ms: int = 2000
    target_ref: str | None = None
    run_hooks: bool = False
    context_cache_seconds: int = 300
    actor: str | None = None
    events: EventPolicy = field(default_factory=EventPolicy)
    problems: tuple[str, ...] = ()


def parse_config(raw: bytes | None) -> Config:
    """Read config bytes; a broken file gives defaults plus the problems (never a crash)."""
    if raw is None:
        return Config()
    from orchsync.parse.yamldoc import Document, decode, load_yaml

    text, problems = decode(raw)
    doc = load_yaml(text or "", Document())
    notes = [f"{CONFIG_FILE}:{p.line or 1}: {p.message}" for p in [*problems, *doc.problems]]
    data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
    ev = data.get("events") if isinstance(data.get("events"), dict) else {}
    assert isinstance(ev, dict)

    def _int(key: str, default: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            notes.append(f"{CONFIG_FILE}: {key}: expected a non-negative integer, using {default}")
            return default
        return value

    min_level = ev.get("min_level", "debug")
    if min_level not in LEVELS:
        notes.append(
            f"{CONFIG_FILE}: events.min_level: {min_level!r} is not one of {', '.join(LEVELS)}"
        )
        min_level = "debug"
    levels = {str(k): str(v) for k, v in (ev.get("levels") or {}).items() if v in LEVELS}
    sampling = {}
    for k, v in (ev.get("sampling") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1:
            sampling[str(k)] = float(v)
        else:
            notes.append(f"{CONFIG_FILE}: events.sampling.{k}: expected a rate between 0 and 1")
    target = data.get("target_ref")
    return Config(
        debounce_ms=_int("debounce_ms", 300),
        max_latency_ms=_int("max_latency_ms", 2000),
        target_ref=str(target) if target else None,
        run_hooks=bool(data.get("run_hooks", False)),
        context_cache_seconds=_int("context_cache_seconds", 300),
        actor=str(data["actor"]) if data.get("actor") else None,
        events=EventPolicy(min_level=min_level, levels=levels, sampling=sampling),
        problems=tuple(notes),
    )


def load_config(root: Path) -> Config:
    """The config in force; parsed YAML is memoized by the file's stat in `.git/orchsync/`.

    Every read command needs the config (for `target_ref`), and importing a YAML parser costs
    more than the rest of a cached query; the memo is keyed by mtime and size, so an edit is
    seen at once.
    """
    path = root / CONFIG_FILE
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return Config()
    if not stat.S_ISREG(st.st_mode) or os.path.islink(path.parent):
        # A link (or a FIFO...) is never read: the config would come from anywhere.
        return Config(
            problems=(
                f"{CONFIG_FILE} is not a regular file (a symbolic link?); not read, defaults apply",
            )
        )
    stamp = [st.st_mtime_ns, st.st_size]
    memo = root / ".git" / "orchsync" / "config-memo.json"
    try:
        cached = json.loads(memo.read_text(encoding="utf-8"))
        if cached.get("stamp") == stamp:
            return _from_dict(cached["config"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from orchsync.parse.fsread import read_entry

    config = parse_config(read_entry(root, CONFIG_FILE).data)
    if memo.parent.is_dir():
        tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps({"stamp": stamp, "config": asdict(config)}), encoding="utf-8")
            tmp.replace(memo)
        except OSError:  # a memo that cannot be written is only slower
            with suppress(OSError):
                tmp.unlink()
    return config


def _from_dict(data: dict[str, Any]) -> Config:
    events = EventPolicy(**data.pop("events"))
    data["problems"] = tuple(data.get("problems", ()))
    return Config(events=events, **data)
