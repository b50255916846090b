"""What every project-management write shares: the result, the actor, argument rules,
the numbering lock, and the one way a write reaches git (`sync_written`)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchsync.errors import InvalidId, SnapshotBlocked, UnknownEntity, UsageError
from orchsync.parse import parse_file
from orchsync.parse.events import Event
from orchsync.parse.layout import (
    DELEGATION,
    check_code,
    sprint_path,
)
from orchsync.pm.templates import Template, TemplateError, render
from orchsync.pm.writes import atomic_write
from orchsync.repo import FileLock, Repo

if TYPE_CHECKING:
    from orchsync.watch.client import Claim

__all__ = [
    "VARIABLE",
    "BUILTIN_VARIABLES",
    "PmResult",
    "default_actor",
    "parse_assignments",
    "parse_fields",
    "check_variables",
    "valid_code",
    "valid_choice",
    "valid_date",
    "clean_title",
    "title_from_id",
    "unique_code",
    "today",
    "now",
    "sprint_codes",
    "require_sprint",
    "is_regular_file",
    "render_checked",
    "claimed",
    "preflight",
    "numbering_lock",
    "sync_written",
    "write_new",
    "writing",
    "base_variables",
]

VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# Variables orchsync sets itself; `--set` may not shadow them (each has its own option).
BUILTIN_VARIABLES = frozenset(
    [
        "id",
        "code",
        "title",
        "today",
        "now",
        "actor",
        "session",
        "sprint",
        "priority",
        "agent",
        "depends_on",
        "owner",
        "start",
        "end",
        "number",
        "status",
        "body",
        "key",
        "task",
    ]
)


@dataclass(slots=True)
class PmResult:
    """What a PM call did: the files it wrote, the commit and the events derived from it."""

    action: str  # "sprint.create", "task.status", ...
    entity: str  # "S:my-sprint", "T:phase-1", "ADR:006"
    message: str  # one line for people
    paths: list[str] = field(default_factory=list)
    commit: str | None = None
    subject: str | None = None
    events: list[Event] = field(default_factory=list)
    blocked: str | None = None  # written but not committed (git was busy); the daemon retries
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.paths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "entity": self.entity,
            "message": self.message,
            "paths": self.paths,
            "commit": self.commit,
            "subject": self.subject,
            "blocked": self.blocked,
            "events": [
                {"event_type": e.event_type, "entity": e.entity_code, "path": e.path}
                for e in self.events
            ],
            "warnings": self.warnings,
            **self.details,
        }


def default_actor(repo: Repo) -> str | None:
    """Who is acting: $ORCHSYNC_ACTOR, else `actor` in orchsync.yml, else git's user.name."""
    env = os.environ.get("ORCHSYNC_ACTOR", "").strip()
    if env:
        return env
    from orchsync.config import load_config

    configured = load_config(repo.root).actor
    if configured:
        return configured
    name = _git_user_name(repo)
    if name is not None:
        return name or None
    import pygit2

    try:
        name = pygit2.Repository(str(repo.root)).config["user.name"]
    except (KeyError, pygit2.GitError):
        return None
    return str(name).strip() or None


def _git_user_name(repo: Repo) -> str | None:
    """`git config user.name` ("" when unset); None when git cannot be run (then pygit2).

    A subprocess costs ~5 ms; importing pygit2 for one config value costs ~45 ms.
    """
    import shutil
    import subprocess

    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        proc = subprocess.run(
            [exe, "config", "--get", "user.name"],
            cwd=repo.root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode not in (0, 1):  # 1: not set
        return None
    return proc.stdout.strip()


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`["goal=Ship it", "team=core"]` -> {"goal": "Ship it", "team": "core"} (from --set)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not VARIABLE.match(key):
            raise UsageError(
                f"--set {item!r}: expected NAME=VALUE with NAME made of letters, digits and '_'"
            )
        out[key] = value
    return out


def parse_fields(items: Iterable[str]) -> dict[str, str]:
    """`["estimate=3d", "team=core"]` -> {"estimate": "3d", "team": "core"} (`task edit --set`).

    Only the shape is checked here; which keys may be set is the edit's own rule.
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def check_variables(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    values = dict(variables or {})
    for key in values:
        if not VARIABLE.match(key):
            raise UsageError(f"variable name {key!r} is not valid; use letters, digits and '_'")
        if key in BUILTIN_VARIABLES:
            raise UsageError(
                f"--set {key}=...: {key!r} is set by orchsync itself; use the command's own option for it"
            )
    return values


def valid_code(value: str | None, what: str) -> str:
    """A sprint or task code, or an agent name: `layout.check_code`, the rule `check` applies."""
    try:
        return check_code(value or "", what)
    except InvalidId as exc:
        raise UsageError(str(exc)) from exc


def valid_choice(value: str | None, valid: Sequence[str], what: str) -> str:
    if value not in valid:
        raise UsageError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    assert value is not None
    return value


def valid_date(value: str | date | None, what: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError as exc:
        raise UsageError(f"{what} {value!r} is not a date; use YYYY-MM-DD") from exc


def clean_title(value: str | None, fallback: str) -> str:
    text = " ".join((value or "").split())
    if value is not None and not text:
        raise UsageError("title must not be empty")
    return text or title_from_id(fallback)


# Words kept in capitals when a title is made from an id (`api-crud` -> "API CRUD").
ACRONYMS = frozenset(
    [
        "adr",
        "api",
        "cd",
        "ci",
        "cli",
        "crud",
        "css",
        "csv",
        "db",
        "dns",
        "html",
        "http",
        "https",
        "id",
        "io",
        "json",
        "jwt",
        "mcp",
        "orm",
        "otlp",
        "pr",
        "qa",
        "sdk",
        "sql",
        "ssh",
        "ssl",
        "sso",
        "tls",
        "ui",
        "url",
        "ux",
        "yaml",
    ]
)


def title_from_id(code: str) -> str:
    """A title for an entity created without one: the id's words, nothing lost.

    `-` and `_` become spaces, the first word gets a capital (the rest of it is kept as
    typed), known acronyms are written in capitals, every other word stays as it is:
    `api-crud` -> "API CRUD", `phase-1-api-foundation` -> "Phase 1 API foundation",
    `fix_iOS-login` -> "Fix iOS login".
    """
    words = [w for w in re.split(r"[-_\s]+", code) if w]
    out = [w.upper() if w.lower() in ACRONYMS else w for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def unique_code(title: str, taken: Iterable[str], what: str, max_len: int = 60) -> str:
    """A code made from a title, unique among `taken`: `Cache eviction` -> `cache-eviction`,
    then `cache-eviction-2`, `-3`... (the rule `task create --title` without `--id` uses)."""
    from orchsync.parse.layout import slugify

    base = slugify(" ".join((title or "").split()), max_len)
    if base == "untitled" and not re.search(r"[A-Za-z0-9]", title or ""):
        raise UsageError(f"cannot make a {what} from the title {title!r}; give --id")
    used = set(taken)
    if base not in used:
        return valid_code(base, what)
    for n in range(2, 10_000):
        candidate = f"{base}-{n}"
        if candidate not in used:
            return valid_code(candidate, what)
    raise UsageError(f"no free {what} left for {base!r}; give --id")  # pragma: no cover


def today() -> str:
    return date.today().isoformat()


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sprint_codes(repo: Repo) -> list[str]:
    base = repo.root / DELEGATION / "sprints"
    try:
        return sorted(
            e.name
            for e in os.scandir(base)
            if e.is_dir(follow_symlinks=False) and (Path(e.path) / "SPRINT.md").is_file()
        )
    except FileNotFoundError:
        return []


def require_sprint(repo: Repo, sprint: str) -> str:
    code = valid_code(sprint, "sprint id")
    if not is_regular_file(repo, sprint_path(code)):
        known = ", ".join(sprint_codes(repo)) or "(none yet)"
        raise UnknownEntity(
            f"unknown sprint {code!r} (no {sprint_path(code)}); sprints: {known}. "
            f"Create it with `orchsync sprint create --id {code}`"
        )
    return code


def is_regular_file(repo: Repo, rel: str) -> bool:
    """A regular file (not a link, not through a linked folder) is at `rel`."""
    from orchsync.parse.fsread import Reader

    with Reader(repo.root) as reader:
        st = reader.lstat(rel)
    return st is not None and stat.S_ISREG(st.st_mode)


def render_checked(
    template: Template, variables: Mapping[str, Any], targets: Mapping[str, str]
) -> dict[str, bytes]:
    """Render and parse every file; refuse (writing nothing) if any would be invalid."""
    texts = render(template, variables)
    out: dict[str, bytes] = {}
    for name, text in texts.items():
        path = targets[name]
        data = text.encode("utf-8")
        parsed = parse_file(path, data)
        if not parsed.valid:
            problems = "; ".join(str(d) for d in parsed.diagnostics if d.severity == "error")
            raise TemplateError(
                f"template {template.ref} ({template.path / (name + '.j2')}) renders an invalid {name}: "
                f"{problems}; fix the template (nothing was written)"
            )
        out[path] = data
    return out


def preflight(repo: Repo) -> None:
    """Refuse before writing when git is in a state where no snapshot can be made."""
    from orchsync.config import load_config
    from orchsync.git.state import snapshot_blocked  # file reads: no pygit2 import

    reason = snapshot_blocked(repo, load_config(repo.root).target_ref)
    if reason:
        raise SnapshotBlocked(f"{reason}; nothing written")


@contextmanager
def numbering_lock(repo: Repo, timeout: float = 30.0) -> Iterator[None]:
    """Serialises "check the name/number is free -> create the file -> commit" between processes.

    A separate file from the repo-wide sync lock (which `sync` takes itself, inside this one).
    """
    with FileLock(
        repo.ensure_runtime() / "numbering.lock", timeout=timeout, what="the numbering lock"
    ):
        yield


@contextmanager
def claimed(repo: Repo, paths: Iterable[str]) -> Iterator[Claim | None]:
    """Around a write and its `sync_written`: a running daemon leaves `paths` (files or
    folders) to this command until its sync is handed over, so that the commit names the
    actor. Claimed only after the write, a daemon batch could commit the new bytes first,
    as the git user's, when many agents write at once (`watch.client.claim`)."""
    from orchsync.watch.client import claim  # socket and json only

    with claim(repo, [str(repo.root / p) for p in paths]) as held:
        yield held


@contextmanager
def writing(repo: Repo, paths: Iterable[str]) -> Iterator[Claim | None]:
    """`preflight`, then `claimed`: the steps before a write command writes."""
    preflight(repo)
    with claimed(repo, paths) as held:
        yield held


def sync_written(
    repo: Repo,
    result: PmResult,
    paths: list[str],
    *,
    actor: str | None,
    session: str | None,
    subject: str | None = None,
    claim: Claim | None = None,
) -> PmResult:
    from orchsync.pm.uncommitted import after_write, how_committed
    from orchsync.watch.client import sync_anywhere  # the running daemon's sync, else this one

    absolute = [str(repo.root / p) for p in paths]  # sync reads relative paths from the cwd
    with after_write(repo, paths, result.message):
        done = sync_anywhere(
            repo, absolute, claim=claim, actor=actor, session=session, subject=subject
        )
    result.commit, result.subject, result.events = done.commit, done.subject, done.events
    if done.blocked:
        result.blocked = f"{done.blocked}; the edit is on disk: {how_committed(repo)}"
    return result


def write_new(repo: Repo, files: Mapping[str, bytes]) -> None:
    for path, data in files.items():
        try:
            atomic_write(repo.root / path, data, exclusive=True, root=repo.root)
        except FileExistsError as exc:
            raise UsageError(f"{path} already exists; nothing overwritten") from exc


def base_variables(actor: str | None, session: str | None) -> dict[str, Any]:
    return {"today": today(), "now": now(), "actor": actor, "session": session}
