"""@routed on a sync function only (the twins of async tests are in test_route_calls.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from routing_helpers import Capture, FakeClock, captured

from llmwarm import AllTiersCooling, Tier, routed
from llmwarm._core import CallRecord, Policy, apply, cooldowns, invoke
from llmwarm._core import failures as _failures
from llmwarm.sim import SimServer

pytestmark = pytest.mark.sim(cold_start=0, ttft=0.1, token_time=0.01)

TIERS = [Tier("small", "s", max_tokens=2), Tier("medium", "m"), Tier("large", "l")]
SHORT = [{"role": "user", "content": "What is 2+2?"}]
LONG = [{"role": "user", "content": "Summarise this report: " + "lorem ipsum " * 30}]


@pytest.fixture
def oai(sim_server: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk", max_retries=0) as client:
        yield client


def make(client: openai.OpenAI, seen: list[str], **options: Any) -> tuple[Any, Capture]:
    @routed(TIERS, **options)
    def complete(messages: list[Any], *, model: str = "unused", **kw: Any) -> Any:
        seen.append(model)
        return client.chat.completions.create(model=model, messages=messages, **kw)

    return captured(complete)


def test_caller_overrides_win_over_tier_overrides(oai: openai.OpenAI) -> None:
    complete, _ = make(oai, [])
    assert complete(SHORT, max_tokens=5).usage.completion_tokens == 5


def test_custom_classifier_by_name_and_unknown_name(oai: openai.OpenAI) -> None:
    complete, _capture = make(oai, [], classify=lambda arguments: "large")
    assert complete(SHORT).model == "l"
    bad, _ = make(oai, [], classify=lambda arguments: "huge")
    with pytest.raises(ValueError, match="'huge', which is not a tier name"):
        bad(SHORT)


@pytest.mark.sim(models={"l": {"rate_500": 1.0}})
def test_default_cool_down_and_falling_back_to_a_cheaper_tier(
    oai: openai.OpenAI, clock: FakeClock
) -> None:
    seen: list[str] = []
    complete, _capture = make(oai, seen, cooldown=5)
    assert complete(LONG).model == "m"  # after the last tier, the cheaper ones, nearest first
    assert seen == ["l", "m"]
    assert cooldowns.ends("l") == clock.now + 5


def test_every_tier_cooling_fails_fast_or_waits_for_the_first_back(
    oai: openai.OpenAI, clock: FakeClock
) -> None:
    for model, seconds in (("s", 30), ("m", 10), ("l", 20)):
        cooldowns.cool(model, seconds)
    seen: list[str] = []
    complete, _ = make(oai, seen)
    with pytest.raises(AllTiersCooling) as info:
        complete(SHORT)
    assert seen == []  # no tier was called during its cool-down
    assert info.value.retry_after == pytest.approx(10)
    _failures._reset(clock=clock, sleep=clock.advance)  # waits move the fake clock
    for model, seconds in (("s", 30), ("m", 10), ("l", 20)):
        cooldowns.cool(model, seconds)
    patient, capture = make(oai, seen, max_wait=15)
    assert patient(SHORT).model == "m"  # waited 10 s for the first tier back
    assert seen == ["m"]
    assert capture.last.route_reason == "fallback"


@pytest.mark.sim(rate_429=1.0)
def test_no_fallback_means_one_attempt(oai: openai.OpenAI) -> None:
    seen: list[str] = []
    complete, _ = make(oai, seen, fallback=False)
    with pytest.raises(openai.RateLimitError):
        complete(SHORT)
    assert seen == ["s"]


def fake_stream(seen: list[str], fail: dict[str, int]) -> Any:
    """A streaming function whose model `fail[model]` raises after that many chunks."""

    @routed(TIERS)
    def complete(messages: list[Any], *, model: str = "", **kw: Any) -> Iterator[str]:
        seen.append(model)

        def chunks() -> Iterator[str]:
            for i in range(3):
                if fail.get(model) == i:
                    raise httpx.ReadTimeout("the provider stalled")
                yield f"{model}{i}"

        return chunks()

    return captured(complete)


def test_stream_failing_before_its_first_chunk_falls_back() -> None:
    seen: list[str] = []
    complete, capture = fake_stream(seen, {"s": 0})
    assert list(complete(SHORT)) == ["m0", "m1", "m2"]
    assert seen == ["s", "m"]
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "fallback")


def test_stream_failing_after_its_first_chunk_is_not_replayed() -> None:
    seen: list[str] = []
    complete, _ = fake_stream(seen, {"s": 1})
    stream = complete(SHORT)
    assert next(stream) == "s0"
    with pytest.raises(httpx.ReadTimeout):
        next(stream)
    assert seen == ["s"]


@pytest.mark.sim(models={"s": {"rate_503": 1.0}})
def test_sdk_stream_falls_back_and_keeps_its_attributes(oai: openai.OpenAI) -> None:
    seen: list[str] = []
    complete, capture = make(oai, seen)
    with complete(SHORT, stream=True) as stream:
        assert stream.response.headers["x-sim-cold-start"] in ("true", "false")
        chunks = [c.choices[0].delta.content for c in stream if c.choices]
    assert seen == ["s", "m"]
    assert "".join(c for c in chunks if c)
    assert capture.last.tier == "medium"


class FakeWarm(Policy):
    """Stands for @warm: knows which models are warm, records warm-up requests."""

    def __init__(self, warm: set[str]) -> None:
        self.warm = warm
        self.warmed: list[str] = []

    def is_warm(self, model: str) -> bool:
        return model in self.warm

    def warm_up(self, model: str) -> None:
        self.warmed.append(model)


def test_prefer_warm_off_ignores_warmth(oai: openai.OpenAI) -> None:
    complete, _capture = make(oai, [])
    warmth = FakeWarm({"m"})
    assert apply(complete, warmth)(SHORT).model == "s"
    assert warmth.warmed == []


def test_warm_up_pings_are_never_rerouted(oai: openai.OpenAI) -> None:
    seen: list[str] = []
    complete, _ = make(oai, seen, prefer_warm=True)
    complete = apply(complete, FakeWarm({"m"}))
    record = CallRecord("ping", warmup=True)
    invoke(complete, SHORT, model="l", max_tokens=1, _record=record)
    assert seen == ["l"]
    assert record.route_reason is None
