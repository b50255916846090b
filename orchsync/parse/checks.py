"""Rules that span files: unique codes, known dependencies, no cycles, tasks inside sprints.

Pure functions over parsed files, shared by `orchsync check`, the sync engine and the index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from orchsync.model import Diagnostic, Kind, ParsedFile, Task

__all__ = ["cross_file", "find_cycles", "placeholder_warnings"]


def cross_file(files: Iterable[ParsedFile]) -> list[Diagnostic]:
    """Diagnostics that no single file can show on its own."""
    files = list(files)
    out: list[Diagnostic] = []
    by_kind: dict[Kind, list[ParsedFile]] = defaultdict(list)
    for f in files:
        if f.entity is not None:
            by_kind[f.kind].append(f)
    for kind, label in (
        (Kind.TASK, "task code"),
        (Kind.ADR, "ADR number"),
        (Kind.BUG, "bug number"),
        (Kind.SPRINT, "sprint code"),
    ):
        out.extend(_duplicates(by_kind[kind], label))
    tasks = {f.entity.code: f for f in by_kind[Kind.TASK] if f.entity is not None}
    sprints = {f.entity.code for f in by_kind[Kind.SPRINT] if f.entity is not None}
    for code, f in tasks.items():
        task = f.entity
        assert isinstance(task, Task)
        if task.sprint not in sprints:
            out.append(
                Diagnostic(
                    f.path,
                    None,
                    "sprint",
                    f"task is in sprint folder {task.sprint!r}, which has no SPRINT.md",
                )
            )
        for dep in task.depends_on:
            if dep == code:
                out.append(
                    Diagnostic(
                        f.path,
                        f.lines.get("depends_on"),
                        "depends_on",
                        "a task cannot depend on itself",
                    )
                )
            elif dep not in tasks:
                out.append(
                    Diagnostic(
                        f.path,
                        f.lines.get("depends_on"),
                        "depends_on",
                        f"depends on unknown task {dep!r}",
                    )
                )
    graph = {
        code: [d for d in f.entity.depends_on if d in tasks and d != code]  # type: ignore[union-attr]
        for code, f in tasks.items()
    }
    for cycle in find_cycles(graph):
        f = tasks[cycle[0]]
        out.append(
            Diagnostic(
                f.path,
                f.lines.get("depends_on"),
                "depends_on",
                "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
            )
        )
    return out


def _duplicates(files: list[ParsedFile], label: str) -> list[Diagnostic]:
    seen: dict[str, list[str]] = defaultdict(list)
    for f in files:
        assert f.entity is not None
        seen[f.entity.code].append(f.path)
    out = []
    for code, paths in seen.items():
        if len(paths) > 1:
            for p in paths:
                others = ", ".join(q for q in paths if q != p)
                out.append(
                    Diagnostic(p, None, "code", f"duplicate {label} {code!r} (also in {others})")
                )
    return out


def find_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Each dependency cycle once, as a list of nodes starting at its smallest member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    counter = 0
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:  # iterative Tarjan: 10,000-task graphs must not hit the recursion limit
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = graph.get(node, [])
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1:
                    cycles.append(_cycle_path(sorted(component), graph))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return cycles


def _cycle_path(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    """One concrete cycle through a strongly connected component, for a readable message."""
    members = set(component)
    path = [component[0]]
    seen = {component[0]}
    node = component[0]
    while True:
        nxt = next((c for c in graph[node] if c in members), None)
        if nxt is None or nxt == component[0] or nxt in seen:
            return path if nxt == component[0] or nxt is None else path[path.index(nxt) :]
        path.append(nxt)
        seen.add(nxt)
        node = nxt


def placeholder_warnings(root: Path, files: Iterable[ParsedFile]) -> list[Diagnostic]:
    """A warning per template placeholder still unanswered (`parse/placeholders.py`).

    Only files whose body mentions the marker are read again (for their line numbers).
    """
    from orchsync.parse.fsread import read_entry
    from orchsync.parse.placeholders import MARKER, untouched

    out: list[Diagnostic] = []
    for f in files:
        body = getattr(f.entity, "body", "") or ""
        if MARKER not in body.lower():
            continue
        entry = read_entry(root, f.path)
        if entry.kind == "file" and entry.data is not None:
            out += untouched(f.path, entry.data.decode("utf-8", "replace"))
    return out
