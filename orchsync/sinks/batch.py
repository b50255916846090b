"""A batch of events for one send, and what every sink type provides."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Batch", "Sink"]


@dataclass(slots=True)
class Batch:
    """Events for one send. `delivery` is the same for the same events, also after a crash,
    so a receiver can tell a batch sent again from a new one."""

    sink: str
    events: list[dict[str, Any]]
    resumed: str | None = None  # the first commit's earlier events went in an earlier batch
    delivery: str = ""

    def __post_init__(self) -> None:
        if not self.delivery:
            ids = ",".join(str(e["id"]) for e in self.events)
            self.delivery = hashlib.sha256(f"{self.sink}:{ids}".encode()).hexdigest()[:32]


class Sink(Protocol):
    """A receiver: `send` returns once it acknowledged the batch, or raises `SinkError`
    (`permanent` when sending the same batch again cannot help)."""

    def send(self, batch: Batch) -> None: ...

    def close(self) -> None: ...
