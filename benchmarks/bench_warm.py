"""@warm against sparse traffic: cold-start rate, latency and pings for three strategies.

A simulated day (a few simulated hours in quick mode) of Poisson arrivals whose mean gap
equals the provider's keep-alive (300 simulated s, so ~37% of gaps outlive it) is replayed
against the simulator, at the same time, for three models served by the same simulator:

- ``none``: no warmer;
- ``fixed``: the common recipe, a ping at start-up then every keep-alive seconds whatever
  the traffic;
- ``warm``: ``@warm(interval=200, keep_alive=300)`` with its default ping (the decorated
  function itself, 1 output token), started at start-up with ``warmer.start()``.

The interval leaves 100 simulated seconds of margin: at a 1/2000 time scale the loopback
round trip of a request on a loaded machine (~10-20 ms real) is 20-40 simulated seconds.

A request is cold when the simulator says so (``x-sim-cold-start: true``). Latencies are
what the simulator charges each request, in simulated seconds (a 14 s load when cold, plus
0.3 s to the first token and 16 tokens at 0.02 s): at a time scale of 1/2000, the real
loopback HTTP overhead (reported apart, in real milliseconds) would otherwise be magnified
2000 times and drown the figures.
"""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import time
from typing import Any

from benchmarks._timing import percentile

KEEP_ALIVE = 300.0  # simulated seconds, Ollama's default
INTERVAL = 200.0  # @warm: keep_alive minus a margin for the (time-scaled) round trip
COLD_START = 14.0
TTFT = 0.3
TOKEN_TIME = 0.02  # the simulator's default
TOKENS = 16  # max_tokens of each request
MESSAGES = [{"role": "user", "content": "Summarise the ticket in one line."}]
PING = [{"role": "user", "content": "ping"}]


def arrivals(span: float, mean_gap: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    times, t = [], rng.expovariate(1 / mean_gap)
    while t < span:
        times.append(t)
        t += rng.expovariate(1 / mean_gap)
    return times


async def replay(call: Any, times: list[float], scale: float, t0: float) -> dict[str, Any]:
    latencies, overheads, cold = [], [], 0
    for t in times:
        delay = t0 + t * scale - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        started = time.perf_counter()
        raw = await call()
        elapsed = time.perf_counter() - started
        was_cold = raw.headers.get("x-sim-cold-start") == "true"
        cold += was_cold
        # the simulator's own charge, in simulated seconds: load + first token + tokens
        modelled = (COLD_START if was_cold else 0.0) + TTFT + TOKENS * TOKEN_TIME
        latencies.append(modelled)
        overheads.append(max(0.0, elapsed - modelled * scale) * 1000)
    return {
        "requests": len(times),
        "cold_starts": cold,
        "cold_start_rate": round(cold / len(times), 4) if times else 0.0,
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "p99_s": percentile(latencies, 0.99),
        "http_overhead_p50_ms": round(percentile(overheads, 0.50), 2),
    }


async def day(root: str, span: float, scale: float) -> dict[str, Any]:
    import openai

    from llmwarm import warm
    from llmwarm._scheduler import ScaledClock

    client = openai.AsyncOpenAI(base_url=f"{root}/v1", api_key="sk-sim", max_retries=0)
    create = client.chat.completions.with_raw_response.create

    async def plain(model: str) -> Any:
        return await create(model=model, messages=MESSAGES, max_tokens=16)

    fixed_pings = 0

    async def fixed_warmer() -> None:  # the common recipe: a ping every keep-alive seconds
        nonlocal fixed_pings
        while True:
            fixed_pings += 1
            await create(model="fixed", messages=PING, max_tokens=1)
            await asyncio.sleep(KEEP_ALIVE * scale)

    # Simulated seconds on a clock as fast as the simulator's (the shortest real interval is 1 s)
    @warm("warm", interval=INTERVAL, keep_alive=KEEP_ALIVE, _clock=ScaledClock(1 / scale))
    async def complete(messages: Any, *, model: str = "warm", max_tokens: int = 16) -> Any:
        return await create(model=model, messages=messages, max_tokens=max_tokens)

    times = arrivals(span, KEEP_ALIVE, seed=7)
    # both warmers warm their model at start-up (e.g. in a FastAPI lifespan)
    pinger = asyncio.create_task(fixed_warmer())
    complete.warmer.start()
    t0 = time.perf_counter() + 0.05
    try:
        none, fixed, warmed = await asyncio.gather(
            replay(lambda: plain("none"), times, scale, t0),
            replay(lambda: plain("fixed"), times, scale, t0),
            replay(lambda: complete(MESSAGES), times, scale, t0),
        )
    finally:
        pinger.cancel()
        await complete.warmer.aclose()
        await client.close()
    none["pings"] = 0
    fixed["pings"] = fixed_pings
    warmed["pings"] = complete.warmer.pings_sent
    warmed["ping_failures"] = complete.warmer.ping_failures
    return {"none": none, "fixed": fixed, "warm": warmed}


def serve_in_subprocess(scale: float) -> tuple[subprocess.Popen[bytes], str]:
    """Run the simulator in its own process, so that it does not share our GIL."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "llmwarm.sim", "--port", str(port), "--seed", "0"]
    command += ["--time-scale", repr(scale), "--keep-alive", repr(KEEP_ALIVE)]
    command += ["--cold-start", repr(COLD_START), "--ttft", repr(TTFT)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{root}/sim/stats", timeout=1).raise_for_status()
            return process, root
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the simulator did not start")


def run(quick: bool) -> dict[str, Any]:
    span = 4 * 3600.0 if quick else 86400.0
    scale = 0.0005  # a simulated day in 43 s
    started = time.perf_counter()
    process, root = serve_in_subprocess(scale)
    try:
        cases = asyncio.run(day(root, span, scale))
    finally:
        process.terminate()
        process.wait(10)
    per_day = 86400.0 / span
    for case in cases.values():
        case["pings_per_day"] = round(case["pings"] * per_day)
        case["ping_tokens_per_day"] = case["pings_per_day"] * 2  # ~1 in, 1 out (simulator)
    warm_case, fixed_case = cases["warm"], cases["fixed"]
    return {
        "simulated_hours": span / 3600,
        "mean_gap_s": KEEP_ALIVE,
        "keep_alive_s": KEEP_ALIVE,
        "interval_s": INTERVAL,
        "time_scale": scale,
        "cases": [{"name": name, **case} for name, case in cases.items()],
        "target_warm_cold_rate_le_1pct": warm_case["cold_start_rate"] <= 0.01,
        "target_warm_fewer_pings_than_fixed": warm_case["pings"] < fixed_case["pings"],
        "real_seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
