"""What every command shares: `--repo` resolution, `--json`/`--format`, and one row renderer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click

from orchsync.repo import Repo, find_repo

__all__ = [
    "complete_entity",
    "complete_sprint",
    "complete_task",
    "emit_json",
    "fixed_row",
    "format_rows",
    "get_repo",
    "output_options",
    "plural",
    "render_rows",
    "repo_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def repo_option(fn: F) -> F:
    """`--repo PATH` on a subcommand too (`orchsync check --repo x` and `orchsync --repo x check`)."""

    @click.option(
        "--repo",
        "repo_path",
        type=click.Path(file_okay=False),
        default=None,
        help="Repository to work on (default: the git root above the current directory).",
    )
    @wraps(fn)
    def wrapper(*args: Any, repo_path: str | None = None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        chosen = repo_path or (ctx.find_root().obj or {}).get("repo")
        if getattr(ctx, "invoked_subcommand", None):
            # A group on its way to a subcommand (`events archive`): the subcommand resolves
            # the repo itself, so `events archive --help` works outside a repository too.
            return fn(*args, repo=None, **kwargs)
        return fn(*args, repo=find_repo(chosen), **kwargs)

    return wrapper  # type: ignore[return-value]


def get_repo(path: str | None = None) -> Repo:
    ctx = click.get_current_context()
    return find_repo(path or (ctx.find_root().obj or {}).get("repo"))


def output_options(fn: F) -> F:
    """`--json` and `--format table|csv|json` for every listing command."""

    @click.option("--json", "as_json", is_flag=True, help="Output JSON (same as --format json).")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help="Output format.",
    )
    @wraps(fn)
    def wrapper(*args: Any, as_json: bool = False, fmt: str = "table", **kwargs: Any) -> Any:
        return fn(*args, fmt="json" if as_json else fmt, **kwargs)

    return wrapper  # type: ignore[return-value]


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def render_rows(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    columns: Iterable[str] | None = None,
    empty: str = "(none)",
    *,
    mark_invalid: bool = False,
) -> None:
    """Render a list of dicts as a table, CSV or a JSON array: the one renderer of listings."""
    click.echo(format_rows(rows, fmt, columns, empty, mark_invalid=mark_invalid), nl=False)


INVALID_MARK = "!"


def format_rows(
    rows: Sequence[dict[str, Any]],
    fmt: str,
    columns: Iterable[str] | None = None,
    empty: str = "(none)",
    *,
    mark_invalid: bool = False,
) -> str:
    """The text `render_rows` prints (so a cached answer can be stored already rendered).

    `mark_invalid`: in a table, rows whose `valid` is false get a `!` in a first column, and
    a footer says how many and where to read why (CSV and JSON keep `valid` as data).
    """
    bad = sum(1 for r in rows if r.get("valid") is False) if mark_invalid else 0
    if bad and fmt == "table":
        marked = [
            {INVALID_MARK: INVALID_MARK if r.get("valid") is False else "", **r} for r in rows
        ]
        cols = [INVALID_MARK, *(columns if columns is not None else list(rows[0]))]
        files = "file is" if bad == 1 else "files are"
        return format_rows(marked, fmt, cols, empty) + (
            f"{INVALID_MARK} {bad} {files} invalid: the row shows what could be read; "
            "`orchsync check` says what is wrong\n"
        )
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if fmt == "json":
        return json.dumps(list(rows), indent=2, default=str, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
        return buf.getvalue()
    if not rows:
        return empty + "\n"
    cells = [[_cell(row.get(c)) for c in cols] for row in rows]
    widths = [min(60, max(len(c), *(len(r[i]) for r in cells))) for i, c in enumerate(cols)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(_clip(v, w).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in cells
    ]
    return "\n".join(lines) + "\n"


def fixed_row(row: dict[str, Any], columns: Sequence[str], widths: Sequence[int]) -> str:
    """One table line with the given column widths (longer values are clipped with `…`)."""
    cells = [_clip(_cell(row.get(c)), w).ljust(w) for c, w in zip(columns, widths, strict=True)]
    return "  ".join(cells).rstrip()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _clip(value: str, width: int) -> str:
    value = value.replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 file`, `2 files`, `0 errors`."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


# --- shell completion ------------------------------------------------------------------------
# Called by the shell on every <TAB>: codes are read from the tree with a directory listing
# (no DuckDB, no pygit2, no parsing), and any failure completes nothing rather than erring.


def _completion_root(ctx: click.Context) -> Any:
    chosen = ctx.params.get("repo_path") or (ctx.find_root().params or {}).get("repo")
    try:
        return find_repo(chosen).root
    except Exception:
        return None


def _sprints(root: Any) -> list[str]:
    import os

    try:
        return sorted(
            e.name
            for e in os.scandir(root / "delegation" / "sprints")
            if e.is_dir(follow_symlinks=False) and os.path.isfile(os.path.join(e.path, "SPRINT.md"))
        )
    except OSError:
        return []


def complete_task(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Task codes starting with what was typed (`T:` kept when typed)."""
    from orchsync.parse.resolve import task_codes

    root = _completion_root(ctx)
    if root is None:
        return []
    prefix = incomplete[:2] if incomplete[:2] in ("T:", "t:") else ""
    rest = incomplete[len(prefix) :]
    return sorted(prefix + c for c in task_codes(root) if c.startswith(rest))


def complete_sprint(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Sprint codes starting with what was typed (`S:` kept when typed)."""
    root = _completion_root(ctx)
    if root is None:
        return []
    prefix = incomplete[:2] if incomplete[:2] in ("S:", "s:") else ""
    rest = incomplete[len(prefix) :]
    return [prefix + c for c in _sprints(root) if c.startswith(rest)]


def complete_entity(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """`T:<task>` and `S:<sprint>` keys (AGENT INIT's TARGET, `log`'s ENTITY)."""
    if incomplete[:2] in ("S:", "s:"):
        return complete_sprint(ctx, param, incomplete)
    if incomplete[:2] in ("T:", "t:"):
        return complete_task(ctx, param, incomplete)
    if not incomplete:
        return ["S:", "T:"]
    return complete_task(ctx, param, incomplete)  # a bare word is a task code
