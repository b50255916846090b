"""`init`, `sync` and `status`: the write path by hand, and what it is waiting for."""

from __future__ import annotations

import sys
from typing import Any

import click

from orchsync.errors import ExitCode
from orchsync.faces.cli.common import emit_json, plural, repo_option
from orchsync.repo import Repo


@click.command()
@click.option(
    "--merge-driver",
    is_flag=True,
    help="Also install the front-matter merge driver (.git/config + .gitattributes).",
)
@click.option(
    "--agent",
    metavar="NAME",
    help="Also write a default agent profile delegation/agents/NAME.yml.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def init(repo: Repo, merge_driver: bool, agent: str | None, dry_run: bool, as_json: bool) -> None:
    """Set a repository up: runtime folder, default config, first snapshot commit."""
    from orchsync.pm.setup import init as do_init

    bars = _Bars() if sys.stdout.isatty() and not (as_json or dry_run) else None
    try:
        result = do_init(
            repo, merge_driver=merge_driver, dry_run=dry_run, agent=agent, progress=bars
        )
    finally:
        if bars is not None:
            bars.close()
    if as_json:
        emit_json(result)
        return
    for action in result["actions"]:
        click.echo(("would: " if dry_run else "") + action)
    for hint in result["hints"]:
        click.echo(f"hint: {hint}", err=True)


class _Bars:
    """`init` on a terminal: a progress bar over the files of the first snapshot (read,
    parsed and committed), since a big tree takes seconds."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=max(total, 1), label="snapshot")
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.length - self.bar.pos)
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--actor", envvar="ORCHSYNC_ACTOR", help="Who made the change (Orchsync-Agent trailer)."
)
@click.option(
    "--session", envvar="ORCHSYNC_SESSION", help="Session key (Orchsync-Session trailer)."
)
@click.option("--dry-run", is_flag=True, help="Show what would be committed; commit nothing.")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def sync(
    repo: Repo,
    paths: tuple[str, ...],
    actor: str | None,
    session: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Commit changed files under delegation/ (all, or PATHS).

    The next query indexes the commit (the running daemon indexes it at once); with
    nothing to commit it brings the index up to date with git itself.
    Exits 1 when a synced file is invalid (it is committed all the same). When
    `orchsync watch` runs for the repository, the sync is handed to it (same result).
    """
    from orchsync.watch.client import sync_anywhere

    result = sync_anywhere(repo, list(paths) or None, actor=actor, session=session, dry_run=dry_run)
    if as_json:
        emit_json(result.to_dict())
    elif result.blocked:
        click.echo(f"waiting: {result.blocked}", err=True)
    elif not result.files:
        click.echo("nothing to sync")
    else:
        verb = (
            "would commit"
            if dry_run
            else f"committed {result.commit[:12] if result.commit else ''}"
        )
        subject = result.subject or ""
        count = plural(len(result.files), "file")
        if not subject.startswith(f"orchsync: {count}"):  # a batch's subject counts them
            subject += f" ({count})"
        click.echo(f"{verb}: {subject}")
        for parsed in result.invalid:
            for d in parsed.diagnostics:
                click.echo(f"invalid: {d}", err=True)
    if not as_json:
        for skipped in result.skipped:
            click.echo(f"not synced: {skipped}", err=True)
    if result.blocked:
        raise SystemExit(int(ExitCode.FINDINGS))
    if result.invalid or result.skipped:
        raise SystemExit(int(ExitCode.FINDINGS))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def status(repo: Repo, as_json: bool) -> None:
    """Pending changes and why they wait, the last snapshot, the index and the daemon."""
    from orchsync.pm.setup import repo_status
    from orchsync.sinks.report import problems

    info = repo_status(repo)
    info["sinks"] = problems(repo)
    if as_json:
        emit_json(info)
        return
    click.echo(
        f"branch: {info['branch'] or '(detached)'}  snapshots to: {info['target_ref'] or '-'}"
    )
    if info["blocked"]:
        click.echo(f"snapshots wait: {info['blocked']}")
    daemon = info["daemon"]
    if daemon.get("running"):
        line = f"daemon: running (pid {daemon.get('pid')}"
        if daemon.get("uptime_seconds") is not None:
            line += f", up {int(daemon['uptime_seconds'])} s"
        click.echo(line + ")")
        fault = daemon.get("fault")
        if fault:
            click.echo(
                f"fault: {fault['what']} since {str(fault['since']).replace('T', ' ')} UTC; "
                f"retrying every {fault['retry_seconds']:.0f} s; "
                f"{daemon.get('queued_count', 0)} change(s) wait on disk"
            )
            if fault.get("remedy"):
                click.echo(f"  to do: {fault['remedy']}")
        for warning in daemon.get("warnings", []):
            click.echo(f"daemon warning: {warning}")
    else:
        click.echo("daemon: not running")
    last = info["last_snapshot"]
    if last.get("commit"):
        click.echo(f"last snapshot: {last['commit'][:12]} at {last['at']}")
    idx = info["index"]
    state = (
        "current"
        if idx["current"]
        else ("missing" if not idx["exists"] else "behind git (catches up on next query)")
    )
    click.echo(f"index: {state}")
    for problem in info["config_problems"]:
        click.echo(f"config: {problem}")
    for problem in info["sinks"]:
        click.echo(problem)
    pending = info["pending"]
    click.echo(f"pending changes: {len(pending)}")
    for path in pending[:50]:
        click.echo(f"  {path}")
    if len(pending) > 50:
        click.echo(f"  ... and {len(pending) - 50} more")


@click.command("fix-ids")
@click.option("--dry-run", is_flag=True, help="Show the renames; change nothing.")
@click.option(
    "--actor", envvar="ORCHSYNC_ACTOR", help="Who makes the change (Orchsync-Agent trailer)."
)
@click.option(
    "--session", envvar="ORCHSYNC_SESSION", help="Session key (Orchsync-Session trailer)."
)
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def fix_ids(
    repo: Repo, dry_run: bool, actor: str | None, session: str | None, as_json: bool
) -> None:
    """Rename the newer of duplicated task codes, ADR and bug numbers (one commit)."""
    from orchsync.pm.fixids import fix_ids as do_fix

    result = do_fix(repo, dry_run=dry_run, actor=actor, session=session)
    if as_json:
        emit_json(result)
        return
    if not result["renames"]:
        click.echo("no duplicate ids")
    for r in result["renames"]:
        refs = (
            f" (and depends_on in {plural(len(r['references']), 'task')})"
            if r["references"]
            else ""
        )
        click.echo(
            f"{'would rename' if dry_run else 'renamed'} {r['kind']} {r['old']} -> {r['new']}: "
            f"{r['old_path']} -> {r['new_path']}{refs}"
        )
    if result["commit"]:
        click.echo(f"commit {result['commit'][:12]}")
