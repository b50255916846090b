"""Templates for new files: jinja2 folders shipped with orchsync, overridable per repository.

A template is a folder `<kind>/<name>/` holding one `<FILE>.j2` per file it makes (a sprint
template has `SPRINT.md.j2`, a task template `TASK.md.j2` and optionally `AGENT.yml.j2`) and
an optional `template.yml` manifest:

    description: One line shown by `orchsync templates list`.
    required: [question]          # variables that must be given (--set question=...)
    defaults: {labels: [research]}

Shipped templates live in the package's `templates/`; a repository's own in
`delegation/.templates/<kind>/<name>/` win over a shipped template of the same kind and name.
Rendering is strict: a variable the template uses but nobody set is an error naming it.
jinja2 is imported only when a template is rendered.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from orchsync.errors import UnknownEntity, UsageError
from orchsync.parse.layout import DELEGATION
from orchsync.parse.resources import data_dir
from orchsync.repo import Repo

__all__ = [
    "KINDS",
    "REPO_TEMPLATES",
    "Template",
    "TemplateError",
    "find_template",
    "list_templates",
    "render",
    "yaml_value",
]

log = logging.getLogger(__name__)

# kind -> the files a template of that kind may make; the first one is required.
KINDS: dict[str, tuple[str, ...]] = {
    "sprint": ("SPRINT.md",),
    "task": ("TASK.md", "AGENT.yml"),
    "adr": ("ADR.md",),
    "bug": ("BUG.md",),
    "session": ("SESSION.md",),
    "agent": ("PROFILE.yml",),  # -> delegation/agents/<name>.yml
}
REPO_TEMPLATES = f"{DELEGATION}/.templates"
MANIFEST = "template.yml"
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(UsageError):
    """A template that cannot be found, read or rendered; the message names the variable or line."""


@dataclass(frozen=True, slots=True)
class Template:
    kind: str
    name: str
    source: str  # "shipped" or "repo"
    path: Path
    description: str = ""
    required: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    def to_row(self, repo: Repo | None = None) -> dict[str, Any]:
        """`path`: repo-relative for a repository's own template; `shipped:<kind>/<name>` for
        one that ships with orchsync (where the package sits differs between a source tree
        and an installed wheel; `abspath` says where it is on this machine)."""
        shown = f"shipped:{self.kind}/{self.name}"
        if repo is not None and self.source == "repo":
            try:
                shown = self.path.relative_to(repo.root).as_posix()
            except ValueError:
                shown = str(self.path)
        return {
            "kind": self.kind,
            "name": self.name,
            "source": self.source,
            "path": shown,
            "abspath": str(self.path),
            "description": self.description,
            "required": list(self.required),
            "files": list(self.files),
        }


def _roots(repo: Repo | None) -> list[tuple[str, Path]]:
    roots = [("shipped", data_dir("templates"))]
    if repo is not None:
        roots.append(("repo", repo.root / REPO_TEMPLATES))
    return roots


# A repository's template folder is `<root>/delegation/.templates/<kind>/<name>`.
_REPO_DEPTH = REPO_TEMPLATES.count("/") + 3


def _read(source: str, path: Path) -> bytes | None:
    """A template file's bytes, or None when there is none.

    A repository's templates are files anyone with write access to the tree may have made:
    they are read as `orchsync.parse.fsread` reads (no symbolic link, to a file or a folder, is
    followed, so no file outside the repository ends up in a new task). A symbolic link
    is an error that says so; the shipped templates are the package's own files.
    """
    if source != "repo":
        return path.read_bytes() if path.is_file() else None
    from orchsync.parse.fsread import LINK, MISSING, read_entry

    root = path.parents[_REPO_DEPTH - 1]
    entry = read_entry(root, path.relative_to(root).as_posix())
    if entry.kind == "file":
        return entry.data
    if entry.kind == LINK or (entry.kind == MISSING and entry.reason):
        raise TemplateError(
            f"{path} is a symbolic link (or inside one); templates are not read through links"
        )
    return None


def _load(kind: str, name: str, source: str, folder: Path) -> Template:
    files = tuple(f for f in KINDS[kind] if _read(source, folder / f"{f}.j2") is not None)
    if not files or files[0] != KINDS[kind][0]:
        raise TemplateError(f"template {kind}/{name} ({folder}) has no {KINDS[kind][0]}.j2")
    manifest: dict[str, Any] = {}
    mpath = folder / MANIFEST
    raw = _read(source, mpath)
    if raw is not None:
        try:
            loaded = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise TemplateError(f"{mpath}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise TemplateError(f"{mpath}: must be a mapping (description, required, defaults)")
        manifest = loaded or {}
    required = manifest.get("required") or []
    defaults = manifest.get("defaults") or {}
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise TemplateError(f"{mpath}: required: expected a list of variable names")
    if not isinstance(defaults, dict):
        raise TemplateError(f"{mpath}: defaults: expected a mapping of variable -> value")
    return Template(
        kind=kind,
        name=name,
        source=source,
        path=folder,
        description=str(manifest.get("description") or "").strip(),
        required=tuple(required),
        defaults={str(k): v for k, v in defaults.items()},
        files=files,
    )


def list_templates(repo: Repo | None = None, kind: str | None = None) -> list[Template]:
    """The templates in force, sorted by kind and name: a repo's override hides the shipped one."""
    found: dict[tuple[str, str], Template] = {}
    for source, root in _roots(repo):
        for k in sorted(KINDS) if kind is None else [kind]:
            base = root / k
            if not base.is_dir():
                continue
            for folder in sorted(base.iterdir()):
                if not folder.is_symlink() and folder.is_dir() and not folder.name.startswith("."):
                    try:
                        found[(k, folder.name)] = _load(k, folder.name, source, folder)
                    except TemplateError as exc:  # listed, so the user sees what to fix
                        found[(k, folder.name)] = Template(
                            k, folder.name, source, folder, f"(broken) {exc}"
                        )
    return [found[key] for key in sorted(found)]


def find_template(repo: Repo | None, kind: str, name: str) -> Template:
    """The template in force for (kind, name); the error lists the names there are."""
    if kind not in KINDS:
        raise TemplateError(f"unknown template kind {kind!r}; kinds: {', '.join(sorted(KINDS))}")
    for source, root in reversed(_roots(repo)):
        folder = root / kind / name
        if (
            "/" not in name
            and "\\" not in name
            and not name.startswith(".")
            and not folder.is_symlink()
            and folder.is_dir()
        ):
            return _load(kind, name, source, folder)
    names = ", ".join(t.name for t in list_templates(repo, kind)) or "(none)"
    raise UnknownEntity(f"no {kind} template {name!r}; available: {names}")


def check_variables(variables: Mapping[str, Any]) -> None:
    for key in variables:
        if not _VAR_NAME.match(key):
            raise TemplateError(
                f"variable name {key!r} is not valid; use letters, digits and '_' (like --set goal=...)"
            )


def render(template: Template, variables: Mapping[str, Any]) -> dict[str, str]:
    """Render every file of the template: {file name: text}. Strict about undefined names."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    check_variables(variables)
    values = dict(template.defaults)
    for key, value in variables.items():  # None means "not given": a default still applies
        if value is not None or key not in values:
            values[key] = value
    missing = [r for r in template.required if values.get(r) in (None, "", [])]
    if missing:
        wanted = " ".join(f"--set {m}=VALUE" for m in missing)
        raise TemplateError(
            f"template {template.ref} needs {', '.join(repr(m) for m in missing)}: pass {wanted}"
        )
    loader: jinja2.BaseLoader = jinja2.FileSystemLoader(str(template.path))
    if template.source == "repo":  # includes too are read without following links
        loader = jinja2.FunctionLoader(partial(_repo_source, template))
    env = SandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["yaml"] = yaml_value
    out: dict[str, str] = {}
    for name in template.files:
        source = f"{name}.j2"
        try:
            out[name] = env.get_template(source).render(**values)
        except jinja2.UndefinedError as exc:
            var = _undefined_name(str(exc))
            hint = f"; pass --set {var}=VALUE or give it a default in {MANIFEST}" if var else ""
            raise TemplateError(f"template {template.ref} ({source}): {exc.message}{hint}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template {template.ref}: {template.path / source}:{exc.lineno}: {exc.message}"
            ) from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {template.ref} ({source}): {exc}") from exc
    return out


def _repo_source(template: Template, name: str) -> str | None:
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    raw = _read(template.source, template.path.joinpath(*parts))
    return raw.decode("utf-8", errors="replace") if raw is not None else None


def _undefined_name(message: str) -> str | None:
    m = re.match(r"^'([A-Za-z_][A-Za-z0-9_]*)' is undefined$", message)
    return m.group(1) if m else None


_PLAIN = re.compile(r"^[A-Za-z0-9_./][A-Za-z0-9 _./()+-]*$")
_YAML_WORDS = {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", ".nan"}


def yaml_value(value: Any) -> str:
    """A value as a one-line YAML scalar or flow list: plain when safe, JSON-quoted otherwise.

    The `yaml` filter of every template: `title: {{ title | yaml }}` stays valid YAML whatever
    the title holds (colons, quotes, a leading '-', `yes`...).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{yaml_value(str(k))}: {yaml_value(v)}" for k, v in value.items())
            + "}"
        )
    text = str(value)
    if (
        _PLAIN.match(text)
        and text == text.strip()
        and text.lower() not in _YAML_WORDS
        and not _looks_numeric(text)
    ):
        return text
    return json.dumps(text, ensure_ascii=False)


def _looks_numeric(text: str) -> bool:
    if re.match(r"^[-+]?0[xo]", text.lower()):
        return True
    try:
        float(text.replace("_", ""))
    except ValueError:
        return False
    return True
