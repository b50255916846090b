"""Many new git objects at once, written as one pack file instead of one file each.

A first snapshot of 10,000 tasks writes ~20,000 blobs and ~10,000 trees. As loose objects
(what `git add` and libgit2's `create_blob` write) that is 30,000 files created, each
compressed and named by its hash: most of `git add -A && git commit`'s ~2.4 s here. One
pack holds them all in a single file, the way `git fast-import` and a fetch store objects:
the objects are compressed one after another into `pack-<sha>.pack`, and the
`pack-<sha>.idx` beside it says where each one starts (git's pack format v2 and index
format v2, `gitformat-pack`). git and libgit2 read it like any other pack; `git gc` may
repack it later as it likes.

The pack is written under a temporary name and renamed into place, the index last: a
reader finds a pack only through its index, so a pack cut short by a crash or a full disk
is never seen (its temporary files are removed).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import zlib
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

__all__ = [
    "BLOB",
    "COMMIT",
    "TREE",
    "object_id",
    "record",
    "tree_data",
    "tree_records",
    "write_pack",
]

COMMIT, TREE, BLOB = 1, 2, 3
_NAMES = {COMMIT: b"commit", TREE: b"tree", BLOB: b"blob"}
LEVEL = 1  # zlib level: the fastest; text compresses well anyway, and `git gc` may redo it


def object_id(kind: int, data: bytes) -> bytes:
    """The raw (20-byte) id git gives an object of this kind and content."""
    h = hashlib.sha1(b"%s %d\x00" % (_NAMES[kind], len(data)))
    h.update(data)
    return h.digest()


def tree_data(entries: Iterable[tuple[bytes, int, bytes]]) -> bytes:
    """A tree object's content from (name, mode, raw id) entries, in git's order.

    git sorts a tree's entries by name, comparing a folder's name as if it ended in "/".
    """
    keyed = sorted(
        ((name + b"/" if mode == 0o40000 else name), name, mode, oid) for name, mode, oid in entries
    )
    return b"".join(b"%o %s\x00%s" % (mode, name, oid) for _, name, mode, oid in keyed)


_TREE_RECORD = re.compile(rb"([0-7]+) ([^\0]*)\0(.{20})", re.DOTALL)


def tree_records(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """(mode, name, raw id) of each record of a tree object's content, in its order."""
    return _TREE_RECORD.findall(data)


def _header(kind: int, size: int) -> bytes:
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def record(kind: int, data: bytes) -> bytes:
    """An object as it is stored in a pack: its header, then its content compressed.

    Compressing is most of a pack's cost, and independent per object: worker processes
    that read files anyway (a first snapshot) compress them there.
    """
    return _header(kind, len(data)) + zlib.compress(data, LEVEL)


def write_pack(objects_dir: Path, objects: Iterable[tuple[bytes, bytes]]) -> int:
    """Write objects, given as (raw id, `record(kind, data)`), as one pack in
    `objects_dir/pack`; returns how many it holds. An id given twice is written once;
    nothing is written for none.

    Storage errors (a full disk, a read-only folder) are raised as the OSError they are,
    after the temporary files are removed.
    """
    pack_dir = objects_dir / "pack"
    pack_dir.mkdir(parents=True, exist_ok=True)
    tmp_pack = pack_dir / f"tmp_pack_orchsync_{os.getpid()}"
    tmp_idx = pack_dir / f"tmp_idx_orchsync_{os.getpid()}"
    try:
        entries = _write_pack_file(tmp_pack, objects)
        if entries is None:
            return 0
        ids, pack_sum = entries
        name = pack_sum.hex()
        _write_index(tmp_idx, ids, pack_sum)
        os.replace(tmp_pack, pack_dir / f"pack-{name}.pack")
        os.replace(tmp_idx, pack_dir / f"pack-{name}.idx")  # the pack is seen from now on
        return len(ids)
    finally:
        for tmp in (tmp_pack, tmp_idx):
            with suppress(OSError):
                tmp.unlink()


def _write_pack_file(
    path: Path, objects: Iterable[tuple[bytes, bytes]]
) -> tuple[list[tuple[bytes, int, int]], bytes] | None:
    """Write the pack; returns [(raw id, crc32, offset)] and the pack's checksum."""
    unique = dict(reversed(list(objects)))  # the first record of each id
    if not unique:
        return None
    ids: list[tuple[bytes, int, int]] = []
    digest = hashlib.sha1()
    crc32, update = zlib.crc32, digest.update
    with open(path, "wb") as fh:
        head = b"PACK" + struct.pack(">II", 2, len(unique))
        fh.write(head)
        update(head)
        offset = len(head)
        for oid, rec in unique.items():
            fh.write(rec)
            update(rec)
            ids.append((oid, crc32(rec), offset))
            offset += len(rec)
        pack_sum = digest.digest()
        fh.write(pack_sum)
    return ids, pack_sum


def _write_index(path: Path, ids: list[tuple[bytes, int, int]], pack_sum: bytes) -> None:
    ids.sort()
    fanout = [0] * 256
    for oid, _, _ in ids:
        fanout[oid[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    small: list[int] = []
    large: list[int] = []
    for _, _, offset in ids:
        if offset < 0x80000000:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
    parts = [
        b"\xfftOc\x00\x00\x00\x02",
        struct.pack(">256I", *fanout),
        b"".join(oid for oid, _, _ in ids),
        struct.pack(f">{len(ids)}I", *(crc for _, crc, _ in ids)),
        struct.pack(f">{len(ids)}I", *small),
        struct.pack(f">{len(large)}Q", *large),
        pack_sum,
    ]
    body = b"".join(parts)
    with open(path, "wb") as fh:
        fh.write(body)
        fh.write(hashlib.sha1(body).digest())
