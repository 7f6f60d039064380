"""An OTLP/JSON export of real @traced spans (real OTel SDK, real openai SDK) replays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmwarm import traced
from llmwarm.tools.replay import read_log


@pytest.mark.parametrize("sim_server", [{"cold_start": 0.0}], indirect=True)
def test_the_start_times_of_traced_llm_calls_are_the_requests(
    sim_server: Any, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    client = openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0)

    @traced(tracer_provider=provider)
    def chat(question: str, *, model: str = "gpt-4o-mini") -> Any:
        return client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}], max_tokens=2
        )

    with client, tracer.start_as_current_span("handle request"):  # a root span around them
        for question in ("one", "two", "three"):
            chat(question)
    spans = exporter.get_finished_spans()
    calls = sorted(s.start_time for s in spans if s.name.startswith("chat"))
    assert len(calls) == 3
    # What the OTLP exporters send, as the collector's file exporter writes it (JSON).
    document = json_format.MessageToJson(encode_spans(spans))
    path = tmp_path / "spans.json"
    path.write_text(document)
    log = read_log(path)
    assert log.format == "otlp"
    assert len(log.times) == 3  # the LLM calls; not the root span around them
    zero = log.origin.timestamp()
    assert [zero + t for t in log.times] == pytest.approx([c / 1e9 for c in calls], abs=1e-6)
