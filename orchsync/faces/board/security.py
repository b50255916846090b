"""The board's front door: one small ASGI middleware that every request passes.

Threats (see SECURITY.md): a web page in the user's browser that posts to the board (CSRF),
a hostile DNS name that rebinds to 127.0.0.1 to read it (DNS rebinding), other machines on
the network when the board binds a non-loopback address, and task text written by an
attacker (escaped by the templates, not here). In order, for every HTTP request:

1. **Host**: the `Host` header must name the address the board is bound to (for loopback:
   127.0.0.1, localhost or [::1], with the bound port). A rebinding page sends its own name -> 403.
2. **Token** (required when bound to anything but loopback, optional otherwise): a request
   with `?token=T` gets an HttpOnly, SameSite=Strict cookie and is redirected to the same URL
   without the token; later requests (pages, JSON, the SSE stream) must carry the cookie or
   `Authorization: Bearer T`. Compared in constant time.
3. **Writes** (any method but GET/HEAD/OPTIONS): the `Origin` (else `Referer`) must be this
   board's own origin, and the CSRF token the pages carry must come back in the
   `X-CSRF-Token` header or a `csrf_token` form field. Bodies over `max_body` -> 413.
4. Every response gets the security headers: a CSP without inline script or style,
   `frame-ancestors 'none'`, `nosniff`, `no-referrer`, and `no-store` for pages.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = ["Guard", "GuardSettings", "LOOPBACK_NAMES", "is_loopback"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


@dataclass(slots=True)
class GuardSettings:
    host: str  # the address bound to
    port: int
    token: str | None  # None: no token asked (loopback only)
    csrf: str
    max_body: int = 256 * 1024
    hosts: set[str] = field(default_factory=set)  # Host header values accepted

    def __post_init__(self) -> None:
        if self.token is None and not is_loopback(self.host):
            raise ValueError("a board bound to a non-loopback address needs a token")
        if not self.hosts:
            names = LOOPBACK_NAMES if is_loopback(self.host) else (_bracket(self.host),)
            self.hosts = {f"{n}:{self.port}" for n in names}
            if self.port == 80:
                self.hosts |= set(names)

    @property
    def cookie(self) -> str:
        # cookies are not per port: two boards on one host must not share one
        return f"orchsync_board_{self.port}"

    def host_ok(self, host: str) -> bool:
        if _wildcard(self.host):  # bound to every address: the token is the guard
            return bool(host) and host.rsplit(":", 1)[-1] == str(self.port)
        return host.lower() in self.hosts


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class Guard:
    """Pure ASGI middleware (so it also guards the SSE stream and static files)."""

    def __init__(self, app: ASGIApp, settings: GuardSettings) -> None:
        self.app = app
        self.s = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        send = self._with_headers(send)
        host = headers.get("host", "")
        if not self.s.host_ok(host):
            await _deny(
                send, 403, "unknown Host header: this board answers only to its own address"
            )
            return
        if self.s.token is not None:
            given = _query_token(scope)
            if given is not None:
                if hmac.compare_digest(given.encode(), self.s.token.encode()):
                    await self._set_cookie_and_redirect(scope, send)
                else:
                    await _deny(send, 403, "wrong token")
                return
            if not self._has_token(headers):
                await _deny(
                    send,
                    403,
                    "this board needs its token: open the URL `orchsync board` printed "
                    "(it ends in ?token=...)",
                )
                return
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        origin = headers.get("origin") or _origin(headers.get("referer", ""))
        if not origin or origin != f"http://{host}":
            await _deny(send, 403, "cross-origin write refused (Origin does not match the board)")
            return
        try:
            body = await _read_body(receive, self.s.max_body, headers)
        except _TooLarge:
            await _deny(send, 413, f"request body over {self.s.max_body} bytes")
            return
        token = headers.get("x-csrf-token")
        if token is None and headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            fields = parse_qs(body.decode("utf-8", "replace")).get("csrf_token")
            token = fields[0] if fields else None
        if token is None or not hmac.compare_digest(token.encode(), self.s.csrf.encode()):
            await _deny(send, 403, "missing or wrong CSRF token: reload the page")
            return
        await self.app(scope, _replay(body, receive), send)

    def _has_token(self, headers: dict[str, str]) -> bool:
        want = self.s.token or ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(
            auth[7:].strip().encode(), want.encode()
        ):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.s.cookie and hmac.compare_digest(value.encode(), want.encode()):
                return True
        return False

    async def _set_cookie_and_redirect(self, scope: Scope, send: Send) -> None:
        query = [
            (k, v)
            for k, vs in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()
            for v in vs
            if k != "token"
        ]
        location = scope.get("path", "/") + (f"?{urlencode(query)}" if query else "")
        cookie = f"{self.s.cookie}={self.s.token}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1", "replace")),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    def _with_headers(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in names]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        return wrapped


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _TooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read for the CSRF check, then the client's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _query_token(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


def _origin(referer: str) -> str | None:
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


async def _deny(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
