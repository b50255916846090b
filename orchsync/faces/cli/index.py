"""`reindex`, `tasks`, `sprints`, `events`, `query` and `stats`: the read side."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from orchsync.faces.cli.common import (
    complete_sprint,
    emit_json,
    fixed_row,
    format_rows,
    output_options,
    plural,
    render_rows,
    repo_option,
)
from orchsync.query.answers import cached
from orchsync.query.freshness import parse_since
from orchsync.repo import Repo

_STATUSES = ["pending", "in_progress", "completed", "blocked"]


@click.command()
@click.option(
    "--from-files",
    is_flag=True,
    help="Rebuild entity tables from the work tree (fast; keeps events).",
)
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def reindex(repo: Repo, from_files: bool, as_json: bool) -> None:
    """Rebuild the index from git history (and the journal), or from the files."""
    from orchsync.config import load_config
    from orchsync.git.store import GitStore
    from orchsync.repo import repo_lock
    from orchsync.sync.catchup import catch_up, index_from_files

    config = load_config(repo.root)
    store = GitStore(repo, config.target_ref)
    started = time.perf_counter()
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and sys.stdout.isatty() and not as_json:
            bar = click.progressbar(length=total, label="files" if from_files else "commits")
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    with repo_lock(repo):
        if from_files:
            result = index_from_files(repo, store, config, progress=progress)
        else:
            result = catch_up(repo, store, config, full=True, progress=progress)
    if bar is not None:
        bar.__exit__(None, None, None)
    elapsed = time.perf_counter() - started
    summary = {
        "commits": result.commits,
        "files": result.files,
        "events": result.events,
        "tip": result.tip,
        "seconds": round(elapsed, 3),
        "from_files": from_files,
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"indexed {plural(result.files, 'file')}"
            + (
                ""
                if from_files
                else f", {plural(result.commits, 'commit')}, {plural(result.events, 'event')}"
            )
            + f" in {elapsed:.2f} s"
        )


@click.command()
@click.option("--sprint", help="Only tasks of this sprint.", shell_complete=complete_sprint)
@click.option("--status", type=click.Choice(_STATUSES), help="Only tasks with this status.")
@click.option(
    "--priority", type=click.Choice(["P0", "P1", "P2", "P3"]), help="Only tasks of this priority."
)
@click.option("--agent", help="Only tasks assigned to this agent.")
@click.option("--ready", is_flag=True, help="Pending tasks whose dependencies are all completed.")
@click.option("--at", "at", metavar="REV", help="As of a git revision.")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many tasks (0: all).")
@output_options
@repo_option
def tasks(
    repo: Repo,
    sprint: str | None,
    status: str | None,
    priority: str | None,
    agent: str | None,
    ready: bool,
    at: str | None,
    limit: int | None,
    fmt: str,
) -> None:
    """List tasks."""
    params: dict[str, Any] = {
        "sprint": sprint,
        "status": status,
        "priority": priority,
        "agent": agent,
        "ready": ready,
        "limit": limit,
    }

    columns = None if fmt == "json" else ["task", "sprint", "status", "priority", "agent", "title"]

    def compute() -> str:
        from orchsync import query

        with query.reader(repo, at=at) as con:
            rows = query.tasks(con, **params)
        return format_rows(rows, fmt, columns, empty="no tasks", mark_invalid=True)

    # Stored rendered: at 100,000 tasks re-serializing the rows cost more than reading them.
    click.echo(cached(repo, "tasks-text", {**params, "at": at, "fmt": fmt}, compute), nl=False)


@click.command()
@click.option(
    "--status",
    type=click.Choice(["planning", "active", "completed"]),
    help="Only sprints with this status.",
)
@click.option("--at", "at", metavar="REV", help="As of a git revision.")
@output_options
@repo_option
def sprints(repo: Repo, status: str | None, at: str | None, fmt: str) -> None:
    """List sprints with task counts."""

    def compute() -> list[dict]:
        from orchsync import query

        with query.reader(repo, at=at) as con:
            return query.sprints(con, status=status)

    rows = cached(repo, "sprints", {"status": status, "at": at}, compute)
    render_rows(
        rows,
        fmt,
        None
        if fmt == "json"
        else ["sprint", "status", "tasks", "completed", "in_progress", "blocked", "title"],
        empty="no sprints",
        mark_invalid=True,
    )


@click.group(invoke_without_command=True)
@click.option(
    "--type",
    "type_",
    metavar="TYPE",
    help="Event type, with or without `orchestration.` (a trailing * matches a prefix).",
)
@click.option("--entity", help="Only events of this entity (T:x, S:x, a path).")
@click.option("--session", help="Only events of this session.")
@click.option("--since", help="Since a date, a time, or 30m / 2h / 7d.")
@click.option(
    "--limit", type=int, default=100, show_default=True, help="Newest N events (0 = all)."
)
@click.option("--all", "archived", is_flag=True, help="Include archived events.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they arrive.")
@output_options
@repo_option
@click.pass_context
def events(
    ctx: click.Context,
    repo: Repo,
    type_: str | None,
    entity: str | None,
    session: str | None,
    since: str | None,
    limit: int,
    archived: bool,
    follow: bool,
    fmt: str,
) -> None:
    """List events (oldest first), or follow them live."""
    if ctx.invoked_subcommand is not None:
        return
    filters: dict[str, Any] = {
        "type": type_,
        "entity": entity,
        "session": session,
        "archived": archived,
    }
    since = parse_since(since) if since else None

    def compute() -> list[dict]:
        from orchsync import query

        with query.reader(repo) as con:
            return query.events(con, since=since, limit=limit or None, **filters)

    rows = cached(repo, "events", {**filters, "since": since, "limit": limit}, compute)
    if not follow:
        render_rows(_event_rows(rows, fmt), fmt, _EVENT_COLUMNS, empty="no events")
        return
    out = _EventStream(fmt)
    out.write(rows)
    from orchsync import query

    seen = {r["id"] for r in rows}
    last = rows[-1]["emitted_at"] if rows else None
    if last is not None:  # events of that last second left out by --limit are not new
        with query.reader(repo) as con:
            seen.update(r["id"] for r in query.events(con, since=last, limit=None, **filters))
    try:
        while True:
            time.sleep(0.5)
            with query.reader(repo) as con:
                fresh = query.events(con, since=last or since, limit=None, **filters)
            new = [r for r in fresh if r["id"] not in seen]
            if new:
                seen.update(r["id"] for r in new)
                last = new[-1]["emitted_at"]
                out.write(new)
    except KeyboardInterrupt:
        return


# The table of events: these columns, at least these widths (a followed stream keeps the
# widths of its header, so every row lines up under it, however late it comes).
_EVENT_WIDTHS = {
    "id": 19,
    "emitted_at": 19,
    "event_type": 40,
    "entity_type": 11,
    "entity_code": 28,
    "agent": 16,
    "session_key": 20,
    "commit": 12,
}
_EVENT_COLUMNS = list(_EVENT_WIDTHS)


def _event_rows(rows: list[dict], fmt: str) -> list[dict]:
    """Rows as listed: in a table the commit is shortened like git's, a file shows its path."""
    if fmt != "table":
        return rows
    return [
        {
            **r,
            "entity_code": r.get("entity_code") or r.get("path"),
            "commit": (r.get("commit") or "")[:12],
        }
        for r in rows
    ]


class _EventStream:
    """`events --follow`: a table whose rows keep its header's widths, CSV with one header,
    or JSON Lines (one event per line, from the first line on)."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.started = False
        self.widths: list[int] = []

    def write(self, rows: list[dict]) -> None:
        if self.fmt == "json":
            for r in rows:
                click.echo(json.dumps(r, default=str, ensure_ascii=False))
        elif self.fmt == "csv":
            lines = format_rows(rows or [{}], "csv", _EVENT_COLUMNS).splitlines(keepends=True)
            click.echo("".join(lines[1 if self.started else 0 : None if rows else 1]), nl=False)
        else:
            self._table(_event_rows(rows, "table"))
        self.started = True

    def _table(self, rows: list[dict]) -> None:
        if not self.started:
            self.widths = [
                min(60, max(_EVENT_WIDTHS[c], *(len(str(r.get(c) or "")) for r in rows[:200])))
                if rows
                else _EVENT_WIDTHS[c]
                for c in _EVENT_COLUMNS
            ]
            click.echo(fixed_row({c: c for c in _EVENT_COLUMNS}, _EVENT_COLUMNS, self.widths))
            click.echo("  ".join("-" * w for w in self.widths))
        for r in rows:
            click.echo(fixed_row(r, _EVENT_COLUMNS, self.widths))


@events.command("archive")
@click.option(
    "--before", required=True, metavar="DATE", help="Archive events emitted before this date/time."
)
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@click.pass_context
def events_archive(ctx: click.Context, before: str, as_json: bool) -> None:
    """Move events older than DATE to Parquet under .git/orchsync/archive/."""
    from orchsync.faces.cli.common import get_repo
    from orchsync.query import archive

    result = archive(get_repo(ctx.parent.params.get("repo_path") if ctx.parent else None), before)
    if as_json:
        emit_json(result)
    else:
        click.echo(
            f"archived {plural(result['archived'], 'event')}"
            + (f" to {result['file']}" if result["file"] else "")
        )


@click.command()
@click.argument("sql")
@click.option("--at", "at", metavar="REV", help="Query the index as of a git revision.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Stop the query after this long (exit 2).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Print at most N rows (a note on stderr says when rows were left out). Default: all.",
)
@click.option(
    "--memory-limit",
    default="512MB",
    show_default=True,
    metavar="SIZE",
    help="DuckDB memory for the query (exit 2 when it needs more).",
)
@output_options
@repo_option
def query(
    repo: Repo,
    sql: str,
    at: str | None,
    timeout: float,
    limit: int | None,
    memory_limit: str,
    fmt: str,
) -> None:
    """Run read-only SQL over the index (views orchestration_sprints, _tasks, _events).

    The query runs sandboxed: it reads the index and nothing else (no files, URLs or
    extensions), and is stopped past its time, memory or size limit.
    """
    from orchsync.index.worker import Limits, parse_size

    limits = Limits(timeout=timeout, max_rows=limit, memory=parse_size(memory_limit))

    def compute() -> dict:
        from orchsync import query as q

        result = q.run_sql(q.sql_target(repo, at=at), sql, limits)
        return {k: result[k] for k in ("columns", "rows", "truncated")}

    key = {"sql": sql, "at": at, "limit": limit, "memory": limits.memory}
    result = cached(repo, "query", key, compute)
    columns, rows = result["columns"], result["rows"]
    render_rows([dict(zip(columns, r, strict=True)) for r in rows], fmt, columns, empty="(no rows)")
    if result["truncated"]:
        click.echo(f"(stopped at {plural(len(rows), 'row')}: --limit {limit})", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def stats(repo: Repo, as_json: bool) -> None:
    """Counts by status; throughput and cycle time per sprint, from status events."""

    def compute() -> dict:
        from orchsync import query

        with query.reader(repo) as con:
            return query.stats(con)

    result = cached(repo, "stats", {}, compute)
    if as_json:
        emit_json(result)
        return
    click.echo(
        "tasks by status: " + ", ".join(f"{k}={v}" for k, v in result["tasks_by_status"].items())
    )
    click.echo(f"events: {result['events']}")
    render_rows(result["sprints"], "table")
