"""from_config hands the routing cool-down and the warming options (the policy, auto, a
cold-start budget) to @routed and @warm as their keywords would."""

from __future__ import annotations

from typing import Any

import pytest

from llmwarm import ConfigError
from llmwarm.config import from_config
from llmwarm.config._schema import parse_config
from llmwarm.route._routed import RoutedPolicy
from llmwarm.warm._warm import WarmPolicy


def _openai(**sections: Any) -> dict[str, Any]:
    section = {
        "api_key": "sk-test-0123456789abcdef",
        "api_base": "http://127.0.0.1:9/v1",
        "default_model": "s",
        "connection_pooling": {"enabled": False},
        **sections,
    }
    return {"llm": {"openai": section}}


def _policy(fn: Any, kind: type[Any]) -> Any:
    (policy,) = [p for p in fn.llmwarm_policies if isinstance(p, kind)]
    return policy


def test_a_yaml_cooldown_above_the_default_max_builds() -> None:
    routing = {"tiers": [{"name": "a", "model": "s"}], "cooldown_seconds": 3600}

    @from_config(_openai(routing=routing))
    def complete(*, model: str | None = None, client: Any = None) -> str:
        return str(model)

    router = _policy(complete, RoutedPolicy)
    assert (router.cooldown, router.max_cooldown) == (3600.0, 3600.0)


def _warmup(**options: Any) -> Any:
    data = _openai(warmup={"model": "s", **options})
    return parse_config(data)["openai"].warmup


def test_a_warmup_without_interval_uses_the_warming_policy() -> None:
    # No interval_seconds: the default policy, as @warm without interval= (once, a 300 s
    # default hid it).
    assert _warmup().interval_seconds is None

    @from_config(_openai(warmup={"model": "s"}))
    def complete(**kwargs: Any) -> str:
        return str(kwargs["model"])

    warmer = _policy(complete, WarmPolicy).warmer
    assert warmer._interval is None
    assert warmer._state["s"].policy is not None  # the policy, not a fixed interval
    assert warmer._state["s"].learner is None


def test_auto_and_a_budget_reach_warm() -> None:
    assert _warmup(interval_seconds="auto").interval_seconds == "auto"
    assert _warmup(cold_start_budget=0.05).cold_start_budget == 0.05

    @from_config(_openai(warmup={"model": "s", "interval_seconds": "auto"}))
    def learned(**kwargs: Any) -> str:
        return str(kwargs["model"])

    assert _policy(learned, WarmPolicy).warmer._state["s"].learner is not None

    @from_config(_openai(warmup={"model": "s", "cold_start_budget": 0.05}))
    def budgeted(**kwargs: Any) -> str:
        return str(kwargs["model"])

    assert _policy(budgeted, WarmPolicy).warmer._state["s"].policy.budget == 0.05


@pytest.mark.parametrize("value", [1.5, -0.1, "lots", True])
def test_a_bad_cold_start_budget_names_its_path(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"warmup\.cold_start_budget must be a fraction"):
        _warmup(cold_start_budget=value)
