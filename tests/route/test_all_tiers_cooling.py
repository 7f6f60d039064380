"""@routed when every tier is cooling down: no request reaches a provider that asked for quiet.

The real openai SDK against the simulator: every model answers 429 with a Retry-After of
300 simulated seconds (3 s real at the fixture's time scale); the cool-downs run on the
fake clock of ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from routing_helpers import FakeClock

from llmwarm import AllTiersCooling, LLMWarmError, Tier, routed
from llmwarm._core import cooldowns
from llmwarm._core import failures as _failures
from llmwarm.sim import SimServer

TIERS = [Tier("small", "s"), Tier("large", "l")]
HI = [{"role": "user", "content": "hi"}]
CALLS = 2_000
COOLING = pytest.mark.sim(rate_429=1.0, retry_after=300.0, cold_start=0)


def requests(sim: SimServer) -> int:
    return sum(m["requests"] for m in sim.stats()["models"].values())


@pytest.fixture
def oai(sim_server: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk", max_retries=0) as client:
        yield client


@COOLING
def test_two_thousand_calls_during_a_cool_down_send_nothing_then_traffic_resumes(
    oai: openai.OpenAI, sim_server: SimServer, clock: FakeClock
) -> None:
    @routed(TIERS)
    def complete(messages: list[Any], *, model: str = "") -> Any:
        return oai.chat.completions.create(model=model, messages=messages)

    with pytest.raises(openai.RateLimitError):
        complete(HI)  # both tiers answer 429, Retry-After 3 s: both cool down
    sent = requests(sim_server)
    assert sent == 2
    for _ in range(CALLS):
        with pytest.raises(AllTiersCooling) as info:
            complete(HI)
        clock.advance(2.9 / CALLS)  # the calls spread over the cool-down
    assert requests(sim_server) == sent  # 0 upstream requests during the cool-down
    error = info.value
    assert isinstance(error, LLMWarmError)
    assert 0 < error.retry_after <= 3.0
    assert set(error.errors) == {"small", "large"}
    assert all(isinstance(e, openai.RateLimitError) for e in error.errors.values())
    assert "small: RateLimitError" in str(error)
    clock.advance(0.2)  # the cool-down is over: calls reach the provider again
    with pytest.raises(openai.RateLimitError):
        complete(HI)
    assert requests(sim_server) == sent + 2


@COOLING
async def test_async_calls_during_a_cool_down_fail_fast_and_max_wait_waits(
    sim_server: SimServer, clock: FakeClock
) -> None:
    async def advance(seconds: float) -> None:
        clock.advance(seconds)

    _failures._reset(clock=clock, asleep=advance)
    async with openai.AsyncOpenAI(
        base_url=sim_server.openai_base_url, api_key="sk", max_retries=0
    ) as client:

        def make(**options: Any) -> Any:
            @routed(TIERS, **options)
            async def complete(messages: list[Any], *, model: str = "") -> Any:
                return await client.chat.completions.create(model=model, messages=messages)

            return complete

        fast, patient, impatient = make(), make(max_wait=5), make(max_wait=1)
        with pytest.raises(openai.RateLimitError):
            await fast(HI)
        sent = requests(sim_server)
        results = await asyncio.gather(*(fast(HI) for _ in range(CALLS)), return_exceptions=True)
        assert all(isinstance(r, AllTiersCooling) for r in results)
        with pytest.raises(AllTiersCooling):
            await impatient(HI)  # 3 s to wait, only 1 allowed: raised at once
        assert clock.now == 1000.0
        assert requests(sim_server) == sent
        with pytest.raises(openai.RateLimitError):
            await patient(HI)  # waited the 3 s (on the fake clock), then called
        assert clock.now == pytest.approx(1003.0)
        assert requests(sim_server) > sent


@pytest.mark.sim(models={"s": {"rate_429": 1.0}}, retry_after=31_536_000.0, cold_start=0)
def test_a_retry_after_of_a_year_is_clipped_to_max_cooldown_and_logged(
    oai: openai.OpenAI, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "llmwarm")

    @routed(TIERS, max_cooldown=120)
    def complete(messages: list[Any], *, model: str = "") -> Any:
        return oai.chat.completions.create(model=model, messages=messages)

    assert complete(HI).model == "l"
    assert cooldowns.ends("s") == pytest.approx(clock.now + 120)
    assert any("max_cooldown=120" in r.getMessage() for r in caplog.records)
