"""Event loops the application owns: new_event_loop / run_until_complete / close, threads.

The script runs in a subprocess (its stderr must stay empty: no "Task was destroyed but it
is pending", no "Event loop is closed", no ResourceWarning, which ``-W error`` turns into
"Exception ignored" reports) against the simulator served by this test process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from llmwarm.sim import SimServer

OWNED_LOOPS = textwrap.dedent(
    """
    import asyncio, gc, sys, threading
    import openai, llmwarm
    from llmwarm import batched, pooled, warm
    from llmwarm._core import ScaledClock

    root = sys.argv[1]
    clock = ScaledClock(100)  # interval=1 s is 10 ms: pings happen while each loop runs

    @warm("m", interval=1, _clock=clock)
    @pooled(openai.AsyncOpenAI, base_url=f"{root}/v1", api_key="sk", max_retries=0)
    async def complete(messages, *, model="m", max_tokens=4, client):
        return await client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens
        )

    @batched(max_size=4, max_wait=0.01)
    async def lengths(items):
        await asyncio.sleep(0)
        return [len(item) for item in items]

    clients, loops_pinged = [], []

    async def session():
        assert (await complete([{"role": "user", "content": "hi"}])).choices
        assert await asyncio.gather(lengths("a"), lengths("bb")) == [1, 2]
        clients.append(complete.pool.http_client())
        before = complete.warmer.pings_sent
        for _ in range(200):  # idle: @warm pings on this very loop
            await asyncio.sleep(0.01)
            if complete.warmer.pings_sent > before:
                loops_pinged.append(asyncio.get_running_loop())
                break

    for _ in range(3):  # three loops in a row, each closed by its owner
        loop = asyncio.new_event_loop()
        loop.run_until_complete(session())
        loop.close()
    # one loop at a time: each ping seen went out on the loop then running (a new task each)
    assert len(set(map(id, loops_pinged))) == 3, loops_pinged

    def worker():  # threads, each with its own loop
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(session())
        finally:
            loop.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    gc.collect()
    # each loop had its own pool, closed with its loop; and its own warmer task
    assert len({id(c) for c in clients}) == 6, clients
    assert all(c.is_closed for c in clients)
    assert len(set(map(id, loops_pinged))) >= 4, loops_pinged
    llmwarm.shutdown()
    llmwarm.close()
    gc.collect()
    print("ok")
    """
)


@pytest.mark.sim(cold_start=0, ttft=0.01, token_time=0.001)
def test_owned_loops_and_per_thread_loops_leave_no_warning(sim_server: SimServer) -> None:
    out = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", OWNED_LOOPS, str(sim_server)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "ok", out.stderr
    assert out.stderr == ""
