"""Cost of ``@traced`` per call: with the no-op OTel API, and with the SDK.

Every figure is a ratio measured in the same rounds as its reference:

- ``noop_api``: ``@traced`` with no SDK installed (the API's proxy providers), against a
  bare call of the same function; also ``stack_entry``, an llmwarm stack with one empty
  policy, to separate the core's entry from ``@traced`` itself.
- ``sdk_span``: ``@traced`` with an SDK tracer provider (metrics off), against the bare
  function wrapped in one hand-written SDK span carrying the same attributes (the start
  ones passed to ``start_span``, the end ones set before ``end()``);
  ``sdk_span_in_stack``: against that hand-written span inside an llmwarm stack with one
  empty policy, which isolates ``@traced``'s own cost from the stack's entry and hook.
- ``sdk_span_and_metrics``: the same with an SDK meter provider too, against the hand-written
  span plus the same histogram records (the budget); ``sdk_span_and_metrics_in_stack``:
  against that reference inside an llmwarm stack with one empty policy, which separates
  ``@traced``'s own share of the budget from the stack entry's.

The function returns a real SDK response object (an ``openai`` ``ChatCompletion``), as
in production: reading the response's model, id, finish reasons and usage is part of the
work on both sides. The hand-written reference records the same span (made current, as
``@traced`` does, so SDK spans nest under it), the same 11 attributes and the same three
histogram points; the benchmark checks that the attribute names match. The spans go to a
processor that drops them, so export cost is not measured. Timings are the thread's CPU
time (a neighbour's load on the shared machine does not count against either side).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context

from benchmarks._responses import chat_completion
from benchmarks._timing import per_call_cpu, ratios
from llmwarm import traced
from llmwarm._core import Policy, apply
from llmwarm._version import __version__
from llmwarm.trace import _semconv as sc

RESPONSE = chat_completion()

#: ``@traced`` with the SDK (span and metrics) against the same hand-written code.
TARGET = 1.25


def complete(prompt: str, *, model: str = "gpt-4o-mini", max_tokens: int = 64) -> Any:
    return RESPONSE


class _Drop(SpanProcessor):
    """Accept and forget every span."""


def _reference(tracer: Any, histograms: tuple[Any, Any] | None) -> Any:
    """The bare function inside one SDK span with the attributes ``@traced`` sets."""

    def call(prompt: str, *, model: str = "gpt-4o-mini", max_tokens: int = 64) -> Any:
        start = time.perf_counter()
        span = tracer.start_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes={
                sc.OPERATION_NAME: "chat",
                sc.PROVIDER_NAME: "openai",
                sc.REQUEST_MODEL: model,
                sc.REQUEST_MAX_TOKENS: max_tokens,
            },
        )
        token = otel_context.attach(set_span_in_context(span))
        try:
            result = complete(prompt, model=model, max_tokens=max_tokens)
        finally:
            otel_context.detach(token)
        usage = result.usage
        span.set_attributes(
            {
                sc.RESPONSE_MODEL: result.model,
                sc.RESPONSE_ID: result.id,
                sc.RESPONSE_FINISH_REASONS: [c.finish_reason for c in result.choices],
                sc.USAGE_INPUT_TOKENS: usage.prompt_tokens,
                sc.USAGE_OUTPUT_TOKENS: usage.completion_tokens,
                sc.COLD_START: False,
                sc.IDLE_S: 0.001,
            }
        )
        span.end()
        if histograms is not None:
            attrs = {
                sc.OPERATION_NAME: "chat",
                sc.WARMUP: False,
                sc.PROVIDER_NAME: "openai",
                sc.REQUEST_MODEL: model,
                sc.RESPONSE_MODEL: result.model,
                sc.COLD_START: False,
            }
            histograms[0].record(time.perf_counter() - start, attrs)
            histograms[1].record(usage.prompt_tokens, {**attrs, sc.TOKEN_TYPE: "input"})
            histograms[1].record(usage.completion_tokens, {**attrs, sc.TOKEN_TYPE: "output"})
        return result

    return call


def run(quick: bool) -> dict[str, Any]:
    """Measure; ``quick`` makes fewer, shorter rounds (CI)."""
    rounds, number = (3, 2_000) if quick else (9, 10_000)
    sdk_number = number // 10

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(_Drop())
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer = tracer_provider.get_tracer(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
    meter = meter_provider.get_meter(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
    histograms = (
        meter.create_histogram(sc.OPERATION_DURATION + ".ref", "s"),
        meter.create_histogram(sc.TOKEN_USAGE + ".ref", "{token}"),
    )

    noop = traced(provider="openai")(complete)
    empty = apply(complete, Policy())
    sdk = traced(provider="openai", tracer_provider=tracer_provider)(complete)
    sdk_all = traced(
        provider="openai", tracer_provider=tracer_provider, meter_provider=meter_provider
    )(complete)
    span_only = _reference(tracer, None)
    span_metrics = _reference(tracer, histograms)
    span_in_stack = apply(span_only, Policy())  # same stack entry and stats hook as @traced
    metrics_in_stack = apply(span_metrics, Policy())
    for fn in (noop, empty, sdk, sdk_all, span_only, span_metrics, span_in_stack, metrics_in_stack):
        fn("hi")  # warm caches

    def timer(fn: Any) -> Any:
        return lambda n: per_call_cpu(lambda: fn("hi"), n)

    bare = per_call_cpu(lambda: complete("hi"), number)
    results: dict[str, Any] = {
        "bare_call_ns": round(bare * 1e9, 1),
        "noop_api": ratios(
            {"traced": timer(noop), "stack_entry": timer(empty)},
            timer(complete),
            rounds=rounds,
            number=number,
        ),
        "sdk_span": ratios(
            {"traced": timer(sdk)}, timer(span_only), rounds=rounds, number=sdk_number
        ),
        "sdk_span_in_stack": ratios(
            {"traced": timer(sdk)}, timer(span_in_stack), rounds=rounds, number=sdk_number
        ),
        "sdk_span_and_metrics": ratios(
            {"traced": timer(sdk_all)}, timer(span_metrics), rounds=rounds, number=sdk_number
        ),
        "sdk_span_and_metrics_in_stack": ratios(
            {"traced": timer(sdk_all)}, timer(metrics_in_stack), rounds=rounds, number=sdk_number
        ),
        "one_sdk_span_us": round(per_call_cpu(lambda: span_only("hi"), sdk_number) * 1e6, 2),
        "traced_noop_us": round(per_call_cpu(lambda: noop("hi"), number) * 1e6, 2),
        "same_attributes": _same_attributes(),
    }
    tracer_provider.shutdown()
    meter_provider.shutdown()
    ratio = results["sdk_span_and_metrics"]["traced"]["median"]
    results["target"] = {"sdk_span_and_metrics <= x": TARGET, "met": ratio <= TARGET}
    return results


def _same_attributes() -> bool:
    """Whether ``@traced`` and the reference record spans with the same attribute names."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
    mine_fn = traced(provider="openai", tracer_provider=provider)(complete)
    mine_fn("hi")  # the model's first call: cold, with no idle time yet
    mine_fn("hi")  # the steady state, as timed
    _reference(tracer, None)("hi")
    _, mine, reference = exporter.get_finished_spans()
    provider.shutdown()
    return set(mine.attributes or {}) == set(reference.attributes or {})


if __name__ == "__main__":
    import json

    figures = run(quick="--quick" in sys.argv)
    print(json.dumps(figures, indent=2))
