"""On a fake clock an async function's warmer does its blocking work on the loop's thread."""

from __future__ import annotations

import threading

from llmwarm import warm
from llmwarm._core.background import Blocking
from llmwarm.testing import fake_clock


async def test_a_sync_ping_of_an_async_function_runs_on_the_loops_thread() -> None:
    threads: list[threading.Thread] = []

    with fake_clock() as clock:

        @warm("m", interval=60, ping=lambda model: threads.append(threading.current_thread()))
        async def complete(prompt: str, *, model: str = "m") -> str:
            return prompt

        await complete("hi")
        await clock.aadvance(70)
    assert threads == [threading.current_thread()]


async def test_blocking_work_of_an_async_warmer_runs_on_the_loops_thread() -> None:
    # The step a fleet's Redis calls take (publish, last, acquire, release).
    with fake_clock():
        ran_on = await Blocking(threading.current_thread).run_async(None)  # type: ignore[arg-type]
    assert ran_on is threading.current_thread()
