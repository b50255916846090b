"""Read-side helpers that need neither pygit2 nor DuckDB: what the index must reflect,
and turning relative times into absolute ones (so cached answers key on real values)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from orchsync.config import Config
from orchsync.errors import UsageError
from orchsync.repo import Repo

__all__ = ["expected_tip", "parse_since"]

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> str:
    """`2025-10-01`, an ISO time, or a relative `30m` / `2h` / `7d` / `1w`, as naive-UTC ISO."""
    m = _RELATIVE.match(text.strip())
    if m:
        delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        return (datetime.now(UTC).replace(tzinfo=None) - delta).isoformat(timespec="seconds")
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=None).isoformat()
    except ValueError as exc:
        raise UsageError(
            f"--since {text!r}: use a date (2025-10-01), a time, or 30m / 2h / 7d"
        ) from exc


def expected_tip(repo: Repo, config: Config) -> tuple[str | None, str | None]:
    """(ref, tip): the branch (or `target_ref`) snapshots go to, and its commit id."""
    branch = repo.head_ref()
    if config.target_ref:
        name = (branch or "refs/heads/detached").removeprefix("refs/heads/")
        ref = config.target_ref.replace("<branch>", name).replace("{branch}", name)
        return ref, repo.ref_tip(ref) or (repo.ref_tip(branch) if branch else None)
    if branch is None:
        return None, None
    return branch, repo.ref_tip(branch)
