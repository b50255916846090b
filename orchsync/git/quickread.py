"""One file as of a revision, read through `git cat-file`: no pygit2 to import.

`orchsync show T:x` reads one blob. Importing pygit2 costs ~45 ms, more than everything
else the command does; one `git cat-file --batch` process, asked three questions (the
commit, the folder's tree, the blob), costs ~5 ms. Where git cannot be run, or the file
is not found where asked, callers fall back to pygit2 (`GitStore`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from orchsync.git.pack import tree_records

__all__ = ["read_at"]


def read_at(root: Path, rev: str, path: str) -> tuple[str, bytes, int] | None:
    """(commit id, bytes, git mode) of the file at `path` in revision `rev`.

    None when git cannot be run here, `rev` is no commit, or `path` holds no file there
    (the caller then asks pygit2, which says which). `rev` and `path` are given to git as
    lines of input, never to a shell, and may hold no line break.
    """
    if "\n" in rev or "\n" in path or "\0" in rev or "\0" in path or not path:
        return None
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        proc = subprocess.Popen(
            [exe, "-C", str(root), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        commit = _ask(proc, f"{rev}^{{commit}}")
        if commit is None or commit[1] != b"commit":
            return None
        folder, _, name = path.rpartition("/")
        tree = _ask(
            proc, f"{commit[0].decode()}:{folder}" if folder else f"{commit[0].decode()}^{{tree}}"
        )
        if tree is None or tree[1] != b"tree":
            return None
        wanted = name.encode("utf-8", "surrogateescape")
        entry = next(((m, oid) for m, n, oid in tree_records(tree[2]) if n == wanted), None)
        if entry is None or entry[0] == b"40000" or entry[0] == b"160000":
            return None
        blob = _ask(proc, entry[1].hex())
        if blob is None or blob[1] != b"blob":
            return None
        return commit[0].decode(), blob[2], int(entry[0], 8)
    except (OSError, ValueError):
        return None
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _ask(proc: subprocess.Popen[bytes], name: str) -> tuple[bytes, bytes, bytes] | None:
    """(object id, type, content) of one object, or None when git says it is missing."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
    proc.stdin.flush()
    header = proc.stdout.readline()
    parts = header.split()
    if len(parts) != 3 or parts[-1] in (b"missing", b"ambiguous"):
        return None
    oid, kind, size = parts
    data = proc.stdout.read(int(size))
    proc.stdout.read(1)  # the newline after the content
    return oid, kind, data
