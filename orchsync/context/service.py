"""AGENT INIT end to end: cache lookup, assembly on a miss, budget, and the two events.

The CLI and the MCP server both call `assemble`; neither holds a rule of its own.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from orchsync.config import load_config
from orchsync.context import cache
from orchsync.context.record import make_event, record_events
from orchsync.context.types import Context, Request
from orchsync.query.freshness import expected_tip
from orchsync.repo import Repo

__all__ = ["assemble"]


def assemble(
    repo: Repo,
    target: str | Request,
    agent: str | None = None,
    session: str | None = None,
    budget: int | None = None,
    *,
    use_cache: bool = True,
    record: bool = True,
) -> Context:
    """The context an agent needs to start on a sprint (`S:x`) or a task (`T:x`).

    Served from the cache when nothing it was built from changed (`data["cached"]` is
    True), else assembled from the index. `budget` (tokens) trims it (see `budget.py`).
    Emits `orchestration.agent.initialized` and `orchestration.context.assembled` to the
    journal unless `record` is False.
    """
    started = time.perf_counter()
    request = target if isinstance(target, Request) else Request.parse(target, agent, session)
    config = load_config(repo.root)
    ttl = config.context_cache_seconds
    ref, tip = expected_tip(repo, config)
    context = cache.load(repo, request, ttl=ttl, ref=ref, tip=tip) if use_cache else None
    cached = context is not None
    if context is None:
        from orchsync.context.broker import assemble_uncached

        context = assemble_uncached(repo, request)
        if ttl > 0:
            cache.store(repo, request, context)  # also after use_cache=False: a fresh entry
    data = dict(context.data)
    data["cached"] = cached
    data["provenance"] = dict(data["provenance"])
    if cached:
        data["provenance"]["correlation_id"] = str(uuid.uuid4())
    data["provenance"]["served_at"] = (
        datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
    if budget is not None:
        from orchsync.context.budget import apply_budget

        data = apply_budget(data, budget)
    result = Context(data, context.deps)
    if record:
        _record(repo, config, request, data, cached, (time.perf_counter() - started) * 1000)
    return result


def _record(
    repo: Repo,
    config: Any,
    request: Request,
    data: dict[str, Any],
    cached: bool,
    duration_ms: float,
) -> None:
    target = data["target"]
    correlation = data["provenance"]["correlation_id"]
    agent = (data.get("agent") or {}).get("name") or request.agent
    session = (data.get("session") or {}).get("key")
    entity = {"entity_type": target["kind"], "entity_code": target["code"]}
    parts = []
    for name in ("agent", "task", "sprint", "session"):
        if data.get(name):
            parts.append(
                {
                    "part": name,
                    "hash": data[name].get("hash"),
                    "chars": len(json.dumps(data[name], ensure_ascii=False, default=str)),
                }
            )
    for ref in data.get("references") or []:
        parts.append(
            {
                "part": "reference",
                "path": ref["path"],
                "status": ref["status"],
                "hash": ref.get("hash"),
                "chars": len(ref.get("content") or ""),
            }
        )
    budget = data.get("budget")
    events = [
        make_event(
            "agent.initialized",
            **entity,
            correlation=correlation,
            agent=agent,
            session=session,
            payload={"target": target["key"], "agent": agent, "session": session, "cached": cached},
        ),
        make_event(
            "context.assembled",
            **entity,
            correlation=correlation,
            agent=agent,
            session=session,
            payload={
                "target": target["key"],
                "cached": cached,
                "duration_ms": round(duration_ms, 1),
                "commit": data["provenance"].get("commit"),
                "context_hash": data["provenance"].get("context_hash"),
                "parts": parts,
                "chars": sum(p["chars"] for p in parts),
                "budget": None
                if budget is None
                else {
                    "tokens": budget["tokens"],
                    "estimated_tokens": budget["estimated_tokens"],
                    "trimmed": len(budget["trimmed"]),
                    "over_budget": budget["over_budget"],
                },
            },
        ),
    ]
    record_events(repo, events, config.events)
