"""@routed hedging against a cold first tier: p50/p99 latency with and without ``hedge_after``.

The simulator serves two models: ``small`` (the first tier) is cold on every request (a
14 s load, ``keep_alive=0``), ``medium`` is warm. Without hedging every short request
waits for the small model's load; with ``hedge_after=0.5`` (simulated seconds) the
request also starts on the medium tier and the first answer wins. Latencies are reported
in simulated seconds (real seconds / ``time_scale``) and as a ratio of the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from benchmarks._timing import percentile

SCALE = 0.05  # 20x faster than real time (coarser scales turn scheduler noise into seconds)
COLD_START = 14.0  # simulated seconds
HEDGE_AFTER = 0.5  # simulated seconds


async def measure(base_url: str, calls: int, hedge: float | None) -> dict[str, Any]:
    import openai

    from llmwarm import Tier, routed
    from llmwarm._core import Call, Flow, Policy, apply

    reasons: list[str | None] = []

    class Reasons(Policy):
        def flow(self, call: Call) -> Flow:
            result = yield call
            reasons.append(call.record.route_reason)
            return result

    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk", max_retries=0)
    tiers = [Tier("small", "small"), Tier("medium", "medium")]

    @routed(tiers, hedge_after=hedge)
    async def complete(messages: list[Any], *, model: str = "", **kw: Any) -> Any:
        return await client.chat.completions.create(model=model, messages=messages, **kw)

    complete = apply(complete, Reasons())
    messages = [{"role": "user", "content": "What is 2+2?"}]
    latencies = []
    async with client:
        await complete(messages, model="medium")  # warm the second tier (an explicit model)
        for _ in range(calls):
            started = time.perf_counter()
            await complete(messages, max_tokens=4)
            latencies.append((time.perf_counter() - started) / SCALE)
    return {
        "p50_s": round(statistics.median(latencies), 3),
        "p99_s": round(percentile(latencies, 0.99), 3),
        "hedge_wins": reasons.count("hedge"),
        "calls": calls,
    }


def run(quick: bool) -> dict[str, Any]:
    from llmwarm.sim import serve

    calls = 8 if quick else 25
    options: dict[str, Any] = {
        "time_scale": SCALE,
        "seed": 0,
        "ttft": 0.3,
        "token_time": 0.02,
        "models": {
            "small": {"cold_start": COLD_START, "keep_alive": 0},
            "medium": {"cold_start": COLD_START, "keep_alive": 3600},
        },
    }
    results: dict[str, Any] = {}
    for name, hedge in (("without_hedging", None), ("with_hedging", HEDGE_AFTER * SCALE)):
        with serve(**options) as root:
            results[name] = asyncio.run(measure(root.openai_base_url, calls, hedge))
    without, with_ = results["without_hedging"], results["with_hedging"]
    results["p99_ratio_without_over_with"] = round(without["p99_s"] / with_["p99_s"], 1)
    results["setup"] = (
        f"first tier cold on every request ({COLD_START:g} s load), second tier warm, "
        f"hedge_after={HEDGE_AFTER:g} s, simulated seconds at time_scale={SCALE:g}"
    )
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick=False), indent=2))
