"""@routed over the real openai SDK against the simulator, each test run sync and async:
tiers by complexity, explicit models, fallback and cool-downs, errors, prefer_warm."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from routing_helpers import Capture, FakeClock, captured

from llmwarm import Tier, routed
from llmwarm._core import Policy, apply, cooldowns
from llmwarm.sim import SimServer

pytestmark = pytest.mark.sim(cold_start=0, ttft=0.1, token_time=0.01)

TIERS = [Tier("small", "s", max_tokens=2), Tier("medium", "m"), Tier("large", "l")]
SHORT = [{"role": "user", "content": "What is 2+2?"}]
MEDIUM = [{"role": "user", "content": "Why is the sky blue? Keep it short."}]
LONG = [{"role": "user", "content": "Summarise this report: " + "lorem ipsum " * 30}]


@pytest.fixture(params=["sync", "async"])
async def client(request: pytest.FixtureRequest, sim_server: SimServer) -> AsyncIterator[Any]:
    """An ``OpenAI`` or an ``AsyncOpenAI`` client of the simulator: each test runs twice."""
    kind = openai.OpenAI if request.param == "sync" else openai.AsyncOpenAI
    made = kind(base_url=sim_server.openai_base_url, api_key="sk", max_retries=0)
    yield made
    closed = made.close()
    if inspect.isawaitable(closed):
        await closed


def make(client: Any, seen: list[str], **options: Any) -> tuple[Any, Capture]:
    """A routed function over ``client``: ``def`` for a sync client, ``async def`` else."""
    if isinstance(client, openai.AsyncOpenAI):

        @routed(TIERS, **options)
        async def acomplete(messages: list[Any], *, model: str = "unused", **kw: Any) -> Any:
            seen.append(model)
            return await client.chat.completions.create(model=model, messages=messages, **kw)

        return captured(acomplete)

    @routed(TIERS, **options)
    def complete(messages: list[Any], *, model: str = "unused", **kw: Any) -> Any:
        seen.append(model)
        return client.chat.completions.create(model=model, messages=messages, **kw)

    return captured(complete)


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; await the result when it is async (one test body for both)."""
    result = fn(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


@pytest.mark.parametrize(
    ("messages", "tier", "model"),
    [(SHORT, "small", "s"), (MEDIUM, "medium", "m"), (LONG, "large", "l")],
)
async def test_tier_by_complexity(client: Any, messages: Any, tier: str, model: str) -> None:
    seen: list[str] = []
    complete, capture = make(client, seen)
    response = await call(complete, messages)
    assert response.model == model
    assert seen == [model]
    assert (capture.last.tier, capture.last.model, capture.last.route_reason) == (
        tier,
        model,
        "classified",
    )
    # The tier's overrides apply: the small tier caps the answer at 2 tokens.
    assert (response.usage.completion_tokens == 2) is (tier == "small")


@pytest.mark.sim(models={"custom": {"rate_503": 1.0}})
async def test_explicit_model_is_respected_and_never_rerouted(client: Any) -> None:
    seen: list[str] = []
    complete, capture = make(client, seen)
    assert (await call(complete, LONG, model="m")).model == "m"
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "explicit")
    with pytest.raises(openai.InternalServerError):
        await call(complete, SHORT, model="custom")
    assert seen == ["m", "custom"]
    assert (capture.last.tier, capture.last.model, capture.last.route_reason) == (
        None,
        "custom",
        "explicit",
    )


@pytest.mark.sim(models={"s": {"rate_429": 1.0}}, retry_after=2.0)
async def test_fallback_and_cool_down_with_retry_after(
    client: Any, sim_server: SimServer, clock: FakeClock
) -> None:
    seen: list[str] = []
    complete, capture = make(client, seen)
    assert (await call(complete, SHORT)).model == "m"
    assert seen == ["s", "m"]
    assert (capture.last.tier, capture.last.route_reason) == ("medium", "fallback")
    # The simulator says Retry-After 2 simulated seconds = 0.02 s real at time_scale 0.01.
    assert cooldowns.ends("s") == pytest.approx(clock.now + 0.02)
    assert complete.router.cooling() == {"s": pytest.approx(0.02)}
    # While cooling, the small tier is skipped (by this and every other call site).
    other, _ = make(client, seen)
    assert (await call(other, SHORT)).model == "m"
    assert seen[2:] == ["m"]
    assert sim_server.stats()["models"]["s"]["faults"]["429"] == 1
    clock.advance(0.03)
    assert (await call(complete, SHORT)).model == "m"
    assert seen[3:] == ["s", "m"]
    assert sim_server.stats()["models"]["s"]["faults"]["429"] == 2


@pytest.mark.sim(known_models=["m", "l"])
async def test_non_retryable_errors_are_raised_at_once(client: Any) -> None:
    seen: list[str] = []
    complete, capture = make(client, seen)
    with pytest.raises(openai.NotFoundError):
        await call(complete, SHORT)
    assert seen == ["s"]
    assert not cooldowns.cooling("s")
    assert capture.last.tier == "small"


@pytest.mark.sim(rate_503=1.0)
@pytest.mark.parametrize(
    ("messages", "tiers"),
    [(SHORT, ["small", "medium", "large"]),
     (MEDIUM, ["medium", "large", "small"])],  # after the last tier, the cheaper ones
)  # fmt: skip
async def test_all_tiers_failing_raise_the_last_error_with_the_others(
    client: Any, messages: Any, tiers: list[str]
) -> None:
    seen: list[str] = []
    complete, _ = make(client, seen)
    with pytest.raises(openai.InternalServerError) as info:
        await call(complete, messages)
    models = [tier[0] for tier in tiers]
    assert seen == models
    attempts = info.value.llmwarm_attempts  # type: ignore[attr-defined]
    assert [(tier, model) for tier, model, _ in attempts] == list(zip(tiers, models, strict=True))
    assert attempts[-1][2] is info.value
    assert len(info.value.__notes__) == 2
    first = f"tier '{tiers[0]}' (model '{models[0]}') failed first"
    assert first in info.value.__notes__[0]


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
        (SHORT, {"l"}, "l", ["s"]),  # the only warm one, however far
        (LONG, {"s", "m"}, "m", ["l"]),
        (MEDIUM, {"s", "l"}, "s", ["m"]),  # a tie goes to the cheaper
        (SHORT, {"s"}, "s", []),  # already warm
        (SHORT, set(), "s", []),  # nothing warm: stay
    ],
)
async def test_prefer_warm(
    client: Any, messages: Any, warm: set[str], model: str, warmed: list[str]
) -> None:
    seen: list[str] = []
    complete, capture = make(client, seen, prefer_warm=True)
    warmth = FakeWarm(warm)
    complete = apply(complete, warmth)
    assert (await call(complete, messages)).model == model
    assert warmth.warmed == warmed
    assert capture.last.route_reason == ("warm" if warmed else "classified")
    assert capture.last.tier == next(t.name for t in TIERS if t.model == model)


def test_reassigned_tiers_are_checked_and_routed() -> None:
    @routed([Tier("s", "m-s"), Tier("l", "m-l")], classify=lambda arguments: "l")
    def f(messages: object, *, model: str | None = None) -> str | None:
        return model

    assert f([{"role": "user", "content": "hi"}]) == "m-l"
    f.router.tiers = (Tier("s", "m-s"), Tier("m", "m-m"), Tier("l", "m-xl"))
    assert f([{"role": "user", "content": "hi"}]) == "m-xl"  # the routing tables followed
    f.router.tiers = (Tier("l", "m-one"),)
    assert f([{"role": "user", "content": "hi"}]) == "m-one"
    with pytest.raises(ValueError, match="tiers"):
        f.router.tiers = ()
