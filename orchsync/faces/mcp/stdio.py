"""The stdio transport of `orchsync mcp`: JSON-RPC lines in and out, hostile ones answered.

The MCP SDK's `stdio_server` (mcp 2.3.0) reads lines of any length and hands a line that
fails to parse to the session as an exception, which the server drops: a client that sent
garbage waits forever for an answer. JSON-RPC 2.0 wants one, so this transport gives it:

- a line that is not JSON (or not UTF-8)         -> error -32700 "Parse error", id null;
- JSON that is not a JSON-RPC message            -> error -32600 "Invalid Request", with the
  request's id when it has a usable one (else null); a batch (array) is not supported;
- a line longer than MAX_LINE_BYTES (1 MiB)      -> error -32600; the line is read and
  dropped in pieces, never held whole. Its id is taken from the line's first 4 KiB when the
  object opens with scalar members up to `"id"` (as every SDK writes it), else null.

and keeps serving after each. Like the SDK's transport, it moves fd 0 to the null device and
fd 1 to stderr while it serves, so a child process or a stray print cannot touch the wire.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.shared.message import SessionMessage

__all__ = ["MAX_LINE_BYTES", "guarded_stdio", "leading_id", "parse_line"]

MAX_LINE_BYTES = 1 << 20
_HEAD = 4096  # bytes of an over-long line kept to find its id


class _TooLong:
    """An over-long line: only its head is kept."""

    def __init__(self, head: bytes) -> None:
        self.head = head


def parse_line(line: bytes) -> SessionMessage | types.JSONRPCError | None:
    """One received line as a message for the server, or the error to answer it with
    (None: a blank line, ignored)."""
    if not line.strip():
        return None
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except Exception:
        pass
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _error(None, types.PARSE_ERROR, "Parse error: the line is not JSON")
    request_id = data.get("id") if isinstance(data, dict) else None
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        request_id = None
    what = "a batch (array) of messages is not supported" if isinstance(data, list) else None
    return _error(
        request_id,
        types.INVALID_REQUEST,
        "Invalid Request: " + (what or "not a JSON-RPC 2.0 request, notification or response"),
    )


def _error(request_id: int | str | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message)
    )


def leading_id(head: bytes) -> int | str | None:
    """The id of a JSON object whose text is cut short, if its top-level members up to `"id"`
    are all scalars (so `"id"` cannot belong to a nested object); else None."""
    decoder = json.JSONDecoder()
    text = head.decode("utf-8", "ignore")
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "{":
        return None
    pos += 1
    try:
        while True:
            key, pos = decoder.raw_decode(text, _skip(text, pos))
            pos = _skip(text, pos)
            if not isinstance(key, str) or text[pos : pos + 1] != ":":
                return None
            value, pos = decoder.raw_decode(text, _skip(text, pos + 1))
            if key == "id":
                ok = isinstance(value, int | str) and not isinstance(value, bool)
                return value if ok else None
            if isinstance(value, dict | list):
                return None
            pos = _skip(text, pos)
            if text[pos : pos + 1] != ",":
                return None
            pos += 1
    except ValueError:
        return None


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _read_line(stream: BinaryIO, limit: int) -> bytes | _TooLong | None:
    """The next line (None at EOF); a _TooLong for a line past `limit`, read to its end."""
    line = stream.readline(limit + 1)
    if not line:
        return None
    if len(line.rstrip(b"\r\n")) <= limit:
        return line
    head = line[:_HEAD]
    while not line.endswith(b"\n"):
        line = stream.readline(1 << 16)
        if not line:
            break
    return _TooLong(head)


def _claim() -> tuple[BinaryIO, BinaryIO, Callable[[], None]]:
    """The wire on private descriptors; fd 0 -> /dev/null and fd 1 -> stderr meanwhile."""
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)

    def restore() -> None:
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)

    # closefd=False: a reader thread may still block on the descriptor at exit
    return os.fdopen(wire_in, "rb", closefd=False), os.fdopen(wire_out, "wb"), restore


@asynccontextmanager
async def guarded_stdio(
    max_line: int = MAX_LINE_BYTES,
) -> AsyncIterator[tuple[Any, Any]]:
    """(read stream, write stream) for `Server.run`, over this process's stdin/stdout."""
    stdin, stdout, restore = _claim()
    to_server, server_reads = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    server_writes, to_wire = anyio.create_memory_object_stream[SessionMessage](0)
    answers = server_writes.clone()  # the reader's own sender of error replies

    async def read_loop() -> None:
        async with to_server, answers:
            while True:
                line = await anyio.to_thread.run_sync(
                    _read_line, stdin, max_line, abandon_on_cancel=True
                )
                if line is None:
                    return
                if isinstance(line, _TooLong):
                    reply: Any = _error(
                        leading_id(line.head),
                        types.INVALID_REQUEST,
                        f"Invalid Request: the message is longer than {max_line} bytes, "
                        "the limit of one request",
                    )
                else:
                    reply = parse_line(line)
                if isinstance(reply, SessionMessage):
                    await to_server.send(reply)
                elif reply is not None:
                    await answers.send(SessionMessage(reply))

    async def write_loop() -> None:
        async with to_wire:
            async for item in to_wire:
                data = item.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n"
                await anyio.to_thread.run_sync(_write, stdout, data.encode("utf-8"))

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_loop)
            tg.start_soon(write_loop)
            try:
                yield server_reads, server_writes
            finally:
                tg.cancel_scope.cancel()
    finally:
        restore()


def _write(stream: BinaryIO, data: bytes) -> None:
    stream.write(data)
    stream.flush()
