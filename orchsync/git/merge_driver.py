"""Installing the merge driver: the git config and `.gitattributes` lines that make git call
`orchsync merge-file` (the three-way merge of `orchsync.git.merge`) for delegation files.

Idempotent and explicit: `orchsync init --merge-driver` shows what it writes, and a second
run writes nothing.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from orchsync.git.merge import MergeError

__all__ = ["DRIVER_NAME", "driver_config_lines", "install_merge_driver"]

DRIVER_NAME = "orchsync"


def driver_config_lines(program: str = "orchsync") -> tuple[list[tuple[str, str]], list[str]]:
    """What `.git/config` and `.gitattributes` need for git to call this driver.

    `program` is how git should start orchsync (`orchsync`, or `python -m orchsync`).
    """
    config = [
        (f"merge.{DRIVER_NAME}.name", "orchsync: field-level merge of front matter"),
        (f"merge.{DRIVER_NAME}.driver", f"{program} merge-file %O %A %B %P"),
    ]
    attributes = [
        f"delegation/**/*.md merge={DRIVER_NAME}",
        f"delegation/**/*.yml merge={DRIVER_NAME}",
        f"delegation/**/*.yaml merge={DRIVER_NAME}",
    ]
    return config, attributes


def install_merge_driver(
    repo_root: Path, git_dir: Path, dry_run: bool = False, program: str = "orchsync"
) -> list[str]:
    """Write the driver into the repo's git config and `.gitattributes`; returns what it did.

    Idempotent: settings already in place are left alone and not listed, so an empty list
    means the driver was installed already. With `dry_run`, nothing is written and the list
    says what would be.
    """
    config, attributes = driver_config_lines(program)
    verb = "would set" if dry_run else "set"
    done: list[str] = []
    for key, value in config:
        current = subprocess.run(
            ["git", "--git-dir", str(git_dir), "config", "--get", key],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.rstrip("\n")
        if current == value:
            continue
        if not dry_run:
            proc = subprocess.run(
                ["git", "--git-dir", str(git_dir), "config", key, value],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise MergeError(f"git config {key} failed: {proc.stderr.strip()}")
        done.append(f"{verb} {key} = {shlex.quote(value)} in git config")
    gitattributes = Path(repo_root) / ".gitattributes"
    if gitattributes.is_symlink():  # appending would write into whatever it points at
        raise MergeError(
            ".gitattributes is a symbolic link; orchsync does not write through links: "
            "replace it with a regular file"
        )
    existing = gitattributes.read_text("utf-8") if gitattributes.exists() else ""
    have = {" ".join(line.split()) for line in existing.splitlines()}
    missing = [line for line in attributes if line not in have]
    if missing:
        if not dry_run:
            prefix = "\n" if existing and not existing.endswith("\n") else ""
            with gitattributes.open("a", encoding="utf-8", newline="") as fh:
                fh.write(prefix + "".join(f"{line}\n" for line in missing))
        verb_attr = "would append" if dry_run else "appended"
        done.extend(f"{verb_attr} '{line}' to .gitattributes" for line in missing)
    return done
