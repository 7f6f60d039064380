"""prefer_warm with the real @warm in the same stack, against the simulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from routing_helpers import captured

from llmwarm import Tier, routed
from llmwarm.sim import SimServer
from llmwarm.warm import warm
from llmwarm.warm._warm import _reset as reset_warmers

TIERS = [Tier("small", "s"), Tier("medium", "m"), Tier("large", "l")]
SHORT = [{"role": "user", "content": "What is 2+2?"}]
LONG = [{"role": "user", "content": "Summarise this report: " + "lorem ipsum " * 30}]


@pytest.fixture(autouse=True)
def _stop_warmers() -> Iterator[None]:
    yield
    reset_warmers()


@pytest.mark.sim(cold_start=0, ttft=0.1, token_time=0.01)
def test_a_cold_tier_is_avoided_and_warmed_in_the_background(sim_server: SimServer) -> None:
    seen: list[tuple[str, int | None]] = []
    client = openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk", max_retries=0)

    @routed(TIERS, prefer_warm=True)
    @warm("l", interval=60)  # only "l" is scheduled: "s" is warmed on request alone
    def complete(messages: list[Any], *, model: str = "unused", **kw: Any) -> Any:
        seen.append((model, kw.get("max_tokens")))
        return client.chat.completions.create(model=model, messages=messages, **kw)

    complete, capture = captured(complete)
    with client:
        assert complete(LONG).model == "l"  # nothing warm yet: the classified tier
        assert capture.last.route_reason == "classified"
        assert complete(SHORT).model == "l"  # "s" is predicted cold, "l" warm
        assert (capture.last.tier, capture.last.route_reason) == ("large", "warm")
        deadline = time.monotonic() + 20
        while not complete.warmer.is_warm("s") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ("s", 1) in seen  # the background ping went to "s", not rerouted
        assert complete(SHORT).model == "s"
        assert capture.last.route_reason == "classified"
