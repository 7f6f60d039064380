"""Quickstart: a warm, cached, pooled, traced OpenAI call against the built-in simulator.

Run it with `python examples/quickstart.py`: no API key and no network needed. Point the
same code at a real provider by removing the simulator and the base URL.
"""

import asyncio
import time

from openai import AsyncOpenAI

import llmwarm
from llmwarm import cached, pooled, traced, warm
from llmwarm.sim import aserve


async def main() -> None:
    # A provider whose models take 14 s to load and unload after 300 s idle, with its
    # clock running 100x faster than real time (so 14 s is 0.14 s here).
    async with aserve(cold_start=14, keep_alive=300, time_scale=0.01) as root:

        @traced
        @cached(ttl=3600)
        @warm("gpt-4o-mini", interval=2.4, keep_alive=3.0)  # real seconds: 240 s, 300 s
        @pooled(AsyncOpenAI, base_url=f"{root}/v1", api_key="sk-sim")
        async def complete(messages, *, model="gpt-4o-mini", max_tokens=32, client=None):
            return await client.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens
            )

        complete.warmer.start()  # as an application does at start-up
        await asyncio.sleep(1.0)  # ... and users arrive later (100 simulated seconds)

        for question in ["What is our refund window?", "Is the API up?", "Is the API up?"]:
            started = time.perf_counter()
            answer = await complete([{"role": "user", "content": question}])
            took = time.perf_counter() - started
            print(f"{question!r}: {took * 1000:.1f} ms -> {answer.choices[0].message.content!r}")

        figures = llmwarm.stats()
        print(
            f"{figures['total_requests']} requests, {figures['cold_starts']} cold, "
            f"{figures['cache_hits']} from the cache, {complete.warmer.pings_sent} ping(s)"
        )
        await complete.warmer.aclose()
        await llmwarm.aclose()


if __name__ == "__main__":
    asyncio.run(main())
