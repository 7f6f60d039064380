"""The default cool-down fits under a short ``max_cooldown`` instead of vetoing it."""

from __future__ import annotations

import pytest

from llmwarm import ConfigError
from llmwarm.route import DEFAULT_COOLDOWN, Tier, routed
from llmwarm.route._routed import RoutedPolicy

TIERS = [Tier("small", "s"), Tier("large", "l")]


def _router(fn: object) -> RoutedPolicy:
    (policy,) = [p for p in fn.llmwarm_policies if isinstance(p, RoutedPolicy)]  # type: ignore[attr-defined]
    return policy


def test_a_short_max_cooldown_caps_the_default_cooldown() -> None:
    @routed(TIERS, max_cooldown=10)
    def complete(*, model: str = "s") -> str:
        return model

    assert (_router(complete).cooldown, _router(complete).max_cooldown) == (10.0, 10.0)


def test_the_default_cooldown_is_unchanged_otherwise() -> None:
    @routed(TIERS)
    def complete(*, model: str = "s") -> str:
        return model

    assert _router(complete).cooldown == DEFAULT_COOLDOWN


def test_an_explicit_cooldown_above_max_cooldown_is_still_refused() -> None:
    with pytest.raises(ConfigError, match="cooldown"):
        routed(TIERS, cooldown=20, max_cooldown=10)
