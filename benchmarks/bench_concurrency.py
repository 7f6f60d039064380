"""Throughput under concurrency: the real openai SDK, bare vs ``@pooled`` vs the full stack.

A fast OpenAI-compatible server (``benchmarks._fast_server``: one canned completion over
HTTP/1.1 keep-alive, in its own process, loopback only) answers every request at once, so
what is measured is the *client's* cost. Three clients make chat-completion requests:

- ``bare``: the SDK client as users build it (``AsyncOpenAI(...)`` / ``OpenAI(...)``);
- ``@pooled``: a function under ``@pooled(AsyncOpenAI, ...)`` (or ``OpenAI``);
- ``stack``: ``@traced @cached @routed @warm @pooled`` on cache misses (a new prompt
  every request: the stack builds its key, looks it up, routes, notes warmth, leases the
  pool, stores the result). ``@traced`` has no OpenTelemetry SDK here, as in production
  without one.

Async: ``concurrency`` tasks on one event loop; sync (``OpenAI``): ``concurrency`` threads.
Each level (1, 10, 50, 200 requests in flight) runs ``requests`` requests per client. Held
equal: the SDK and its version, the server, the request, the number in flight, the number
of requests, and a warm start (each client first runs an unmeasured burst at the highest
level, so connections are open). Not held equal, on purpose: each client keeps its own
default limits and timeouts (``bare`` the SDK's, ``@pooled`` llmwarm's), as users get them.

Every figure is a ratio to ``bare`` measured in the same round (clients interleaved, their
order rotating per round): requests/s (higher is better; target >= 0.95 at every level),
the same as CPU per request (bare's over the client's: a shared machine's neighbours
swing wall-clock throughput far more than they move CPU time), and the p99 of per-request
latency (lower is better). Median (min-max) over rounds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from benchmarks._fast_server import fast_server
from benchmarks._timing import percentile, spread

LEVELS = (1, 10, 50, 200)
#: (requests/s, CPU seconds per request, latencies) of one client at one level.
Measured = tuple[float, float, list[float]]
#: (requests/s, CPU seconds per request, p99 seconds) per round, by (level, client).
Samples = dict[tuple[int, str], list[tuple[float, float, float]]]
TARGET_THROUGHPUT = 0.95
MODEL = "gpt-4o-mini"
API_KEY = "sk-bench"


def _messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _clients(url: str, is_async: bool) -> dict[str, Callable[[str], Any]]:
    """The three clients, each a callable ``(prompt) -> completion`` (a coroutine if async)."""
    import openai

    from llmwarm import Tier, cached, pooled, routed, traced, warm

    factory: Any = openai.AsyncOpenAI if is_async else openai.OpenAI
    tiers = [Tier("small", MODEL), Tier("large", "gpt-4o")]
    pool_options = {"base_url": url, "api_key": API_KEY}

    def small(arguments: Any) -> str:
        return "small"

    if is_async:
        bare_client = factory(**pool_options)

        async def bare(prompt: str) -> Any:
            return await bare_client.chat.completions.create(
                model=MODEL, messages=_messages(prompt)
            )

        async def call(
            prompt: str = "", *, model: str = MODEL, client: Any = None, **kw: Any
        ) -> Any:
            return await client.chat.completions.create(
                model=model, messages=kw.get("messages") or _messages(prompt)
            )
    else:
        bare_client = factory(**pool_options)

        def bare(prompt: str) -> Any:
            return bare_client.chat.completions.create(model=MODEL, messages=_messages(prompt))

        def call(prompt: str = "", *, model: str = MODEL, client: Any = None, **kw: Any) -> Any:
            return client.chat.completions.create(
                model=model, messages=kw.get("messages") or _messages(prompt)
            )

    def copy() -> Any:
        clone = type(call)(call.__code__, call.__globals__, call.__name__, None, call.__closure__)
        clone.__kwdefaults__ = call.__kwdefaults__
        return clone

    plain = pooled(factory, **pool_options)(copy())
    stack = traced(
        cached(ttl=3600, maxsize=10_000)(
            routed(tiers, classify=small)(
                warm([MODEL, "gpt-4o"], interval=3600)(pooled(factory, **pool_options)(copy()))
            )
        )
    )
    return {"bare": bare, "@pooled": plain, "stack": stack}


async def _async_level(
    fn: Callable[[str], Awaitable[Any]], level: int, total: int, prompts: Any
) -> Measured:
    latencies: list[float] = []
    per_worker = max(1, total // level)

    async def worker() -> None:
        for _ in range(per_worker):
            started = time.perf_counter()
            await fn(next(prompts))
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(level)))
    return _measured(started, cpu, latencies)


def _sync_level(
    fn: Callable[[str], Any], level: int, total: int, prompts: Any, executor: ThreadPoolExecutor
) -> Measured:
    latencies: list[float] = []
    lock = threading.Lock()
    per_worker = max(1, total // level)

    def worker() -> None:
        mine = []
        for _ in range(per_worker):
            with lock:
                prompt = next(prompts)
            started = time.perf_counter()
            fn(prompt)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    started, cpu = time.perf_counter(), time.process_time()
    for future in [executor.submit(worker) for _ in range(level)]:
        future.result()
    return _measured(started, cpu, latencies)


def _measured(started: float, cpu: float, latencies: list[float]) -> Measured:
    """Requests/s (wall), the process's CPU seconds per request, and the latencies."""
    count = len(latencies)
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    return count / wall, used / count, latencies


def _summarise(samples: Samples) -> dict[str, Any]:
    """Per level, each client as ratios to bare in the same round (1 = as fast as bare).

    ``throughput``: requests/s over bare's (wall clock). ``cpu``: bare's CPU seconds per
    request over the client's (the client process's CPU time, all threads; the server is
    another process): the same question asked of a resource a busy neighbour does not
    distort, since the clients are CPU-bound against a server that answers at once.
    ``p99``: the client's p99 latency over bare's (lower is better).
    """
    out: dict[str, Any] = {}
    for level in LEVELS:
        bare = samples[(level, "bare")]
        row: dict[str, Any] = {
            "bare_requests_per_s": round(statistics.median(b[0] for b in bare)),
            "bare_cpu_us_per_request": round(statistics.median(b[1] for b in bare) * 1e6),
        }
        for name in ("@pooled", "stack"):
            pairs = list(zip(samples[(level, name)], bare, strict=True))
            row[f"{name} throughput"] = spread([m[0] / b[0] for m, b in pairs])
            row[f"{name} cpu"] = spread([b[1] / m[1] for m, b in pairs])
            row[f"{name} p99"] = spread([m[2] / b[2] for m, b in pairs])
        out[f"c={level}"] = row
    return out


def _met(summary: dict[str, Any], measure: str) -> bool:
    return all(
        row[f"{name} {measure}"]["median"] >= TARGET_THROUGHPUT
        for row in summary.values()
        for name in ("@pooled", "stack")
    )


def _schedule(names: list[str], rounds: int) -> list[tuple[str, int]]:
    """Every (client, level) of every round; the clients' order rotates per round."""
    plan = []
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        plan += [(name, level) for level in LEVELS for name in order]
    return plan


def _note(samples: Samples, name: str, level: int, measured: Measured) -> None:
    rate, cpu, latencies = measured
    samples.setdefault((level, name), []).append((rate, cpu, percentile(latencies, 0.99)))


def _run_async(url: str, rounds: int, total: int) -> Samples:
    async def main() -> Samples:  # everything on one loop: async pools belong to it
        clients = _clients(url, is_async=True)
        prompts = (f"question {i}" for i in itertools.count())
        for fn in clients.values():  # warm start: open the connections of the highest level
            await _async_level(fn, LEVELS[-1], LEVELS[-1], prompts)
        samples: Samples = {}
        for name, level in _schedule(list(clients), rounds):
            count = max(total, level)
            _note(samples, name, level, await _async_level(clients[name], level, count, prompts))
        return samples

    return asyncio.run(main())


def _run_sync(url: str, rounds: int, total: int) -> Samples:
    clients = _clients(url, is_async=False)
    prompts = (f"question {i}" for i in itertools.count())
    samples: Samples = {}
    with ThreadPoolExecutor(max_workers=LEVELS[-1]) as executor:
        for fn in clients.values():
            _sync_level(fn, LEVELS[-1], LEVELS[-1], prompts, executor)
        for name, level in _schedule(list(clients), rounds):
            count = max(total, level)
            _note(samples, name, level, _sync_level(clients[name], level, count, prompts, executor))
    return samples


def run(quick: bool = False) -> dict[str, Any]:
    """Requests/s and p99 of @pooled and the stack, as ratios to the bare SDK client."""
    import llmwarm

    rounds, total = (1, 60) if quick else (5, 400)
    results: dict[str, Any] = {
        "unit": "ratio to the bare SDK client in the same round: median (min-max) over rounds",
        "requests_per_level": total,
        "rounds": rounds,
    }
    try:
        with fast_server() as url:
            results["async"] = _summarise(_run_async(url, rounds, total))
            results["sync (threads)"] = _summarise(_run_sync(url, rounds, total))
    finally:
        llmwarm.shutdown()
        llmwarm.close()
    results["target"] = {
        "throughput >= x bare, every level": TARGET_THROUGHPUT,
        "met by requests/s (async)": _met(results["async"], "throughput"),
        "met by requests/s (sync)": _met(results["sync (threads)"], "throughput"),
        "met by CPU per request (async)": _met(results["async"], "cpu"),
        "met by CPU per request (sync)": _met(results["sync (threads)"], "cpu"),
    }
    return results


if __name__ == "__main__":
    started = time.perf_counter()
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
