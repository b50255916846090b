"""Assemble an agent's working context from the index: AGENT INIT's cold path.

One read-only DuckDB connection (fresh: `query.reader` catches up with git first) answers
every part: the agent profile merged with the task's AGENT.yml, the task, its sprint, its
dependencies and dependents, the session being resumed and that session's events. Reference
docs are read from the work tree. The result records every input (`Deps`) for the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from orchsync.context.refs import hash_file, read_references
from orchsync.context.types import FORMAT, Context, Deps, Request
from orchsync.errors import UnknownEntity
from orchsync.model import KEY_PREFIX, Kind
from orchsync.parse.layout import DELEGATION
from orchsync.parse.placeholders import strip as strip_placeholders
from orchsync.repo import Repo

__all__ = ["SESSION_EVENTS_LIMIT", "assemble_uncached", "context_hash"]

log = logging.getLogger(__name__)

SESSION_EVENTS_LIMIT = 200
# Bookkeeping (AGENT INIT's own events, per-file sync records): not memory worth reading back.
_OWN_EVENTS = (
    "orchestration.agent.initialized",
    "orchestration.context.assembled",
    "orchestration.file.synced",
)
_AGENT_KEYS = {
    "agent",
    "name",
    "title",
    "role",
    "model",
    "description",
    "capabilities",
    "tools_allowed",
    "tools",
    "safety_rails",
    "context",
}
_LINK_COLS = "code, sprint_code, title, status, hash, file_path"
# What a sprint's task list shows (no bodies: a task's context lists its siblings briefly).
_SIBLING_COLS = """code, sprint_code, title, status, priority, agent, depends_on, objectives,
                   deliverables, acceptance_criteria, hash, file_path"""
_TASK_COLS = """code, sprint_code, title, status, priority, agent, assignee, depends_on, objectives,
                deliverables, acceptance_criteria, context, metadata, body, hash, file_path, valid"""


def context_hash(data: dict[str, Any]) -> str:
    """sha256 of the content (what an agent reads), independent of when and how it was served."""
    content = {k: v for k, v in data.items() if k not in ("cached", "provenance", "budget")}
    blob = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def assemble_uncached(repo: Repo, request: Request) -> Context:
    """Read every part from a fresh index and the work tree. No cache, no events, no budget."""
    from orchsync import query

    with query.reader(repo, journal=False) as con:  # it reads no journal events
        return _Assembler(repo, con, request).build()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value


def _json(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return value


def _union(*lists: Any) -> list[str]:
    out: dict[str, None] = {}
    for values in lists:
        for v in values or []:
            out.setdefault(str(v), None)
    return list(out)


def _progress(task: dict[str, Any]) -> dict[str, int]:
    items = [i for key in ("objectives", "deliverables", "acceptance_criteria") for i in task[key]]
    return {"done": sum(1 for i in items if i.get("done")), "total": len(items)}


def _summary(body: str, limit: int = 280) -> str | None:
    """The first paragraph of a body that is prose (not a heading, list or table)."""
    para: list[str] = []
    for line in (body or "").split("\n"):
        s = line.strip()
        if not s:
            if para:
                break
            continue
        if s.startswith(("#", "-", "*", "|", "```", ">")) or s[:2].rstrip(".").isdigit():
            if para:
                break
            continue
        para.append(s)
    text = " ".join(para)
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _event_key(entity_type: str | None, code: str | None) -> str | None:
    if not code:
        return None
    try:
        kind = Kind(entity_type or "")
    except ValueError:
        return code
    return f"{KEY_PREFIX.get(kind, kind.value)}:{code}"


class _Assembler:
    def __init__(self, repo: Repo, con: Any, request: Request) -> None:
        self.repo, self.con, self.req = repo, con, request
        self.deps = Deps()
        self.parts: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    # --- queries ---------------------------------------------------------------------------

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, (_plain(v) for v in row), strict=True)) for row in cur.fetchall()]

    def task_rows(
        self, where: str, params: list[Any], cols: str = _TASK_COLS
    ) -> list[dict[str, Any]]:
        out = self.rows(
            f"SELECT {cols} FROM tasks WHERE {where} ORDER BY sprint_code, code", params
        )
        for t in out:
            for key in ("objectives", "deliverables", "acceptance_criteria"):
                t[key] = [
                    {"text": str(i.get("text", "")), "done": bool(i.get("done"))}
                    for i in _json(t[key], [])
                    if isinstance(i, dict)
                ]
            t["depends_on"] = list(t["depends_on"] or [])
            if "metadata" in t:
                t["metadata"] = _json(t["metadata"], {})
            if "context" in t:
                t["context"] = list(t["context"] or [])
            if "body" in t:
                t["body"] = t["body"] or ""
        return out

    # --- bookkeeping -----------------------------------------------------------------------

    def part(self, name: str, path: str | None, digest: str | None, *, watch: bool = True) -> None:
        """Record a part for provenance and the cache; warn when the work tree differs."""
        if path is None:
            return
        self.parts.append({"part": name, "path": path, "hash": digest})
        if not watch:
            return
        self.deps.files[path] = digest
        on_disk = hash_file(self.repo.root, path)
        if digest is not None and on_disk != digest:
            what = "was deleted" if on_disk is None else "was edited"
            self.warnings.append(
                f"{path} {what} in the work tree after the last snapshot; this context shows the "
                "snapshot (run `orchsync sync`)"
            )

    def unfilled(self, path: str | None, body: str) -> str:
        """The body without template placeholders (`parse/placeholders.py`): a template's
        hint is not the sprint's goal. A warning says how many were left out."""
        kept, dropped = strip_placeholders(body)
        if dropped:
            self.warnings.append(
                f"{path}: {dropped} template placeholder{'s' if dropped > 1 else ''} left out "
                "(sections nobody has written yet; `orchsync check` lists them)"
            )
        return kept

    def invalid(self, path: str) -> None:
        """Say why the target's file is invalid: a symbolic link's target, for one, is
        never read, and the agent should know it sees an empty task, not a finished one."""
        found = self.con.execute("SELECT diagnostics FROM files WHERE path = ?", [path]).fetchone()
        diagnostics = [d for d in _json(found[0] if found else None, []) if isinstance(d, dict)]
        errors = [d for d in diagnostics if d.get("severity", "error") == "error"]
        first = errors[0] if errors else {}
        what = ": ".join(str(x) for x in (first.get("field"), first.get("message")) if x)
        self.warnings.append(
            f"{path} is invalid (`orchsync check` lists why)" + (f": {what}" if what else "")
        )

    # --- the whole ---------------------------------------------------------------------------

    def build(self) -> Context:
        meta = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        self.deps.ref = meta.get("ref")
        self.deps.tip = meta.get("last_commit") or None
        data: dict[str, Any] = {
            "format": FORMAT,
            "target": {"key": "", "kind": self.req.kind.value, "code": self.req.code},
            "cached": False,
            "agent": None,
            "task": None,
            "sprint": None,
            "session": None,
            "references": [],
            "budget": None,
            "provenance": {},
            "warnings": self.warnings,
        }
        if self.req.kind is Kind.SPRINT:
            self.build_sprint(data)
        else:
            self.build_task(data)
        data["provenance"] = {
            "commit": self.deps.tip,
            "ref": self.deps.ref,
            "correlation_id": str(uuid.uuid4()),
            "assembled_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "context_hash": "",
            "parts": self.parts,
        }
        data["provenance"]["context_hash"] = context_hash(data)
        return Context(data, self.deps)

    # --- a task ------------------------------------------------------------------------------

    def find_task(self) -> dict[str, Any]:
        code = self.req.code
        found = self.task_rows("code = ?", [code])
        if not found:
            candidates = sorted(
                {
                    r["code"]
                    for r in self.rows(
                        "SELECT code FROM tasks WHERE starts_with(code, ?) LIMIT 11", [code]
                    )
                }
            )
            if len(candidates) == 1:
                found = self.task_rows("code = ?", [candidates[0]])
                self.deps.prefix_of = code
            elif candidates:
                shown = ", ".join(candidates[:10]) + (" ..." if len(candidates) > 10 else "")
                raise UnknownEntity(f"task {code!r} is ambiguous: several tasks match ({shown})")
            else:
                raise UnknownEntity(
                    f"unknown task {code!r}: no such task in the index (`orchsync tasks` lists them; "
                    "a task created a moment ago appears once it is synced)"
                )
        if len(found) > 1:
            paths = ", ".join(t["file_path"] for t in found)
            raise UnknownEntity(
                f"task code {found[0]['code']!r} is duplicated: {paths}; run `orchsync check`"
            )
        return found[0]

    def build_task(self, data: dict[str, Any]) -> None:
        task = self.find_task()
        code, sprint_code = task["code"], task["sprint_code"]
        data["target"].update(key=f"T:{code}", code=code)
        task_dir = task["file_path"].rsplit("/", 1)[0]
        self.deps.prefixes.append(f"{DELEGATION}/sprints/{sprint_code}/")
        self.deps.codes.append(code)
        self.deps.mentions.append(code)
        self.part("task", task["file_path"], task["hash"])
        if not task["valid"]:
            self.invalid(task["file_path"])

        ta = next(
            iter(
                self.rows(
                    "SELECT agent, config, hash, file_path FROM task_agents WHERE task_code = ? AND sprint_code = ?",
                    [code, sprint_code],
                )
            ),
            None,
        )
        if ta is not None:
            self.part("agent_config", ta["file_path"], ta["hash"])
        else:
            self.deps.files[f"{task_dir}/AGENT.yml"] = None
        config = _json(ta["config"], {}) if ta else {}
        assigned = (ta or {}).get("agent") or task["agent"]
        data["agent"] = self.agent(self.req.agent or assigned, config, assigned, ta)

        sprint = next(
            iter(
                self.rows(
                    "SELECT code, title, status, owner, start_date, end_date, goal, context, hash, file_path "
                    "FROM sprints WHERE code = ?",
                    [sprint_code],
                )
            ),
            None,
        )
        siblings = self.task_rows("sprint_code = ?", [sprint_code], _SIBLING_COLS)
        # Only the columns the links show: a cold connection reads every column it touches
        # for the whole table (bodies, checklists), ~10 ms at 10,000 tasks.
        deps = (
            self.rows(
                f"SELECT {_LINK_COLS} FROM tasks WHERE list_contains(?, code) "
                "ORDER BY sprint_code, code",
                [task["depends_on"]],
            )
            if task["depends_on"]
            else []
        )
        dependents = self.rows(
            f"SELECT {_LINK_COLS} FROM tasks WHERE list_contains(depends_on, ?) "
            "ORDER BY sprint_code, code",
            [code],
        )
        by_code = {t["code"]: t for t in deps}
        dependencies = []
        for dep in task["depends_on"]:
            t = by_code.get(dep)
            if t is None:
                self.deps.codes.append(dep)
                dependencies.append(
                    {
                        "code": dep,
                        "title": None,
                        "status": None,
                        "sprint": None,
                        "blocking": True,
                        "missing": True,
                        "hash": None,
                    }
                )
                continue
            if t["sprint_code"] != sprint_code:
                self.part("dependency", t["file_path"], t["hash"])
            dependencies.append(
                {
                    "code": dep,
                    "title": t["title"],
                    "status": t["status"],
                    "sprint": t["sprint_code"],
                    "blocking": t["status"] != "completed",
                    "missing": False,
                    "hash": t["hash"],
                }
            )
        for t in dependents:
            if t["sprint_code"] != sprint_code:
                self.part("dependent", t["file_path"], t["hash"])
        data["task"] = {
            "code": code,
            "sprint": sprint_code,
            "title": task["title"],
            "status": task["status"],
            "priority": task["priority"],
            "agent": task["agent"],
            "assignee": task["assignee"],
            "path": task["file_path"],
            "hash": task["hash"],
            "valid": bool(task["valid"]),
            "depends_on": task["depends_on"],
            "objectives": task["objectives"],
            "deliverables": task["deliverables"],
            "acceptance_criteria": task["acceptance_criteria"],
            "context": task["context"],
            "metadata": task["metadata"],
            "body": self.unfilled(task["file_path"], task["body"]),
            "dependencies": dependencies,
            "dependents": [
                {
                    "code": t["code"],
                    "title": t["title"],
                    "status": t["status"],
                    "sprint": t["sprint_code"],
                    "hash": t["hash"],
                }
                for t in dependents
            ],
            "blocked": any(d["blocking"] for d in dependencies),
        }
        data["sprint"] = self.sprint(sprint, sprint_code, siblings, with_body=False, current=code)
        data["session"] = self.session(task=code)
        wanted = [(p, "task") for p in task["context"]]
        wanted += [(p, "agent") for p in (data["agent"] or {}).get("context", [])]
        wanted += [(p, "sprint") for p in (sprint or {}).get("context") or []]
        data["references"] = self.references(wanted)

    # --- a sprint ----------------------------------------------------------------------------

    def build_sprint(self, data: dict[str, Any]) -> None:
        code = self.req.code
        sprint = next(
            iter(
                self.rows(
                    "SELECT code, title, status, owner, start_date, end_date, goal, context, body, hash, file_path "
                    "FROM sprints WHERE code = ?",
                    [code],
                )
            ),
            None,
        )
        if sprint is None:
            known = [
                r["code"] for r in self.rows("SELECT code FROM sprints ORDER BY code LIMIT 20")
            ]
            raise UnknownEntity(f"unknown sprint {code!r}; sprints: {', '.join(known) or '(none)'}")
        data["target"]["key"] = f"S:{code}"
        self.deps.prefixes.append(f"{DELEGATION}/sprints/{code}/")
        tasks = self.task_rows("sprint_code = ?", [code])
        data["sprint"] = self.sprint(sprint, code, tasks, with_body=True, current=None)
        if self.req.agent:
            data["agent"] = self.agent(self.req.agent, {}, None, None)
        data["session"] = self.session(task=None)
        wanted = [(p, "sprint") for p in sprint.get("context") or []]
        wanted += [(p, "agent") for p in (data["agent"] or {}).get("context", [])]
        data["references"] = self.references(wanted)

    def sprint(
        self,
        sprint: dict[str, Any] | None,
        code: str,
        tasks: list[dict[str, Any]],
        *,
        with_body: bool,
        current: str | None,
    ) -> dict[str, Any]:
        if sprint is None:
            self.warnings.append(f"sprint {code!r} has no SPRINT.md in the index")
            self.deps.files[f"{DELEGATION}/sprints/{code}/SPRINT.md"] = None
            sprint = {
                "code": code,
                "title": None,
                "status": None,
                "owner": None,
                "start_date": None,
                "end_date": None,
                "goal": None,
                "context": [],
                "hash": None,
                "file_path": None,
            }
        else:
            self.part("sprint", sprint["file_path"], sprint["hash"])
        status = {t["code"]: t["status"] for t in tasks}
        outside = sorted({d for t in tasks for d in t["depends_on"] if d not in status})
        if outside:
            for t in self.rows(
                "SELECT code, status, hash, file_path FROM tasks WHERE list_contains(?, code)",
                [outside],
            ):
                status[t["code"]] = t["status"]
                self.deps.files.setdefault(t["file_path"], t["hash"])  # decides what is ready
            self.deps.codes.extend(d for d in outside if d not in status)
        items = []
        for t in tasks:
            item = {
                "code": t["code"],
                "title": t["title"],
                "status": t["status"],
                "priority": t["priority"],
                "agent": t["agent"],
                "depends_on": t["depends_on"],
                "progress": _progress(t),
                "path": t["file_path"],
                "hash": t["hash"],
            }
            if with_body:
                item["summary"] = _summary(strip_placeholders(t["body"])[0])
            items.append(item)
        ready = [
            t["code"]
            for t in tasks
            if t["status"] == "pending"
            and all(status.get(d) == "completed" for d in t["depends_on"])
        ]
        counts: dict[str, int] = {}
        for t in tasks:
            counts[t["status"] or "unknown"] = counts.get(t["status"] or "unknown", 0) + 1
        return {
            "code": code,
            "title": sprint["title"],
            "status": sprint["status"],
            "goal": sprint["goal"],
            "owner": sprint["owner"],
            "start_date": sprint["start_date"],
            "end_date": sprint["end_date"],
            "path": sprint["file_path"],
            "hash": sprint["hash"],
            "context": list(sprint.get("context") or []),
            "body": self.unfilled(sprint["file_path"], sprint.get("body") or "")
            if with_body
            else None,
            "tasks": items,
            "ready": ready,
            "counts": counts,
        }

    # --- the agent ---------------------------------------------------------------------------

    def agent(
        self,
        name: str | None,
        config: dict[str, Any],
        assigned: str | None,
        ta: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        if not name and not config:
            return None
        profile = None
        if name:
            profile = next(
                iter(
                    self.rows(
                        "SELECT name, title, role, model, capabilities, tools_allowed, safety_rails, context, metadata, "
                        "hash, file_path FROM agents WHERE name = ?",
                        [name],
                    )
                ),
                None,
            )
            for ext in (".yml", ".yaml"):
                self.deps.files.setdefault(f"{DELEGATION}/agents/{name}{ext}", None)
            if profile is None:
                self.warnings.append(
                    f"agent {name!r} has no profile (no {DELEGATION}/agents/{name}.yml)"
                )
        p = profile or {}
        pmeta = _json(p.get("metadata"), {})
        sources = []
        if profile is not None:
            self.part("agent_profile", profile["file_path"], profile["hash"])
            sources.append(
                {"part": "agent_profile", "path": profile["file_path"], "hash": profile["hash"]}
            )
        if ta is not None:
            sources.append({"part": "agent_config", "path": ta["file_path"], "hash": ta["hash"]})
        tools = config.get("tools_allowed", config.get("tools"))
        settings = {k: v for k, v in pmeta.items() if k != "description"}
        settings.update({k: v for k, v in config.items() if k not in _AGENT_KEYS})
        return {
            "name": name,
            "assigned": assigned,
            "explicit": self.req.agent is not None,
            "role": config.get("role") or p.get("role"),
            "model": config.get("model") or p.get("model"),
            "description": config.get("description") or pmeta.get("description"),
            "capabilities": _union(p.get("capabilities"), _as_list(config.get("capabilities"))),
            "tools_allowed": _as_list(tools)
            if tools is not None
            else list(p.get("tools_allowed") or []),
            "safety_rails": _union(p.get("safety_rails"), _as_list(config.get("safety_rails"))),
            "context": _union(_as_list(config.get("context")), p.get("context")),
            "settings": settings,
            "profile_missing": bool(name) and profile is None,
            "sources": sources,
        }

    # --- the session -------------------------------------------------------------------------

    def session(self, task: str | None) -> dict[str, Any] | None:
        cols = (
            "key, title, status, task_code, sprint_code, agent, started_at, ended_at, handoffs, body, "
            "hash, file_path"
        )
        if self.req.session:
            found = self.rows(f"SELECT {cols} FROM sessions WHERE key = ?", [self.req.session])
            if not found:
                raise UnknownEntity(
                    f"unknown session {self.req.session!r} (`orchsync session list` shows them)"
                )
            s, selected = found[0], "explicit"
            if task and s["task_code"] and s["task_code"] != task:
                self.warnings.append(
                    f"session {s['key']} belongs to T:{s['task_code']}, not T:{task}"
                )
        else:
            if task is None:
                return None
            agent = self.req.agent or None
            found = self.rows(
                f"SELECT {cols} FROM sessions WHERE task_code = ? AND status IN ('open', 'handed_off') "
                "AND (? IS NULL OR agent = ?) ORDER BY started_at DESC NULLS LAST, key DESC LIMIT 1",
                [task, agent, agent],
            )
            if not found:
                return None
            s, selected = found[0], "latest_open"
        self.deps.session = s["key"]
        self.part("session", s["file_path"], s["hash"])
        total = self.con.execute(
            "SELECT count(*) FROM events WHERE session_key = ? AND event_type NOT IN (?, ?, ?)",
            [s["key"], *_OWN_EVENTS],
        ).fetchone()[0]
        events = self.rows(
            'SELECT * FROM (SELECT emitted_at, event_type, entity_type, entity_code, agent, payload, "commit", seq '
            "FROM events WHERE session_key = ? AND event_type NOT IN (?, ?, ?) "
            'ORDER BY emitted_at DESC, "commit" DESC, seq DESC LIMIT ?) ORDER BY emitted_at, "commit", seq',
            [s["key"], *_OWN_EVENTS, SESSION_EVENTS_LIMIT],
        )
        return {
            "key": s["key"],
            "title": s["title"],
            "status": s["status"],
            "task": s["task_code"],
            "sprint": s["sprint_code"],
            "agent": s["agent"],
            "started_at": s["started_at"],
            "ended_at": s["ended_at"],
            "path": s["file_path"],
            "hash": s["hash"],
            "selected": selected,
            "handoffs": [h for h in _json(s["handoffs"], []) if isinstance(h, dict)],
            "notes": s["body"] or "",
            "events": [
                {
                    "emitted_at": e["emitted_at"],
                    "event_type": e["event_type"],
                    "entity": _event_key(e["entity_type"], e["entity_code"]),
                    "agent": e["agent"],
                    "commit": e["commit"],
                    "payload": _json(e["payload"], {}),
                }
                for e in events
            ],
            "events_total": int(total),
        }

    # --- reference docs ----------------------------------------------------------------------

    def references(self, wanted: list[tuple[str, str]]) -> list[dict[str, Any]]:
        refs = read_references(self.repo.root, wanted, self.deps.globs)
        for ref in refs:
            if ref.status == "refused":
                continue
            if ref.status == "missing" and ref.path in self.deps.globs:
                continue  # a glob with no match: `globs` records it
            self.deps.files[ref.path] = ref.hash
            if ref.hash is not None:
                self.parts.append({"part": "reference", "path": ref.path, "hash": ref.hash})
        return [r.to_dict() for r in refs]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and not isinstance(v, (dict, list))]
    return [str(value)]
