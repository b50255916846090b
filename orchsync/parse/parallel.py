"""Spread a big batch of per-file work over the machine's cores; small batches stay serial.

Parsing is pure CPU (YAML, schema checks, Markdown) and independent per file, so a rebuild
of 20,000 files parses on every core. The parent forks workers (`fork`: nothing to re-import,
and they inherit the loaded schemas) and does a share of the work itself, so with 2 cores
one worker runs beside it and only that worker's half of the results is pickled back.

Work goes out in chunks. The parent takes chunks from the end of the queue (cancelling
each one's future first, so a chunk is done once) while the workers take them from the
front; whoever is faster does more, which matters on a machine shared with other work.

Below PARALLEL_MIN items, or where `fork` is missing, or with ORCHSYNC_PARSE_WORKERS=1,
the work runs in the caller's process as a plain loop: a sync of a few files pays nothing.
Callers run it before opening DuckDB: its threads must not be copied mid-operation.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

# multiprocessing and concurrent.futures are imported when a batch goes parallel: a write
# command that syncs one file must not pay for them (~10 ms).

__all__ = [
    "PARALLEL_MIN",
    "ChunkStream",
    "goes_parallel",
    "map_chunks",
    "paused_gc",
    "worker_count",
]

T = TypeVar("T")
R = TypeVar("R")

# Measured at 10,000 tasks (2 cores): forking and shipping results back costs ~50 ms plus
# ~15 us a file, parsing ~100 us a file; below a couple of thousand files serial is as fast.
PARALLEL_MIN = 2000
CHUNKS_PER_PROCESS = 8  # small enough to balance, big enough to amortise a round trip


def worker_count() -> int:
    """Worker processes to fork beside the parent: the usable cores, or the processes
    ORCHSYNC_PARSE_WORKERS asks for (the parent included), minus one; 0 means serial."""
    env = os.environ.get("ORCHSYNC_PARSE_WORKERS")
    if env is not None and env.strip().isdigit():
        total = int(env)
    else:
        total = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    if not hasattr(os, "fork"):
        return 0
    return max(0, total - 1)


def goes_parallel(n_items: int) -> bool:
    """Whether `map_chunks` would fork for a batch of this size."""
    return n_items >= max(PARALLEL_MIN, 1) and worker_count() >= 1


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic GC while many long-lived objects are created at once.

    Parsing (or unpickling) 20,000 files creates ~300,000 objects that all survive; the
    collector would promote and rescan them again and again (unpickling took 3x longer,
    parsing 15% longer). Parsing leaves no reference cycles behind, so nothing is lost
    by letting the next regular collection see them once instead.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def map_chunks(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    *,
    min_items: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[R]:
    """`fn(items)`, computed chunk by chunk across processes when the batch is big enough.

    `fn` maps a chunk of items to a list of results; the lists are joined in the order of
    the chunks, so a per-item `fn` gives one result per item, in order. `fn` must be
    picklable (a module-level function or a functools.partial of one), and so must its
    results. `progress(done, total)` counts items as chunks finish. `min_items` defaults
    to PARALLEL_MIN.
    """
    workers = worker_count() if workers is None else workers
    min_items = PARALLEL_MIN if min_items is None else min_items
    if workers < 1 or len(items) < max(min_items, 1):
        with paused_gc():
            serial = fn(items)
        if progress is not None:
            progress(len(items), len(items))
        return serial
    n_chunks = CHUNKS_PER_PROCESS * (workers + 1)
    size = -(-len(items) // n_chunks)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    results: list[list[R] | None] = [None] * len(chunks)
    done = 0

    def finished(i: int, part: list[R]) -> None:
        nonlocal done
        results[i] = part
        done += len(chunks[i])
        if progress is not None:
            progress(done, len(items))

    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork")
    with paused_gc(), ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures: list[Future[list[R]]] = [pool.submit(fn, chunk) for chunk in chunks]
        for i in reversed(range(len(chunks))):
            if not futures[i].cancel():
                break  # a worker has it (and every chunk before it)
            finished(i, fn(chunks[i]))
        for i, future in enumerate(futures):
            if results[i] is None:
                finished(i, future.result())
    out: list[R] = []
    for part in results:
        out.extend(part)  # type: ignore[arg-type]
    return out


class ChunkStream(Generic[T, R]):
    """`fn` over an input too big to hold the results of at once: chunks go to worker
    processes a few at a time, and their results come back in chunk order, one chunk per
    step of the iteration, while the caller consumes them (writes them to DuckDB).

    Workers are forked when the `with` block is entered and not after, so the caller may
    open DuckDB inside it. At most `window` chunks are out at once, which bounds memory.
    While the next chunk is not done, this process takes a chunk no worker has started
    from the back of the window and does it itself, so every core stays busy. Small
    inputs (below `min_items`), or no fork, run here, chunk by chunk.
    """

    def __init__(
        self,
        fn: Callable[[Sequence[T]], list[R]],
        items: Sequence[T],
        *,
        chunk_size: int = 500,
        window: int = 8,
        min_items: int | None = None,
        workers: int | None = None,
    ) -> None:
        self.fn = fn
        self.chunks = [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]
        self.window = max(window, 2)
        count = worker_count() if workers is None else workers
        limit = PARALLEL_MIN if min_items is None else min_items
        self.workers = count if count >= 1 and len(items) >= max(limit, 1) else 0
        self._pool: Any = None
        self._futures: dict[int, Future[list[R]]] = {}
        self._next = 0

    def __enter__(self) -> ChunkStream[T, R]:
        if self.workers:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
            self._fill(0)  # the first submit forks every worker, here
        return self

    def __exit__(self, *exc: object) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            for future in self._futures.values():
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
        self._futures.clear()

    def _fill(self, head: int) -> None:
        while self._next < len(self.chunks) and self._next < head + self.window:
            self._futures[self._next] = self._pool.submit(self.fn, self.chunks[self._next])
            self._next += 1

    def __iter__(self) -> Iterator[list[R]]:
        if self._pool is None:
            for chunk in self.chunks:
                yield self.fn(chunk)
            return
        ready: dict[int, list[R]] = {}
        for i in range(len(self.chunks)):
            while i not in ready:
                future = self._futures[i]
                if future.cancel():  # no worker took it: do it here
                    ready[i] = self.fn(self.chunks[i])
                elif future.done() or not self._steal(i, ready):
                    ready[i] = future.result()
            self._futures.pop(i, None)
            self._fill(i + 1)
            yield ready.pop(i)

    def _steal(self, head: int, ready: dict[int, list[R]]) -> bool:
        """Do a chunk after `head` that no worker has started; False when there is none."""
        for j in sorted(self._futures, reverse=True):
            if j > head and j not in ready and self._futures[j].cancel():
                ready[j] = self.fn(self.chunks[j])
                return True
        return False
