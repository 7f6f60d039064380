"""@routed on an async function only: hedging, async streams (twins: test_route_calls.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from routing_helpers import Capture, captured

from llmwarm import Tier, routed
from llmwarm._core import cooldowns
from llmwarm.sim import SimServer

pytestmark = pytest.mark.sim(cold_start=0, ttft=0.1, token_time=0.01)

TIERS = [Tier("small", "s", max_tokens=2), Tier("medium", "m"), Tier("large", "l")]
SHORT = [{"role": "user", "content": "What is 2+2?"}]


@pytest.fixture
async def aoai(sim_server: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=sim_server.openai_base_url, api_key="sk", max_retries=0)
    async with client:
        yield client


def make(
    client: openai.AsyncOpenAI, seen: list[str], cancelled: list[str] | None = None, **options: Any
) -> tuple[Any, Capture]:
    @routed(TIERS, **options)
    async def complete(messages: list[Any], *, model: str = "unused", **kw: Any) -> Any:
        seen.append(model)
        try:
            return await client.chat.completions.create(model=model, messages=messages, **kw)
        except asyncio.CancelledError:
            if cancelled is not None:
                cancelled.append(model)
            raise

    return captured(complete)


@pytest.mark.sim(models={"custom": {"rate_503": 1.0}})
async def test_an_explicit_model_is_never_hedged_nor_rerouted(aoai: openai.AsyncOpenAI) -> None:
    seen: list[str] = []
    complete, capture = make(aoai, seen, hedge_after=0.01)
    with pytest.raises(openai.InternalServerError):
        await complete(SHORT, model="custom")
    assert seen == ["custom"]
    assert capture.last.route_reason == "explicit"


def fake_stream(seen: list[str], fail: dict[str, int], **options: Any) -> tuple[Any, Capture]:
    @routed(TIERS, **options)
    async def complete(messages: list[Any], *, model: str = "", **kw: Any) -> AsyncIterator[str]:
        seen.append(model)

        async def chunks() -> AsyncIterator[str]:
            for i in range(3):
                if fail.get(model) == i:
                    raise httpx.ConnectError("the provider went away")
                yield f"{model}{i}"

        return chunks()

    return captured(complete)


async def test_stream_failing_before_its_first_chunk_falls_back() -> None:
    seen: list[str] = []
    complete, capture = fake_stream(seen, {"s": 0})
    assert [chunk async for chunk in await complete(SHORT)] == ["m0", "m1", "m2"]
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "fallback")


async def test_stream_failing_after_its_first_chunk_is_not_replayed() -> None:
    seen: list[str] = []
    complete, _ = fake_stream(seen, {"s": 1})
    stream = await complete(SHORT)
    assert await stream.__anext__() == "s0"
    with pytest.raises(httpx.ConnectError):
        await stream.__anext__()
    assert seen == ["s"]


@pytest.mark.sim(models={"s": {"rate_503": 1.0}})
async def test_sdk_stream_falls_back_and_keeps_its_attributes(aoai: openai.AsyncOpenAI) -> None:
    seen: list[str] = []
    complete, _ = make(aoai, seen)
    async with await complete(SHORT, stream=True) as stream:
        assert stream.response.headers["x-sim-cold-start"] in ("true", "false")
        chunks = [c async for c in stream]
    assert seen == ["s", "m"]
    assert chunks


# --- hedging: the small tier's model loads for 100 simulated seconds (1 s real) ----------

COLD_SMALL = pytest.mark.sim(cold_start=0, models={"s": {"cold_start": 100}})


@COLD_SMALL
async def test_hedge_wins_with_the_warm_tier_and_cancels_the_cold_one(
    aoai: openai.AsyncOpenAI, sim_server: SimServer
) -> None:
    seen: list[str] = []
    cancelled: list[str] = []
    complete, capture = make(aoai, seen, cancelled, hedge_after=0.05)
    response = await complete(SHORT)
    assert response.model == "m"
    assert seen == ["s", "m"]
    assert cancelled == ["s"]  # the loser is cancelled, not left running
    record = capture.last
    assert (record.tier, record.model, record.route_reason) == ("medium", "m", "hedge")
    assert not cooldowns.cooling("s")  # slow is not failing


@COLD_SMALL
async def test_hedged_stream_races_to_the_first_chunk(aoai: openai.AsyncOpenAI) -> None:
    seen: list[str] = []
    cancelled: list[str] = []
    complete, capture = make(aoai, seen, cancelled, hedge_after=0.05)
    stream = await complete(SHORT, stream=True)
    chunks = [c async for c in stream]
    assert {c.model for c in chunks} == {"m"}
    assert cancelled == ["s"]
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "hedge")


async def test_no_hedge_when_the_first_tier_answers_in_time(aoai: openai.AsyncOpenAI) -> None:
    seen: list[str] = []
    complete, capture = make(aoai, seen, hedge_after=5.0)
    assert (await complete(SHORT)).model == "s"
    assert seen == ["s"]
    assert capture.last.route_reason == "classified"


@pytest.mark.sim(models={"s": {"rate_429": 1.0}})
async def test_a_fast_failure_falls_back_before_the_hedge(aoai: openai.AsyncOpenAI) -> None:
    seen: list[str] = []
    complete, capture = make(aoai, seen, hedge_after=5.0)
    assert (await complete(SHORT)).model == "m"
    assert seen == ["s", "m"]
    assert capture.last.route_reason == "fallback"


async def test_hedge_with_both_legs_failing_falls_back_to_the_next() -> None:
    seen: list[str] = []

    @routed(TIERS, hedge_after=0.01)
    async def complete(messages: list[Any], *, model: str = "", **kw: Any) -> str:
        seen.append(model)
        if model == "s":
            await asyncio.sleep(0.05)
        if model in ("s", "m"):
            raise TimeoutError(f"{model} timed out")
        return model

    complete, capture = captured(complete)
    assert await complete(SHORT) == "l"
    assert seen == ["s", "m", "l"]
    assert (capture.last.tier, capture.last.route_reason) == ("large", "fallback")
    assert cooldowns.cooling("s")
    assert cooldowns.cooling("m")


async def test_hedge_legs_keep_their_own_records() -> None:
    from llmwarm._core import SlotKey, current_record

    leg = SlotKey("test.leg", "")

    @routed(TIERS, hedge_after=0.01)
    async def complete(messages: list[Any], *, model: str = "", **kw: Any) -> str:
        record = current_record()
        assert record is not None
        record.set(leg, model)
        record.cold_start = model == "s"
        await asyncio.sleep(1.0 if model == "s" else 0)
        return model

    complete, capture = captured(complete)
    assert await complete(SHORT) == "m"
    assert capture.last.get(leg) == "m"
    assert capture.last.cold_start is False


async def test_a_hedge_leg_that_failed_cools_down_even_when_the_other_wins() -> None:
    @routed(TIERS, hedge_after=0.01)
    async def complete(messages: list[Any], *, model: str = "", **kw: Any) -> str:
        if model == "s":
            await asyncio.sleep(0.05)
            return model
        raise ConnectionError(f"{model} refused")

    complete, capture = captured(complete)
    assert await complete(SHORT) == "s"
    assert (capture.last.tier, capture.last.route_reason) == ("small", "classified")
    assert cooldowns.cooling("m")


# ------------------------------------------------------------- hedging without fallback


def hedged_without_fallback(seen: list[str], fail: set[str]) -> tuple[Any, Capture]:
    """Small answers only after the hedge leg started (or never); models in ``fail`` fail."""
    hedge_started = asyncio.Event()

    @routed(TIERS, fallback=False, hedge_after=0.01)
    async def complete(messages: list[Any], *, model: str = "", **kw: Any) -> str:
        seen.append(model)
        if model != "s":
            hedge_started.set()
        elif model in fail:
            await asyncio.wait_for(hedge_started.wait(), 10)  # fails once the hedge started
        else:
            await asyncio.wait_for(asyncio.Event().wait(), 10)  # never answers: bounded
        if model in fail:
            raise ConnectionError(f"{model} refused")
        return model

    return captured(complete)


async def test_hedge_after_works_without_fallback() -> None:
    seen: list[str] = []
    complete, capture = hedged_without_fallback(seen, fail=set())
    assert await complete(SHORT) == "m"
    assert seen == ["s", "m"]
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "hedge")


async def test_without_fallback_both_hedge_legs_failing_raise() -> None:
    seen: list[str] = []
    complete, _ = hedged_without_fallback(seen, fail={"s", "m"})
    with pytest.raises(ConnectionError, match="refused"):
        await complete(SHORT)
    assert seen == ["s", "m"]  # a hedge is not a fallback: the large tier is never tried
    assert cooldowns.cooling("s")
    assert cooldowns.cooling("m")


class ClosingStream:
    """An async stream of two chunks that records whether it was closed."""

    def __init__(self) -> None:
        self.chunks = iter(["a", "b"])
        self.closed = False

    def __aiter__(self) -> ClosingStream:
        return self

    async def __anext__(self) -> str:
        try:
            return next(self.chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.closed = True


async def test_a_hedge_stream_returned_as_the_call_is_cancelled_is_closed() -> None:
    streams: list[ClosingStream] = []
    outer: list[asyncio.Task[Any]] = []

    @routed(TIERS, hedge_after=0.01)
    async def complete(messages: list[Any], *, model: str = "", **kw: Any) -> Any:
        if model == "s":
            await asyncio.Event().wait()  # never answers
        outer[0].cancel()  # the caller gives up just as the hedge leg's stream arrives
        streams.append(ClosingStream())
        return streams[-1]

    outer.append(asyncio.ensure_future(complete(SHORT)))
    with pytest.raises(asyncio.CancelledError):
        await outer[0]
    assert len(streams) == 1
    assert streams[0].closed
