"""`log`, `show`, `rollback` and `replay`: an entity's versions in git."""

from __future__ import annotations

import json

import click

from orchsync.faces.cli.common import (
    complete_entity,
    emit_json,
    output_options,
    render_rows,
    repo_option,
)
from orchsync.repo import Repo


@click.command()
@click.argument("entity", shell_complete=complete_entity)
@click.option("--session", help="Only versions made in this session.")
@click.option(
    "--since", metavar="REV|HASH", help="Only versions after this revision or content hash."
)
@click.option("--reverse", is_flag=True, help="Oldest first (default: newest first, like git).")
@output_options
@repo_option
def log(
    repo: Repo, entity: str, session: str | None, since: str | None, reverse: bool, fmt: str
) -> None:
    """History of one entity (T:x, S:x, ADR:6, a path): commit, time, agent, events, hash.

    Newest first, like `git log`. A commit or a content hash shown here can be given to
    `show`, `rollback` and `replay` by any unique prefix of 4 or more hex digits.
    """
    from orchsync.pm.timeline import entity_versions

    versions = entity_versions(repo, entity, session=session, since=since)
    if not reverse:
        versions.reverse()
    rows = [
        {
            "commit": v.commit[:12],
            "time": v.emitted_at,
            "agent": v.agent,
            "session": v.session,
            "events": ", ".join(e["event_type"].removeprefix("orchestration.") for e in v.events),
            "hash": (v.hash or "")[:16],
        }
        for v in versions
    ]
    if fmt == "json":
        emit_json([v.to_dict() for v in versions])
    else:
        render_rows(rows, fmt, empty=f"no history for {entity}")


@click.command()
@click.argument("entity", required=False, shell_complete=complete_entity)
@click.option("--at", "at", metavar="REV", help="The version at this revision (default HEAD).")
@click.option(
    "--hash",
    "content",
    metavar="SHA256",
    help="The version with this content hash (or a unique prefix of 4+ hex digits).",
)
@click.option("--json", "as_json", is_flag=True, help="Output the parsed entity as JSON.")
@repo_option
def show(
    repo: Repo, entity: str | None, at: str | None, content: str | None, as_json: bool
) -> None:
    """Print an entity's file as of a revision or a content hash."""
    from orchsync.pm.timeline import show as do_show

    info = do_show(repo, entity, at=at, hash=content, parse=as_json)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"# {info['path']} @ {info['commit'][:12]} sha256:{info['hash']}", err=True)
        click.echo(info["text"], nl=False)


@click.command()
@click.argument("entity", shell_complete=complete_entity)
@click.option(
    "--to", "to", required=True, metavar="REV|HASH", help="Revision or content hash to restore."
)
@click.option("--force", is_flag=True, help="Discard edits that are not synced yet.")
@click.option(
    "--actor", envvar="ORCHSYNC_ACTOR", help="Who makes the change (Orchsync-Agent trailer)."
)
@click.option(
    "--session", envvar="ORCHSYNC_SESSION", help="Session key (Orchsync-Session trailer)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@repo_option
def rollback(
    repo: Repo,
    entity: str,
    to: str,
    force: bool,
    actor: str | None,
    session: str | None,
    as_json: bool,
) -> None:
    """Write an earlier version's exact bytes back, as a new commit.

    --to takes a revision (HEAD~2, a branch) or any unique prefix (4+ hex digits) of a commit
    id or of a content hash from `orchsync log`; an ambiguous prefix lists the candidates.
    """
    from orchsync.pm.timeline import rollback as do_rollback

    result = do_rollback(repo, entity, to, force=force, actor=actor, session=session)
    if as_json:
        emit_json(result)
    elif not result["changed"]:
        click.echo(f"{result['path']} already has those bytes; nothing to do")
    else:
        click.echo(
            f"rolled back {result['path']} to {to} (sha256:{result['hash'][:16]}), commit {result['commit'][:12]}"
        )


@click.command()
@click.argument("entity", shell_complete=complete_entity)
@click.option(
    "--since", metavar="REV|HASH", help="Only versions after this revision or content hash."
)
@click.option("--session", help="Only what this agent session did.")
@click.option("--json", "as_json", is_flag=True, help="Output the versions as JSON.")
@repo_option
def replay(repo: Repo, entity: str, since: str | None, session: str | None, as_json: bool) -> None:
    """The sequence of versions and events of an entity: the basis for replaying work."""
    from orchsync.pm.timeline import entity_versions

    versions = entity_versions(repo, entity, session=session, since=since)
    if as_json:
        emit_json([v.to_dict() for v in versions])
        return
    if not versions:
        click.echo(f"no history for {entity}")
    for n, v in enumerate(versions, 1):
        who = " ".join(
            x
            for x in (
                f"agent={v.agent}" if v.agent else "",
                f"session={v.session}" if v.session else "",
            )
            if x
        )
        click.echo(
            f"{n}. {v.emitted_at} {v.commit[:12]} sha256:{(v.hash or '')[:16]} {who}".rstrip()
        )
        for e in v.events:
            payload = {
                k: val
                for k, val in (e["payload"] or {}).items()
                if k not in ("path", "hash", "size")
            }
            click.echo(
                f"   {e['event_type'].removeprefix('orchestration.')}"
                + (f" {json.dumps(payload, default=str, ensure_ascii=False)}" if payload else "")
            )
