"""Cost of ``@traced`` per call: with the no-op OTel API, and with the SDK.

Every figure is a ratio of ``@traced`` to a reference timed in the same process, in
**interleaved pairs**: a block of calls of the reference, a block of the candidate (the
order alternates from pair to pair, so neither side always runs with the other's code in
the caches), and the ratio of the two blocks' CPU times. The reported figure is the
median of the per-pair ratios with its interquartile range (``q1``-``q3``), over
hundreds of pairs: a neighbour's burst on the shared machine spoils a few pairs, not the
median. Timings are the thread's CPU time (``time.thread_time``), so time spent
descheduled counts against neither side; the garbage collector is paused while timing
(neither side makes reference cycles, so it would free nothing).

The comparisons:

- ``noop_api``: ``@traced`` with no SDK installed (the API's proxy providers), against a
  bare call of the same function; also ``stack_entry``, an llmwarm stack with one empty
  policy, to separate the core's entry from ``@traced`` itself.
- ``sdk_span``: ``@traced`` with an SDK tracer provider (metrics off), against the bare
  function wrapped in one hand-written SDK span carrying the same attributes (the start
  ones passed to ``start_span``, the end ones set before ``end()``);
  ``sdk_span_in_stack``: against that hand-written span inside an llmwarm stack with one
  empty policy, which isolates ``@traced``'s own cost from the stack's entry and hook.
- ``sdk_span_and_metrics`` (**the budget**, ``TARGET``): ``@traced`` with an SDK tracer
  provider and an SDK meter provider, against the hand-written span plus the same
  histogram records; ``sdk_span_and_metrics_in_stack``: against that reference inside an
  llmwarm stack with one empty policy, which separates ``@traced``'s own share of the
  budget from the stack entry's.
- ``a_a_control``: the hand-written reference against a second copy of itself, timed the
  same way: it reads 1.00 when the method favours neither side (medians 0.997-1.004 here).

What is held equal on both sides:

- the function and its result: the same ``complete()`` returning a real SDK response
  object (an ``openai`` ``ChatCompletion``), as in production, so reading the response's
  model, id, finish reasons and usage is part of the work on both sides;
- the span: one SDK span of kind ``CLIENT``, named ``chat <model>``, started with the
  request's attributes (passed to ``start_span``, so samplers see them), made current
  while the function runs (as ``@traced`` does, so SDK spans nest under it), and ended
  with the response's attributes: the same 11 attribute names (``same_attributes``
  checks them on recorded spans);
- the metric points: a duration histogram point and two token-usage points (input and
  output), with the same attribute names per point (``same_points`` checks them on
  collected metrics), on histograms of the same SDK meter provider;
- the providers: the same SDK tracer provider, whose only processor drops every span (so
  export cost, which both sides would pay alike, is not measured), and the same SDK
  meter provider with an in-memory reader that is never collected while timing.

What is not equal, on purpose: ``@traced`` runs inside the llmwarm stack (the call
record, the cold-start prediction, ``llmwarm.stats()``'s hook), which is part of what a
user of ``@traced`` pays; the ``*_in_stack`` rows show how much of the ratio that is.
The hand-written code knows the request's model, provider and the response's type, which
``@traced`` has to find out per call.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, set_span_in_context

from benchmarks._responses import chat_completion
from llmwarm import traced
from llmwarm._core import Policy, apply
from llmwarm._version import __version__
from llmwarm.trace import _semconv as sc

RESPONSE = chat_completion()
_thread_time = time.thread_time

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


def _block(fn: Callable[[str], Any], number: int) -> float:
    """Thread CPU seconds of ``number`` calls of ``fn``."""
    started = _thread_time()
    for _ in range(number):
        fn("hi")
    return _thread_time() - started


def _quartiles(values: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": round(median, 3), "q1": round(q1, 3), "q3": round(q3, 3)}


def paired(
    candidate: Callable[[str], Any],
    reference: Callable[[str], Any],
    *,
    pairs: int,
    number: int,
) -> dict[str, float]:
    """Median and quartiles of ``candidate``'s CPU time over ``reference``'s, per pair.

    Each pair times a block of ``number`` calls of each, back to back; which one goes
    first alternates, so the one timed second (whose code the other has just pushed out of
    the caches, or not) is each side half of the time.
    """
    per_pair: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(pairs):
            if i % 2:
                mine = _block(candidate, number)
                base = _block(reference, number)
            else:
                base = _block(reference, number)
                mine = _block(candidate, number)
            per_pair.append(mine / base)
    finally:
        if gc_was_enabled:
            gc.enable()
    return _quartiles(per_pair)


def run(quick: bool) -> dict[str, Any]:
    """Measure; ``quick`` makes fewer pairs (CI)."""
    # Blocks of about 2-3 ms of CPU for each side: long enough that the two clock reads
    # (about 0.5 us each here) are below 0.1 % of a block, short enough that hundreds of
    # pairs take seconds. The budget's comparison gets the most pairs.
    pairs, budget_pairs = (20, 40) if quick else (100, 400)
    number, sdk_number = 20_000, 50

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(_Drop())
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    tracer = tracer_provider.get_tracer(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
    meter = meter_provider.get_meter(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
    histograms = _reference_histograms(meter)

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
    twin = _reference(tracer, histograms)  # the A/A control's second copy
    for fn in (
        noop, empty, sdk, sdk_all, span_only, span_metrics, span_in_stack, metrics_in_stack, twin,
    ):  # fmt: skip
        for _ in range(100):
            fn("hi")  # warm caches, the interpreter's specialisation and the SDK's

    def sdk_pair(candidate: Any, reference: Any, n: int = pairs) -> dict[str, float]:
        return paired(candidate, reference, pairs=n, number=sdk_number)

    results: dict[str, Any] = {
        "method": (
            f"median [q1-q3] of per-pair thread-CPU ratios; pairs of blocks of "
            f"{sdk_number} calls with the SDK ({number} without), order alternating; "
            f"{budget_pairs} pairs for the budget, {pairs} for the others"
        ),
        "bare_call_ns": round(_block(complete, number) / number * 1e9, 1),
        "noop_api": {
            "traced": paired(noop, complete, pairs=pairs, number=number),
            "stack_entry": paired(empty, complete, pairs=pairs, number=number),
        },
        "sdk_span": {"traced": sdk_pair(sdk, span_only)},
        "sdk_span_in_stack": {"traced": sdk_pair(sdk, span_in_stack)},
        "sdk_span_and_metrics": {"traced": sdk_pair(sdk_all, span_metrics, budget_pairs)},
        "sdk_span_and_metrics_in_stack": {"traced": sdk_pair(sdk_all, metrics_in_stack)},
        # The method's own bias: the hand-written code against a second copy of itself.
        "a_a_control": {"hand_written": sdk_pair(twin, span_metrics)},
        "one_sdk_span_us": round(_block(span_only, 2_000) / 2_000 * 1e6, 2),
        "hand_written_span_and_metrics_us": round(_block(span_metrics, 2_000) / 2_000 * 1e6, 2),
        "traced_noop_us": round(_block(noop, number) / number * 1e6, 2),
        "same_attributes": _same_attributes(),
        "same_points": _same_points(),
    }
    tracer_provider.shutdown()
    meter_provider.shutdown()
    ratio = results["sdk_span_and_metrics"]["traced"]["median"]
    results["target"] = {"sdk_span_and_metrics <= x": TARGET, "met": ratio <= TARGET}
    return results


def _reference_histograms(meter: Any) -> tuple[Any, Any]:
    """The hand-written code's duration and token histograms (the same advice as llmwarm's)."""
    return (
        meter.create_histogram(
            sc.OPERATION_DURATION + ".ref", "s",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        ),
        meter.create_histogram(
            sc.TOKEN_USAGE + ".ref", "{token}",
            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
        ),
    )  # fmt: skip


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
    return (
        set(mine.attributes or {}) == set(reference.attributes or {})
        and mine.name == reference.name
        and mine.kind == reference.kind
    )


def _same_points() -> bool:
    """Whether ``@traced`` and the reference record the same metric points.

    Over one steady-state call of each: the same instruments (the reference's are named
    with ``.ref`` appended), and per instrument the same points, each with the same
    attribute names, the same count and (for token usage) the same sum.
    """
    reader = InMemoryMetricReader(
        preferred_temporality={
            Counter: AggregationTemporality.DELTA,
            Histogram: AggregationTemporality.DELTA,
        }
    )  # each collection holds only what was recorded since the last one
    provider = MeterProvider(metric_readers=[reader])
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(_Drop())
    meter = provider.get_meter(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
    tracer = tracer_provider.get_tracer(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
    mine_fn = traced(provider="openai", tracer_provider=tracer_provider, meter_provider=provider)
    mine = mine_fn(complete)
    reference = _reference(tracer, _reference_histograms(meter))
    mine("hi")  # possibly the model's first call (cold): not what is timed
    reference("hi")
    reader.get_metrics_data()  # drop those points
    mine("hi")
    reference("hi")
    points = _points(reader.get_metrics_data())
    provider.shutdown()
    tracer_provider.shutdown()
    ours = {name: p for name, p in points.items() if not name.endswith(".ref")}
    theirs = {name.removesuffix(".ref"): p for name, p in points.items() if name.endswith(".ref")}
    return bool(ours) and ours == theirs


def _points(data: Any) -> dict[str, list[tuple[tuple[str, ...], float, float | None]]]:
    """Per instrument with points: (attribute names, count, sum) per point.

    A counter's point counts its value; a duration histogram's sum is left out (the two
    sides' durations differ).
    """
    found: dict[str, list[tuple[tuple[str, ...], float, float | None]]] = {}
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                rows = []
                for point in metric.data.data_points:
                    count = getattr(point, "count", None)
                    if count is None:  # a counter's point
                        count, total = point.value, None
                    else:
                        total = None if metric.unit == "s" else point.sum
                    if count:
                        rows.append((tuple(sorted(point.attributes or {})), count, total))
                if rows:
                    found[metric.name] = sorted(rows)
    return found


if __name__ == "__main__":
    import json

    figures = run(quick="--quick" in sys.argv)
    print(json.dumps(figures, indent=2))
