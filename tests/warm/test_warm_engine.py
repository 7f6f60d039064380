"""A warmer's work runs through the core's driver: where each of its steps runs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from warmtools import FakeClock

from llmwarm import warm

MODEL = "m"


class ThreadNotingRedis:
    """A stand-in Redis client that notes the thread of each command (no lease held)."""

    def __init__(self) -> None:
        self.threads: list[tuple[str, str]] = []

    def _note(self, command: str) -> None:
        self.threads.append((command, threading.current_thread().name))

    def get(self, key: str) -> Any:
        self._note("get")
        return None

    def set(self, key: str, value: str, **options: Any) -> bool:
        self._note("set")
        return True

    def eval(self, script: str, numkeys: int, *args: Any) -> Any:
        self._note("eval")
        return None


async def test_an_async_warmers_redis_and_sync_ping_run_on_llmwarms_workers(
    clock: FakeClock,
) -> None:
    redis = ThreadNotingRedis()
    ping_threads: list[str] = []

    def ping(model: str) -> None:  # a blocking ping of an async function's warmer
        ping_threads.append(threading.current_thread().name)

    @warm(MODEL, interval=60, ping=ping, backend=redis, _clock=clock)
    async def complete(*, model: str = MODEL) -> str:
        return "ok"

    await complete()
    clock.advance(61)
    await complete.warmer.arun_due()

    assert complete.warmer.pings_sent == 1
    commands = [command for command, _ in redis.threads]
    assert "set" in commands  # the lease was taken, then the ping sent and published
    loop_thread = threading.current_thread().name
    for _, name in redis.threads:  # never on the loop, never in its default executor
        assert name != loop_thread
        assert name.startswith("llmwarm-ping-")
    assert len(ping_threads) == 1
    assert ping_threads[0].startswith("llmwarm-ping-")
    complete.warmer.stop()


def test_a_sync_warmers_work_runs_on_the_thread_that_runs_it(clock: FakeClock) -> None:
    redis = ThreadNotingRedis()
    ping_threads: list[str] = []

    def ping(model: str) -> None:
        ping_threads.append(threading.current_thread().name)

    @warm(MODEL, interval=60, ping=ping, backend=redis, _clock=clock)
    def complete(*, model: str = MODEL) -> str:
        return "ok"

    complete()
    clock.advance(61)
    complete.warmer.run_due()  # a manual clock: this thread is the worker

    here = threading.current_thread().name
    assert complete.warmer.pings_sent == 1
    assert redis.threads
    assert all(name == here for _, name in redis.threads)
    assert ping_threads == [here]
    complete.warmer.stop()


async def test_cancelled_work_of_an_async_warmer_is_closed_and_released(
    clock: FakeClock,
) -> None:
    started = asyncio.Event()
    ended: list[str] = []

    async def hung_ping(model: str) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(model)

    @warm(MODEL, interval=60, ping=hung_ping, _clock=clock)
    async def complete(*, model: str = MODEL) -> str:
        return "ok"

    await complete()
    clock.advance(61)
    task = asyncio.ensure_future(complete.warmer.arun_due())
    await asyncio.wait_for(started.wait(), 5.0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert task.cancelled()
    assert ended == [MODEL]  # the ping itself was cancelled, not left running
    assert complete.warmer.next_ping_at(MODEL) is not None  # released: schedulable again
    complete.warmer.stop()
