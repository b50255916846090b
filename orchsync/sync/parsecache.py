"""Parsed versions of files, by (path, blob id, is a link): each version is parsed once.

A sync parses the old and new versions of what it commits, the catch-up the versions its
commits touched; a rebuild parses every version in history, on every core (`prefetch`).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
import zlib
from collections.abc import Iterable, Sequence
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any

from orchsync.git.store import GitStore, open_git
from orchsync.model import ParsedFile
from orchsync.parse import parse_file
from orchsync.parse.parallel import map_chunks

__all__ = [
    "ParseCache",
    "StoredParses",
    "Version",
    "dump_parsed",
    "load_parsed",
    "parser_version",
    "store_key",
]

logger = logging.getLogger(__name__)

Version = tuple[str, str, bool]  # (path, blob id, is a symbolic link)


class ParseCache:
    """Parsed files by (path, blob id, is a link): each version of each file is parsed
    once per run. A link's blob is its link text, parsed as a link, never as the file."""

    def __init__(self, store: GitStore) -> None:
        self.store = store
        self.items: dict[Version, ParsedFile] = {}

    def get(self, path: str, blob: str | None, link: bool = False) -> ParsedFile | None:
        if blob is None:
            return None
        key = (path, blob, link)
        parsed = self.items.get(key)
        if parsed is None:
            parsed = parse_file(path, self.store.blob_bytes(blob), link=link)
            self.items[key] = parsed
        return parsed

    def put(self, path: str, blob: str, parsed: ParsedFile, link: bool = False) -> None:
        self.items[(path, blob, link)] = parsed

    def missing(self, versions: Iterable[tuple[str, str | None, bool]]) -> list[Version]:
        """The (path, blob, link) versions among `versions` not parsed yet, once each."""
        return [
            (path, blob, link)
            for path, blob, link in dict.fromkeys(versions)
            if blob is not None and (path, blob, link) not in self.items
        ]

    def prefetch(self, versions: Sequence[Version]) -> None:
        """Parse these versions now, on every core: workers read the blobs themselves."""
        parsed = map_chunks(partial(_parse_blobs, self.store.git.path), versions, min_items=0)
        self.items.update(zip(versions, parsed, strict=True))


def _parse_blobs(git_dir: str, versions: Sequence[Version]) -> list[ParsedFile]:
    # A repository of its own: this may run in a forked worker, which must not share the
    # parent's libgit2 handles.
    git = open_git(Path(git_dir))
    return [parse_file(path, git[blob].data, link=link) for path, blob, link in versions]  # type: ignore[attr-defined]


# --- kept across runs ----------------------------------------------------------------------

STORE_FILE = "parsed.sqlite"


def parser_version() -> str:
    """A fingerprint of everything a parse depends on: the parser's and the model's source,
    the shipped schemas, the package (its version) and Python. Any change starts a new store."""
    from orchsync.parse.resources import data_dir

    here = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"{sys.version} pickle+zlib".encode())
    sources = sorted((here / "parse").glob("*.py")) + [here / "model.py", here / "__init__.py"]
    sources += sorted(data_dir("schemas").glob("*.json"))
    for path in sources:
        digest.update(path.name.encode() + b"\0")
        with suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def store_key(path: str, blob: str, link: bool) -> str:
    """A parsed version is the same for the same path, bytes (blob id) and kind of entry:
    the path says what a file is (a TASK.md, an ADR), the bytes the rest."""
    return f"{blob}{'l' if link else 'f'}{path}"


class StoredParses:
    """Parsed files kept between rebuilds, so an unchanged version is never parsed twice.

    `.git/orchsync/parsed.sqlite`: key (`store_key`) -> the pickled `ParsedFile`, and the
    parser version that made them (`parser_version`); a store of another version is
    emptied on open. Only rebuilds (`reindex`, `reindex --from-files`) use it: a
    live sync parses a few files and has no use for it, so the store holds at most the
    versions in history and in the work tree. A store that cannot be opened, read or
    written (a read-only runtime folder, a corrupt file) is no store: every version is
    parsed, nothing fails. Worker processes open connections of their own (never across a
    fork), and read and write what they parse themselves, so the rebuilding process does
    no store work beyond unpickling.
    """

    def __init__(self, runtime: Path, *, write: bool = False) -> None:
        self.path = runtime / STORE_FILE
        self.con: Any = None
        self.pending: list[tuple[str, bytes]] = []
        try:
            self.con = self._open(write)
        except Exception as exc:  # sqlite3.Error, OSError: no store, only slower
            logger.debug("parse store %s not used: %s", self.path, exc)
            self.con = None

    def _open(self, write: bool) -> Any:
        import sqlite3

        if not write and not self.path.exists():
            return None
        version = parser_version()
        con = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        try:
            row = con.execute("SELECT value FROM meta WHERE key = 'parser'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                con.close()  # a full disk, a lock, an I/O error: no store this time, and
                raise  # the file stays (deleting it would free space under a full disk)
            row = None
        except sqlite3.DatabaseError:  # not a database: replaced below
            row = None
        if row is not None and row[0] == version:
            con.execute("PRAGMA journal_mode=WAL" if write else "PRAGMA query_only=1")
            if write:
                con.execute("PRAGMA synchronous=OFF")  # a cache: a lost write is a re-parse
            return con
        con.close()
        if not write:
            return None
        # Another parser made it (or nothing, or something else): start a new file, which
        # also gives the old one's space back.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        con = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE parsed (key TEXT PRIMARY KEY, value BLOB)")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('parser', ?)", (version,))
        return con

    @classmethod
    def prepare(cls, runtime: Path) -> None:
        """Make the store current (a new file for another parser) before workers open it."""
        cls(runtime, write=True).close()

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored versions among `keys`, pickled (`load_parsed` reads them)."""
        if self.con is None or not keys:
            return {}
        out: dict[str, bytes] = {}
        try:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                out.update(
                    self.con.execute(
                        f"SELECT key, value FROM parsed WHERE key IN ({marks})", part
                    ).fetchall()
                )
        except Exception as exc:
            logger.debug("parse store %s not read: %s", self.path, exc)
            return {}
        try:
            return {key: zlib.decompress(value) for key, value in out.items()}
        except zlib.error:
            return {}

    def add(self, key: str, value: bytes) -> None:
        """Keep a version, pickled (`dump_parsed`); it is stored compressed (to a third:
        the store of 100,000 tasks is ~150 MB rather than ~400 MB)."""
        if self.con is not None:
            self.pending.append((key, zlib.compress(value, 1)))
            if len(self.pending) >= 5000:
                self.flush()

    def flush(self) -> None:
        items, self.pending = self.pending, []
        if self.con is None or not items:
            return
        try:
            self.con.execute("BEGIN")
            self.con.executemany("INSERT OR REPLACE INTO parsed VALUES (?, ?)", items)
            self.con.execute("COMMIT")
        except Exception as exc:
            logger.debug("parse store %s not written: %s", self.path, exc)
            with suppress(Exception):
                self.con.execute("ROLLBACK")

    def close(self) -> None:
        self.flush()
        con, self.con = self.con, None
        if con is not None:
            with suppress(Exception):
                con.close()


def dump_parsed(parsed: ParsedFile) -> bytes:
    return pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)


def load_parsed(data: bytes) -> ParsedFile:
    return pickle.loads(data)  # type: ignore[no-any-return]
