"""What a cache miss adds to a pooled TLS request, and per-call cost with many pools.

(a) **Miss cost.** A hypercorn server over TLS on loopback (``bench_pooling``'s helper,
trustme certificates, HTTP/1.1). ``plain`` is a sync ``@pooled`` function making one real
HTTPS request and returning its parsed JSON; ``missed`` is the same function under
``@cached`` (memory back end), called with a new argument every call, so every call is a
miss: it builds the key, looks it up, runs the request and stores the result. Both share
one pool (same configuration) and are timed in the same rounds, the order alternating from
round to round; the ratio is missed / plain per round, median (min-max). Target: ≤ 1.05.
Loopback has no network round trip, so the request is as cheap as it gets and the ratio
is a ceiling: over a real network (and with a model's generation time) it is closer to 1.

(b) **Pools in the registry.** A ``@pooled`` pass-through function (it never sends a
request: the cost is the pool look-up and lease) is timed with 10 pools registered, then
again after registering many more (``@pooled`` functions with distinct ``headers`` in
``http_options``, each called once so its ``httpx.Client`` exists). Both phases have to
run one after the other (the registry is process-wide), so each round times the candidate
against a bare call of the same round, and the reported figure is (calls in bare-call
units with N pools) / (the same with 10 pools). Building an ``httpx.Client`` costs about a
millisecond even with a shared SSL context: the full run registers 10,000 pools, the quick
run 1,000 (the ``pools`` entry says which). Target: no growth (about 1.0).
"""

from __future__ import annotations

import itertools
import json
import ssl
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks._timing import per_call, spread
from benchmarks.bench_overhead import _copy
from benchmarks.bench_pooling import _tls_server

TARGET_MISS_RATIO = 1.05


def _miss_cost(url: str, context: ssl.SSLContext, rounds: int, number: int) -> dict[str, Any]:
    from llmwarm import cached, pooled

    options = {"verify": context}

    @pooled(http_options=options)
    def plain(prompt: str, *, http_client: Any = None) -> Any:
        response = http_client.get(url)
        response.raise_for_status()
        return response.json()

    @cached(ttl=3600, maxsize=100_000)
    @pooled(http_options=options)
    def missed(prompt: str, *, http_client: Any = None) -> Any:
        response = http_client.get(url)
        response.raise_for_status()
        return response.json()

    unique = itertools.count()

    def time_plain(n: int) -> float:
        return per_call(lambda: plain("same"), n)

    def time_missed(n: int) -> float:
        return per_call(lambda: missed(f"question {next(unique)}"), n)

    plain("warm-up")  # the pool's connection, as a long-lived process has it
    missed("warm-up")
    hits_before = missed.cache.stats.cache_hits
    values, plains, misses = [], [], []
    for index in range(rounds):
        if index % 2:
            m = time_missed(number)
            p = time_plain(number)
        else:
            p = time_plain(number)
            m = time_missed(number)
        plains.append(p)
        misses.append(m)
        values.append(m / p)
    result: dict[str, Any] = {
        "ratio_miss_over_plain": spread(values),
        "plain_ms": round(statistics.median(plains) * 1000, 3),
        "miss_ms": round(statistics.median(misses) * 1000, 3),
        "added_us": round((statistics.median(misses) - statistics.median(plains)) * 1e6, 1),
        "requests_per_side": rounds * number,
        "target_ratio": TARGET_MISS_RATIO,
        "target_met": statistics.median(values) <= TARGET_MISS_RATIO,
    }
    result["cache_hits_during_timing"] = missed.cache.stats.cache_hits - hits_before
    return result


def _bare(*, http_client: Any = None) -> int:
    return 1


def _pool_scaling(pools: int, rounds: int, number: int) -> dict[str, Any]:
    import llmwarm
    from llmwarm import pooled

    context = ssl.create_default_context()  # shared: no certificate loading per client

    def register(first: int, last: int) -> None:
        for i in range(first, last):
            options = {"verify": context, "headers": {"x-pool": str(i)}}
            fn = pooled(http_options=options)(_copy(_bare))
            fn()  # builds and registers this configuration's client

    def measure(candidate: Callable[[], Any]) -> list[float]:
        out = []
        for _ in range(rounds):
            base = per_call(_bare, number)
            out.append(per_call(candidate, number) / base)
        return out

    llmwarm.close()  # start from an empty registry
    try:
        options = {"verify": context, "headers": {"x-pool": "0"}}
        candidate = pooled(http_options=options)(_copy(_bare))
        register(0, 10)
        candidate()
        few = measure(candidate)
        started = time.perf_counter()
        register(10, pools)
        build_s = time.perf_counter() - started
        many = measure(candidate)
    finally:
        started = time.perf_counter()
        llmwarm.close()
        close_s = time.perf_counter() - started
    return {
        "pools": pools,
        f"ratio_{pools}_over_10": spread([m / f for m, f in zip(many, few, strict=True)]),
        "pooled_call_bare_units_10": spread(few),
        f"pooled_call_bare_units_{pools}": spread(many),
        "seconds_to_build_pools": round(build_s, 1),
        "seconds_to_close_pools": round(close_s, 1),
        "target": "no growth (ratio about 1)",
    }


def run(quick: bool) -> dict[str, Any]:
    """Return the miss/plain ratio of a pooled TLS request, and pooled-call cost vs pools."""
    rounds, number = (5, 20) if quick else (11, 60)
    with _tls_server() as (server, context):
        miss = _miss_cost(server.url, context, rounds, number)
    pools = 1_000 if quick else 10_000
    scaling = _pool_scaling(pools, rounds=3 if quick else 7, number=2_000 if quick else 10_000)
    return {"miss": miss, "pools": scaling}


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
