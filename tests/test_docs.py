"""Docs that cannot rot: every command has help text and a README entry."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from orchsync.faces.cli import COMMANDS, cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _all_commands() -> list[tuple[str, ...]]:
    """Every command path: top-level commands and the subcommands of groups."""
    paths: list[tuple[str, ...]] = []
    ctx = click.Context(cli)
    for name in sorted(COMMANDS):
        command = cli.get_command(ctx, name)
        assert command is not None, name
        paths.append((name,))
        if isinstance(command, click.Group):
            paths += [(name, sub) for sub in sorted(command.list_commands(ctx))]
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=" ".join)
def test_every_command_has_help_text(
    path: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # help must work anywhere, not only inside a repository
    result = CliRunner().invoke(cli, [*path, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    summary = result.output.split("\n\n")[1].strip()
    assert summary and not summary.startswith("Options"), (
        f"`orchsync {' '.join(path)}` has no help text"
    )


@pytest.mark.parametrize("path", _all_commands(), ids=" ".join)
def test_every_command_is_in_the_readme(path: tuple[str, ...]) -> None:
    assert f"orchsync {' '.join(path)}" in README, (
        f"README.md never shows `orchsync {' '.join(path)}`"
    )


def test_the_top_level_help_lists_every_command_without_importing_them() -> None:
    result = CliRunner().invoke(cli, ["--help"], catch_exceptions=False)
    for name, (_target, summary) in COMMANDS.items():
        assert name in result.output
        assert summary.split()[0] in result.output


def _commands() -> list[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(cli)
    out = []
    for path in _all_commands():
        command: click.Command | None = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.get_command(ctx, name)
        assert command is not None
        out.append((path, command))
    return out


@pytest.mark.parametrize(
    ("path", "command"), _commands(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_option_has_help_text(path: tuple[str, ...], command: click.Command) -> None:
    missing = [
        "/".join(p.opts)
        for p in command.params
        if isinstance(p, click.Option) and not (p.help or "").strip() and not p.hidden
    ]
    assert not missing, f"`orchsync {' '.join(path)}`: options without help: {', '.join(missing)}"


def test_shell_completion_is_documented() -> None:
    for shell in ("bash", "zsh", "fish"):
        assert f"orchsync completion {shell}" in README
