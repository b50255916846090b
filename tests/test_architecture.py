"""The import graph of orchsync, read with `ast` (nothing is imported, nothing runs).

The table `MAY_IMPORT` is the living picture of DESIGN.md's pipeline: each package of
orchsync, and the packages it may import. Reading it top to bottom is reading the pipeline:

    basics (model, errors, repo, config)
      -> parse (bytes -> entities + diagnostics -> the events between two versions)
      -> git (the history) | index (DuckDB, and the journal it loads)   two stores that never
                                                                      import each other
      -> sync (the one sync function: commit to git, catch the index up)
      -> query (the read side) -> context (AGENT INIT) -> pm (writes) -> watch (the daemon loop)
      -> sinks (events out, each with its cursor)
      -> faces/: cli, mcp, board (none imports another; each is a thin face over the library)

Four rules are checked, each by a function that the last tests also run on a made-up package,
to show that it does fail:

- no import circle between modules (lazy imports inside functions count too);
- every import between packages follows `MAY_IMPORT`;
- the CLI entry point imports nothing heavy at module level, so `orchsync --help` stays fast;
- each third-party library is imported by the packages `LIBRARIES` names only (DuckDB by the
  index, git by the stores and writers, the web stack by the board, ...).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "orchsync"

BASICS = {"model", "errors", "repo", "config"}
STAGES = {"parse", "git", "index", "sync", "query", "context", "pm", "watch", "sinks"}
LIBRARY = BASICS | (STAGES - {"sinks"})
# folders that only group packages: `faces/cli` is the package "cli"
GROUPS = {"faces"}
FACES = {"cli", "mcp", "board"}

# package -> the packages it may import (besides itself). "__init__" is `orchsync/__init__.py`.
MAY_IMPORT: dict[str, set[str]] = {
    "__init__": set(),
    "__main__": {"cli"},
    "model": set(),
    "errors": set(),
    "repo": {"errors"},
    "config": {"errors", "repo", "parse"},
    "parse": {"errors", "model", "repo", "config"},
    # the two stores: neither imports the other, nor anything downstream
    "git": BASICS | {"parse"},
    "index": BASICS | {"parse"},
    "sync": BASICS | {"parse", "git", "index"},
    "query": BASICS | {"__init__", "parse", "git", "index", "sync"},
    "context": BASICS | {"__init__", "parse", "index", "query"},
    # pm hands its syncs to a running daemon through `watch.client`
    "pm": BASICS | {"__init__", "parse", "git", "index", "sync", "query", "watch"},
    "watch": BASICS | {"parse", "git", "index", "sync", "query", "sinks"},
    "sinks": BASICS | {"__init__", "parse", "index", "query"},
    "faces": set(),
    # faces: the whole library, never each other
    "cli": LIBRARY | {"__init__", "sinks"},
    "mcp": LIBRARY | {"__init__"},
    "board": LIBRARY | {"__init__"},
}
# A face may start another face, never reuse its code: `orchsync mcp` and `orchsync board`
# are CLI commands whose whole job is to launch that face.
LAUNCHERS = {"orchsync.faces.cli.mcp": "mcp", "orchsync.faces.cli.board": "board"}

# Modules the CLI must not import at start-up (DESIGN.md: measured import costs).
HEAVY = {
    "duckdb",
    "_duckdb",
    "pygit2",
    "watchfiles",
    "jinja2",
    "mcp",
    "mcp_types",
    "starlette",
    "uvicorn",
    "sse_starlette",
    "markdown_it",
    "jsonschema",
    "opentelemetry",
    "playwright",
    "frontmatter",
    "ruamel",
}


# third-party library -> the packages that may import it (lazily or not). A library that is
# not listed is refused: adding a dependency means deciding which stage it belongs to.
LIBRARIES: dict[str, set[str]] = {
    "duckdb": {"index"},  # everyone else goes through index.duck (and the index's API)
    "_duckdb": {"index"},
    "pygit2": {"git", "sync", "query", "pm", "mcp"},  # the stores, and their error types
    "ruamel": {"git"},  # the merge driver's round-trip YAML
    "yaml": {"parse", "pm"},
    "frontmatter": {"pm"},
    "jsonschema": {"parse"},
    "watchfiles": {"watch"},
    "click": {"cli"},
    "jinja2": {"pm", "board"},  # templates; the board's pages
    "markdown_it": {"board"},
    "starlette": {"board"},
    "sse_starlette": {"board"},
    "uvicorn": {"board"},
    "mcp": {"mcp"},
    "mcp_types": {"mcp"},
    "anyio": {"mcp"},
    "pydantic": {"mcp"},
    "opentelemetry": {"sinks"},
}


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # the importing module, dotted
    target: str  # the imported module, dotted (a submodule when `from pkg import submodule`)
    line: int
    lazy: bool  # inside a function, or under `if TYPE_CHECKING:`


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at `root`."""
    base = root.name
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [base, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(root: Path) -> list[Import]:
    """Every import of the package's own modules, found by reading the source."""
    mods = modules(root)
    found: list[Import] = []
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, lazy in _walk(tree.body, lazy=False):
            for target in _targets(node, package, mods):
                found.append(Import(name, target, node.lineno, lazy))
    return found


def _walk(body: Iterable[ast.stmt], lazy: bool) -> Iterable[tuple[ast.stmt, bool]]:
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, lazy
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _walk(node.body, True)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _walk(node.body, True)
            yield from _walk(node.orelse, lazy)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                yield from _walk(getattr(node, field, []) or [], lazy)


def _targets(node: ast.stmt, package: str, mods: Mapping[str, Path]) -> list[str]:
    top = next(iter(mods)).split(".")[0]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == top]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    if module.split(".")[0] != top:
        return []
    # `from pkg import submodule` imports the submodule
    subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in mods]
    return subs or [module]


def circles(found: Iterable[Import]) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        if imp.source != imp.target:
            graph.setdefault(imp.source, set()).add(imp.target)
            graph.setdefault(imp.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    if parts[1] in GROUPS and len(parts) > 2:
        return parts[2]
    return parts[1]


def boundary_violations(
    found: Iterable[Import], may_import: Mapping[str, set[str]], launchers: Mapping[str, str]
) -> list[str]:
    out = []
    for imp in found:
        src, dst = package_of(imp.source), package_of(imp.target)
        if src == dst or launchers.get(imp.source) == dst:
            continue
        if src not in may_import:
            out.append(f"{imp.source}: package {src!r} has no row in MAY_IMPORT")
        elif dst not in may_import[src]:
            out.append(
                f"{imp.source}:{imp.line} imports {imp.target} ({src} -> {dst} is not allowed)"
            )
    return sorted(set(out))


def library_violations(root: Path, libraries: Mapping[str, set[str]]) -> list[str]:
    """Third-party imports (anything not of the standard library or the package itself) made
    by a package the table does not name for that library."""
    import sys

    top = root.name
    out = []
    for name, path in modules(root).items():
        package = package_of(name)
        for node, _lazy in _walk(ast.parse(path.read_text(encoding="utf-8")).body, False):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                assert isinstance(node, ast.ImportFrom)
                names = [] if node.level else [node.module or ""]
            for imported in names:
                first = imported.split(".")[0]
                if first in (top, "__future__") or first in sys.stdlib_module_names:
                    continue
                if package not in libraries.get(first, set()):
                    out.append(f"{name}:{node.lineno} imports {imported} ({package} may not)")
    return sorted(out)


def heavy_at_start(root: Path, entry: str, heavy: set[str]) -> list[str]:
    """Heavy modules that importing `entry` pulls in at module level, with the chain."""
    mods = modules(root)
    top = entry.split(".")[0]
    seen: dict[str, str] = {entry: entry}
    todo = [entry]
    out = []
    while todo:
        name = todo.pop()
        tree = ast.parse(mods[name].read_text(encoding="utf-8"))
        package = name if mods[name].name == "__init__.py" else name.rpartition(".")[0]
        for node, lazy in _walk(tree.body, lazy=False):
            if lazy:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                assert isinstance(node, ast.ImportFrom)
                names = [node.module or ""] if not node.level else []
                names += _targets(node, package, mods)
            for imported in names:
                first = imported.split(".")[0]
                if first in heavy:
                    out.append(f"{seen[name]} -> {imported}")
                elif first == top:
                    # importing a.b.c runs a/__init__ and a/b/__init__ first
                    parts = imported.split(".")
                    for i in range(1, len(parts) + 1):
                        mod = ".".join(parts[:i])
                        if mod in mods and mod not in seen:
                            seen[mod] = f"{seen[name]} -> {mod}"
                            todo.append(mod)
    return sorted(out)


# --- the package as it is -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def found() -> list[Import]:
    return imports(PACKAGE)


def test_no_import_circle(found: list[Import]) -> None:
    assert circles(found) == []


def test_every_import_between_packages_follows_the_table(found: list[Import]) -> None:
    assert boundary_violations(found, MAY_IMPORT, LAUNCHERS) == []


def test_the_table_covers_every_package_and_nothing_else() -> None:
    packages = {package_of(m) for m in modules(PACKAGE)}
    assert packages <= set(MAY_IMPORT)


def test_the_cli_entry_point_imports_nothing_heavy_at_start_up() -> None:
    assert heavy_at_start(PACKAGE, "orchsync.faces.cli", HEAVY) == []


def test_each_library_is_imported_where_the_table_says_only() -> None:
    assert library_violations(PACKAGE, LIBRARIES) == []


def test_the_package_root_holds_the_stages_the_faces_and_a_few_basics() -> None:
    root = {
        p.stem if p.suffix == ".py" else p.name
        for p in PACKAGE.iterdir()
        if p.name not in ("__pycache__", "py.typed", "__init__.py", "__main__.py")
    }
    assert root == BASICS | STAGES | GROUPS
    assert {p.name for p in (PACKAGE / "faces").iterdir() if p.is_dir()} - {"__pycache__"} == FACES


def test_no_two_library_modules_share_a_file_name() -> None:
    # A CLI command module may share the name of the library module it fronts.
    names = [
        p.name for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" and "cli" not in p.parts
    ]
    assert sorted({n for n in names if names.count(n) > 1}) == []


# --- the checks do fail: a made-up package ------------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_circle_is_found_even_through_a_lazy_import(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "query.py": "from pkg.sync import run\n",
            "sync.py": "from pkg import warm\n\ndef run():\n    pass\n",
            "warm.py": "def f():\n    from pkg.query import x\n",
        },
    )
    assert circles(imports(root)) == [["pkg.query", "pkg.sync", "pkg.warm"]]


def test_an_import_against_the_table_is_reported(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "git/__init__.py": "",
            "git/store.py": "from pkg.index import db\n",
            "index/__init__.py": "",
            "index/db.py": "",
            "cli/__init__.py": "",
            "cli/mcp.py": "def run():\n    from pkg.mcp import server\n",
            "cli/other.py": "from pkg.mcp import server\n",
            "mcp/__init__.py": "",
            "mcp/server.py": "",
        },
    )
    table = {"__init__": set(), "git": set(), "index": set(), "cli": {"git", "index"}, "mcp": set()}
    assert boundary_violations(imports(root), table, {"pkg.cli.mcp": "mcp"}) == [
        "pkg.cli.other:1 imports pkg.mcp.server (cli -> mcp is not allowed)",
        "pkg.git.store:1 imports pkg.index.db (git -> index is not allowed)",
    ]


def test_a_heavy_import_reached_at_start_up_is_reported(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "cli.py": "import click\nfrom pkg import query\n\ndef cmd():\n    import pygit2\n",
            "query.py": "from typing import TYPE_CHECKING\nimport duckdb\nif TYPE_CHECKING:\n    import jinja2\n",
        },
    )
    assert heavy_at_start(root, "pkg.cli", {"duckdb", "pygit2", "jinja2"}) == [
        "pkg.cli -> pkg.query -> duckdb"
    ]


def test_a_library_imported_outside_its_packages_is_reported(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "index/__init__.py": "import duckdb\n",
            "parse/__init__.py": "import os\n\ndef f():\n    import duckdb.typing\n",
            "cli/__init__.py": "import click\nimport leftpad\n",
        },
    )
    assert library_violations(root, {"duckdb": {"index"}, "click": {"cli"}}) == [
        "pkg.cli:2 imports leftpad (cli may not)",
        "pkg.parse:4 imports duckdb.typing (parse may not)",
    ]
