"""@batched: coalescing, alignment, errors, cancellation, grouping, loops, the real SDK."""

from __future__ import annotations

import asyncio
import gc
import math
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmwarm import batched
from llmwarm._core import Call, CallRecord, Flow, Policy, apply, current_record
from llmwarm.batch import BatchSizeError
from llmwarm.sim import SimServer


def echo(calls: list[list[Any]], **options: Any) -> Any:
    """A batched function that records each batch and answers item -> (item, suffix)."""

    @batched(**options)
    async def upper(items: list[str], suffix: str = "") -> list[str]:
        calls.append(list(items))
        await asyncio.sleep(0)
        return [f"{item}{suffix}".upper() for item in items]

    return upper


@pytest.fixture
async def aoai(sim_server: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=sim_server.openai_base_url, api_key="sk", max_retries=0)
    async with client:
        yield client


@pytest.mark.sim(cold_start=0)
async def test_a_thousand_concurrent_embeddings_make_ten_upstream_calls(
    aoai: openai.AsyncOpenAI, sim_server: SimServer
) -> None:
    @batched(max_size=100, max_wait=0.01)
    async def embed(
        texts: list[str], *, model: str = "text-embedding-3-small"
    ) -> list[list[float]]:
        response = await aoai.embeddings.create(model=model, input=texts, dimensions=8)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    texts = [f"document number {i}" for i in range(1000)]
    vectors = await asyncio.gather(*(embed(text) for text in texts))
    assert embed.batcher.stats.batches == 10
    assert embed.batcher.stats.batch_items == 1000
    assert embed.batcher.stats.batch_max_size == 100
    assert sim_server.stats()["models"]["text-embedding-3-small"]["requests"] == 10
    assert len({tuple(v) for v in vectors}) == 1000  # every caller got its own vector
    for i in (0, 1, 499, 998, 999):  # ... and it is the vector of its own text
        direct = await aoai.embeddings.create(
            model="text-embedding-3-small", input=[texts[i]], dimensions=8
        )
        assert vectors[i] == direct.data[0].embedding


async def test_each_caller_gets_its_own_result_in_full_batches_and_a_remainder() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=4, max_wait=0.01)
    results = await asyncio.gather(*(upper(f"w{i}") for i in range(10)))
    assert results == [f"W{i}" for i in range(10)]
    assert [len(batch) for batch in calls] == [4, 4, 2]
    assert sorted(item for batch in calls for item in batch) == sorted(f"w{i}" for i in range(10))


async def test_a_full_batch_is_sent_without_waiting() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=3, max_wait=3600)
    assert await asyncio.wait_for(asyncio.gather(*(upper(x) for x in "abc")), 30) == list("ABC")
    assert calls == [["a", "b", "c"]]


async def test_max_wait_holds_a_batch_open_for_company_then_sends_it() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=10, max_wait=0.05)
    first = asyncio.ensure_future(upper("a"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert calls == []  # still waiting for company
    second = asyncio.ensure_future(upper("b"))
    assert await asyncio.wait_for(asyncio.gather(first, second), 30) == ["A", "B"]
    assert calls == [["a", "b"]]


async def test_max_wait_zero_sends_what_arrived_in_the_same_loop_iteration() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=10, max_wait=0)
    together = asyncio.gather(upper("a"), upper("b"))
    assert await together == ["A", "B"]
    assert await upper("c") == "C"
    assert calls == [["a", "b"], ["c"]]


async def test_a_failing_batch_fails_each_caller() -> None:
    @batched(max_size=10)
    async def broken(items: list[int]) -> list[int]:
        raise ConnectionError("upstream down")

    results = await asyncio.gather(*(broken(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert broken.batcher.stats.batch_failures == 1


@pytest.mark.parametrize("result", [[1], [1, 2, 3, 4], None])
async def test_a_result_of_the_wrong_length_fails_every_caller(result: Any) -> None:
    @batched(max_size=10)
    async def misaligned(items: list[int]) -> Any:
        return result

    outcomes = await asyncio.gather(*(misaligned(i) for i in range(3)), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 3
    if result is None:
        assert all(isinstance(e, TypeError) for e in errors)
    else:
        assert all(isinstance(e, BatchSizeError) for e in errors)
        assert f"returned {len(result)} results for a batch of 3 items" in str(errors[0])


async def test_a_cancelled_caller_is_dropped_from_its_unsent_batch() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=10, max_wait=0.05)
    tasks = [asyncio.ensure_future(upper(x)) for x in "abc"]
    await asyncio.sleep(0)
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert done[0] == "A"
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[2] == "C"
    assert calls == [["a", "c"]]


async def test_items_with_different_other_arguments_never_share_a_batch() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=10)
    results = await asyncio.gather(upper("a"), upper("b", suffix="!"), upper("c"), upper("d", "!"))
    assert results == ["A", "B!", "C", "D!"]
    assert sorted(calls) == [["a", "c"], ["b", "d"]]


async def test_unhashable_arguments_batch_only_with_the_same_object() -> None:
    seen: list[list[str]] = []

    @batched(max_size=10)
    async def tag(items: list[str], tags: list[str]) -> list[str]:
        seen.append(items)
        return [f"{item}:{','.join(tags)}" for item in items]

    shared, other = ["x"], ["x"]
    assert await asyncio.gather(tag("a", shared), tag("b", shared), tag("c", other)) == [
        "a:x",
        "b:x",
        "c:x",
    ]
    assert sorted(map(len, seen)) == [1, 2]


async def test_methods_batch_per_instance() -> None:
    class Embedder:
        def __init__(self, name: str) -> None:
            self.name = name
            self.batches: list[list[str]] = []

        @batched(max_size=10)
        async def embed(self, items: list[str]) -> list[str]:
            self.batches.append(items)
            return [f"{self.name}:{item}" for item in items]

    one, two = Embedder("one"), Embedder("two")
    results = await asyncio.gather(one.embed("a"), two.embed("b"), one.embed("c"))
    assert results == ["one:a", "two:b", "one:c"]
    assert (one.batches, two.batches) == ([["a", "c"]], [["b"]])


class Capture(Policy):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, CallRecord]] = []

    def flow(self, call: Call) -> Flow:
        self.calls.append((call.args, call.record))
        return (yield call)


class SetsModel(Policy):
    """An inner policy that writes a fact into the record of the call it sees."""

    def flow(self, call: Call) -> Flow:
        call.record.model = "embedder-1"
        return (yield call)


async def test_in_a_stack_outer_policies_see_items_and_inner_ones_see_batches() -> None:
    inner_seen: list[Any] = []

    async def raw(items: list[str]) -> list[str]:
        record = current_record()
        inner_seen.append((items, record.function if record else None))
        return list(reversed(items))[::-1]

    outer = Capture()
    inner = Capture()
    fn = apply(batched(max_size=10)(apply(apply(raw, inner), SetsModel())), outer)
    assert await asyncio.gather(fn("a"), fn("b")) == ["a", "b"]
    assert [args for args, _ in outer.calls] == [("a",), ("b",)]
    assert [args for args, _ in inner.calls] == [(["a", "b"],)]
    assert all(record.model == "embedder-1" for _, record in outer.calls)
    assert inner_seen == [(["a", "b"], raw.__qualname__)]
    assert fn.batcher.max_size == 10


def test_each_event_loop_has_its_own_batches() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=10)

    async def main(prefix: str) -> list[str]:
        return list(await asyncio.gather(*(upper(f"{prefix}{i}") for i in range(3))))

    assert asyncio.run(main("x")) == ["X0", "X1", "X2"]
    assert asyncio.run(main("y")) == ["Y0", "Y1", "Y2"]
    assert calls == [["x0", "x1", "x2"], ["y0", "y1", "y2"]]


def test_ended_event_loops_are_not_kept_alive() -> None:
    calls: list[list[Any]] = []
    upper = echo(calls, max_size=4, max_wait=0.001)
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> list[str]:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        return list(await asyncio.gather(upper("a"), upper("bb")))

    async def abandon() -> None:  # the loop ends while the batch still waits for company
        loops.append(weakref.ref(asyncio.get_running_loop()))
        task = asyncio.ensure_future(upper("never"))
        await asyncio.sleep(0)
        task.cancel()

    for _ in range(20):
        assert asyncio.run(main()) == ["A", "BB"]
    for _ in range(5):
        asyncio.run(abandon())
    gc.collect()
    assert len(upper.batcher._loops) == 0
    assert [ref() for ref in loops] == [None] * 25
    assert len(calls) == 20


def notes(exc: BaseException) -> list[str]:
    """Return the exception's ``__notes__`` list (``add_note()`` is Python 3.11+)."""
    found: list[str] = vars(exc).setdefault("__notes__", [])
    return found


async def test_each_caller_of_a_failing_batch_gets_its_own_exception() -> None:
    @batched(max_size=10)
    async def broken(items: list[int]) -> list[int]:
        error = ConnectionError("upstream down")
        notes(error).append("from the batch")
        raise error

    async def call(i: int) -> BaseException:
        try:
            await broken(i)
        except ConnectionError as exc:
            notes(exc).append(f"caller {i}")
            return exc
        raise AssertionError("the batch should fail")

    errors = await asyncio.gather(*(call(i) for i in range(3)))
    assert len({id(e) for e in errors}) == 3
    for i, error in enumerate(errors):
        assert type(error) is ConnectionError
        assert str(error) == "upstream down"
        assert notes(error) == ["from the batch", f"caller {i}"]
        assert isinstance(error.__cause__, ConnectionError)
        assert notes(error.__cause__) == ["from the batch"]
    assert len({id(e.__cause__) for e in errors}) == 1  # one upstream failure, as the cause


@settings(max_examples=30, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=60),
    max_size=st.integers(min_value=1, max_value=16),
)
def test_batching_invariants(count: int, max_size: int) -> None:
    calls: list[list[Any]] = []

    @batched(max_size=max_size, max_wait=0)
    async def square(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [i * i for i in items]

    async def main() -> list[int]:
        return list(await asyncio.gather(*(square(i) for i in range(count))))

    assert asyncio.run(main()) == [i * i for i in range(count)]
    assert all(1 <= len(batch) <= max_size for batch in calls)
    assert len(calls) == math.ceil(count / max_size)
    assert sorted(i for batch in calls for i in batch) == list(range(count))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"max_size": 0}, ValueError, "max_size"),
        ({"max_size": 2.5}, ValueError, "max_size"),
        ({"max_wait": -1}, ValueError, "max_wait"),
        ({"max_wait": math.nan}, ValueError, "max_wait"),
        ({"max_wait": "1s"}, TypeError, "max_wait"),
    ],
)
def test_bad_options_fail_at_decoration(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        batched(**options)


def test_sync_functions_and_functions_without_a_list_parameter_are_refused() -> None:
    def sync(items: list[int]) -> list[int]:
        return items

    async def nothing(*, items: list[int]) -> list[int]:
        return items

    with pytest.raises(TypeError, match="async function"):
        batched(sync)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="first positional parameter"):
        batched(nothing)


async def test_bare_and_called_forms() -> None:
    @batched
    async def double(items: list[int]) -> list[int]:
        return [2 * i for i in items]

    assert await asyncio.gather(double(1), double(2)) == [2, 4]
    assert double.batcher.max_size == 16
