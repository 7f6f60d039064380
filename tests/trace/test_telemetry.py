"""llmwarm.telemetry.setup(): real OTLP/HTTP (protobuf) export to a receiver on loopback.

``setup()`` installs global providers, which OpenTelemetry allows once per process: each
case runs in a child interpreter, so this test process keeps the API's no-op providers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import llmwarm.trace.telemetry


class Receiver:
    """A tiny OTLP/HTTP collector: decodes what arrives on /v1/traces and /v1/metrics."""

    def __init__(self, *, metrics_status: int = 200) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.refused_metrics = 0
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path == "/v1/traces":
                    receiver.traces.append(ExportTraceServiceRequest.FromString(body))
                elif self.path == "/v1/metrics" and metrics_status != 200:
                    receiver.refused_metrics += 1  # a traces-only receiver (Jaeger, Phoenix)
                    self.send_response(metrics_status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif self.path == "/v1/metrics":
                    receiver.metrics.append(ExportMetricsServiceRequest.FromString(body))
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[Any]:
        return [
            span
            for request in self.traces
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()
    found.thread.join(timeout=10)


CHILD = """
import llmwarm, llmwarm.telemetry, sys
handle = llmwarm.telemetry.setup(*sys.argv[1:2])

@llmwarm.traced
def chat(prompt, *, model="gpt-4o-mini", api_key="sk-CANARY-child"):
    return {"id": "r-1", "model": model, "usage": {"prompt_tokens": 3, "completion_tokens": 5},
            "choices": [{"finish_reason": "stop"}]}

chat("hello")
handle.shutdown()
handle.shutdown()
"""


def run_child(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def attributes(span: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in span.attributes:
        value = item.value
        found[item.key] = getattr(value, value.WhichOneof("value"))
    return found


def test_spans_and_metrics_arrive_over_otlp_http(receiver: Receiver) -> None:
    done = run_child(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=test-team-key",
            "OTEL_SERVICE_NAME": "llmwarm-test",
        }
    )
    assert done.returncode == 0, done.stderr
    spans = receiver.spans()
    assert [span.name for span in spans] == ["chat gpt-4o-mini"]
    attrs = attributes(spans[0])
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.response.id"] == "r-1"
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["llmwarm.cold_start"] is True
    assert spans[0].kind == 3  # SPAN_KIND_CLIENT
    assert "sk-CANARY-child" not in str(receiver.traces)
    resource = receiver.traces[0].resource_spans[0].resource
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "llmwarm-test"
    scope = receiver.traces[0].resource_spans[0].scope_spans[0]
    assert (scope.scope.name, scope.schema_url) == (
        "llmwarm",
        "https://opentelemetry.io/schemas/1.41.0",
    )
    names = {
        metric.name
        for request in receiver.metrics
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= names
    assert all(h.get("x-honeycomb-team") == "test-team-key" for h in receiver.headers)


def test_jaeger_recipe_sends_traces_only(receiver: Receiver) -> None:
    done = run_child(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_METRICS_EXPORTER": "none"},
        "jaeger-demo",
    )
    assert done.returncode == 0, done.stderr
    assert len(receiver.spans()) == 1
    assert receiver.metrics == []
    resource = receiver.traces[0].resource_spans[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == (
        "jaeger-demo"
    )


LOOP_CHILD = """
import time, llmwarm, llmwarm.telemetry
handle = llmwarm.telemetry.setup("traces-only")

@llmwarm.traced
def chat(prompt, *, model="gpt-4o-mini"):
    return {"id": "r", "model": model, "choices": [{"finish_reason": "stop"}]}

for _ in range(8):  # metrics are exported every 50 ms: several exports
    chat("hello")
    time.sleep(0.06)
print("refused" if handle.metrics_refused else "accepted")
handle.shutdown()
"""


@pytest.mark.parametrize("status", [405, 404])
def test_a_traces_only_receiver_turns_metrics_off_with_one_warning(status: int) -> None:
    receiver = Receiver(metrics_status=status)
    receiver.thread.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_METRIC_EXPORT_INTERVAL="50")
        done = subprocess.run(
            [sys.executable, "-c", LOOP_CHILD],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused"
    assert receiver.refused_metrics == 1  # tried once, then off: not one error per export
    assert done.stderr.count(f"refused metrics (HTTP {status})") == 1, done.stderr
    assert "Failed to export metrics" not in done.stderr
    assert len(receiver.spans()) == 8  # traces go on


def test_console_exporter_prints_the_span() -> None:
    code = (
        "import llmwarm, llmwarm.telemetry\n"
        "h = llmwarm.telemetry.setup('c', exporter='console')\n"
        "llmwarm.traced(lambda *, model='m': 'ok')()\n"
        "h.shutdown()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert '"name": "chat m"' in done.stdout


def test_importing_llmwarm_does_not_import_the_sdk() -> None:
    code = "import sys, llmwarm, llmwarm.telemetry; print('opentelemetry.sdk' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_unknown_exporter_is_refused() -> None:
    with pytest.raises(ValueError, match="exporter must be None, 'otlp' or 'console'"):
        llmwarm.trace.telemetry.setup(exporter="jaeger")
