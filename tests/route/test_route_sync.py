"""@routed on a sync function calling the real openai SDK against the simulator."""

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
MEDIUM = [{"role": "user", "content": "Why is the sky blue? Keep it short."}]
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


@pytest.mark.parametrize(
    ("messages", "tier", "model"),
    [(SHORT, "small", "s"), (MEDIUM, "medium", "m"), (LONG, "large", "l")],
)
def test_tier_by_complexity(oai: openai.OpenAI, messages: Any, tier: str, model: str) -> None:
    seen: list[str] = []
    complete, capture = make(oai, seen)
    response = complete(messages)
    assert response.model == model
    assert seen == [model]
    assert (capture.last.tier, capture.last.model, capture.last.route_reason) == (
        tier,
        model,
        "classified",
    )
    # The tier's overrides apply: the small tier caps the answer at 2 tokens.
    assert (response.usage.completion_tokens == 2) is (tier == "small")


def test_caller_overrides_win_over_tier_overrides(oai: openai.OpenAI) -> None:
    complete, _ = make(oai, [])
    assert complete(SHORT, max_tokens=5).usage.completion_tokens == 5


def test_custom_classifier_by_name_and_unknown_name(oai: openai.OpenAI) -> None:
    complete, _capture = make(oai, [], classify=lambda arguments: "large")
    assert complete(SHORT).model == "l"
    bad, _ = make(oai, [], classify=lambda arguments: "huge")
    with pytest.raises(ValueError, match="'huge', which is not a tier name"):
        bad(SHORT)


@pytest.mark.sim(models={"custom": {"rate_503": 1.0}})
def test_explicit_model_is_respected_and_never_rerouted(oai: openai.OpenAI) -> None:
    seen: list[str] = []
    complete, capture = make(oai, seen)
    assert complete(LONG, model="m").model == "m"
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "explicit")
    with pytest.raises(openai.InternalServerError):
        complete(SHORT, model="custom")
    assert seen == ["m", "custom"]
    assert (capture.last.tier, capture.last.model, capture.last.route_reason) == (
        None,
        "custom",
        "explicit",
    )


@pytest.mark.sim(models={"s": {"rate_429": 1.0}}, retry_after=2.0)
def test_fallback_and_cool_down_with_retry_after(
    oai: openai.OpenAI, sim_server: SimServer, clock: FakeClock
) -> None:
    seen: list[str] = []
    complete, capture = make(oai, seen)
    assert complete(SHORT).model == "m"
    assert seen == ["s", "m"]
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "fallback")
    # The simulator says Retry-After 2 simulated seconds = 0.02 s real at time_scale 0.01.
    assert cooldowns.ends("s") == pytest.approx(clock.now + 0.02)
    assert complete.router.cooling() == {"s": pytest.approx(0.02)}
    # While cooling, the small tier is skipped (by this and every other call site).
    other, _ = make(oai, seen)
    assert other(SHORT).model == "m"
    assert seen[2:] == ["m"]
    assert sim_server.stats()["models"]["s"]["faults"]["429"] == 1
    clock.advance(0.03)
    assert complete(SHORT).model == "m"
    assert seen[3:] == ["s", "m"]
    assert sim_server.stats()["models"]["s"]["faults"]["429"] == 2


@pytest.mark.sim(models={"l": {"rate_500": 1.0}})
def test_default_cool_down_and_falling_back_to_a_cheaper_tier(
    oai: openai.OpenAI, clock: FakeClock
) -> None:
    seen: list[str] = []
    complete, _capture = make(oai, seen, cooldown=5)
    assert complete(LONG).model == "m"  # after the last tier, the cheaper ones, nearest first
    assert seen == ["l", "m"]
    assert cooldowns.ends("l") == clock.now + 5


@pytest.mark.sim(known_models=["m", "l"])
def test_non_retryable_errors_are_raised_at_once(oai: openai.OpenAI) -> None:
    seen: list[str] = []
    complete, capture = make(oai, seen)
    with pytest.raises(openai.NotFoundError):
        complete(SHORT)
    assert seen == ["s"]
    assert not cooldowns.cooling("s")
    assert capture.last.tier == "small"


@pytest.mark.sim(rate_503=1.0)
def test_all_tiers_failing_raise_the_last_error_with_the_others(oai: openai.OpenAI) -> None:
    seen: list[str] = []
    complete, _ = make(oai, seen)
    with pytest.raises(openai.InternalServerError) as info:
        complete(SHORT)
    assert seen == ["s", "m", "l"]
    attempts = info.value.llmwarm_attempts  # type: ignore[attr-defined]
    assert [(tier, model) for tier, model, _ in attempts] == [
        ("small", "s"),
        ("medium", "m"),
        ("large", "l"),
    ]
    assert attempts[-1][2] is info.value
    assert len(info.value.__notes__) == 2
    assert "tier 'small' (model 's') failed first" in info.value.__notes__[0]


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


@pytest.mark.parametrize(
    ("messages", "warm", "model", "warmed"),
    [
        (SHORT, {"m", "l"}, "m", ["s"]),  # the nearest warm tier
        (LONG, {"s", "m"}, "m", ["l"]),
        (MEDIUM, {"s", "l"}, "s", ["m"]),  # a tie goes to the cheaper
        (SHORT, {"s"}, "s", []),  # already warm
        (SHORT, set(), "s", []),  # nothing warm: stay
    ],
)
def test_prefer_warm(
    oai: openai.OpenAI, messages: Any, warm: set[str], model: str, warmed: list[str]
) -> None:
    seen: list[str] = []
    complete, capture = make(oai, seen, prefer_warm=True)
    warmth = FakeWarm(warm)
    complete = apply(complete, warmth)
    assert complete(messages).model == model
    assert warmth.warmed == warmed
    assert capture.last.route_reason == ("warm" if warmed else "classified")


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
