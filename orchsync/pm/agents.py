"""Agent profiles: `delegation/agents/<name>.yml`, made from the `agent` template.

A profile is what every task assigned to that agent starts from (role, model, capabilities,
tools, safety rails); a task's AGENT.yml is merged over it by AGENT INIT. `task create
--agent NAME` warns when NAME has no profile; `agent create NAME` makes one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchsync.errors import UsageError
from orchsync.parse.layout import DELEGATION
from orchsync.pm.common import (
    PmResult,
    base_variables,
    check_variables,
    default_actor,
    numbering_lock,
    preflight,
    render_checked,
    sync_written,
    title_from_id,
    valid_code,
    write_new,
)
from orchsync.pm.templates import find_template
from orchsync.repo import Repo

__all__ = ["agent_profiles", "create_agent", "profile_path"]

MAX_ITEMS = 100
MAX_TEXT = 500


def profile_path(name: str) -> str:
    return f"{DELEGATION}/agents/{name}.yml"


def agent_profiles(repo: Repo) -> list[str]:
    """Names of the agent profiles in the tree (`<name>.yml` or `.yaml`), sorted."""
    import os

    try:
        entries = list(os.scandir(repo.root / DELEGATION / "agents"))
    except FileNotFoundError:
        return []
    out = []
    for e in entries:
        for ext in (".yml", ".yaml"):
            if e.name.endswith(ext) and len(e.name) > len(ext) and not e.name.startswith("."):
                out.append(e.name[: -len(ext)])
    return sorted(set(out))


def create_agent(
    repo: Repo,
    name: str,
    template: str = "default",
    *,
    role: str | None = None,
    model: str | None = None,
    description: str | None = None,
    capabilities: Sequence[str] = (),
    tools_allowed: Sequence[str] = (),
    variables: Mapping[str, Any] | None = None,
    actor: str | None = None,
    session: str | None = None,
) -> PmResult:
    """`delegation/agents/<name>.yml` from a template; refused if a profile of that name exists.

    `role` defaults to a title made from the name (`backend-engineer` -> "Backend engineer").
    Every value is written as quoted YAML when it needs to be, so no text can add keys.
    """
    name = valid_code(name, "agent name")
    values = check_variables(variables)
    own = sorted(
        set(values) & {"name", "role", "model", "description", "capabilities", "tools_allowed"}
    )
    if own:
        raise UsageError(f"--set {own[0]}=...: use the command's own option for it")
    tmpl = find_template(repo, "agent", template)
    actor = actor or default_actor(repo)
    path = profile_path(name)
    values |= base_variables(actor, session) | {
        "id": name,
        "code": name,
        "name": name,
        "role": _text(role, "--role") or title_from_id(name),
        "model": _text(model, "--model"),
        "description": _text(description, "--description"),
        "capabilities": _items(capabilities, "--capability"),
        "tools_allowed": _items(tools_allowed, "--tool"),
    }
    with numbering_lock(repo):
        existing = [n for n in agent_profiles(repo) if n.lower() == name.lower()]
        if existing:
            raise UsageError(
                f"agent {existing[0]!r} already has a profile ({DELEGATION}/agents/{existing[0]}.yml); "
                "edit that file, or pick another name"
            )
        files = render_checked(tmpl, values, {tmpl.files[0]: path})
        preflight(repo)
        write_new(repo, files)
        result = PmResult(
            "agent.create",
            f"A:{name}",
            f"created agent profile {name} from template {tmpl.ref}",
            paths=[path],
            details={"template": tmpl.ref},
        )
        return sync_written(
            repo,
            result,
            [path],
            actor=actor,
            session=session,
            subject=f"agent {name}: profile created from template {tmpl.ref}",
        )


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    if not text:
        raise UsageError(f"{what} must not be empty")
    if len(text) > MAX_TEXT:
        raise UsageError(f"{what}: at most {MAX_TEXT} characters")
    return text


def _items(values: Sequence[str], what: str) -> list[str]:
    out = [t for t in (_text(v, what) for v in values) if t]
    if len(out) > MAX_ITEMS:
        raise UsageError(f"{what}: at most {MAX_ITEMS} of them")
    return list(dict.fromkeys(out))
