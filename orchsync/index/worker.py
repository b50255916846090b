"""User SQL runs in a child process: the only bound on time and memory that always holds.

DuckDB's own limits do not cover every query. `SELECT range(100000000)::varchar` builds one
value of ~1 GB outside the buffer manager (so `memory_limit` does not see it) inside one
function call (so `interrupt()` is not looked at for half a minute): measured on DuckDB
2.0.1, 8 GB RSS and 68 s before an interrupt took. So a query runs in a short-lived child:

- the child caps its own data segment (RLIMIT_DATA: twice the DuckDB memory limit plus
  256 MiB; DuckDB turns a refused allocation into an Out of Memory error), may write no
  file (RLIMIT_FSIZE 0), dumps no core, and interrupts its query when the time limit
  passes (most queries stop there, with a clear error);
- the parent kills it a few seconds later if it has not answered, and at once when the
  caller cancels (an MCP `notifications/cancelled`), so a long query never outlives its
  caller, and the caller's memory is never the query's.

A child costs ~60 ms (start, `import _duckdb`, attach); a query result crosses back as JSON.
The protocol: the parent writes one JSON request to stdin; the child writes `ready` on a line
of its own once the index is attached (the time limit starts then: waiting for a writer to
finish is not the query's time), then one JSON response.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchsync.errors import LockTimeout, OrchsyncError, QueryLimit, UsageError

__all__ = ["Limits", "main", "parse_size", "run"]

GRACE = 3.0  # seconds past the time limit before an unresponsive child is killed
OPEN_WAIT = 15.0  # how long the child waits for a writer to release the index
START_WAIT = 30.0  # start-up (python, duckdb import) allowance on a loaded machine
_READY = b"ready\n"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one query. `max_rows`/`max_bytes` None = no bound of that kind.

    Past `max_rows` the result is cut and says so (`truncated`); past `max_bytes` it is cut
    too, or refused with a QueryLimit error when `bytes_error` (the CLI: a cut it did not
    ask for would look like a complete answer).
    """

    timeout: float = 10.0
    max_rows: int | None = None
    max_bytes: int | None = 64 << 20
    bytes_error: bool = True
    memory: int = 512 << 20
    threads: int = 2

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise UsageError("the time limit must be more than 0 seconds")
        if self.max_rows is not None and self.max_rows < 0:
            raise UsageError("the row limit must be 0 or more")
        if self.memory < 16 << 20:
            raise UsageError("the memory limit must be at least 16MB")


def parse_size(text: str) -> int:
    """`512MB`, `1GB`, `2GiB`, `300m` -> bytes (decimal and binary units both 1024-based:
    a memory limit is a rough bound, not an accounting figure)."""
    import re

    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", text, re.IGNORECASE)
    if not match:
        raise UsageError(f"{text!r} is not a size: use a number with MB or GB, e.g. 512MB")
    number, unit = float(match.group(1)), match.group(2).lower().rstrip("b").rstrip("i")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
    return int(number * scale)


# --- the parent side -------------------------------------------------------------------------


def run(
    index_path: Path,
    archive_files: Sequence[Path],
    sql: str,
    limits: Limits,
    *,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Run `sql` in a sandboxed child; {"columns", "rows", "truncated", "ms"} or an error.

    Raises UsageError (SQL errors, writes refused), QueryLimit (time, memory, size, or
    cancelled through `cancel`), LockTimeout (a writer held the index too long).
    """
    import subprocess  # the parent's modules: the child, which imports this file, needs none

    request = {
        "index": str(index_path),
        "archive": [str(p) for p in archive_files],
        "sql": sql,
        "limits": asdict(limits),
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", _BOOTSTRAP, str(Path(__file__).resolve().parents[2])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
    )
    try:
        out, err, ready_at = _exchange(proc, json.dumps(request).encode(), limits, cancel)
    finally:
        if proc.poll() is None:
            proc.kill()  # answered or not, the child has nothing left to do
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    try:
        response = json.loads(out.decode("utf-8")) if out.strip() else None
    except ValueError:
        response = None
    if not isinstance(response, dict):
        raise _died(proc.returncode, err, limits, ready_at)
    if not response.get("ok"):
        raise _ERRORS.get(response.get("error", ""), UsageError)(response.get("message", "?"))
    response["ms"] = round((time.monotonic() - started) * 1000, 1)
    return response


_BOOTSTRAP = (
    "import sys; sys.path.append(sys.argv[1]); from orchsync.index.worker import main; main()"
)
_ERRORS: dict[str, type[OrchsyncError]] = {
    "QueryLimit": QueryLimit,
    "LockTimeout": LockTimeout,
    "UsageError": UsageError,
    "OrchsyncError": OrchsyncError,
}


def _exchange(
    proc: Any,
    request: bytes,
    limits: Limits,
    cancel: threading.Event | None,
) -> tuple[bytes, bytes, float | None]:
    """Send the request, collect stdout/stderr; kill the child on a deadline or a cancel."""
    import selectors

    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(request)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the child died at once: its stderr says why
    out, err = bytearray(), bytearray()
    ready_at: float | None = None
    deadline = time.monotonic() + START_WAIT + OPEN_WAIT
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            if cancel is not None and cancel.is_set():
                proc.kill()
                raise QueryLimit("the query was cancelled")
            if time.monotonic() >= deadline:
                proc.kill()
                if ready_at is None:
                    raise LockTimeout("the query could not open the index (a writer held it)")
                raise QueryLimit(_too_long(limits))
            for key, _ in sel.select(timeout=0.05):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf: bytearray = key.data
                buf += chunk
                if len(out) + len(err) > (limits.max_bytes or 1 << 40) * 2 + (16 << 20):
                    proc.kill()  # the child's own bound failed: never buffer without one
                    raise QueryLimit("the result passed its size limit")
                if ready_at is None and out.startswith(_READY):
                    ready_at = time.monotonic()
                    deadline = ready_at + limits.timeout + GRACE
    return bytes(out[len(_READY) :] if ready_at else out), bytes(err), ready_at


def _too_long(limits: Limits) -> str:
    return f"the query ran past its time limit of {limits.timeout:g} s and was stopped"


def _died(code: int | None, err: bytes, limits: Limits, ready_at: float | None) -> OrchsyncError:
    """The child ended without an answer: say what most likely ended it."""
    tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    if code == -signal.SIGXCPU:  # its CPU time limit: the time limit, in CPU seconds
        return QueryLimit(_too_long(limits))
    if (
        "MemoryError" in tail[0]
        or "bad_alloc" in tail[0]
        or code in (-signal.SIGABRT, -signal.SIGKILL)
    ):
        return QueryLimit(_memory_message(limits))  # a failed allocation, or the OOM killer
    return OrchsyncError(f"the query process ended without an answer (exit {code}): {tail[0]}")


def _memory_message(limits: Limits) -> str:
    return f"the query needed more than its memory limit of {limits.memory >> 20} MB"


# --- the child side --------------------------------------------------------------------------


def main() -> None:
    """The child: read a request on stdin, answer on stdout (see the module's docstring)."""
    request = json.loads(sys.stdin.buffer.read())
    limits = Limits(**request["limits"])
    answer = _private_stdout()
    _bound_process(limits)
    response: dict[str, Any]
    fired = threading.Event()
    try:
        response = _answer(request, limits, fired, answer)
    except QueryLimit as exc:
        message = str(exc)
        if fired.is_set():
            message = _too_long(limits)
        elif "memory" in message:
            message = f"{_memory_message(limits)} ({message.split(': ', 1)[-1]})"
        response = {"ok": False, "error": "QueryLimit", "message": message}
    except OrchsyncError as exc:
        response = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
    except MemoryError:
        response = {"ok": False, "error": "QueryLimit", "message": _memory_message(limits)}
    except Exception as exc:  # a corrupt index, an engine failure: one line, not a traceback
        message = f"the query could not run: {type(exc).__name__}: {exc}"
        response = {"ok": False, "error": "OrchsyncError", "message": message}
    try:
        text = json.dumps(response, default=str, ensure_ascii=False)
    except MemoryError:
        text = json.dumps({"ok": False, "error": "QueryLimit", "message": _memory_message(limits)})
    answer.write(text.encode("utf-8"))
    answer.flush()
    os._exit(0)  # nothing to flush or close: the index is attached read-only


def _private_stdout() -> Any:
    """The answer's own descriptor; fd 1 then points at stderr, so nothing DuckDB prints
    (a progress bar, a warning) can land inside the answer."""
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return answer


def _answer(
    request: dict[str, Any], limits: Limits, fired: threading.Event, answer: Any
) -> dict[str, Any]:
    from orchsync.index.sandbox import check_read_only, fetch_bounded, open_sandbox

    con = open_sandbox(
        Path(request["index"]),
        [Path(p) for p in request["archive"]],
        memory_limit=f"{limits.memory >> 20}MiB",
        threads=limits.threads,
        lock_wait=OPEN_WAIT,
    )
    answer.write(_READY)
    answer.flush()

    def stop() -> None:
        fired.set()
        con.interrupt()

    timer = threading.Timer(limits.timeout, stop)
    timer.daemon = True
    timer.start()
    try:
        sql = check_read_only(con, request["sql"])
        if sql is None:
            return {"ok": True, "columns": [], "rows": [], "truncated": None}
        fetched = fetch_bounded(
            con,
            sql,
            max_rows=limits.max_rows,
            max_bytes=limits.max_bytes,
            bytes_error=limits.bytes_error,
        )
    finally:
        timer.cancel()
    if fired.is_set():  # the interrupt landed between two fetches: still over time
        raise QueryLimit(_too_long(limits))
    return {
        "ok": True,
        "columns": fetched.columns,
        "rows": fetched.rows,
        "truncated": fetched.truncated,
    }


def _bound_process(limits: Limits) -> None:
    """OS limits of the child: memory, CPU time, no file writes, no core dumps."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not a POSIX system
        return

    def cap(which: int, soft: int) -> None:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        # a platform without this limit: the parent's deadline still holds
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (soft, hard))

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write fails; it does not kill
    cap(resource.RLIMIT_FSIZE, 0)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_DATA, 2 * limits.memory + (256 << 20))
    cap(resource.RLIMIT_CPU, int(limits.timeout * max(1, limits.threads)) + 30)


if __name__ == "__main__":  # pragma: no cover - started by run() through _BOOTSTRAP
    main()
