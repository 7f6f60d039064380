"""Hostile numbers and targets, refused at decoration by every decorator, naming the fix."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import httpx
import pytest

from llmwarm import ConfigError, Tier, batched, pooled, routed, traced, warm
from llmwarm._core import count, seconds, seconds_or_none

NAN, INF = math.nan, math.inf
TIERS = [Tier("small", "s")]

# (decorator factory, the parameter named, the accepted range named); every value is refused.
MATRIX: list[tuple[str, Any, Any, str, str]] = [
    ("@warm", lambda v: warm("m", interval=v), 1e-9, "interval", ">= 1"),
    ("@warm", lambda v: warm("m", interval=v), 0.5, "interval", ">= 1"),
    ("@warm", lambda v: warm("m", interval=v), NAN, "interval", ">= 1"),
    ("@warm", lambda v: warm("m", interval=v), INF, "interval", ">= 1"),
    ("@warm", lambda v: warm("m", interval=v), -60, "interval", ">= 1"),
    ("@warm", lambda v: warm("m", keep_alive=v), NAN, "keep_alive", "> 0"),
    ("@warm", lambda v: warm("m", keep_alive=v), -1, "keep_alive", "> 0"),
    ("@routed", lambda v: routed(TIERS, cooldown=v), INF, "cooldown", "finite"),
    ("@routed", lambda v: routed(TIERS, cooldown=v), 0, "cooldown", "> 0"),
    ("@routed", lambda v: routed(TIERS, cooldown=v), NAN, "cooldown", "> 0"),
    ("@routed", lambda v: routed(TIERS, cooldown=v), -1, "cooldown", "> 0"),
    ("@routed", lambda v: routed(TIERS, cooldown=v), 3600, "cooldown", "<= 600"),
    ("@routed", lambda v: routed(TIERS, hedge_after=v), NAN, "hedge_after", "> 0"),
    ("@routed", lambda v: routed(TIERS, hedge_after=v), INF, "hedge_after", "finite"),
    ("@routed", lambda v: routed(TIERS, max_cooldown=v), INF, "max_cooldown", "finite"),
    ("@routed", lambda v: routed(TIERS, max_cooldown=v), 0, "max_cooldown", "> 0"),
    ("@routed", lambda v: routed(TIERS, max_wait=v), NAN, "max_wait", ">= 0"),
    ("@routed", lambda v: routed(TIERS, max_wait=v), -1, "max_wait", ">= 0"),
    ("@pooled", lambda v: pooled(timeout=v), NAN, "timeout", "> 0"),
    ("@pooled", lambda v: pooled(timeout=v), INF, "timeout", "finite"),
    ("@pooled", lambda v: pooled(timeout=v), -1, "timeout", "> 0"),
    ("@pooled", lambda v: pooled(timeout=httpx.Timeout(v)), NAN, "timeout.connect", "> 0"),
    ("@pooled", lambda v: pooled(timeout=httpx.Timeout(5, read=v)), -1, "timeout.read", "> 0"),
    ("@batched", lambda v: batched(max_wait=v), NAN, "max_wait", ">= 0"),
    ("@batched", lambda v: batched(max_wait=v), INF, "max_wait", "finite"),
    ("@batched", lambda v: batched(max_wait=v), -0.1, "max_wait", ">= 0"),
    ("@batched", lambda v: batched(max_size=v), 0, "max_size", ">= 1"),
]


@pytest.mark.parametrize(
    ("decorator", "make", "value", "name", "accepted"),
    MATRIX,
    ids=[f"{d}-{n}={v!r}" for d, _, v, n, _a in MATRIX],
)
def test_hostile_numbers_are_refused_naming_the_parameter_and_range(
    decorator: str, make: Any, value: Any, name: str, accepted: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make(value)
    message = str(info.value)
    assert message.startswith(f"{name} must be") or f": {name} must be" in message
    assert accepted in message
    assert repr(value) in message or "nan" in message


@pytest.mark.parametrize(
    ("make", "value"),
    [
        (lambda v: warm("m", interval=v), True),
        (lambda v: warm("m", keep_alive=v), "5m"),
        (lambda v: routed(TIERS, cooldown=v), "10"),
        (lambda v: routed(TIERS, max_wait=v), True),
        (lambda v: pooled(timeout=v), "long"),
        (lambda v: batched(max_wait=v), "1s"),
    ],
)
def test_numbers_of_the_wrong_type_are_type_errors(make: Any, value: Any) -> None:
    with pytest.raises(TypeError, match="must be a finite number of seconds"):
        make(value)


def test_sane_numbers_and_timedeltas_are_accepted() -> None:
    warm("m", interval=timedelta(seconds=1))
    warm("m", interval=240, keep_alive=300)
    routed(TIERS, cooldown=600, max_wait=0, hedge_after=None)
    pooled(timeout=httpx.Timeout(None))  # None disables a timeout: allowed
    pooled(timeout=2.5)
    batched(max_wait=0)


class Client:
    def complete(self, *, model: str = "m", messages: Any = None, max_tokens: int = 0) -> str:
        return model


@pytest.mark.parametrize(
    "decorator",
    [
        warm("m"),
        routed(TIERS),
        pooled(),
        traced,
        batched(),
    ],
    ids=["warm", "routed", "pooled", "traced", "batched"],  # @cached: tests/cache
)
def test_a_class_is_refused_with_a_clear_error(decorator: Any) -> None:
    with pytest.raises(TypeError, match=r"got the class .*Client: decorate the method"):
        decorator(Client)


def test_the_shared_validator() -> None:
    assert seconds("x", timedelta(minutes=1)) == 60.0
    assert seconds("x", 0, inclusive=True) == 0.0
    assert seconds_or_none("x", None) is None
    assert count("n", 3) == 3
    with pytest.raises(ConfigError, match=r"x must be a finite number of seconds > 2 and <= 5"):
        seconds("x", 7, minimum=2, maximum=5)
    with pytest.raises(ConfigError, match=r"n must be an int >= 1; got 2\.5"):
        count("n", 2.5)
    with pytest.raises(ConfigError, match=r"Or None \(never\)"):
        seconds_or_none("x", -1, none="None (never)")
