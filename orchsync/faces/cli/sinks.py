"""`orchsync sinks flush|status`: deliver events once without a daemon, and see each sink."""

from __future__ import annotations

import click

from orchsync.errors import ExitCode
from orchsync.faces.cli.common import emit_json, render_rows, repo_option
from orchsync.repo import Repo


@click.group()
def sinks() -> None:
    """Deliver events to JSON Lines files, webhooks and OpenTelemetry (`sinks:` in orchsync.yml)."""


@sinks.command("flush")
@click.option("--sink", "names", multiple=True, metavar="NAME", help="Only this sink (repeatable).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Stop after this many seconds (what was acknowledged stays delivered).",
)
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def flush(repo: Repo, names: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Deliver every pending event to each sink now, without a daemon; exit 1 if one fails."""
    from orchsync.sinks.engine import flush as deliver

    results = deliver(repo, list(names) or None, timeout=timeout)
    if as_json:
        emit_json(results)
    elif not results:
        click.echo("no sinks configured (see `sinks:` in delegation/orchsync.yml)")
    for r in results if not as_json else []:
        done = "caught up" if r["caught_up"] else "not caught up"
        line = f"{r['sink']}: delivered {r['delivered']} event(s), {done}"
        if r["refused"]:
            line += f"; {r['refused']} refused for good (dead-lettered)"
        click.echo(line)
        if r["error"]:
            named = r["error"].startswith(f"sink {r['sink']}:")
            click.echo(r["error"] if named else f"{r['sink']}: {r['error']}", err=True)
    if any(r["error"] for r in results):
        raise SystemExit(int(ExitCode.FINDINGS))


@sinks.command("status")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@repo_option
def status(repo: Repo, as_json: bool) -> None:
    """Each sink's cursor, lag, backlog, last success and last error; exit 1 if one fails."""
    from orchsync.sinks.report import sink_status

    report = sink_status(repo)
    if as_json:
        emit_json(report)
    else:
        rows = [
            {
                "sink": r["name"],
                "type": r["type"],
                "state": r["state"],
                "lag": "-"
                if r["lag_events"] is None
                else f"{r['lag_events']} ev, {r['lag_seconds']:.0f} s",
                "delivered": r["delivered"],
                "dead letters": r["backlog"]["dead_letter_events"] + r["backlog"]["dropped_events"],
                "last success": r["last_success"] or "-",
                "target": r["target"],
            }
            for r in report["sinks"]
        ]
        render_rows(
            rows, "table", empty="no sinks configured (see `sinks:` in delegation/orchsync.yml)"
        )
        for r in report["sinks"]:
            if r["last_error"]:
                click.echo(f"{r['name']}: {r['last_error']['message']}")
            if r["backlog"]["dropped_events"]:
                click.echo(
                    f"{r['name']}: dead-letter file full ({r['backlog']['dead_letter']}); "
                    f"{r['backlog']['dropped_events']} refused event(s) dropped"
                )
            if r["state"] == "behind":
                click.echo(
                    f"{r['name']}: {r['lag_events']} events behind, more than max_backlog "
                    f"({r['max_backlog']})"
                )
        for problem in report["problems"]:
            click.echo(f"config: {problem}", err=True)
    if report["problems"] or any(r["state"] in ("failing", "behind") for r in report["sinks"]):
        raise SystemExit(int(ExitCode.FINDINGS))
