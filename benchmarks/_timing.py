"""Timing helpers shared by the benchmarks: ratios against a reference of the same round."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any


def per_call(
    fn: Callable[[], Any], number: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Seconds per call of ``fn``, over ``number`` calls (GC paused, as timeit does)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = clock()
        for _ in range(number):
            fn()
        return (clock() - started) / number
    finally:
        if gc_was_enabled:
            gc.enable()


def per_call_cpu(fn: Callable[[], Any], number: int) -> float:
    """Like :func:`per_call`, in the calling thread's CPU time, not wall time.

    For single-threaded, CPU-bound hot paths on a shared machine: time the thread spends
    descheduled (a neighbour's load) counts against neither the candidate nor its reference.
    """
    return per_call(fn, number, time.thread_time)


def per_await(
    make: Callable[[], Awaitable[Any]],
    number: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds per ``await make()``, over ``number`` awaits in one running loop."""

    async def loop() -> float:
        started = clock()
        for _ in range(number):
            await make()
        return (clock() - started) / number

    return asyncio.run(loop())


def per_call_cpu_async(make: Callable[[], Awaitable[Any]], number: int) -> float:
    """Like :func:`per_await`, in the thread's CPU time (see :func:`per_call_cpu`)."""
    return per_await(make, number, time.thread_time)


def percentile(values: list[float], q: float) -> float:
    """The value at fraction ``q`` (0 to 1) of the sorted values, by the nearest index."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def spread(values: list[float]) -> dict[str, float]:
    """Median and range of repeated measurements."""
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def ratios(
    candidates: dict[str, Callable[[int], float]],
    reference: Callable[[int], float],
    *,
    rounds: int,
    number: int,
) -> dict[str, dict[str, float]]:
    """Time each candidate and the reference in the same rounds; return per-round ratios.

    ``candidates`` and ``reference`` take a call count and return seconds per call.
    Interleaving them inside each round means a noisy neighbour slows both alike.
    """
    per_round: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        base = reference(number)
        for name, candidate in candidates.items():
            per_round[name].append(candidate(number) / base)
    return {name: spread(values) for name, values in per_round.items()}
