"""The `otlp` sink: OpenTelemetry over OTLP/HTTP (protobuf), through the OpenTelemetry SDK.

Needs the optional extra: `pip install 'orchsync[otel]'` (opentelemetry-sdk and
opentelemetry-exporter-otlp-proto-http); without it the sink fails with that hint.

- every event is a LogRecord: body and event name = the event type; severity from its
  level; attributes `orchsync.event.id`, `orchsync.entity.type|code|id`, `orchsync.hash`,
  `orchsync.agent`, `orchsync.session`, `orchsync.commit`, `orchsync.correlation_id`,
  `orchsync.path`, ... and the payload flattened (`orchsync.payload.changes.title.old`);
- every sync (a commit) is a span `orchsync.sync`, and every agent init a span
  `orchsync.agent_init`, carrying `orchsync.correlation_id`; a log record belongs to the
  trace of its commit (or of its AGENT INIT call), so a backend shows them together.
  Trace and span ids are derived from the commit id or the correlation id: sending a batch
  again sends the same ids.

The standard `OTEL_EXPORTER_OTLP_*` variables (endpoint, headers, timeout, certificates,
compression) and `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` apply; `endpoint` in the
config, when given, is the base URL (`/v1/logs` and `/v1/traces` are added).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from contextlib import suppress
from datetime import datetime
from typing import Any

from orchsync import __version__
from orchsync.errors import SinkError
from orchsync.repo import Repo
from orchsync.sinks.batch import Batch
from orchsync.sinks.settings import SinkSpec, redact_url

__all__ = ["OtlpSink", "flatten"]

EXTRA_HINT = "the otlp sink needs the `otel` extra: pip install 'orchsync[otel]'"
MAX_ATTRIBUTES = 128
MAX_TEXT = 4096
_SEVERITY = {"debug": 5, "info": 9, "warning": 13}  # SeverityNumber DEBUG, INFO, WARN


class OtlpSink:
    def __init__(self, repo: Repo, spec: SinkSpec) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
        except ImportError as exc:
            raise SinkError(f"sink {spec.name}: {EXTRA_HINT}") from exc
        self.name = spec.name
        base = spec.options.get("endpoint")
        timeout = spec.options.get("timeout")
        self.where = redact_url(base) if base else "the OTEL_EXPORTER_OTLP_* endpoint"
        self.logs = OTLPLogExporter(
            endpoint=f"{base.rstrip('/')}/v1/logs" if base else None, timeout=timeout
        )
        self.spans = OTLPSpanExporter(
            endpoint=f"{base.rstrip('/')}/v1/traces" if base else None, timeout=timeout
        )
        attributes: dict[str, Any] = {"orchsync.repository": repo.root.name}
        if spec.options.get("service_name"):
            attributes["service.name"] = spec.options["service_name"]
        resource = Resource.create(attributes)
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "orchsync"}))
        self.resource = resource
        self._capture = _capture_errors()

    def send(self, batch: Batch) -> None:
        from opentelemetry.sdk._logs.export import LogRecordExportResult
        from opentelemetry.sdk.trace.export import SpanExportResult

        records = [self._record(e) for e in batch.events]
        self._capture.clear()
        if self.logs.export(records) is not LogRecordExportResult.SUCCESS:
            raise SinkError(self._why("logs"))
        spans = self._spans(batch)
        if spans and self.spans.export(spans) is not SpanExportResult.SUCCESS:
            raise SinkError(self._why("spans"))

    def close(self) -> None:
        for exporter in (self.logs, self.spans):
            with suppress(Exception):  # a broken exporter is being dropped anyway
                exporter.shutdown()

    def _why(self, what: str) -> str:
        detail = self._capture.last()
        return f"sink {self.name}: the collector at {self.where} did not take the {what}" + (
            f": {detail}" if detail else ""
        )

    # --- log records ----------------------------------------------------------------------

    def _record(self, event: dict[str, Any]) -> Any:
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        trace_id, span_id = _ids_of(event)
        level = str(event.get("level") or "info")
        record = LogRecord(
            timestamp=_ns(event.get("emitted_at")),
            observed_timestamp=_ns(event.get("emitted_at")),
            context=_context(trace_id, span_id),
            severity_text=level.upper(),
            severity_number=SeverityNumber(_SEVERITY.get(level, 9)),
            body=event["event_type"],
            attributes=_attributes(event),
            event_name=event["event_type"],
        )
        return ReadableLogRecord(
            log_record=record,
            resource=self.resource,
            instrumentation_scope=InstrumentationScope("orchsync", __version__),
        )

    # --- spans ----------------------------------------------------------------------------

    def _spans(self, batch: Batch) -> list[Any]:
        """A span per commit (a sync) and per agent.initialized (an AGENT INIT call)."""
        by_commit: dict[str, list[dict[str, Any]]] = {}
        inits: list[dict[str, Any]] = []
        durations: dict[str, float] = {}
        for e in batch.events:
            if e.get("commit"):
                by_commit.setdefault(e["commit"], []).append(e)
            elif e["event_type"] == "orchestration.agent.initialized":
                inits.append(e)
            elif e["event_type"] == "orchestration.context.assembled":
                ms = (e.get("payload") or {}).get("duration_ms")
                if isinstance(ms, (int, float)):
                    durations[str(e.get("correlation_id"))] = float(ms)
        out = []
        for commit, events in by_commit.items():
            if commit == batch.resumed:
                continue  # its span went with the commit's first events
            trace_id, span_id = _commit_ids(commit)
            first = events[0]
            correlations = sorted(
                {str(e["correlation_id"]) for e in events if e.get("correlation_id")}
            )
            attributes = _clean(
                {
                    "orchsync.commit": commit,
                    "orchsync.agent": first.get("agent"),
                    "orchsync.session": first.get("session_key"),
                    "orchsync.correlation_id": correlations[0] if correlations else None,
                    "orchsync.correlation_ids": correlations[:MAX_ATTRIBUTES],
                    "orchsync.events": len(events),
                    "orchsync.paths": sorted({e["path"] for e in events if e.get("path")})[:100],
                }
            )
            at = _ns(first.get("emitted_at"))
            out.append(self._span("orchsync.sync", trace_id, span_id, at, at, attributes))
        for e in inits:
            correlation = str(e.get("correlation_id"))
            trace_id, span_id = _journal_ids(correlation)
            end = _ns(e.get("emitted_at"))
            start = end - int(durations.get(correlation, 0.0) * 1e6)
            payload = e.get("payload") or {}
            attributes = _clean(
                {
                    "orchsync.correlation_id": correlation,
                    "orchsync.event.id": e.get("id"),
                    "orchsync.agent": e.get("agent"),
                    "orchsync.session": e.get("session_key"),
                    "orchsync.entity.type": e.get("entity_type"),
                    "orchsync.entity.code": e.get("entity_code"),
                    "orchsync.target": payload.get("target"),
                    "orchsync.cached": payload.get("cached"),
                }
            )
            out.append(self._span("orchsync.agent_init", trace_id, span_id, start, end, attributes))
        return out

    def _span(
        self,
        name: str,
        trace_id: int,
        span_id: int,
        start: int,
        end: int,
        attributes: dict[str, Any],
    ) -> Any:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

        return ReadableSpan(
            name=name,
            context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1)),
            resource=self.resource,
            attributes=attributes,
            kind=SpanKind.INTERNAL,
            start_time=start,
            end_time=end,
            instrumentation_scope=InstrumentationScope("orchsync", __version__),
        )


# --- ids and attributes --------------------------------------------------------------------------


def _nonzero(digest: bytes) -> int:
    return int.from_bytes(digest, "big") or 1


def _commit_ids(commit: str) -> tuple[int, int]:
    digest = hashlib.sha256(f"orchsync-sync:{commit}".encode()).digest()
    return _nonzero(digest[:16]), _nonzero(digest[16:24])


def _journal_ids(correlation: str) -> tuple[int, int]:
    try:
        trace = uuid.UUID(correlation).int or 1
    except ValueError:
        trace = _nonzero(hashlib.sha256(correlation.encode()).digest()[:16])
    span = _nonzero(hashlib.sha256(f"orchsync-init:{correlation}".encode()).digest()[:8])
    return trace, span


def _ids_of(event: dict[str, Any]) -> tuple[int, int]:
    if event.get("commit"):
        return _commit_ids(event["commit"])
    return _journal_ids(str(event.get("correlation_id")))


def _context(trace_id: int, span_id: int) -> Any:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    span = NonRecordingSpan(
        SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))
    )
    return set_span_in_context(span)


def _ns(value: Any) -> int:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return int(moment.timestamp() * 1_000_000) * 1000
        except ValueError:
            pass
    return 0


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    out = _clean(
        {
            "orchsync.event.id": event.get("id"),
            "orchsync.event.type": event.get("event_type"),
            "orchsync.event.level": event.get("level"),
            "orchsync.event.source": event.get("source"),
            "orchsync.entity.type": event.get("entity_type"),
            "orchsync.entity.code": event.get("entity_code"),
            "orchsync.entity.id": event.get("entity_id"),
            "orchsync.correlation_id": event.get("correlation_id"),
            "orchsync.agent": event.get("agent"),
            "orchsync.session": event.get("session_key"),
            "orchsync.commit": event.get("commit"),
            "orchsync.seq": event.get("seq"),
            "orchsync.path": event.get("path"),
            "orchsync.hash": event.get("hash"),
        }
    )
    payload = event.get("payload")
    if isinstance(payload, dict):
        room = MAX_ATTRIBUTES - len(out)
        for key, value in flatten(payload, "orchsync.payload").items():
            if room <= 0:
                out["orchsync.payload.truncated"] = True
                break
            out[key] = value
            room -= 1
    return out


def flatten(value: Any, prefix: str, depth: int = 4) -> dict[str, Any]:
    """A payload as OTLP attributes: nested keys dotted, lists of one scalar type kept,
    anything else (and whatever lies deeper than `depth`) as JSON text."""
    out: dict[str, Any] = {}
    if isinstance(value, dict) and depth > 0:
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}", depth - 1))
        return out
    scalar = _scalar(value)
    if scalar is not None:
        out[prefix] = scalar
    elif (
        isinstance(value, list)
        and value
        and all(type(v) in (str, int, float, bool) for v in value)
        and len({type(v) for v in value}) == 1
    ):
        out[prefix] = [_scalar(v) for v in value]
    elif value is not None and value != [] and value != {}:
        out[prefix] = _scalar(json.dumps(value, default=str, ensure_ascii=False))
    return out


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    return None


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None and v != []}


class _Captured(logging.Handler):
    """The OpenTelemetry exporters' own error lines, per thread: the reason an export
    failed (HTTP status, connection refused) for the sink's status, not a stray stderr line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._last = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        with suppress(Exception):  # a log line must never break an export
            self._last.message = record.getMessage()

    def clear(self) -> None:
        self._last.message = None

    def last(self) -> str | None:
        text = getattr(self._last, "message", None)
        return " ".join(str(text).split())[:300] if text else None


_CAPTURE: _Captured | None = None
_CAPTURE_GUARD = threading.Lock()


def _capture_errors() -> _Captured:
    global _CAPTURE
    with _CAPTURE_GUARD:
        if _CAPTURE is None:
            _CAPTURE = _Captured()
            log = logging.getLogger("opentelemetry.exporter")
            log.addHandler(_CAPTURE)
            log.propagate = False
        return _CAPTURE
