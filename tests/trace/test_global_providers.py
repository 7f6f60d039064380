"""@traced finds the global OpenTelemetry providers through the public API only."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from opentelemetry import metrics
from opentelemetry import trace as otel_trace

import llmwarm.trace._traced as traced_module

CHILD = """
import time
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import llmwarm
from llmwarm.trace import _traced

@llmwarm.traced
def chat(prompt, *, model="m"):
    return {"id": "r", "model": model, "choices": [{"finish_reason": "stop"}]}

chat("before any provider")  # no SDK: let through, and the answer trusted a while
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)  # set with the OTel API directly, not telemetry.setup
time.sleep(_traced.RECHECK_PROVIDERS * 2)
chat("after the provider")
print(len(exporter.get_finished_spans()))
"""


def test_a_provider_set_with_the_otel_api_after_calls_is_seen_after_the_recheck() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the second call, and only it, made a span


def test_forget_providers_makes_the_next_call_ask_the_api_again() -> None:
    traced_module._quiet_until = float("inf")  # as if "no provider" had just been answered
    traced_module.forget_providers()
    tracer_provider, meter_provider, silent = traced_module._global_providers(0.0)
    assert silent  # asked: the API has no provider in this process
    assert tracer_provider is otel_trace.get_tracer_provider()
    assert meter_provider is metrics.get_meter_provider()
    assert traced_module._quiet_until == traced_module.RECHECK_PROVIDERS  # trusted a while
    traced_module.forget_providers()


def test_traced_reads_no_private_opentelemetry_name() -> None:
    source = Path(traced_module.__file__).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = node.value
            assert not (isinstance(owner, ast.Name) and owner.id in {"otel_trace", "metrics"}), (
                node.attr
            )
        if isinstance(node, ast.ImportFrom) and node.module:
            assert "._" not in node.module or node.module.startswith("llmwarm"), node.module
    assert "_internal" not in source
