"""A sprint's dependency graph as boxes in layers, ready to draw as SVG.

No graph library: a task's layer is the length of the longest chain of dependencies (inside
the sprint) below it, so every arrow points to a layer further right. Dependencies on tasks
of other sprints are drawn as dashed boxes in layer 0. A cycle (which `check` reports) is
cut where it closes, so drawing never loops.
"""

from __future__ import annotations

from typing import Any

__all__ = ["layout"]

BOX_W, BOX_H = 200, 44
GAP_X, GAP_Y = 70, 16
PAD = 12
MAX_NODES = 400  # beyond this the page shows the list only


def layout(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """{nodes: [{code, title, status, x, y, external}], edges: [{from, to, path}], width, height}."""
    if len(tasks) > MAX_NODES:
        return {"nodes": [], "edges": [], "width": 0, "height": 0, "too_big": True}
    by_code = {t["code"]: t for t in tasks}
    external = sorted({d for t in tasks for d in t["depends_on"] if d not in by_code})
    layer: dict[str, int] = {d: 0 for d in external}
    visiting: set[str] = set()

    def depth(code: str) -> int:
        if code in layer:
            return layer[code]
        if code in visiting:  # a cycle: cut it here
            return 0
        visiting.add(code)
        deps = by_code[code]["depends_on"] if code in by_code else []
        below = [depth(d) + 1 for d in deps if d in by_code or d in layer]
        visiting.discard(code)
        layer[code] = max(below, default=0)
        return layer[code]

    for task in tasks:
        depth(task["code"])
    columns: dict[int, list[str]] = {}
    for code in [*external, *(task["code"] for task in tasks)]:
        columns.setdefault(layer[code], []).append(code)
    nodes, pos = [], {}
    for col, codes in sorted(columns.items()):
        for row, code in enumerate(codes):
            x, y = PAD + col * (BOX_W + GAP_X), PAD + row * (BOX_H + GAP_Y)
            pos[code] = (x, y)
            t: dict[str, Any] | None = by_code.get(code)
            nodes.append(
                {
                    "code": code,
                    "title": (t or {}).get("title") or code,
                    "status": (t or {}).get("status") or "external",
                    "external": t is None,
                    "depends_on": [d for d in (t or {}).get("depends_on") or []],
                    "x": x,
                    "y": y,
                }
            )
    edges = []
    for task in tasks:
        for dep in task["depends_on"]:
            if dep not in pos:
                continue
            (x1, y1), (x2, y2) = pos[dep], pos[task["code"]]
            sx, sy, ex, ey = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            mid = (sx + ex) / 2
            edges.append(
                {
                    "from": dep,
                    "to": task["code"],
                    "path": f"M{sx:.0f},{sy:.0f} C{mid:.0f},{sy:.0f} {mid:.0f},{ey:.0f} {ex - 4:.0f},{ey:.0f}",
                }
            )
    width = PAD * 2 + (max(columns, default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + max((len(c) for c in columns.values()), default=0) * (BOX_H + GAP_Y) - GAP_Y
    return {
        "nodes": nodes,
        "edges": edges,
        "width": max(width, 0),
        "height": max(height, 0),
        "box": {"w": BOX_W, "h": BOX_H},
        "too_big": False,
    }
