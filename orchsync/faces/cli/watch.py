"""`orchsync watch` and `orchsync stop`: run the daemon of this clone, or stop it.

Nothing heavy is imported at module level: `orchsync --help` must stay cheap.
"""

from __future__ import annotations

import click

from orchsync.faces.cli.common import repo_option
from orchsync.repo import Repo


@click.command()
@click.option(
    "--detach", is_flag=True, help="Run in the background; print the daemon's pid and return."
)
@click.option("-v", "--verbose", is_flag=True, help="Log every settled batch (debug level).")
@click.option("--poll", is_flag=True, help="Poll the tree instead of using file-system events.")
@click.option(
    "--debounce",
    "debounce_ms",
    type=click.IntRange(min=0),
    metavar="MS",
    help="Quiet time before a change is committed (default: debounce_ms in orchsync.yml, 300).",
)
@click.option(
    "--max-latency",
    "max_latency_ms",
    type=click.IntRange(min=0),
    metavar="MS",
    help="Commit a continuous stream of edits at least this often (default: 2000).",
)
@repo_option
def watch(
    repo: Repo,
    detach: bool,
    verbose: bool,
    poll: bool,
    debounce_ms: int | None,
    max_latency_ms: int | None,
) -> None:
    """Commit and index every settled save under delegation/, until stopped.

    One daemon per clone: a second one exits with status 2. Logs go to
    .git/orchsync/daemon.log (and stderr in the foreground); `orchsync stop` or
    SIGTERM ends it after the current batch.
    """
    if detach:
        from orchsync.watch.control import log_path
        from orchsync.watch.daemon import start_detached

        args = [a for a, on in (("-v", verbose), ("--poll", poll)) if on]
        args += [f"--debounce={debounce_ms}"] if debounce_ms is not None else []
        args += [f"--max-latency={max_latency_ms}"] if max_latency_ms is not None else []
        pid = start_detached(repo, args)
        click.echo(f"orchsync watch started (pid {pid}); log: {log_path(repo)}")
        return
    from orchsync.watch.daemon import run_daemon

    run_daemon(
        repo, poll=poll, debounce_ms=debounce_ms, max_latency_ms=max_latency_ms, verbose=verbose
    )


@click.command()
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for it to exit."
)
@repo_option
def stop(repo: Repo, timeout: float) -> None:
    """Stop this clone's `orchsync watch` (SIGTERM, then wait until it has exited).

    Exits 1 when no daemon is running.
    """
    from orchsync.watch.control import stop_daemon

    pid = stop_daemon(repo, timeout=timeout)
    click.echo(f"stopped orchsync watch (pid {pid})")
