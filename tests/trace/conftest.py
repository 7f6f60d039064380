"""Fixtures of the tracing tests: in-memory OTel SDK providers, fresh stats per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmwarm._core import call_stats as stats
from llmwarm.trace import _traced as trace


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    stats._reset()
    trace._bundles.clear()
    trace.forget_providers()
    yield
    stats._reset()
    trace._bundles.clear()
    trace.forget_providers()


class Otel:
    """An SDK tracer provider and meter provider that keep what they record in memory."""

    def __init__(self, **tracer_options: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(**tracer_options)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    @property
    def providers(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> Any:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metrics(self) -> dict[str, list[Any]]:
        """Metric name -> its data points."""
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture
def otel() -> Iterator[Otel]:
    recorder = Otel()
    yield recorder
    recorder.shutdown()


@pytest.fixture
def make_otel() -> Iterator[Any]:
    """Build more recorders (``make_otel(sampler=...)``); all are shut down at the end."""
    made: list[Otel] = []

    def make(**tracer_options: Any) -> Otel:
        made.append(Otel(**tracer_options))
        return made[-1]

    yield make
    for recorder in made:
        recorder.shutdown()
