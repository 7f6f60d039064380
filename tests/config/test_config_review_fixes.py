"""from_config regressions found in review: routing cool-downs, the warming policy."""

from __future__ import annotations

from typing import Any

from llmwarm.config import from_config
from llmwarm.route._routed import Router


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

    router = _policy(complete, Router)
    assert (router.cooldown, router.max_cooldown) == (3600.0, 3600.0)
