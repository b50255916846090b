"""Generate a realistic, deterministic delegation repository for benchmarks and tests.

    python benchmarks/corpus.py DEST [--tasks 10000] [--sprints N] [--history M] [--seed 42]

DEST becomes a git repository (branch `main`) holding a `delegation/` tree of sprints, tasks
(TASK.md + AGENT.yml), agent profiles, ADRs, bugs and sessions, plus a few project files that
tasks cite as context. The tree is committed as one commit, then `--history` commits of the
edits people make (status changes, priorities, ticked criteria, moves, new and deleted tasks).
Everything is streamed into one `git fast-import` process, then checked out, so 10,000 tasks
(about 20,000 files) take a few seconds. The same arguments give the same bytes and commit ids.

Importable: `build_corpus(dest, tasks=..., history=..., seed=...) -> CorpusInfo`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["CorpusInfo", "build_corpus", "main"]

# --- fixed vocabulary: nothing below reads the clock ----------------------------------------

BASE_DATE = dt.date(2024, 1, 1)  # a Monday; round r of sprints starts 14*r days later
SPRINT_DAYS = 14
SPRINTS_PER_TEAM = 26  # about a year of two-week sprints per team
BOT = ("Corpus Builder", "corpus@example.com")
PEOPLE = [
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("Alan Turing", "alan@example.com"),
    ("Barbara Liskov", "barbara@example.com"),
    ("Edsger Dijkstra", "edsger@example.com"),
    ("Margaret Hamilton", "margaret@example.com"),
]

AGENTS = {
    "backend-engineer": (
        "Backend engineer",
        "Implements services, APIs and data migrations.",
        ["python", "sql", "api-design", "migrations", "performance"],
        ["read_file", "write_file", "run_tests", "run_shell", "git_diff"],
    ),
    "frontend-engineer": (
        "Frontend engineer",
        "Builds the web console and its components.",
        ["typescript", "react", "css", "accessibility", "storybook"],
        ["read_file", "write_file", "run_tests", "run_browser", "git_diff"],
    ),
    "qa-engineer": (
        "QA engineer",
        "Writes test plans, integration and load tests.",
        ["pytest", "playwright", "load-testing", "test-plans", "fixtures"],
        ["read_file", "write_file", "run_tests", "run_browser"],
    ),
    "devops-engineer": (
        "DevOps engineer",
        "Owns CI, deployments, observability and infrastructure as code.",
        ["terraform", "kubernetes", "ci", "observability", "incident-response"],
        ["read_file", "write_file", "run_shell", "kubectl_readonly", "git_diff"],
    ),
    "tech-writer": (
        "Technical writer",
        "Keeps user and API documentation accurate.",
        ["docs", "api-reference", "tutorials", "release-notes"],
        ["read_file", "write_file", "spell_check"],
    ),
}
AGENT_WEIGHTS = [45, 22, 15, 12, 6]
SAFETY_RAILS = [
    "Never push to main directly; open a pull request",
    "Do not modify files outside the task's context without asking",
    "Do not print secrets, tokens or customer data",
    "Stop and hand off when a migration would drop data",
    "Run the full test suite before marking the task completed",
    "Keep changes under 400 lines per pull request",
]
COMPONENTS = [
    "auth", "billing", "search", "notifications", "reporting", "ingest", "export",
    "admin console", "public API", "mobile sync", "audit log", "scheduler", "payments",
    "onboarding", "permissions", "webhooks", "analytics", "inventory", "checkout", "profile",
]  # fmt: skip
THINGS = [
    "rate limiter", "retry queue", "schema migration", "cache layer", "error pages",
    "pagination", "feature flag", "health checks", "metrics", "bulk import",
    "permissions model", "CSV export", "webhook handler", "background worker",
    "config loader", "integration tests", "load tests", "dashboard", "token refresh",
    "session store", "search index", "email templates", "audit trail", "quota checks",
    "timeout handling", "connection pool", "read replica routing", "idempotency keys",
]  # fmt: skip
VERBS = [
    "Implement", "Add", "Refactor", "Fix", "Document", "Migrate", "Harden", "Benchmark",
    "Design", "Wire up", "Instrument", "Cache", "Validate", "Expose", "Split", "Simplify",
    "Remove", "Test", "Review", "Speed up",
]  # fmt: skip
QUALIFIERS = [
    "", "", "", "for large tenants", "behind a feature flag", "with structured logging",
    "in the EU region", "for the v2 API", "without downtime", "for mobile clients",
    "under load", "for the enterprise plan", "in the worker pool",
]  # fmt: skip
LABELS = [
    "backend", "frontend", "api", "infra", "docs", "tests", "security", "performance",
    "tech-debt", "customer", "ux", "data",
]  # fmt: skip
THEMES = [
    "foundation", "hardening", "payments", "search", "onboarding", "observability",
    "performance", "mobile", "reporting", "enterprise", "cleanup", "launch", "scale",
    "compliance", "integrations", "self-serve",
]  # fmt: skip
SENTENCES = [
    "The {c} service currently handles {thing} inline, which couples it to the request path.",
    "Customers on large accounts have reported slow {thing} in {c} during peak hours.",
    "We want {thing} to behave the same way in {c} and {c2}, so both share one implementation.",
    "The existing code predates ADR {adr} and still reads settings from environment variables.",
    "Measurements from last week show p95 latency of {n} ms for the {c} endpoints.",
    "Keep the public interface stable; callers in {c2} must not need changes.",
    "The change should be safe to roll out gradually behind a flag and to roll back in minutes.",
    "Most of the work is in the {c} module; the {c2} side only needs a thin adapter.",
    "There are about {n} call sites, most of them in tests, which can be updated mechanically.",
    "Start by reading the notes in the linked context files before touching the code.",
    "Error handling today swallows failures from {thing}, so incidents go unnoticed.",
    "Once this lands, the follow-up tasks in this sprint can build on the new {thing}.",
    "Coordinate with the {c2} owners before changing any shared database tables.",
    "The design discussion is summarised in the sprint notes; open questions are listed below.",
    "Prefer small pull requests: one for the {thing} itself and one for the call sites.",
    "Logs should carry the request id and tenant id so the change can be traced end to end.",
]  # fmt: skip
OBJECTIVES = [
    "Understand how {c} uses {thing} today",
    "Replace the ad hoc {thing} in {c} with the shared implementation",
    "Make {thing} observable with metrics and structured logs",
    "Remove the dead code paths left over from the old {thing}",
    "Agree the interface for {thing} with the {c2} owners",
    "Reduce the time {c} spends in {thing} by half",
]
DELIVERABLES = [
    "Pull request implementing the {thing} in {c}",
    "Migration script with a tested rollback",
    "Updated API reference for {c}",
    "Dashboard panel for {thing} error rates",
    "Runbook entry for {c} on-call",
    "Unit and integration tests for {thing}",
]
CRITERIA = [
    "All existing tests pass in CI",
    "New {thing} code has unit tests with full branch coverage",
    "p95 latency of {c} stays under {n} ms in the load test",
    "No errors from {thing} in staging logs for 24 hours",
    "Docs updated and reviewed by the {c2} owners",
    "Feature flag can turn the change off without a deploy",
    "Rollback tested on a copy of production data",
]
BUG_SYMPTOMS = [
    "returns 500 when {thing} times out",
    "drops events under load",
    "shows stale data after {thing} runs",
    "double-charges on retry",
    "ignores the tenant quota",
    "leaks connections when {thing} fails",
    "renders the wrong locale in emails",
    "paginates past the last page",
]
ADR_TITLES = [
    "Use PostgreSQL as the primary store",
    "Adopt event sourcing for billing",
    "Put all public endpoints behind the API gateway",
    "Use feature flags for every risky rollout",
    "Run background work on a shared worker pool",
    "Keep configuration in versioned YAML files",
    "Use structured JSON logs everywhere",
    "Retry outbound calls with exponential backoff",
    "Store files in object storage, never on local disk",
    "Version the public API in the URL path",
    "Use OpenTelemetry for tracing",
    "Prefer server-side rendering for the console",
]
PROJECT_FILES = {
    "README.md": "# Example product\n\nThe application whose work is planned under delegation/.\n",
    "docs/architecture.md": "# Architecture\n\nServices, queues and stores, and how they talk.\n",
    "docs/api.md": "# Public API\n\nEndpoints, versioning and error codes.\n",
    "docs/runbook.md": "# Runbook\n\nWhat on-call does when an alert fires.\n",
    "docs/testing.md": "# Testing\n\nUnit, integration and load tests, and how CI runs them.\n",
    "src/app/__init__.py": '"""The example application."""\n',
    "src/app/api.py": "def handler(request):\n    return {'status': 'ok'}\n",
    "src/app/worker.py": "def run(job):\n    return job()\n",
    "src/app/billing.py": "def charge(account, cents):\n    raise NotImplementedError\n",
    "src/app/search.py": "def search(query):\n    return []\n",
}
CONFIG_YML = """\
# orchsync settings for this repository (all optional; these are the defaults)
debounce_ms: 500
max_latency_ms: 5000
target_ref: null
run_hooks: false
events:
  min_level: info
"""

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 _./()'-]*$")
_YAML_WORDS = {"yes", "no", "true", "false", "null", "on", "off", "y", "n"}


# --- records -------------------------------------------------------------------------------


@dataclass
class CorpusInfo:
    """What was generated: counts, where things are, and sample codes for tests and benches."""

    root: Path
    tasks: int
    sprints: int
    agents: int
    adrs: int
    bugs: int
    sessions: int
    files: int  # files under delegation/ at HEAD
    commits: int
    head: str
    tree: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # generate, fast_import, checkout
    task_codes: list[str] = field(default_factory=list)  # a sample (the first few), sorted
    sample_task: str = ""  # a task with dependencies and context
    sample_task_path: str = ""
    sample_sprint: str = ""
    agent_names: list[str] = field(default_factory=list)

    @property
    def delegation(self) -> Path:
        return self.root / "delegation"


@dataclass
class _Task:
    code: str
    sprint: str
    title: str
    status: str
    priority: str
    agent: str
    depends_on: list[str]
    context: list[str]
    labels: list[str]
    objectives: list[list]  # [text, done]
    deliverables: list[list]
    criteria: list[list]
    in_front_matter: bool
    criteria_as_maps: bool
    body: str
    estimate: int


@dataclass
class _Sprint:
    code: str
    number: int
    title: str
    status: str
    owner: str
    start: dt.date
    end: dt.date
    goal: str
    body: str


# --- small helpers -------------------------------------------------------------------------


def _q(value: str) -> str:
    """A YAML scalar: plain when unambiguous, otherwise a JSON (= YAML double-quoted) string."""
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS and not value.endswith(" "):
        return value
    return json.dumps(value)


def _slug(text: str, words: int = 5) -> str:
    parts = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return "-".join(parts[:words]) or "untitled"


def _yaml_list(key: str, values: list[str], indent: str = "") -> list[str]:
    if not values:
        return []
    return [f"{indent}{key}:", *(f"{indent}  - {_q(v)}" for v in values)]


class _Text:
    """Sentence and phrase generation from the fixed vocabulary, driven by one Random."""

    def __init__(self, rng: random.Random, adrs: int) -> None:
        self.rng = rng
        self.adrs = adrs

    def fill(self, template: str, c: str | None = None, thing: str | None = None) -> str:
        r = self.rng
        c = c or r.choice(COMPONENTS)
        c2 = r.choice([x for x in COMPONENTS[:8] if x != c] or COMPONENTS)
        return template.format(
            c=c,
            c2=c2,
            thing=thing or r.choice(THINGS),
            n=r.choice((40, 80, 120, 150, 200, 250, 300, 500)),
            adr=f"{r.randint(1, max(1, self.adrs)):03d}",
        )

    def paragraph(self, c: str, thing: str, sentences: int) -> str:
        picks = self.rng.sample(SENTENCES, sentences)
        return " ".join(self.fill(s, c, thing) for s in picks)

    def title(self) -> tuple[str, str, str]:
        r = self.rng
        c, thing = r.choice(COMPONENTS), r.choice(THINGS)
        title = f"{r.choice(VERBS)} {c} {thing} {r.choice(QUALIFIERS)}".strip()
        return title, c, thing


# --- rendering -----------------------------------------------------------------------------


def _render_task(t: _Task) -> bytes:
    lines = [
        "---",
        f"title: {_q(t.title)}",
        f"status: {t.status}",
        f"priority: {t.priority}",
        f"agent: {t.agent}",
    ]
    lines += _yaml_list("depends_on", t.depends_on)
    if len(t.context) == 1 and not t.in_front_matter:
        lines.append(f"context: {t.context[0]}")  # people write a single path as a string
    else:
        lines += _yaml_list("context", t.context)
    lines.append("labels: [" + ", ".join(t.labels) + "]")
    lines.append(f"estimate_hours: {t.estimate}")
    if t.in_front_matter:
        lines += _yaml_list("objectives", [o[0] for o in t.objectives])
        lines += _yaml_list("deliverables", [d[0] for d in t.deliverables])
        lines.append("acceptance_criteria:")
        for text, done in t.criteria:
            if t.criteria_as_maps:
                lines += [f"  - text: {_q(text)}", f"    done: {'true' if done else 'false'}"]
            else:
                lines.append(f"  - {_q(('[x] ' if done else '[ ] ') + text)}")
    lines += ["---", "", f"# {t.title}", "", t.body]
    if not t.in_front_matter:
        for heading, items in (
            ("Objectives", t.objectives),
            ("Deliverables", t.deliverables),
            ("Acceptance Criteria", t.criteria),
        ):
            lines += ["", f"## {heading}", ""]
            lines += [f"- [{'x' if done else ' '}] {text}" for text, done in items]
    lines.append("")
    return "\n".join(lines).encode()


def _render_task_agent(t: _Task, rng: random.Random) -> bytes:
    role, _desc, caps, tools = AGENTS[t.agent]
    lines = [f"agent: {t.agent}", f"role: {_q(f'{role} for {t.code}')}"]
    lines += _yaml_list("capabilities", rng.sample(caps, rng.randint(2, min(4, len(caps)))))
    lines += _yaml_list("tools_allowed", tools[: rng.randint(2, len(tools))])
    lines += _yaml_list("safety_rails", rng.sample(SAFETY_RAILS, rng.randint(1, 3)))
    lines.append(f"max_iterations: {rng.choice((10, 20, 30, 50))}")
    lines.append("")
    return "\n".join(lines).encode()


def _render_sprint(s: _Sprint) -> bytes:
    lines = [
        "---",
        f"title: {_q(s.title)}",
        f"status: {s.status}",
        f"owner: {_q(s.owner)}",
        f"start_date: {s.start.isoformat()}",
        f"end_date: {s.end.isoformat()}",
        f"goal: {_q(s.goal)}",
        "---",
        "",
        f"# {s.title}",
        "",
        s.body,
        "",
    ]
    return "\n".join(lines).encode()


def _render_session(s: dict) -> bytes:
    lines = [
        "---",
        f"key: {s['key']}",
        f"title: {_q(s['title'])}",
        f"task: {s['task']}",
        f"sprint: {s['sprint']}",
        f"agent: {s['agent']}",
        f"status: {s['status']}",
        f"started_at: {s['started_at']}",
        f"ended_at: {s['ended_at'] or 'null'}",
    ]
    if s["handoffs"]:
        lines.append("handoffs:")
        for h in s["handoffs"]:
            lines += [
                f"  - from: {h['from']}",
                f"    to: {h['to']}",
                f"    at: {h['at']}",
                f"    note: {_q(h['note'])}",
            ]
    lines += ["---", "", f"# {s['title']}", "", "## Log", ""]
    lines += [f"- {entry}" for entry in s["log"]]
    lines.append("")
    return "\n".join(lines).encode()


def _render_bug(b: dict) -> bytes:
    lines = [
        "---",
        f"title: {_q(b['title'])}",
        f"status: {b['status']}",
        f"priority: {b['priority']}",
        f"sprint: {b['sprint']}",
        f"reported_by: {_q(b['reported_by'])}",
        f"reported_at: {b['reported_at']}",
        f"context: {b['context']}",
        "---",
        "",
        f"# {b['title']}",
        "",
        "## Steps to reproduce",
        "",
        *(f"{i}. {step}" for i, step in enumerate(b["steps"], 1)),
        "",
        "## Expected",
        "",
        b["expected"],
        "",
        "## Actual",
        "",
        b["actual"],
        "",
    ]
    return "\n".join(lines).encode()


# --- the generator -------------------------------------------------------------------------


class _Builder:
    def __init__(self, tasks: int, sprints: int, seed: int, history: int) -> None:
        self.rng = random.Random(seed)
        self.n_tasks = tasks
        self.n_sprints = sprints
        self.width = max(5, len(str(tasks + history)))
        self.swidth = max(3, len(str(sprints)))
        self.files: dict[str, bytes] = {}
        self.tasks: dict[str, _Task] = {}
        self.task_order: list[str] = []  # codes in creation order (deps point backwards)
        self.sprints: list[_Sprint] = []
        self.sprint_tasks: dict[str, list[str]] = {}
        self.refcount: Counter[str] = Counter()  # how many tasks/sessions point at a task
        self.sessions: list[dict] = []
        self.bugs: list[dict] = []
        self.adr_paths: list[str] = []
        self.agent_paths: list[str] = []
        self.next_task = tasks + 1
        self.text = _Text(self.rng, 10)
        self.now = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.UTC)
        self.out: IO[bytes] | None = None  # the fast-import stream while building
        self.mark = 0
        self.marks: dict[str, int] = {}

    # -- initial tree --

    def put(self, path: str, data: bytes) -> None:
        """Record a file; while the import stream is open, send it to fast-import at once."""
        self.files[path] = data
        if self.out is not None:
            self.mark += 1
            self.out.write(b"blob\nmark :%d\n" % self.mark)
            _data(self.out, data)
            self.marks[path] = self.mark

    def build(self) -> None:
        for path, text in PROJECT_FILES.items():
            self.put(path, text.encode())
        self.put("delegation/orchsync.yml", CONFIG_YML.encode())
        self._agents()
        self._sprints()
        self._adrs()
        bounds, k = self._spread(), 0
        for i in range(self.n_tasks):
            while i >= bounds[k]:
                k += 1
            self._new_task(self.sprints[k], i + 1)
        self._bugs()
        self._sessions()

    def _agents(self) -> None:
        for name, (role, desc, caps, tools) in AGENTS.items():
            lines = [
                f"name: {name}",
                f"title: {role}",
                f"role: {_q(desc)}",
                "model: null",
                f"description: {_q(f'{role} agent profile, shared by every task it is assigned.')}",
            ]
            lines += _yaml_list("capabilities", caps)
            lines += _yaml_list("tools_allowed", tools)
            lines += _yaml_list("safety_rails", SAFETY_RAILS[:3])
            path = f"delegation/agents/{name}.yml"
            self.put(path, ("\n".join(lines) + "\n").encode())
            self.agent_paths.append(path)

    def _sprints(self) -> None:
        r = self.rng
        teams = max(1, -(-self.n_sprints // SPRINTS_PER_TEAM))
        rounds = -(-self.n_sprints // teams)
        done_rounds = int(rounds * 0.6)
        for k in range(self.n_sprints):
            rnd = k // teams
            start = BASE_DATE + dt.timedelta(days=SPRINT_DAYS * rnd)
            status = (
                "completed" if rnd < done_rounds else "active" if rnd == done_rounds else "planning"
            )
            theme = THEMES[(k * 7 + rnd) % len(THEMES)]
            number = k + 1
            code = f"sprint-{number:0{self.swidth}d}-{theme}"
            c = r.choice(COMPONENTS)
            goal = f"Ship the {theme} work for {c} and close the open {r.choice(THINGS)} items"
            body = "\n\n".join(
                [
                    self.text.paragraph(c, r.choice(THINGS), 3),
                    "## Notes",
                    self.text.paragraph(c, r.choice(THINGS), 2),
                ]
            )
            owner = PEOPLE[k % teams % len(PEOPLE)][0]
            sprint = _Sprint(
                code,
                number,
                f"Sprint {number}: {theme.replace('-', ' ').title()}",
                status,
                owner,
                start,
                start + dt.timedelta(days=SPRINT_DAYS - 3),
                goal,
                body,
            )
            self.sprints.append(sprint)
            self.sprint_tasks[code] = []
            self.put(f"delegation/sprints/{code}/SPRINT.md", _render_sprint(sprint))
        now = BASE_DATE + dt.timedelta(days=SPRINT_DAYS * done_rounds + 3)
        self.now = dt.datetime(now.year, now.month, now.day, 9, 0, tzinfo=dt.UTC)

    def _spread(self) -> list[int]:
        """Cumulative task counts per sprint: uneven (±30%), in order, none empty."""
        r = self.rng
        weights = [r.uniform(0.7, 1.3) for _ in self.sprints]
        total = sum(weights)
        n, s = self.n_tasks, len(self.sprints)
        bounds, acc = [], 0.0
        for w in weights:
            acc += w
            bounds.append(round(acc / total * n))
        for k in range(s):  # at least one task per sprint (n >= s is guaranteed)
            bounds[k] = max(bounds[k], bounds[k - 1] + 1 if k else 1)
        for k in range(s - 1, -1, -1):
            bounds[k] = min(bounds[k], n - (s - 1 - k))
        return bounds

    def _adrs(self) -> None:
        r = self.rng
        for n, title in enumerate(ADR_TITLES[:10], 1):
            date = BASE_DATE + dt.timedelta(days=9 * n)
            status = "accepted" if n % 4 else r.choice(("proposed", "superseded"))
            path = f"delegation/adr/ADR-{n:03d}-{_slug(title, 8)}.md"
            c = r.choice(COMPONENTS)
            text = "\n".join(
                [
                    "---",
                    f"title: {_q(title)}",
                    f"status: {status}",
                    f"date: {date.isoformat()}",
                    "deciders:",
                    *(f"  - {p[0]}" for p in r.sample(PEOPLE, 2)),
                    "---",
                    "",
                    f"# ADR-{n:03d}: {title}",
                    "",
                    "## Context",
                    "",
                    self.text.paragraph(c, r.choice(THINGS), 3),
                    "",
                    "## Decision",
                    "",
                    f"We will {title[0].lower()}{title[1:]}.",
                    "",
                    "## Consequences",
                    "",
                    self.text.paragraph(c, r.choice(THINGS), 2),
                    "",
                ]
            )
            self.put(path, text.encode())
            self.adr_paths.append(path)

    def _context_for(self, sprint: _Sprint) -> list[str]:
        r = self.rng
        pool = [*PROJECT_FILES, *self.adr_paths, *self.agent_paths]
        paths = [r.choice(pool)]
        if r.random() < 0.5:
            other = f"delegation/sprints/{sprint.code}/SPRINT.md" if r.random() < 0.5 else None
            other = other or r.choice(pool)
            if other not in paths:
                paths.append(other)
        return paths

    def _status_for(self, sprint: _Sprint) -> str:
        x = self.rng.random()
        if sprint.status == "completed":
            return "completed" if x < 0.93 else "blocked" if x < 0.96 else "pending"
        if sprint.status == "active":
            table = ((0.30, "completed"), (0.62, "in_progress"), (0.90, "pending"))
            return next((s for p, s in table if x < p), "blocked")
        return "pending" if x < 0.91 else "in_progress" if x < 0.96 else "blocked"

    def _new_task(self, sprint: _Sprint, number: int) -> _Task:
        r = self.rng
        title, c, thing = self.text.title()
        code = f"s{sprint.number:0{self.swidth}d}-t{number:0{self.width}d}-{_slug(title, 4)}"
        status = self._status_for(sprint)
        same = self.sprint_tasks[sprint.code]
        earlier = self.task_order
        deps: list[str] = []
        for _ in range(r.choices((0, 1, 2, 3), (35, 35, 20, 10))[0]):
            if same and (r.random() < 0.85 or len(earlier) == len(same)):
                dep = r.choice(same[-30:])
            elif earlier:
                dep = earlier[r.randrange(max(0, len(earlier) - 300), len(earlier))]
            else:
                break
            if dep not in deps:
                deps.append(dep)
        done_share = {"completed": 1.0, "in_progress": 0.4, "blocked": 0.2}.get(status, 0.0)

        def items(templates: list[str], k: int) -> list[list]:
            return [
                [self.text.fill(t, c, thing), r.random() < done_share]
                for t in r.sample(templates, k)
            ]

        body = "\n\n".join(
            [
                self.text.paragraph(c, thing, r.randint(3, 4)),
                self.text.paragraph(c, thing, r.randint(2, 4)),
                "## Notes",
                self.text.paragraph(c, thing, r.randint(1, 3)),
            ]
        )
        agent = r.choices(list(AGENTS), AGENT_WEIGHTS)[0]
        task = _Task(
            code=code,
            sprint=sprint.code,
            title=title,
            status=status,
            priority=r.choices(("P0", "P1", "P2", "P3"), (5, 20, 50, 25))[0],
            agent=agent,
            depends_on=deps,
            context=self._context_for(sprint),
            labels=sorted(r.sample(LABELS, r.randint(1, 3))),
            objectives=items(OBJECTIVES, r.randint(2, 3)),
            deliverables=items(DELIVERABLES, r.randint(1, 3)),
            criteria=items(CRITERIA, r.randint(2, 4)),
            in_front_matter=number % 2 == 0,
            criteria_as_maps=number % 4 == 0,
            body=body,
            estimate=r.choice((2, 3, 5, 8, 13)),
        )
        for d in deps:
            self.refcount[d] += 1
        self.tasks[code] = task
        self.task_order.append(code)
        same.append(code)
        base = f"delegation/sprints/{sprint.code}/{code}"
        self.put(f"{base}/TASK.md", _render_task(task))
        self.put(f"{base}/AGENT.yml", _render_task_agent(task, r))
        return task

    def _bugs(self) -> None:
        r = self.rng
        live = [s for s in self.sprints if s.status != "completed"] or self.sprints
        for n in range(1, 21):
            c, thing = r.choice(COMPONENTS), r.choice(THINGS)
            symptom = self.text.fill(r.choice(BUG_SYMPTOMS), c, thing)
            title = f"{c.capitalize()} {symptom}"
            bug = {
                "path": f"delegation/backlog/BUG-{n:04d}-{_slug(title, 6)}.md",
                "title": title,
                "status": r.choice(("open", "open", "triaged", "in_progress", "fixed")),
                "priority": r.choices(("P0", "P1", "P2", "P3"), (10, 30, 40, 20))[0],
                "sprint": r.choice(live).code,
                "reported_by": r.choice(PEOPLE)[0],
                "reported_at": (self.now - dt.timedelta(days=r.randint(1, 60))).date().isoformat(),
                "context": r.choice(list(PROJECT_FILES)),
                "steps": [
                    f"Open the {c} page as a tenant admin",
                    f"Trigger the {thing}",
                    "Watch the response and the logs",
                ],
                "expected": f"The {thing} completes and {c} shows the new state.",
                "actual": f"The request {symptom}.",
            }
            self.bugs.append(bug)
            self.put(bug["path"], _render_bug(bug))

    def _sessions(self) -> None:
        r = self.rng
        active = [
            code for code, t in self.tasks.items() if t.status in ("in_progress", "completed")
        ] or list(self.tasks)
        names = list(AGENTS)
        for n in range(1, 21):
            code = active[r.randrange(len(active))] if active else None
            if code is None:
                break
            task = self.tasks[code]
            start = self.now - dt.timedelta(hours=r.randint(2, 24 * 20))
            status = r.choice(("open", "handed_off", "ended", "ended"))
            handoffs = []
            if status == "handed_off":
                to = r.choice([a for a in names if a != task.agent])
                at = start + dt.timedelta(hours=r.randint(1, 6))
                handoffs.append(
                    {
                        "from": task.agent,
                        "to": to,
                        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "note": "Tests for the new code path still fail; see the log below",
                    }
                )
            ended = (
                (start + dt.timedelta(hours=r.randint(1, 8))).strftime("%Y-%m-%dT%H:%M:%SZ")
                if status == "ended"
                else None
            )
            key = f"{start.strftime('%Y%m%d')}-{task.agent}-{n:03d}"
            session = {
                "path": f"delegation/sessions/{key}.md",
                "key": key,
                "title": f"Working on {task.title}",
                "task": code,
                "sprint": task.sprint,
                "agent": task.agent,
                "status": status,
                "started_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ended_at": ended,
                "handoffs": handoffs,
                "log": [
                    f"Read the task and its context ({', '.join(task.context)})",
                    self.text.fill(r.choice(SENTENCES)),
                    "Ran the test suite: " + r.choice(("all green", "2 failures", "1 flaky test")),
                ],
            }
            self.refcount[code] += 1  # never delete a task a session points at
            self.sessions.append(session)
            self.put(session["path"], _render_session(session))

    # -- history --

    def _task_path(self, t: _Task, name: str = "TASK.md") -> str:
        return f"delegation/sprints/{t.sprint}/{t.code}/{name}"

    def _pick(self, ok, tries: int = 200) -> _Task | None:
        order, r = self.task_order, self.rng
        for _ in range(tries):
            t = self.tasks[order[r.randrange(len(order))]]
            if ok(t):
                return t
        return None

    def edit(self, touched: set[str], budget: int) -> tuple[str, dict[str, bytes | None]] | None:
        """One realistic edit: (message, {path: new bytes or None to delete}), or None.

        budget is how many more files the commit may touch; moves, new and deleted tasks
        touch two (TASK.md and AGENT.yml). Nothing is changed when None is returned.
        """
        r = self.rng
        op = r.choices(
            ("start", "complete", "block", "unblock", "tick", "priority", "move", "new", "delete",
             "session", "bug"),
            (18, 14, 4, 3, 14, 8, 6, 8, 4, 10, 8),
        )[0]  # fmt: skip
        if budget < 1 or (budget < 2 and op in ("move", "new", "delete")):
            return None
        free = lambda t: self._task_path(t) not in touched  # noqa: E731
        if op in ("start", "complete", "block", "unblock", "tick", "priority"):
            want = {
                "start": ("pending",),
                "complete": ("in_progress",),
                "block": ("in_progress", "pending"),
                "unblock": ("blocked",),
                "tick": ("in_progress",),
                "priority": ("pending", "in_progress", "blocked"),
            }[op]
            t = self._pick(
                lambda t: (
                    t.status in want
                    and free(t)
                    and (op != "tick" or any(not d for _, d in t.criteria))
                )
            )
            if t is None:
                return None
            old = t.status
            if op == "start":
                t.status = "in_progress"
            elif op == "complete":
                t.status = "completed"
                for item in (*t.objectives, *t.deliverables, *t.criteria):
                    item[1] = True
            elif op == "block":
                t.status = "blocked"
            elif op == "unblock":
                t.status = "in_progress"
            elif op == "tick":
                next(item for item in t.criteria if not item[1])[1] = True
                return f"Tick an acceptance criterion of {t.code}", {
                    self._task_path(t): _render_task(t)
                }
            else:
                new = r.choice([p for p in ("P0", "P1", "P2", "P3") if p != t.priority])
                msg = f"Reprioritise {t.code}: {t.priority} -> {new}"
                t.priority = new
                return msg, {self._task_path(t): _render_task(t)}
            return f"{t.code}: {old} -> {t.status}", {self._task_path(t): _render_task(t)}
        if op == "move":
            t = self._pick(lambda t: t.status != "completed" and free(t))
            if t is None:
                return None
            targets = [s for s in self.sprints if s.status != "completed" and s.code != t.sprint]
            if not targets:
                return None
            dest = r.choice(targets)
            old_paths = [self._task_path(t), self._task_path(t, "AGENT.yml")]
            if any(p in touched for p in old_paths):
                return None
            changes: dict[str, bytes | None] = {p: None for p in old_paths}
            self.sprint_tasks[t.sprint].remove(t.code)
            t.sprint = dest.code
            self.sprint_tasks[dest.code].append(t.code)
            for old, name in zip(old_paths, ("TASK.md", "AGENT.yml"), strict=True):
                changes[self._task_path(t, name)] = self.files[old]
            return f"Move {t.code} to {dest.code}", changes
        if op == "new":
            live = [s for s in self.sprints if s.status != "completed"] or self.sprints
            sprint = r.choice(live)
            t = self._new_task(sprint, self.next_task)
            self.next_task += 1
            paths = [self._task_path(t), self._task_path(t, "AGENT.yml")]
            return f"Add task {t.code}", {p: self.files[p] for p in paths}
        if op == "delete":
            t = self._pick(lambda t: self.refcount[t.code] == 0 and free(t))
            if t is None or len(self.tasks) <= 1:
                return None
            paths = [self._task_path(t), self._task_path(t, "AGENT.yml")]
            for d in t.depends_on:
                self.refcount[d] -= 1
            del self.tasks[t.code]
            self.task_order.remove(t.code)
            self.sprint_tasks[t.sprint].remove(t.code)
            return f"Drop task {t.code}", dict.fromkeys(paths)
        if op == "session":
            s = r.choice(self.sessions)
            if s["path"] in touched:
                return None
            s["log"].append(self.text.fill(r.choice(SENTENCES)))
            if s["status"] == "open" and r.random() < 0.3:
                s["status"] = "ended"
                started = dt.datetime.strptime(s["started_at"], "%Y-%m-%dT%H:%M:%SZ")
                s["ended_at"] = (started + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return f"Session notes for {s['key']}", {s["path"]: _render_session(s)}
        b = r.choice(self.bugs)
        order = ("open", "triaged", "in_progress", "fixed", "closed")
        if b["path"] in touched or b["status"] not in order[:-1]:
            return None
        old = b["status"]
        b["status"] = order[order.index(old) + 1]
        return f"Bug {b['path'].rsplit('/', 1)[1][:8]}: {old} -> {b['status']}", {
            b["path"]: _render_bug(b)
        }

    def history_commit(self) -> tuple[str, dict[str, bytes | None]]:
        """Edits touching 1-5 files in all, as one commit."""
        r = self.rng
        target = r.choices((1, 2, 3), (60, 30, 10))[0]
        messages: list[str] = []
        changes: dict[str, bytes | None] = {}
        budget = 5
        attempts = 0
        while len(messages) < target and attempts < 50:
            attempts += 1
            result = self.edit(set(changes), budget)
            if result is None:
                continue
            msg, delta = result
            budget -= 2 if len(delta) > 1 else 1
            messages.append(msg)
            changes.update(delta)
        for path, data in changes.items():
            if data is None:
                self.files.pop(path, None)
            else:
                self.files[path] = data
        return "; ".join(messages) or "Touch nothing", changes


# --- git -----------------------------------------------------------------------------------


def _git(dest: Path, *args: str, capture: bool = False) -> str:
    out = subprocess.run(
        ["git", "-C", str(dest), *args],
        check=True,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
    )
    return out.stdout.strip() if capture else ""


def _data(out: IO[bytes], data: bytes) -> None:
    out.write(b"data %d\n" % len(data))
    out.write(data)
    out.write(b"\n")


def _commit(
    out: IO[bytes],
    who: tuple[str, str],
    when: int,
    message: str,
    changes: dict[str, bytes | int | None],
) -> None:
    """One commit on main: bytes are written inline, an int is a blob mark, None deletes."""
    ident = f"{who[0]} <{who[1]}> {when} +0000".encode()
    out.write(b"commit refs/heads/main\n")
    out.write(b"author " + ident + b"\ncommitter " + ident + b"\n")
    _data(out, message.encode() + b"\n")
    for path in sorted(changes):
        data = changes[path]
        if data is None:
            out.write(f"D {path}\n".encode())
        elif isinstance(data, int):
            out.write(f"M 100644 :{data} {path}\n".encode())
        else:
            out.write(f"M 100644 inline {path}\n".encode())
            _data(out, data)
    out.write(b"\n")


# --- entry points --------------------------------------------------------------------------


def build_corpus(
    dest: Path,
    tasks: int = 10_000,
    sprints: int | None = None,
    history: int = 0,
    seed: int = 42,
) -> CorpusInfo:
    """Create a git repository at dest (absent or empty) holding a generated delegation tree."""
    started = time.perf_counter()
    dest = Path(dest)
    if tasks < 1:
        raise ValueError("tasks must be at least 1")
    n_sprints = max(1, sprints if sprints is not None else tasks // 100)
    n_sprints = min(n_sprints, tasks)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists and is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "config", "user.name", BOT[0])
    _git(dest, "config", "user.email", BOT[1])
    _git(dest, "config", "gc.auto", "0")

    phases: dict[str, float] = {}
    # fast-import compresses blobs on the second core while Python generates the next ones
    proc = subprocess.Popen(
        ["git", "-C", str(dest), "-c", "core.compression=1", "fast-import", "--quiet"]
        + ["--date-format=raw", "--done"],
        stdin=subprocess.PIPE,
    )
    assert proc.stdin is not None
    b = _Builder(tasks, n_sprints, seed, history)
    b.out = proc.stdin
    try:
        b.build()
        b.out = None
        t0 = int(b.now.timestamp())
        _commit(proc.stdin, BOT, t0, "Import the delegation tree", dict(b.marks))
        for i in range(1, history + 1):
            message, changes = b.history_commit()
            _commit(proc.stdin, PEOPLE[i % len(PEOPLE)], t0 + 60 * i, message, dict(changes))
        proc.stdin.write(b"done\n")
        phases["generate"] = time.perf_counter() - started
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed with exit code {proc.returncode}")
    phases["fast_import"] = time.perf_counter() - started - phases["generate"]
    mark = time.perf_counter()
    _git(dest, "reset", "-q", "--hard", "main")
    phases["checkout"] = time.perf_counter() - mark

    with_deps = [
        c for c in sorted(b.tasks) if b.tasks[c].depends_on and len(b.tasks[c].context) > 0
    ]
    sample = with_deps[0] if with_deps else sorted(b.tasks)[0]
    return CorpusInfo(
        root=dest,
        tasks=len(b.tasks),
        sprints=len(b.sprints),
        agents=len(b.agent_paths),
        adrs=len(b.adr_paths),
        bugs=len(b.bugs),
        sessions=len(b.sessions),
        files=sum(1 for p in b.files if p.startswith("delegation/")),
        commits=history + 1,
        head=_git(dest, "rev-parse", "HEAD", capture=True),
        tree=_git(dest, "rev-parse", "HEAD^{tree}", capture=True),
        seconds=time.perf_counter() - started,
        phases=phases,
        task_codes=sorted(b.tasks)[:20],
        sample_task=sample,
        sample_task_path=b._task_path(b.tasks[sample]),
        sample_sprint=b.tasks[sample].sprint,
        agent_names=list(AGENTS),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dest", type=Path, help="directory to create (must be absent or empty)")
    p.add_argument("--tasks", type=int, default=10_000)
    p.add_argument("--sprints", type=int, default=None, help="default: tasks/100")
    p.add_argument("--history", type=int, default=0, help="commits of edits after the import")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    try:
        info = build_corpus(args.dest, args.tasks, args.sprints, args.history, args.seed)
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{info.root}: {info.tasks} tasks in {info.sprints} sprints, {info.files} files under "
        f"delegation/, {info.commits} commits, HEAD {info.head[:12]} "
        f"(tree {info.tree[:12]}) in {info.seconds:.2f} s"
    )
    print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in info.phases.items()))
    print(f"sample task: {info.sample_task} ({info.sample_task_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
