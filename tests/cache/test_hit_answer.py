"""``@cached`` answers a hit before its flow runs; every other case still runs the flow.

The engine asks :meth:`CachedPolicy.answer` first: a hit from an inline back end costs no
generator. A miss, a warm-up ping, an open breaker, a back end that is not inline and
arguments that cannot be cached fall through to the flow, which must then behave as it
always did, and build the key of a call once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmwarm import cached, traced
from llmwarm._core import NO_ANSWER, Call, CallRecord, invoke
from llmwarm.cache._cached import CachedPolicy
from llmwarm.cache.backends import MemoryBackend, SQLiteBackend


class Counted:
    """Counts a policy's flows started and keys built (instance attributes over methods)."""

    def __init__(self, fn: Any) -> None:
        policy = fn.cache._policy
        assert isinstance(policy, CachedPolicy)
        self.policy = policy
        self.flows = 0
        self.builds = 0
        flow, build = policy.flow, policy._build

        def counted_flow(call: Any) -> Any:
            self.flows += 1
            return flow(call)

        def counted_build(*args: Any, **kwargs: Any) -> str:
            self.builds += 1
            return build(*args, **kwargs)

        policy.flow = counted_flow  # type: ignore[method-assign]
        policy._build = counted_build  # type: ignore[method-assign]


def test_a_sync_hit_is_answered_without_starting_the_flow() -> None:
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt.upper()

    counted = Counted(complete)
    assert complete("hi") == "HI"  # a miss: answer() reads, the flow goes upstream
    assert (counted.flows, counted.builds) == (1, 1)  # one key build for the miss
    record = CallRecord("complete")
    assert invoke(complete, "hi", _record=record) == "HI"
    assert (counted.flows, counted.builds) == (1, 2)  # the hit: no flow at all
    assert record.cache_hit is True
    assert calls == ["hi"]
    stats = complete.cache.stats
    assert (stats.cache_hits, stats.cache_misses) == (1, 1)


async def test_an_async_hit_is_answered_without_starting_the_flow() -> None:
    calls: list[str] = []

    @traced  # passes calls on once: the hit reads at the record's start time
    @cached
    async def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt.upper()

    counted = Counted(complete)
    assert counted.policy._read_at is not None
    assert await complete("hi") == "HI"
    assert (counted.flows, counted.builds) == (1, 1)
    record = CallRecord("complete")
    assert await invoke(complete, "hi", _record=record) == "HI"
    assert (counted.flows, counted.builds) == (1, 2)
    assert record.cache_hit is True
    assert calls == ["hi"]
    assert complete.cache.stats.cache_hits == 1


def test_answer_settles_a_hit_and_declines_anything_else() -> None:
    @cached
    def complete(prompt: str) -> str:
        return prompt

    policy = complete.cache._policy
    complete("stored")
    state = complete.llmwarm_policies
    assert state[0] is policy
    assert policy.may_answer
    # The engine's own call object, made as the stack's entry makes it.
    spec = policy.spec
    assert spec is not None

    def call(prompt: str, *, warmup: bool = False) -> Call:
        record = CallRecord("complete", warmup=warmup)
        return Call(spec, complete.__wrapped__, None, (prompt,), {}, record)

    assert policy.answer(call("stored")) == "stored"
    assert policy.answer(call("absent")) is NO_ANSWER
    assert policy.answer(call("stored", warmup=True)) is NO_ANSWER


def test_a_miss_builds_its_key_once_and_is_counted_once() -> None:
    @cached
    def complete(prompt: str) -> str:
        return prompt

    counted = Counted(complete)
    record = CallRecord("complete")
    assert invoke(complete, "a", _record=record) == "a"
    assert (counted.flows, counted.builds) == (1, 1)
    assert record.cache_hit is False
    stats = complete.cache.stats
    assert (stats.cache_hits, stats.cache_misses) == (0, 1)
    # The hand-over is cleared once the flow took it: it keeps no call alive.
    assert counted.policy._handed is None


def test_a_warm_up_ping_neither_reads_nor_fills_the_cache() -> None:
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    counted = Counted(complete)
    complete("a")  # stored
    ping = CallRecord("complete", warmup=True)
    assert invoke(complete, "a", _record=ping) == "a"  # goes upstream despite the entry
    assert ping.cache_hit is None
    assert calls == ["a", "a"]
    assert (counted.flows, counted.builds) == (2, 1)  # the ping built no key
    stats = complete.cache.stats
    assert (stats.cache_hits, stats.cache_misses) == (0, 1)


def test_an_open_breaker_leaves_the_hit_to_the_flow_which_bypasses_the_back_end() -> None:
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    counted = Counted(complete)
    complete("a")
    complete.cache.breaker.failure()  # open: the back end is skipped for a while
    assert complete("a") == "a"  # not served from the entry: the flow bypassed it
    assert calls == ["a", "a"]
    assert counted.flows == 2
    assert counted.builds == 2  # the flow built the key itself, once
    assert complete.cache.stats.cache_bypassed >= 1
    assert complete.cache.stats.cache_hits == 0


def test_a_back_end_that_is_not_inline_is_read_by_the_flow(tmp_path: Path) -> None:
    calls: list[str] = []

    @cached(backend=SQLiteBackend(str(tmp_path / "c.db")))
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    counted = Counted(complete)
    try:
        assert complete("a") == "a"
        record = CallRecord("complete")
        assert invoke(complete, "a", _record=record) == "a"
        assert record.cache_hit is True
        assert calls == ["a"]
        assert (counted.flows, counted.builds) == (2, 2)  # each call: one flow, one key
    finally:
        complete.cache.close()


def test_uncacheable_arguments_are_refused_once_per_call() -> None:
    calls: list[str] = []

    @cached(cacheable=lambda arguments: False)
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    counted = Counted(complete)
    for _ in range(2):
        record = CallRecord("complete")
        assert invoke(complete, "a", _record=record) == "a"
        assert record.cache_hit is False
    assert calls == ["a", "a"]
    assert counted.builds == 2  # answer() built it; the flow only passed the call on
    assert complete.cache.stats.cache_uncacheable == 2


def test_a_raising_key_function_is_called_once_per_call() -> None:
    tried: list[str] = []

    def key(arguments: Any) -> Any:
        tried.append(arguments["prompt"])
        raise RuntimeError("no key")

    @cached(key=key)
    def complete(prompt: str) -> str:
        return prompt

    assert complete("a") == "a"
    assert complete("a") == "a"
    assert tried == ["a", "a"]
    assert complete.cache.stats.cache_uncacheable == 2


def test_a_failing_read_is_counted_once_and_the_call_goes_upstream() -> None:
    class Broken(MemoryBackend):
        reads = 0

        def get(self, key: str) -> Any:
            Broken.reads += 1
            raise OSError("gone")

        def get_at(self, key: str, now: float) -> Any:
            return self.get(key)

    calls: list[str] = []

    @cached(backend=Broken())
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    assert complete("a") == "a"
    assert calls == ["a"]
    assert Broken.reads == 1  # not read again by the flow
    assert complete.cache.stats.cache_errors == 1


def test_a_recorded_stream_is_replayed_by_answer() -> None:
    made: list[int] = []

    @cached
    def chunks(count: int) -> Iterator[int]:  # not `n`: n > 1 is never cached
        made.append(count)
        yield from range(count)

    counted = Counted(chunks)
    assert list(chunks(3)) == [0, 1, 2]  # recorded as it is consumed
    assert list(chunks(3)) == [0, 1, 2]  # replayed, without a flow
    assert made == [3]
    assert counted.flows == 1
    assert chunks.cache.stats.cache_hits == 1


async def test_an_async_recorded_stream_is_replayed_by_answer() -> None:
    made: list[int] = []

    @cached
    async def chunks(count: int) -> AsyncIterator[int]:
        made.append(count)
        for i in range(count):
            await asyncio.sleep(0)
            yield i

    counted = Counted(chunks)
    assert [c async for c in chunks(2)] == [0, 1]
    assert [c async for c in chunks(2)] == [0, 1]
    assert made == [2]
    assert counted.flows == 1


@pytest.mark.parametrize("breaker_open", [True, False])
def test_a_record_used_twice_never_stores_under_a_stale_key(breaker_open: bool) -> None:
    # answer() hands its key to the flow of the very same call only; a later call on the
    # same record (a fallback, a retry) prepares its own, or the flow builds it afresh.
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return f"{prompt}{len(calls)}"

    record = CallRecord("complete")
    assert invoke(complete, "a", _record=record) == "a1"
    if breaker_open:
        complete.cache.breaker.failure()  # the next answer() declines before any key
    assert invoke(complete, "b", _record=record) == "b2"
    complete.cache.breaker.success()
    assert complete("a") == "a1"  # still a's own entry
    assert complete("b") == ("b3" if breaker_open else "b2")  # stored only when closed


def test_a_hand_over_replaced_by_another_thread_is_not_taken() -> None:
    # Threads share the policy: another call's answer() may replace the hand-over between
    # this call's answer() and its flow. The flow then builds its own key.
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return f"{prompt}{len(calls)}"

    counted = Counted(complete)
    policy = counted.policy
    answer = policy.answer
    other = Call(policy.spec, complete.__wrapped__, None, ("z",), {}, CallRecord("c"))  # type: ignore[arg-type]

    def overtaken(call: Any) -> Any:
        value = answer(call)
        policy._handed = (other, "a key of another call")
        return value

    policy.answer = overtaken  # type: ignore[method-assign]
    assert complete("a") == "a1"
    assert (counted.flows, counted.builds) == (1, 2)  # the flow built its own key
    assert policy._handed is not None  # the other call's, left for its own flow
    policy.answer = answer  # type: ignore[method-assign]
    assert complete("a") == "a1"  # stored under its own key
    assert complete.cache.stats.cache_misses == 1
