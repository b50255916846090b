"""Real receivers on 127.0.0.1 for the sink tests: a webhook endpoint and an OTLP/HTTP collector.

Each is a `ThreadingHTTPServer` in a thread of the test process. The webhook receiver checks
every body's `X-Orchsync-Signature` with the secret, as a real one must, and records what
it accepted; its answers can be scripted (an HTTP status, `Retry-After`, a hang). The OTLP
receiver decodes the protobuf payloads with `opentelemetry-proto`, the way a collector does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str]]  # (status, extra headers); status 0 = hang until released


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WebhookReceiver(_Server):
    """Records the batches it acknowledged (`batches`), and the signatures it refused."""

    def __init__(self, secret: str, path: str = "/orchsync") -> None:
        self.secret = secret
        self.path = path
        self.batches: list[dict[str, Any]] = []  # {"events", "delivery", "headers", "at"}
        self.requests = 0
        self.bad_signatures = 0
        self.script: Callable[[int], Answer] = lambda n: (200, {})
        self.delay = 0.0  # seconds before each answer: a slow receiver
        self.released = threading.Event()
        self.times: list[float] = []  # when each request came in (monotonic)
        super().__init__(_WebhookHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for b in self.batches for e in b["events"]]

    def ids(self) -> list[int]:
        return [e["id"] for e in self.events()]

    def close(self) -> None:
        self.released.set()
        super().close()


class _WebhookHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        owner: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with owner.lock:
            n = owner.requests
            owner.requests += 1
            owner.times.append(time.monotonic())
        status, headers = owner.script(n)
        if owner.delay:
            time.sleep(owner.delay)
        if status == 0:
            owner.released.wait(120)
            return  # hang up without an answer
        expected = "sha256=" + hmac.new(owner.secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(self.headers.get("X-Orchsync-Signature", ""), expected):
            with owner.lock:
                owner.bad_signatures += 1
            status, headers = 401, {}
        elif 200 <= status < 300:
            with owner.lock:
                owner.batches.append(
                    {
                        "events": json.loads(body)["events"],
                        "delivery": self.headers.get("X-Orchsync-Delivery"),
                        "headers": dict(self.headers),
                        "at": time.monotonic(),
                    }
                )
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class OtlpReceiver(_Server):
    """An OTLP/HTTP collector: `/v1/logs` and `/v1/traces`, protobuf decoded."""

    def __init__(self) -> None:
        self.logs: list[dict[str, Any]] = []  # one dict per LogRecord
        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, Any]] = []
        self.status = 200
        super().__init__(_OtlpHandler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ids(self) -> list[int]:
        with self.lock:
            return [r["attributes"]["orchsync.event.id"] for r in self.logs]


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _attrs(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items}


class _OtlpHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
            ExportLogsServiceResponse,
        )
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        owner: OtlpReceiver = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if owner.status != 200:
            self.send_response(owner.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        assert self.headers.get("Content-Type") == "application/x-protobuf"
        if self.path == "/v1/logs":
            request = ExportLogsServiceRequest.FromString(body)
            with owner.lock:
                for rl in request.resource_logs:
                    owner.resources.append(_attrs(rl.resource.attributes))
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            owner.logs.append(
                                {
                                    "body": _value(r.body),
                                    "event_name": r.event_name,
                                    "severity": r.severity_text,
                                    "attributes": _attrs(r.attributes),
                                    "trace_id": r.trace_id.hex(),
                                    "span_id": r.span_id.hex(),
                                    "time": r.time_unix_nano,
                                    "scope": sl.scope.name,
                                }
                            )
            answer = ExportLogsServiceResponse().SerializeToString()
        elif self.path == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            with owner.lock:
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            owner.spans.append(
                                {
                                    "name": s.name,
                                    "trace_id": s.trace_id.hex(),
                                    "span_id": s.span_id.hex(),
                                    "attributes": _attrs(s.attributes),
                                    "start": s.start_time_unix_nano,
                                    "end": s.end_time_unix_nano,
                                }
                            )
            answer = ExportTraceServiceResponse().SerializeToString()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
