"""The `otlp` sink against a real OTLP/HTTP receiver that decodes the protobuf payloads.

Each event must arrive as a LogRecord (body = the event type, the event's fields and payload
as attributes), each sync (commit) and each AGENT INIT as a span carrying the correlation
id, with the log records in the trace of their span. The standard `OTEL_*` environment
variables must work without an endpoint in the config.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV, git, set_status
from receivers import OtlpReceiver
from test_sinks import CONFIG, PHASE3, flush, index_ids, snapshot, with_sinks


@pytest.fixture
def collector():
    r = OtlpReceiver()
    yield r
    r.close()


def test_events_are_log_records_and_syncs_and_agent_inits_are_spans(
    orchsync, agent_init, example_repo, collector
):
    with_sinks(
        example_repo,
        f"  - name: otel\n    type: otlp\n    endpoint: {collector.endpoint}\n    start: all\n",
    )
    set_status(example_repo, PHASE3, "in_progress")
    snapshot(example_repo, actor="alice", session="S-9")
    agent_init(example_repo, "T:phase-3-template-generation", "--agent", "backend-engineer")

    result = flush(orchsync, example_repo)

    assert result.exit_code == 0, result.stderr
    assert collector.ids() == index_ids(example_repo)
    started = next(r for r in collector.logs if r["body"] == "orchestration.task.started")
    head = git(example_repo, "rev-parse", "HEAD").strip()
    assert started["event_name"] == "orchestration.task.started"
    assert started["severity"] == "INFO"
    assert started["scope"] == "orchsync"
    attributes = started["attributes"]
    assert attributes["orchsync.entity.type"] == "task"
    assert attributes["orchsync.entity.code"] == "phase-3-template-generation"
    assert attributes["orchsync.agent"] == "alice"
    assert attributes["orchsync.session"] == "S-9"
    assert attributes["orchsync.commit"] == head
    assert attributes["orchsync.path"] == PHASE3
    assert len(attributes["orchsync.hash"]) == 64
    assert attributes["orchsync.payload.from"] == "pending"
    assert collector.resources[0]["service.name"] == "orchsync"

    syncs = {
        s["attributes"]["orchsync.commit"]: s
        for s in collector.spans
        if s["name"] == "orchsync.sync"
    }
    assert set(syncs) == set(git(example_repo, "rev-list", "HEAD").split())
    assert syncs[head]["trace_id"] == started["trace_id"]
    assert syncs[head]["span_id"] == started["span_id"]
    assert (
        syncs[head]["attributes"]["orchsync.correlation_id"]
        == attributes["orchsync.correlation_id"]
    )

    (init,) = [s for s in collector.spans if s["name"] == "orchsync.agent_init"]
    journal = [r for r in collector.logs if r["attributes"]["orchsync.event.source"] == "journal"]
    assert {r["body"] for r in journal} == {
        "orchestration.agent.initialized",
        "orchestration.context.assembled",
    }
    assert {r["trace_id"] for r in journal} == {init["trace_id"]}
    assert (
        init["attributes"]["orchsync.correlation_id"]
        == journal[0]["attributes"]["orchsync.correlation_id"]
    )
    assert init["attributes"]["orchsync.target"] == "T:phase-3-template-generation"
    assert init["end"] >= init["start"] > 0


def test_the_standard_otel_environment_variables_apply(
    orchsync, example_repo, collector, monkeypatch
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "delegation-watch")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")
    with_sinks(example_repo, "  - name: otel\n    type: otlp\n    start: all\n")

    result = flush(orchsync, example_repo)

    assert result.exit_code == 0, result.stderr
    assert collector.ids() == index_ids(example_repo)
    assert collector.resources[0]["service.name"] == "delegation-watch"
    assert collector.resources[0]["deployment.environment"] == "ci"


def test_a_collector_that_refuses_gets_everything_later(orchsync, example_repo, collector):
    with_sinks(
        example_repo,
        f"  - name: otel\n    type: otlp\n    endpoint: {collector.endpoint}\n    start: all\n",
    )
    collector.status = 500

    refused = flush(orchsync, example_repo)
    collector.status = 200
    accepted = flush(orchsync, example_repo)

    assert refused.exit_code == 1
    assert f"the collector at {collector.endpoint} did not take the logs" in refused.stderr
    assert accepted.exit_code == 0
    assert collector.ids() == index_ids(example_repo)


def test_without_the_otel_extra_the_error_names_it(example_repo, collector, tmp_path):
    with_sinks(
        example_repo,
        f"  - name: otel\n    type: otlp\n    endpoint: {collector.endpoint}\n    start: all\n",
    )
    # The interpreter as it is without the extra installed: the SDK cannot be imported.
    script = tmp_path / "no_otel.py"
    script.write_text(
        "import sys\n"
        "for name in ('opentelemetry', 'opentelemetry.sdk', 'opentelemetry.exporter'):\n"
        "    sys.modules[name] = None\n"
        "from orchsync.faces.cli import main\n"
        "sys.argv = ['orchsync', '--repo', sys.argv[1], 'sinks', 'flush']\n"
        "main()\n"
    )

    result = subprocess.run(
        [sys.executable, str(script), str(example_repo)],
        capture_output=True,
        text=True,
        env=GIT_ENV,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr == (
        "sink otel: the otlp sink needs the `otel` extra: pip install 'orchsync[otel]'\n"
    )
    assert collector.logs == []
    state = json.loads(Path(example_repo, ".git/orchsync/sinks/otel/state.json").read_text())
    assert "orchsync[otel]" in state["last_error"]["message"]
    assert (example_repo / CONFIG).exists()
