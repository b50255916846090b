"""What each sink keeps in `.git/orchsync/sinks/<name>/`: its cursor, its state, its dead letters.

- `cursor.json`: how far the sink has been delivered, in git's terms (the commits whose
  events it has: `heads` and their ancestors, plus `partial`, the last event taken of a
  commit delivered in part) and in the journal's (bytes read of each file). It is written
  only after the receiver acknowledged a batch, atomically and fsynced, so a crash at any
  point sends some events again and skips none: delivery is at least once, and every event
  carries the `id` a receiver deduplicates by.
- `state.json`: the last success, the last error, counts. Informative only.
- `dead-letter.jsonl`: batches a receiver refused for good (an HTTP 4xx other than 408 or
  429), so one poisoned batch cannot stop the sink; at most `DEAD_LETTER_MAX` bytes, then
  further refused batches are only counted, and status says so.
- `lock`: one delivery of a sink at a time (the daemon and `orchsync sinks flush`).
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchsync.errors import RETRY_COMMAND, storage
from orchsync.repo import FileLock, Repo

__all__ = ["DEAD_LETTER_MAX", "Cursor", "Ledger", "now_iso"]

DEAD_LETTER_MAX = 10 * 2**20


def now_iso() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@dataclass(slots=True)
class Cursor:
    """Delivered: every event of `heads` and their ancestors, of `partial`'s commit up to its
    seq, and of the journal up to the byte offsets in `journal`."""

    heads: list[str] = field(default_factory=list)
    partial: tuple[str, int] | None = None
    journal: dict[str, int] = field(default_factory=dict)
    since: str = ""  # when the sink was first seen

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["partial"] = list(self.partial) if self.partial else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cursor:
        partial = data.get("partial")
        return cls(
            heads=[str(h) for h in data.get("heads") or []],
            partial=(str(partial[0]), int(partial[1])) if partial else None,
            journal={str(k): int(v) for k, v in (data.get("journal") or {}).items()},
            since=str(data.get("since") or ""),
        )


class Ledger:
    """The runtime files of one sink. Names are checked by `settings.NAME` (one segment)."""

    def __init__(self, repo: Repo, name: str) -> None:
        self.repo = repo
        self.name = name
        self.folder = repo.runtime / "sinks" / name

    # --- the cursor -------------------------------------------------------------------------

    def read_cursor(self) -> Cursor | None:
        data = _read_json(self.folder / "cursor.json")
        return Cursor.from_dict(data) if data else None

    def write_cursor(self, cursor: Cursor) -> None:
        """Atomically and durably: on return, a crash cannot bring the old cursor back."""
        self._replace("cursor.json", cursor.to_dict(), durable=True)

    # --- the state --------------------------------------------------------------------------

    def read_state(self) -> dict[str, Any]:
        return _read_json(self.folder / "state.json")

    def update_state(self, **changes: Any) -> dict[str, Any]:
        state = {**self.read_state(), **changes}
        # Informative only: a refused write costs the status line, not the delivery.
        with suppress(OSError):
            self._replace("state.json", state, durable=False)
        return state

    # --- dead letters -----------------------------------------------------------------------

    def dead_letter(self, record: dict[str, Any]) -> bool:
        """Append a refused batch; False when the file is full (the batch is then dropped)."""
        line = (json.dumps(record, default=str, ensure_ascii=False) + "\n").encode()
        path = self.folder / "dead-letter.jsonl"
        with storage(path, root=self.repo.root, retry=RETRY_COMMAND):
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                if os.fstat(fd).st_size + len(line) > DEAD_LETTER_MAX:
                    return False
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return True

    def dead_letter_path(self) -> Path:
        return self.folder / "dead-letter.jsonl"

    # --- the lock ---------------------------------------------------------------------------

    def lock(self, timeout: float) -> FileLock:
        return FileLock(
            self.folder / "lock",
            timeout=timeout,
            what=f"the delivery lock of sink {self.name!r}",
            root=self.repo.root,
        )

    def _replace(self, name: str, data: dict[str, Any], *, durable: bool) -> None:
        path = self.folder / name
        with storage(path, root=self.repo.root, retry=RETRY_COMMAND):
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            try:
                with open(tmp, "w", encoding="utf-8") as fh:
                    json.dump(data, fh, indent=2, default=str)
                    if durable:
                        fh.flush()
                        os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with suppress(OSError):
                    tmp.unlink()
                raise
            if durable:
                fd = os.open(self.folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
