"""Project-management moves as library calls: create sprints, tasks, ADRs and bugs, change a
task's status, move a task. The CLI and the MCP server both call these.

Every call validates everything first (a refused call writes nothing), writes its files
atomically, then syncs exactly those paths with the caller's actor and session: the commit,
its trailers and the events (`sprint.created`, `task.status_updated`, `bug.reported`, ...)
all come from the one sync function, never from here.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from orchsync.errors import InvalidId, SnapshotBlocked, StaleWrite, UnknownEntity, UsageError
from orchsync.events import Event
from orchsync.frontmatter_edit import append_note, get_field, set_field
from orchsync.layout import (
    DELEGATION,
    adr_path,
    bug_path,
    check_segment,
    classify,
    slugify,
    sprint_path,
    task_dir,
)
from orchsync.lock import FileLock
from orchsync.model import PRIORITIES, TASK_STATUSES, Kind, content_hash
from orchsync.parse import parse_file
from orchsync.repo import Repo
from orchsync.templates import Template, TemplateError, find_template, render
from orchsync.writes import ConcurrentEdit, atomic_write, replace_if_unchanged

__all__ = [
    "PmResult",
    "create_adr",
    "create_sprint",
    "create_task",
    "default_actor",
    "list_adrs",
    "list_bugs",
    "move_task",
    "parse_assignments",
    "report_bug",
    "update_task_status",
]

log = logging.getLogger(__name__)

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ADR_TITLE = re.compile(r"^\s*ADR[-_ ]?(\d{1,6})\s*[:.\u2013\u2014-]\s*(.*)$", re.IGNORECASE)
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


# --- shared rules ------------------------------------------------------------------------------


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
        if not sep or not _VAR.match(key):
            raise UsageError(
                f"--set {item!r}: expected NAME=VALUE with NAME made of letters, digits and '_'"
            )
        out[key] = value
    return out


def _check_variables(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    values = dict(variables or {})
    for key in values:
        if not _VAR.match(key):
            raise UsageError(f"variable name {key!r} is not valid; use letters, digits and '_'")
        if key in BUILTIN_VARIABLES:
            raise UsageError(
                f"--set {key}=...: {key!r} is set by orchsync itself; use the command's own option for it"
            )
    return values


def _code(value: str | None, what: str) -> str:
    """A sprint or task code: one safe path segment of letters, digits, '.', '-' and '_'."""
    try:
        check_segment(value or "", what)
    except InvalidId as exc:
        raise UsageError(str(exc)) from exc
    assert value is not None
    if not _CODE.match(value):
        raise UsageError(
            f"{what} {value!r} may only hold letters, digits, '.', '-' and '_' (starting with a letter or digit)"
        )
    return value


def _choice(value: str | None, valid: Sequence[str], what: str) -> str:
    if value not in valid:
        raise UsageError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
    assert value is not None
    return value


def _date(value: str | date | None, what: str) -> str | None:
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


def _title(value: str | None, fallback: str) -> str:
    text = " ".join((value or "").split())
    if value is not None and not text:
        raise UsageError("title must not be empty")
    return text or fallback.replace("-", " ").replace("_", " ").strip().capitalize()


def _today() -> str:
    return date.today().isoformat()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _sprints(repo: Repo) -> list[str]:
    base = repo.root / DELEGATION / "sprints"
    try:
        return sorted(e.name for e in os.scandir(base) if (Path(e.path) / "SPRINT.md").is_file())
    except FileNotFoundError:
        return []


def _require_sprint(repo: Repo, sprint: str) -> str:
    code = _code(sprint, "sprint id")
    if not (repo.root / sprint_path(code)).is_file():
        known = ", ".join(_sprints(repo)) or "(none yet)"
        raise UnknownEntity(
            f"unknown sprint {code!r} (no {sprint_path(code)}); sprints: {known}. "
            f"Create it with `orchsync sprint create --id {code}`"
        )
    return code


def _render_checked(
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


def _preflight(repo: Repo) -> None:
    """Refuse before writing when git is in a state where no snapshot can be made."""
    from orchsync.config import load_config
    from orchsync.gitstate import snapshot_blocked  # file reads: no pygit2 import

    reason = snapshot_blocked(repo, load_config(repo.root).target_ref)
    if reason:
        raise SnapshotBlocked(f"{reason}; nothing written")


@contextmanager
def _pm_lock(repo: Repo, timeout: float = 30.0) -> Iterator[None]:
    """Serialises "check the name/number is free -> create the file -> commit" between processes.

    A separate file from the repo-wide sync lock (which `sync` takes itself, inside this one).
    """
    with FileLock(
        repo.ensure_runtime() / "numbering.lock", timeout=timeout, what="the numbering lock"
    ):
        yield


def _sync(
    repo: Repo,
    result: PmResult,
    paths: list[str],
    *,
    actor: str | None,
    session: str | None,
    subject: str | None = None,
) -> PmResult:
    from orchsync.remote import sync_anywhere  # the running daemon's sync, else this one

    absolute = [str(repo.root / p) for p in paths]  # sync reads relative paths from the cwd
    done = sync_anywhere(repo, absolute, actor=actor, session=session, subject=subject)
    result.commit, result.subject, result.events, result.blocked = (
        done.commit,
        done.subject,
        done.events,
        done.blocked,
    )
    return result


def _write_new(repo: Repo, files: Mapping[str, bytes]) -> None:
    for path, data in files.items():
        try:
            atomic_write(repo.root / path, data, exclusive=True)
        except FileExistsError as exc:
            raise UsageError(f"{path} already exists; nothing overwritten") from exc


def _base_variables(actor: str | None, session: str | None) -> dict[str, Any]:
    return {"today": _today(), "now": _now(), "actor": actor, "session": session}


# --- sprints and tasks -------------------------------------------------------------------------


def create_sprint(
    repo: Repo,
    id: str,
    template: str = "default",
    title: str | None = None,
    owner: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """`delegation/sprints/<id>/SPRINT.md` from a template, plus its `.hash` tracking id."""
    code = _code(id, "sprint id")
    values = _check_variables(variables)
    start_s, end_s = _date(start, "--start") or _today(), _date(end, "--end")
    if end_s is not None and end_s < start_s:
        given = "" if start else " (the default: today)"
        raise UsageError(f"--end {end_s} is before --start {start_s}{given}")
    tmpl = find_template(repo, "sprint", template)
    actor = actor or default_actor(repo)
    path = sprint_path(code)
    values |= _base_variables(actor, session) | {
        "id": code,
        "code": code,
        "sprint": code,
        "title": _title(title, code),
        "owner": owner or actor,
        "start": start_s,
        "end": end_s,
    }
    with _pm_lock(repo):
        if (repo.root / path).exists():
            raise UsageError(f"sprint {code!r} already exists ({path}); pick another --id")
        files = _render_checked(tmpl, values, {"SPRINT.md": path})
        _preflight(repo)
        _write_new(repo, files)
        hash_path = f"{DELEGATION}/sprints/{code}/.hash"
        tracking = _tracking_id(repo, hash_path, f"S:{code}", files[path])
        result = PmResult(
            "sprint.create",
            f"S:{code}",
            f"created sprint {code} from template {tmpl.ref}",
            paths=[path, hash_path],
            details={"tracking_id": tracking, "template": tmpl.ref},
        )
        return _sync(
            repo,
            result,
            result.paths,
            actor=actor,
            session=session,
            subject=f"sprint {code}: created from template {tmpl.ref}",
        )


def _tracking_id(repo: Repo, rel: str, key: str, content: bytes) -> str:
    """sha256(entity id + timestamp + initial content), written once to `.hash` and never again."""
    full = repo.root / rel
    if full.is_file():
        return full.read_text(encoding="utf-8").strip()
    import hashlib

    digest = hashlib.sha256(f"{key}\n{_now()}\n".encode() + content).hexdigest()
    atomic_write(full, f"{digest}\n".encode(), exclusive=True)
    return digest


def create_task(
    repo: Repo,
    sprint: str,
    id: str,
    template: str = "default",
    title: str | None = None,
    priority: str = "P2",
    depends_on: Sequence[str] = (),
    agent: str | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """TASK.md (and AGENT.yml, when the template has one) in `delegation/sprints/<sprint>/<id>/`."""
    from orchsync.resolve import task_codes

    sprint = _require_sprint(repo, sprint)
    code = _code(id, "task id")
    priority = _choice(priority, PRIORITIES, "priority")
    values = _check_variables(variables)
    deps = list(dict.fromkeys(d.removeprefix("T:").strip() for d in depends_on))
    warnings: list[str] = []
    if agent is not None:
        agent = _code(agent, "agent")
        if not any(
            (repo.root / DELEGATION / "agents" / f"{agent}{ext}").is_file()
            for ext in (".yml", ".yaml")
        ):
            warnings.append(
                f"agent {agent!r} has no profile in {DELEGATION}/agents/; the task is created anyway"
            )
    tmpl = find_template(repo, "task", template)
    actor = actor or default_actor(repo)
    folder = task_dir(sprint, code)
    values |= _base_variables(actor, session) | {
        "id": code,
        "code": code,
        "sprint": sprint,
        "title": _title(title, code),
        "priority": priority,
        "agent": agent,
        "depends_on": deps,
        "status": "pending",
    }
    with _pm_lock(repo):
        codes = task_codes(repo.root)
        if code in codes:
            raise UsageError(
                f"task code {code!r} is already used by {codes[code][0]}; task codes are unique across sprints"
            )
        if (repo.root / folder).exists():
            raise UsageError(f"{folder} already exists; pick another --id")
        if code in deps:
            raise UsageError(f"task {code!r} cannot depend on itself")
        unknown = [d for d in deps if d not in codes]
        if unknown:
            raise UnknownEntity(
                f"--depends-on: unknown task {', '.join(repr(u) for u in unknown)}; create it first"
            )
        targets = {name: f"{folder}/{name}" for name in tmpl.files}
        files = _render_checked(tmpl, values, targets)
        _preflight(repo)
        _write_new(repo, files)
        result = PmResult(
            "task.create",
            f"T:{code}",
            f"created task {code} in sprint {sprint} from template {tmpl.ref}",
            paths=list(files),
            warnings=warnings,
            details={"sprint": sprint, "template": tmpl.ref},
        )
        return _sync(
            repo,
            result,
            result.paths,
            actor=actor,
            session=session,
            subject=f"task {code}: created in sprint {sprint} from template {tmpl.ref}",
        )


def _task_target(repo: Repo, task: str) -> tuple[str, str]:
    """(code, TASK.md path) of `T:x`, a code, an unambiguous prefix, or a path to TASK.md."""
    from orchsync.resolve import resolve

    key = task.strip()
    if not key:
        raise UsageError("task must not be empty")
    if "/" not in key and not key.upper().startswith("T:"):
        key = f"T:{key}"
    target = resolve(repo, key)
    if target.kind is Kind.TASK_AGENT:
        target = resolve(repo, f"T:{target.code}")
    if target.kind is not Kind.TASK:
        raise UsageError(f"{task!r} is not a task ({target.path})")
    return target.code, target.path


def update_task_status(
    repo: Repo,
    task: str,
    status: str,
    note: str | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
    expected_hash: str | None = None,
) -> PmResult:
    """Change only the `status` line of TASK.md (and append a dated note if given).

    `expected_hash`: the sha256 of the bytes the caller showed; if the file changed since,
    `StaleWrite` is raised and nothing is written (the board's drag and drop passes it).
    """
    status = _choice(status, TASK_STATUSES, "status")
    if note is not None and not note.strip():
        raise UsageError("--note must not be empty")
    code, path = _task_target(repo, task)
    full = repo.root / path
    raw = full.read_bytes()
    expected = content_hash(raw)
    if expected_hash is not None and expected_hash.lower().removeprefix("sha256:") != expected:
        raise StaleWrite(path, expected_hash, expected)
    current = parse_file(path, raw)
    old = current.entity.status if current.entity is not None else None
    if old == status and get_field(raw, "status", path=path) is not None:
        return PmResult(
            "task.status",
            f"T:{code}",
            f"task {code} is already {status}; nothing written",
            details={"from": old, "to": status},
        )
    actor = actor or default_actor(repo)
    new = set_field(raw, "status", status, path=path)
    if note is not None:
        who = f" ({actor})" if actor else ""
        new = append_note(new, f"{_today()} {old} -> {status}{who}: {note}", path=path)
    after = parse_file(path, new)
    if after.entity is None or after.entity.status != status:  # pragma: no cover - a guard
        raise UsageError(f"{path}: could not set status safely; nothing written")
    _preflight(repo)
    try:
        replace_if_unchanged(full, expected, new)
    except ConcurrentEdit:
        if expected_hash is None:
            raise
        now = content_hash(full.read_bytes()) if full.exists() else None
        raise StaleWrite(path, expected_hash, now) from None
    result = PmResult(
        "task.status",
        f"T:{code}",
        f"task {code}: {old} -> {status}",
        paths=[path],
        details={"from": old, "to": status, "note": note},
    )
    return _sync(repo, result, [path], actor=actor, session=session)


def move_task(
    repo: Repo, task: str, to_sprint: str, *, actor: str | None = None, session: str | None = None
) -> PmResult:
    """Move a task's folder to another sprint: one commit, one `task.moved` event."""
    code, path = _task_target(repo, task)
    to_sprint = _require_sprint(repo, to_sprint)
    loc = classify(path)
    src, dst = task_dir(loc.sprint or "", code), task_dir(to_sprint, code)
    if loc.sprint == to_sprint:
        return PmResult(
            "task.move",
            f"T:{code}",
            f"task {code} is already in sprint {to_sprint}; nothing written",
            details={"from_sprint": loc.sprint, "to_sprint": to_sprint},
        )
    actor = actor or default_actor(repo)
    with _pm_lock(repo):
        if (repo.root / dst).exists():
            raise UsageError(f"{dst} already exists; nothing moved")
        raw = (repo.root / path).read_bytes()
        retarget = None
        if get_field(raw, "sprint", path=path) is not None:  # keep a declared sprint in step
            retarget = set_field(raw, "sprint", to_sprint, path=path)
        _preflight(repo)
        os.rename(repo.root / src, repo.root / dst)
        if retarget is not None:
            replace_if_unchanged(repo.root / dst / "TASK.md", content_hash(raw), retarget)
        from orchsync.tree import list_files

        result = PmResult(
            "task.move",
            f"T:{code}",
            f"moved task {code}: {loc.sprint} -> {to_sprint}",
            paths=list_files(repo.root, dst),
            details={
                "from_sprint": loc.sprint,
                "to_sprint": to_sprint,
                "from_path": src,
                "to_path": dst,
            },
        )
        return _sync(
            repo,
            result,
            [src, dst],
            actor=actor,
            session=session,
            subject=f"task {code}: moved from sprint {loc.sprint} to {to_sprint}",
        )


# --- ADRs and bugs -----------------------------------------------------------------------------


def _numbers(repo: Repo, kind: Kind) -> dict[int, str]:
    folder = "adr" if kind is Kind.ADR else "backlog"
    base = repo.root / DELEGATION / folder
    out: dict[int, str] = {}
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return out
    for name in names:
        loc = classify(f"{DELEGATION}/{folder}/{name}")
        if loc.kind is kind and loc.number is not None:
            out.setdefault(loc.number, f"{DELEGATION}/{folder}/{name}")
    return out


def create_adr(
    repo: Repo,
    title: str,
    template: str = "default",
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """`delegation/adr/ADR-<nnn>-<slug>.md`, status proposed, numbered under the numbering lock.

    A title written `ADR-006: Use Event Sourcing` asks for number 6 (refused if taken).
    """
    wanted: int | None = None
    m = _ADR_TITLE.match(title or "")
    if m:
        wanted, title = int(m.group(1)), m.group(2)
        if wanted < 1:
            raise UsageError("ADR numbers start at 1")
    text = " ".join((title or "").split())
    if not text:
        raise UsageError("--title must not be empty")
    values = _check_variables(variables)
    tmpl = find_template(repo, "adr", template)
    actor = actor or default_actor(repo)
    with _pm_lock(repo):
        taken = _numbers(repo, Kind.ADR)
        following = max(taken, default=0) + 1
        if wanted is not None and wanted in taken:
            raise UsageError(
                f"ADR-{wanted:03d} is taken ({taken[wanted]}); leave the number out of the title "
                f"to get the next free one (ADR-{following:03d})"
            )
        number = wanted if wanted is not None else following
        path = adr_path(number, slugify(text))
        values |= _base_variables(actor, session) | {
            "number": number,
            "code": f"{number:03d}",
            "id": f"ADR-{number:03d}",
            "title": text,
            "status": "proposed",
        }
        result = PmResult(
            "adr.create",
            f"ADR:{number:03d}",
            f"created ADR-{number:03d}: {text}",
            paths=[path],
            details={"number": number, "template": tmpl.ref},
        )
        return _create_one(repo, tmpl, values, "ADR.md", result, actor=actor, session=session)


def _create_one(
    repo: Repo,
    tmpl: Template,
    values: Mapping[str, Any],
    name: str,
    result: PmResult,
    *,
    actor: str | None,
    session: str | None,
) -> PmResult:
    """Render the one file of a numbered entity (ADR, bug) to `result.paths[0]`, write it, sync it.

    Called under the numbering lock, so the number picked stays free until the file exists.
    """
    path = result.paths[0]
    files = _render_checked(tmpl, values, {name: path})
    _preflight(repo)
    _write_new(repo, files)
    return _sync(repo, result, [path], actor=actor, session=session)


def report_bug(
    repo: Repo,
    title: str,
    priority: str,
    sprint: str | None = None,
    body: str | None = None,
    template: str = "default",
    variables: Mapping[str, Any] | None = None,
    *,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """`delegation/backlog/BUG-<nnnn>-<slug>.md`, status open: derives `bug.reported`."""
    text = " ".join((title or "").split())
    if not text:
        raise UsageError("--title must not be empty")
    priority = _choice(priority, PRIORITIES, "priority")
    if sprint is not None:
        sprint = _require_sprint(repo, sprint)
    values = _check_variables(variables)
    tmpl = find_template(repo, "bug", template)
    actor = actor or default_actor(repo)
    with _pm_lock(repo):
        number = max(_numbers(repo, Kind.BUG), default=0) + 1
        path = bug_path(number, slugify(text))
        values |= _base_variables(actor, session) | {
            "number": number,
            "code": f"{number:04d}",
            "id": f"BUG-{number:04d}",
            "title": text,
            "priority": priority,
            "sprint": sprint,
            "body": (body or "").strip() or None,
            "status": "open",
        }
        result = PmResult(
            "bug.report",
            f"BUG:{number:04d}",
            f"reported BUG-{number:04d}: {text}",
            paths=[path],
            details={"number": number, "template": tmpl.ref},
        )
        return _create_one(repo, tmpl, values, "BUG.md", result, actor=actor, session=session)


def list_adrs(repo: Repo) -> list[dict[str, Any]]:
    """ADRs read from the tree, by number: id, title, status, date, path."""
    return _list_numbered(repo, Kind.ADR, "ADR-{:03d}", ("date",))


def list_bugs(repo: Repo) -> list[dict[str, Any]]:
    """Bugs read from the tree, by number: id, title, status, priority, sprint, reported_by, path."""
    return _list_numbered(repo, Kind.BUG, "BUG-{:04d}", ("priority", "sprint", "reported_by"))


def _list_numbered(
    repo: Repo, kind: Kind, label: str, extra: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows of numbered entities (ADRs, bugs) read from the tree: id, title, status, extra, path."""
    rows = []
    for number, path in sorted(_numbers(repo, kind).items()):
        e = parse_file(path, (repo.root / path).read_bytes()).entity
        row: dict[str, Any] = {
            "id": label.format(number),
            "title": e.title if e else "",
            "status": e.status if e else None,
        }
        row |= {name: getattr(e, name, None) for name in extra}
        row["path"] = path
        rows.append(row)
    return rows
