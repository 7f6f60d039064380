"""``@routed``'s ``hedge_after`` waits on the runtime clock: a fake clock drives a hedge."""

from __future__ import annotations

import asyncio

from llmwarm import Tier, routed
from llmwarm.testing import fake_clock

TIERS = [Tier("small", "s"), Tier("medium", "m")]
HEDGE_AFTER = 30.0  # on the fake clock; a real wait this long would fail the bound below


async def _settle() -> None:
    for _ in range(20):  # let every task the call started run as far as it can
        await asyncio.sleep(0)


async def test_the_hedge_leg_starts_only_once_the_fake_clock_passes_hedge_after() -> None:
    events: list[tuple[str, str, float]] = []
    with fake_clock() as clock:

        @routed(TIERS, hedge_after=HEDGE_AFTER)
        async def complete(prompt: str, *, model: str = "") -> str:
            events.append(("start", model, clock.now))
            if model == "s":  # the slow first tier: never answers, so the hedge wins
                await asyncio.Event().wait()
            return model

        start = clock.now
        call = asyncio.ensure_future(complete("hi"))
        await _settle()
        assert events == [("start", "s", start)]

        await clock.aadvance(HEDGE_AFTER - 1)
        await _settle()
        assert [e[1] for e in events] == ["s"]  # not yet: the clock has not reached it

        await clock.aadvance(2)
        assert await asyncio.wait_for(call, 10) == "m"  # a generous bound on real time
        (_, first, _), (_, hedge, hedged_at) = events
        assert (first, hedge) == ("s", "m")
        assert hedged_at >= start + HEDGE_AFTER


async def test_a_first_leg_answering_before_the_fake_clock_reaches_it_is_not_hedged() -> None:
    seen: list[str] = []
    with fake_clock() as clock:

        @routed(TIERS, hedge_after=HEDGE_AFTER)
        async def complete(prompt: str, *, model: str = "") -> str:
            seen.append(model)
            await clock.asleep(HEDGE_AFTER / 2)  # slow, but not slow enough to hedge
            return model

        assert await asyncio.wait_for(complete("hi"), 10) == "s"
        await clock.aadvance(HEDGE_AFTER * 2)
        await _settle()
    assert seen == ["s"]
