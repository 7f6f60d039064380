"""Warm what traffic uses: @routed with the default @warm policy keeps warm only reached tiers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llmwarm import Tier, routed
from llmwarm.warm import warm
from llmwarm.warm._warm import _reset as reset_warmers

TIERS = [Tier("small", "s"), Tier("large", "l")]
SHORT = [{"role": "user", "content": "What is 2+2?"}]
LONG = [{"role": "user", "content": "Summarise this report: " + "lorem ipsum " * 30}]


@pytest.fixture(autouse=True)
def _stop_warmers() -> Iterator[None]:
    yield
    reset_warmers()


def make(clock: Any, sent: list[str]) -> Any:
    @routed(TIERS, prefer_warm=True)
    @warm(["s", "l"], _clock=clock)  # the default policy for both tiers
    def complete(messages: list[Any], *, model: str = "unused", max_tokens: int = 8) -> str:
        sent.append(model if max_tokens != 1 else f"ping:{model}")
        return model

    return complete


def test_a_tier_no_call_reaches_is_never_pinged(manual_clock: Any) -> None:
    clock, sent = manual_clock, []
    complete = make(clock, sent)
    assert complete(SHORT) == "s"
    assert complete.warmer.next_ping_at("s") is not None  # reached: kept warm
    assert complete.warmer.next_ping_at("l") is None  # never reached: never pinged
    for _ in range(5):
        clock.now += 300
        complete.warmer.run_due()
    assert "ping:l" not in sent
    assert sent.count("ping:s") >= 4


def test_a_call_predicted_cold_goes_to_a_warm_tier_and_the_cold_one_is_not_kept_warm(
    manual_clock: Any,
) -> None:
    clock, sent = manual_clock, []
    complete = make(clock, sent)
    complete(SHORT)  # "s" warm
    assert complete(LONG) == "s"  # "l" is predicted cold: the warm tier answers
    complete.warmer.run_due()  # the router asked for one background ping of "l"
    assert sent.count("ping:l") == 1
    # That ping is not traffic: "l" is not kept warm on its own.
    assert complete.warmer.next_ping_at("l") is None
    clock.now += 290
    assert complete(LONG) == "l"  # warm now: the classified tier answers, and is learned
    assert complete.warmer.next_ping_at("l") is not None


def test_start_still_keeps_every_model_warm_before_any_call(manual_clock: Any) -> None:
    clock, sent = manual_clock, []
    complete = make(clock, sent)
    complete.warmer.start()
    complete.warmer.run_due()
    assert sorted(sent) == ["ping:l", "ping:s"]
    assert complete.warmer.next_ping_at("l") is not None
