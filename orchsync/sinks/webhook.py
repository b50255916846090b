"""The `webhook` sink: POST each batch as `{"events": [...]}`, signed, with retries.

Headers: `X-Orchsync-Signature: sha256=<hex HMAC-SHA256 of the body>` with the secret read
from the environment variable `secret_env` names (a missing or empty variable is an error,
and nothing is sent unsigned), `X-Orchsync-Delivery` (the same for the same batch, also
when sent again after a crash), `X-Orchsync-Sink`, `Content-Type: application/json`.

Answers: any 2xx acknowledges the batch. 408, 429, 5xx, a refused connection or a timeout
are tried again, `retries` times here with exponential backoff and jitter (`Retry-After`
honoured, in seconds or as an HTTP date), then again later by the caller. Any other 4xx
refuses the batch for good: it goes to the sink's dead-letter file and delivery goes on.
A redirect is followed only to the same scheme, host and port, and only a 307 or 308
(which keep the POST); others are errors. The standard library sends it: `http.client`,
which reads no proxy settings from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import ssl
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urljoin, urlsplit

from orchsync import __version__
from orchsync.errors import SinkError
from orchsync.sinks.batch import Batch
from orchsync.sinks.settings import SinkSpec, redact_url

__all__ = ["WebhookSink", "parse_retry_after", "signature"]

BASE_DELAY = 0.5
MAX_DELAY = 30.0
WAIT_HERE = 30.0  # a longer Retry-After ends this try; the caller waits it out
MAX_REDIRECTS = 3
MAX_ANSWER = 4096  # bytes of an answer's body read (for the error message)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP-date; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class WebhookSink:
    def __init__(self, spec: SinkSpec, stop: threading.Event) -> None:
        self.name = spec.name
        self.url: str = spec.options["url"]
        self.secret_env: str = spec.options["secret_env"]
        self.timeout: float = spec.options["timeout"]
        self.retries: int = spec.options["retries"]
        self.stop = stop

    def send(self, batch: Batch) -> None:
        secret = os.environ.get(self.secret_env)
        if not secret:
            raise SinkError(
                f"sink {self.name}: the environment variable {self.secret_env} (secret_env) is "
                "not set; nothing is sent unsigned: set it where the daemon or the command runs"
            )
        body = json.dumps(
            {"events": batch.events}, ensure_ascii=False, separators=(",", ":"), default=str
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"orchsync/{__version__}",
            "X-Orchsync-Signature": signature(secret, body),
            "X-Orchsync-Delivery": batch.delivery,
            "X-Orchsync-Sink": self.name,
        }
        for attempt in range(self.retries + 1):
            error, again = self._attempt(body, headers)
            if error is None:
                return
            if error.permanent or not again or attempt == self.retries:
                raise error
            delay = min(MAX_DELAY, BASE_DELAY * 2**attempt) * random.uniform(0.75, 1.25)
            if error.retry_after is not None:
                if error.retry_after > WAIT_HERE:
                    raise error
                delay = max(delay, error.retry_after)
            if self.stop.wait(delay):
                raise SinkError(f"{error} (stopped while retrying)", status=error.status)

    def close(self) -> None:
        pass

    def _attempt(self, body: bytes, headers: dict[str, str]) -> tuple[SinkError | None, bool]:
        """(None, _) when acknowledged, else (the error, whether trying again soon may help).

        A redirect that is not followed is not tried again here: the answer will not
        change in seconds (the caller tries later, and status shows why)."""
        url = self.url
        where = redact_url(url)
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                status, answer, location, retry_after = _post(url, body, headers, self.timeout)
            except (OSError, http.client.HTTPException) as exc:
                reason = (
                    "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
                )
                return SinkError(f"sink {self.name}: POST {where}: {reason}"), True
            if 200 <= status < 300:
                return None, False
            if status in (307, 308) and location:
                target = urljoin(url, location)
                if _origin(target) == _origin(url):
                    url = target
                    continue
                return SinkError(
                    f"sink {self.name}: POST {where}: HTTP {status} redirect to another host "
                    f"({redact_url(target)}) not followed",
                    status=status,
                ), False
            text = f"sink {self.name}: POST {where}: HTTP {status}" + (
                f": {answer}" if answer else ""
            )
            if 300 <= status < 400:
                note = " (a redirect that would not keep the POST; not followed)"
                return SinkError(text + note, status=status), False
            if status in (408, 429) or status >= 500:
                after = parse_retry_after(retry_after)
                return SinkError(text, status=status, retry_after=after), True
            return SinkError(text, status=status, permanent=True), False
        too_many = f"sink {self.name}: POST {where}: more than {MAX_REDIRECTS} redirects"
        return SinkError(too_many), False


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, str, str | None, str | None]:
    """(status, start of the answer's text, Location, Retry-After) of one POST."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    else:  # settings refuse these; a redirect cannot bring one either (same origin only)
        raise http.client.HTTPException(f"unsupported scheme {parts.scheme!r}")
    headers = dict(headers)
    if parts.username is not None:
        user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read(MAX_ANSWER)
        return (
            response.status,
            _printable(answer.decode("utf-8", errors="replace")),
            response.getheader("Location"),
            response.getheader("Retry-After"),
        )
    finally:
        conn.close()


def _printable(text: str, limit: int = 200) -> str:
    """A receiver's answer as one short line of printable text (it lands in status output)."""
    clean = "".join(c if c.isprintable() else " " for c in text).strip()
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
