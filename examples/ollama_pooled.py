"""The Ollama SDK on one pooled connection, against the built-in simulator.

Run it with `python examples/ollama_pooled.py`: no Ollama needed. Point the same code at
a real Ollama by removing the simulator and using its host (http://localhost:11434).
"""

import asyncio
import time

import ollama

import llmwarm
from llmwarm import pooled
from llmwarm.sim import aserve


async def main() -> None:
    # An Ollama whose models take 14 s to load, with its clock 100x faster than real time.
    async with aserve(cold_start=14, keep_alive=300, time_scale=0.01) as root:

        @pooled(ollama.AsyncClient, host=str(root))  # its httpx transport, pooled
        async def chat(messages, *, model="llama3.2", client=None):
            return await client.chat(model=model, messages=messages)

        await chat.pool.aprewarm()  # the connection, before the first user
        for question in ["Hello?", "Is the API up?"]:
            started = time.perf_counter()
            reply = await chat([{"role": "user", "content": question}])
            took = time.perf_counter() - started
            print(f"{question!r}: {took * 1000:.1f} ms -> {reply.message.content!r}")
        print(f"one client: {chat.pool.client() is chat.pool.client()}")
        await llmwarm.aclose()


if __name__ == "__main__":
    asyncio.run(main())
