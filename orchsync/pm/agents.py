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
    render_checked,
    sync_written,
    title_from_id,
    valid_code,
    write_new,
    writing,
)
from orchsync.pm.templates import Template, find_template
from orchsync.repo import Repo

__all__ = ["agent_profiles", "create_agent", "init_profile", "profile_path", "write_profile"]

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
    actor = actor or default_actor(repo)
    target = profile_path(valid_code(name, "agent name"))
    with numbering_lock(repo), writing(repo, [target]) as claim:
        path, tmpl = write_profile(
            repo,
            name,
            template,
            role=role,
            model=model,
            description=description,
            capabilities=capabilities,
            tools_allowed=tools_allowed,
            variables=variables,
            actor=actor,
            session=session,
        )
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
            claim=claim,
        )


def write_profile(
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
    dry_run: bool = False,
) -> tuple[str, Template]:
    """Render and write the profile file (no sync: `init` puts it in its first snapshot).

    Called under the numbering lock by `create_agent`. Returns (path, template).
    """
    name = valid_code(name, "agent name")
    values = check_variables(variables)
    own = sorted(
        set(values) & {"name", "role", "model", "description", "capabilities", "tools_allowed"}
    )
    if own:
        raise UsageError(f"--set {own[0]}=...: use the command's own option for it")
    tmpl = find_template(repo, "agent", template)
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
    existing = [n for n in agent_profiles(repo) if n.lower() == name.lower()]
    if existing:
        raise UsageError(
            f"agent {existing[0]!r} already has a profile ({DELEGATION}/agents/{existing[0]}.yml); "
            "edit that file, or pick another name"
        )
    files = render_checked(tmpl, values, {tmpl.files[0]: path})
    if not dry_run:
        write_new(repo, files)
    return path, tmpl


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


def init_profile(
    repo: Repo, name: str | None, actor: str | None, dry_run: bool, actions: list[str]
) -> list[str]:
    """`orchsync init`'s offer of one profile: written when `name` is given (the first
    snapshot then holds it); else, in a tree with no profile, a hint (returned) says how."""
    if name is not None:
        path, _tmpl = write_profile(repo, name, actor=actor, dry_run=dry_run)
        actions.append(f"wrote {path} (agent profile)")
        return []
    if agent_profiles(repo):
        return []
    return ["no agent profile yet: `orchsync agent create NAME` makes one from a template"]
