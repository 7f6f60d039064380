"""llmwarm.stats(): counts, rates, percentiles, window, pings, failures, bounded memory."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

import pytest

import llmwarm
from llmwarm._core import Call, CallRecord, FunctionSpec, Policy, apply, invoke
from llmwarm._core import call_stats as stats


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(stats, "_clock", fake)
    return fake


def _target(prompt: str = "", *, model: str = "m") -> None:
    return None


SPEC = FunctionSpec(_target)


def end_call(
    duration: float,
    *,
    model: str = "m",
    cold: bool | None = None,
    hit: bool | None = None,
    error: BaseException | None = None,
    warmup: bool = False,
) -> CallRecord:
    """Feed the call-end hook one call whose facts the test chooses."""
    record = CallRecord("f", warmup=warmup)
    record.duration = duration
    record.cold_start = cold
    record.cache_hit = hit
    record.error = error
    stats.record_call(record, Call(SPEC, _target, None, (), {"model": model}, record))
    return record


def test_the_hook_is_registered_on_import_and_counts_every_stack() -> None:
    from llmwarm._core import driver as _core

    assert stats.record_call in _core._call_end_hooks
    fn = apply(lambda *, model="m": "ok", Policy())
    fn()
    fn()
    assert llmwarm.stats()["total_requests"] == 2


async def test_async_calls_and_failures_are_counted() -> None:
    async def call(*, model: str = "m", fail: bool = False) -> str:
        await asyncio.sleep(0)
        if fail:
            raise RuntimeError("upstream down")
        return "ok"

    fn = apply(call, Policy())
    await fn()
    with pytest.raises(RuntimeError, match="upstream down"):
        await fn(fail=True)
    figures = llmwarm.stats()
    assert (figures["total_requests"], figures["errors"]) == (2, 1)


def test_counts_rates_and_averages(clock: FakeClock) -> None:
    for duration in (10.0, 12.0):
        end_call(duration, cold=True)
    for duration in (1.0, 2.0, 3.0):
        end_call(duration, cold=False)
    end_call(0.001, hit=True)
    end_call(4.0, cold=False, error=RuntimeError("boom"))
    figures = llmwarm.stats()
    assert figures["total_requests"] == 7  # cache hits and failures count
    assert figures["cold_starts"] == 2
    assert figures["cold_start_rate"] == pytest.approx(2 / 7)
    assert figures["avg_cold_latency"] == pytest.approx(11.0)
    assert figures["avg_warm_latency"] == pytest.approx((1 + 2 + 3 + 4) / 4)  # no cache hit
    assert figures["avg_latency"] == pytest.approx((22 + 6 + 0.001 + 4) / 7)
    assert figures["cache_hits"] == 1
    assert figures["errors"] == 1
    assert figures["warmup_pings"] == 0


def test_percentiles_use_the_nearest_rank(clock: FakeClock) -> None:
    for duration in range(1, 101):  # 1..100 seconds, shuffled order does not matter
        end_call(float((duration * 37) % 100 + 1), cold=False)
    figures = llmwarm.stats()
    assert (figures["p50_latency"], figures["p95_latency"], figures["p99_latency"]) == (
        50.0,
        95.0,
        99.0,
    )


def test_empty_stats_have_no_latency() -> None:
    figures = llmwarm.stats()
    assert figures["total_requests"] == 0
    assert figures["cold_start_rate"] == 0.0
    assert figures["avg_latency"] is None
    assert figures["p99_latency"] is None
    for key in (
        "total_requests", "cold_starts", "cold_start_rate", "avg_latency", "avg_cold_latency",
        "avg_warm_latency", "p50_latency", "p95_latency", "p99_latency", "cache_hits",
        "warmup_pings",
    ):  # fmt: skip
        assert key in figures


def test_window_keeps_only_recent_calls(clock: FakeClock) -> None:
    end_call(9.0, cold=True)
    clock.now += 600
    end_call(1.0, cold=False)
    assert llmwarm.stats(window=3600)["total_requests"] == 2
    recent = llmwarm.stats(window=300)
    assert (recent["total_requests"], recent["cold_starts"], recent["avg_latency"]) == (
        0 + 1,
        0,
        1.0,
    )
    with pytest.raises(ValueError, match="window must be a positive number of seconds"):
        llmwarm.stats(window=0)


def test_warmup_pings_are_counted_apart_and_keep_the_model_warm(clock: FakeClock) -> None:
    end_call(0.5, warmup=True)
    end_call(0.5, warmup=True)
    figures = llmwarm.stats()
    assert (figures["total_requests"], figures["warmup_pings"]) == (0, 2)
    clock.now += 100
    record = end_call(1.0)  # predicted from the ping 100 s ago: warm
    assert (record.cold_start, record.idle_s) == (False, pytest.approx(100.0, abs=0.5))


def test_fallback_prediction_flips_at_the_keep_alive(clock: FakeClock) -> None:
    assert end_call(1.0).cold_start is True  # never called
    clock.now += stats.DEFAULT_KEEP_ALIVE - 1
    assert end_call(1.0).cold_start is False
    clock.now += stats.DEFAULT_KEEP_ALIVE + 1
    assert end_call(1.0).cold_start is True
    assert end_call(1.0, model="other").cold_start is True
    assert llmwarm.stats()["cold_starts"] == 3


def test_a_failed_call_does_not_count_as_activity(clock: FakeClock) -> None:
    end_call(1.0, error=ConnectionError("refused"))
    assert end_call(1.0).cold_start is True


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setattr(stats, "_samples", deque(maxlen=50))
    monkeypatch.setattr(stats, "DEFAULT_MAX_MODELS", 10)
    for index in range(500):
        end_call(1.0, model=f"model-{index}")
    assert llmwarm.stats()["total_requests"] == 50
    assert len(stats._last_call) == 10
    assert "model-499" in stats._last_call
    assert stats._samples.maxlen == 50
    assert stats.DEFAULT_MAX_SAMPLES == 10_000


def test_threads_count_every_call() -> None:
    fn = apply(lambda *, model="m": "ok", Policy())

    def work() -> None:
        for _ in range(200):
            fn()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert llmwarm.stats()["total_requests"] == 800


def test_reset_stats_forgets_everything(clock: FakeClock) -> None:
    end_call(1.0)
    end_call(1.0, warmup=True)
    llmwarm.reset_stats()
    figures: dict[str, Any] = llmwarm.stats()
    assert (figures["total_requests"], figures["warmup_pings"]) == (0, 0)
    assert end_call(1.0).cold_start is True  # the last-call map is gone too


def test_a_ping_through_a_real_stack_is_not_a_request() -> None:
    fn = apply(lambda prompt, *, model="m": "ok", Policy())
    invoke(fn, "", _record=CallRecord("f", warmup=True))
    figures = llmwarm.stats()
    assert (figures["total_requests"], figures["warmup_pings"]) == (0, 1)


def test_stats_can_be_read_while_other_threads_record_calls() -> None:
    import sys
    import threading

    fn = apply(lambda *, model="m": "ok", Policy())
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            fn()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        for _ in range(300):
            llmwarm.stats()  # raised "deque mutated during iteration" before
    finally:
        stop.set()
        worker.join(timeout=10)
        sys.setswitchinterval(old)
    assert llmwarm.stats()["total_requests"] > 0
