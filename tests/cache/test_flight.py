"""Single-flight: concurrent identical misses make one upstream call (threads and tasks)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from llmwarm import cached


async def test_100_concurrent_async_identical_calls_make_one_upstream_call() -> None:
    gate = asyncio.Event()
    calls: list[str] = []

    @cached
    async def complete(prompt: str) -> dict[str, str]:
        calls.append(prompt)
        await gate.wait()
        return {"answer": prompt}

    tasks = [asyncio.create_task(complete("hi")) for _ in range(100)]
    for _ in range(5):
        await asyncio.sleep(0)  # every task reaches the flight before the leader finishes
    gate.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert calls == ["hi"]
    assert all(r == {"answer": "hi"} for r in results)
    stats = complete.cache.stats
    assert (stats.cache_misses, stats.cache_shared) == (100, 99)
    assert len(complete.llmwarm_policies[0].flights) == 0


def test_20_threaded_identical_calls_make_one_upstream_call() -> None:
    started = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        started.set()
        release.wait(timeout=10)
        return prompt.upper()

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(complete("hi"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    assert started.wait(timeout=10)
    policy = complete.llmwarm_policies[0]
    deadline = time.monotonic() + 10
    while policy.misses < 20 and time.monotonic() < deadline:  # all 20 have missed
        time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert calls == ["hi"]
    assert results == ["HI"] * 20


async def test_a_failure_reaches_every_waiter_and_nothing_is_stored() -> None:
    gate = asyncio.Event()
    calls: list[int] = []

    @cached
    async def complete(prompt: str) -> str:
        calls.append(1)
        await gate.wait()
        if len(calls) == 1:
            raise TimeoutError("the model took too long")
        return "ok"

    tasks = [asyncio.create_task(complete("hi")) for _ in range(10)]
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert len(calls) == 1
    assert all(isinstance(r, TimeoutError) for r in results)
    assert await complete("hi") == "ok"  # nothing was stored: upstream again
    assert len(calls) == 2


def test_a_threaded_failure_reaches_every_waiter_as_its_own_exception() -> None:
    release = threading.Event()
    calls: list[int] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(1)
        release.wait(timeout=10)
        raise ConnectionError("refused")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            complete("hi")
        except ConnectionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    policy = complete.llmwarm_policies[0]
    deadline = time.monotonic() + 10
    while policy.misses < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(calls) == 1
    assert len(errors) == 5
    # Each waiter raises an exception of its own (it was one object raised in every
    # thread), caused by the leader's.
    assert len({id(e) for e in errors}) == 5
    leaders = [e for e in errors if e.__cause__ is None]
    assert len(leaders) == 1
    assert all(e.__cause__ is leaders[0] for e in errors if e is not leaders[0])
    assert all(e.args == ("refused",) for e in errors)


async def test_a_cancelled_waiter_cancels_nobody_else() -> None:
    gate = asyncio.Event()
    calls: list[int] = []

    @cached
    async def complete(prompt: str) -> str:
        calls.append(1)
        await gate.wait()
        return "ok"

    leader = asyncio.create_task(complete("hi"))
    waiters = [asyncio.create_task(complete("hi")) for _ in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    waiters[0].cancel()
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.wait_for(leader, timeout=10) == "ok"
    with pytest.raises(asyncio.CancelledError):
        await waiters[0]
    assert await asyncio.gather(*waiters[1:]) == ["ok", "ok"]
    assert len(calls) == 1


async def test_a_cancelled_leader_hands_over_to_a_waiter() -> None:
    gate = asyncio.Event()
    calls: list[int] = []

    @cached
    async def complete(prompt: str) -> str:
        calls.append(1)
        await gate.wait()
        return "ok"

    leader = asyncio.create_task(complete("hi"))
    for _ in range(3):
        await asyncio.sleep(0)
    waiters = [asyncio.create_task(complete("hi")) for _ in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    leader.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), timeout=10) == ["ok"] * 3
    assert leader.cancelled()
    assert len(calls) == 2  # the cancelled leader's call, and one waiter's takeover


async def test_different_keys_do_not_wait_for_each_other() -> None:
    gate = asyncio.Event()

    @cached
    async def complete(prompt: str) -> str:
        if prompt == "slow":
            await gate.wait()
        return prompt

    slow = asyncio.create_task(complete("slow"))
    await asyncio.sleep(0)
    assert await asyncio.wait_for(complete("fast"), timeout=5) == "fast"
    gate.set()
    assert await slow == "slow"


async def test_stream_results_are_not_shared_with_waiters() -> None:
    gate = asyncio.Event()
    calls: list[int] = []

    async def chunks() -> Any:
        for part in ("a", "b"):
            yield part

    @cached
    async def tokens(prompt: str) -> Any:
        calls.append(1)
        await gate.wait()
        return chunks()

    tasks = [asyncio.create_task(tokens("p")) for _ in range(3)]
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    streams = await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    for stream in streams:  # each caller got its own stream
        assert [c async for c in stream] == ["a", "b"]
    assert len(calls) == 3  # the leader's, and one per waiter: a stream is read only once
    assert [c async for c in await tokens("p")] == ["a", "b"]
    assert len(calls) == 3  # now replayed from the cache


def test_a_forked_child_forgets_the_parents_flights() -> None:
    import os

    release = threading.Event()
    parent = os.getpid()

    @cached
    def complete(prompt: str) -> str:
        if os.getpid() == parent:  # the child's own call must not wait for the parent
            release.wait(timeout=10)
        return prompt

    leader = threading.Thread(target=complete, args=("hi",))
    leader.start()
    policy = complete.llmwarm_policies[0]
    for _ in range(1000):  # at most 10 s
        if len(policy.flights):
            break
        time.sleep(0.01)
    pid = os.fork()
    if pid == 0:  # the child: the parent's leader thread does not exist here
        os._exit(0 if complete("hi") == "hi" and len(policy.flights) == 0 else 1)
    release.set()
    leader.join(timeout=10)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
