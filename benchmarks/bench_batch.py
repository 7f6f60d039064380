"""@batched: 1000 concurrent single-text embedding calls, batched or not.

Counts the upstream requests the simulator received and times the whole burst both ways
(a ratio of the same run), and measures what batching adds to a lone call (which waits
``max_wait`` for company): the median over several lone calls, batched minus direct.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

SCALE = 0.01
CALLS = 1000
MAX_SIZE = 100
MAX_WAIT = 0.01  # real seconds
MODEL = "text-embedding-3-small"
CONNECTIONS = 100  # the unbatched burst uses at most this many connections at a time


async def measure(server: Any, calls: int, lone: int) -> dict[str, Any]:
    import openai

    from llmwarm import batched

    client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="sk", max_retries=0)

    connections = asyncio.Semaphore(CONNECTIONS)  # 1000 connects at once overflow the backlog

    async def direct(text: str) -> list[float]:
        async with connections:
            response = await client.embeddings.create(model=MODEL, input=[text], dimensions=8)
        return response.data[0].embedding

    @batched(max_size=MAX_SIZE, max_wait=MAX_WAIT)
    async def embed(texts: list[str]) -> list[list[float]]:
        response = await client.embeddings.create(model=MODEL, input=texts, dimensions=8)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    def upstream() -> int:
        models: dict[str, Any] = server.stats()["models"]
        return int(models.get(MODEL, {}).get("requests", 0))

    texts = [f"text {i}" for i in range(calls)]
    async with client:
        await direct("warm the model and the connection")
        results: dict[str, Any] = {}
        for name, fn in (("unbatched", direct), ("batched", embed)):
            before = upstream()
            started = time.perf_counter()
            vectors = await asyncio.gather(*(fn(text) for text in texts))
            elapsed = time.perf_counter() - started
            assert len({tuple(v) for v in vectors}) == calls
            results[name] = {"upstream_calls": upstream() - before, "seconds": round(elapsed, 3)}
        direct_lone: list[float] = []
        batched_lone: list[float] = []
        for i in range(lone):
            for target, fn in ((direct_lone, direct), (batched_lone, embed)):
                started = time.perf_counter()
                await fn(f"lone {i}")
                target.append(time.perf_counter() - started)
    results["burst_time_ratio_unbatched_over_batched"] = round(
        results["unbatched"]["seconds"] / results["batched"]["seconds"], 1
    )
    added = statistics.median(batched_lone) - statistics.median(direct_lone)
    results["lone_call_added_ms"] = round(added * 1000, 1)
    results["lone_call_max_wait_ms"] = MAX_WAIT * 1000
    stats = embed.batcher.stats  # type: ignore[attr-defined]
    results["batcher_stats_after_burst_and_lone_calls"] = {
        "batches": stats.batches,
        "max_batch_size": stats.batch_max_size,
    }
    return results


def run(quick: bool) -> dict[str, Any]:
    from llmwarm.sim import serve

    with serve(time_scale=SCALE, seed=0, cold_start=0, ttft=0.3) as server:
        results = asyncio.run(measure(server, CALLS, 5 if quick else 20))
    results["setup"] = (
        f"{CALLS} concurrent calls (unbatched: {CONNECTIONS} at a time), "
        f"max_size={MAX_SIZE}, max_wait={MAX_WAIT * 1000:g} ms, "
        f"simulator ttft 0.3 s at time_scale={SCALE:g}"
    )
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick=False), indent=2))
