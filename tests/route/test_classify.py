"""The default classifier, Tier and @routed validation at decoration time."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmwarm import Tier, routed
from llmwarm.route._classify import DEFAULT_WORDS, default_classifier, last_user_text

THREE = [Tier("small", "s"), Tier("medium", "m"), Tier("large", "l")]


def user(text: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "be brief " * 40},
            {"role": "user", "content": text},
        ]
    }


def test_last_user_text_reads_strings_parts_objects_and_prompt() -> None:
    assert last_user_text(user("hi")) == "hi"
    parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}, "b"]
    assert last_user_text(user(parts)) == "a\nb"

    class Message:
        role = "user"
        content = "from an object"

    assert last_user_text({"messages": [Message()]}) == "from an object"
    assert last_user_text({"messages": [{"role": "assistant", "content": "only"}]}) == "only"
    assert last_user_text({"prompt": "p"}) == "p"
    assert last_user_text({"input": "x"}) is None


def test_default_thresholds_and_words() -> None:
    classify = default_classifier()
    assert classify(user("What is 2+2?")) == 0
    assert classify(user("Why is the sky blue?")) == 1  # short, but a hard word
    assert classify(user("Please EXPLAIN this.")) == 1
    assert classify(user("whyever not")) == 0  # whole words only
    assert classify(user("x" * 49)) == 0
    assert classify(user("x" * 50)) == 1
    assert classify(user("x" * 199)) == 1
    assert classify(user("x" * 200)) == -1
    assert classify({"nothing": 1}) == -1
    assert set(DEFAULT_WORDS) >= {
        "explain",
        "analyze",
        "analyse",
        "compare",
        "why",
        "design",
        "prove",
    }


def test_custom_thresholds_and_words() -> None:
    classify = default_classifier(short=5, long=10, words=["sql"])
    assert classify({"prompt": "hey"}) == 0
    assert classify({"prompt": "sql"}) == 1
    assert classify({"prompt": "hello!"}) == 1
    assert classify({"prompt": "hello there"}) == -1
    assert default_classifier(words=[])({"prompt": "why"}) == 0


@given(st.text(max_size=300))
def test_classifier_never_fails_and_longer_is_never_cheaper(text: str) -> None:
    classify = default_classifier()
    rank = {0: 0, 1: 1, -1: 2}
    assert rank[classify({"prompt": text})] <= rank[classify({"prompt": text + "x" * 200})]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"short": -1}, ValueError),
        ({"long": 10, "short": 20}, ValueError),
        ({"words": "why"}, TypeError),
    ],
)
def test_classifier_options_are_validated(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        default_classifier(**options)


def test_tier_is_frozen_validated_and_comparable() -> None:
    tier = Tier("small", "gpt-4o-mini", max_tokens=64)
    assert tier.overrides == {"max_tokens": 64}
    assert tier == Tier("small", "gpt-4o-mini", max_tokens=64)
    assert tier != Tier("small", "gpt-4o-mini")
    assert repr(tier) == "Tier('small', 'gpt-4o-mini', max_tokens=64)"
    with pytest.raises(AttributeError, match="frozen"):
        tier.model = "other"  # type: ignore[misc]
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="non-empty string"):
            Tier(bad, "m")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="non-empty string"):
            Tier("n", bad)  # type: ignore[arg-type]


def complete(messages: list[Any], *, model: str = "x", max_tokens: int = 16) -> str:
    return model


@pytest.mark.parametrize(
    ("tiers", "options", "error", "match"),
    [
        ([], {}, ValueError, "at least one"),
        ("small", {}, TypeError, "list of Tier"),
        (["small"], {}, TypeError, "Tier objects"),
        ([Tier("a", "m"), Tier("a", "n")], {}, ValueError, "two tiers named 'a'"),
        (THREE, {"hedge_after": 0}, ValueError, "hedge_after"),
        (THREE, {"hedge_after": "1s"}, TypeError, "hedge_after"),
        (THREE, {"cooldown": -1}, ValueError, "cooldown"),
        (THREE, {"fallback": 1}, TypeError, "fallback"),
        (THREE, {"prefer_warm": None}, TypeError, "prefer_warm"),
        (THREE, {"classify": "short"}, TypeError, "classify"),
    ],
)
def test_bad_options_fail_at_decoration(
    tiers: Any, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        routed(tiers, **options)(complete)


def test_function_must_accept_model_and_the_overrides() -> None:
    def no_model(messages: list[Any]) -> None:
        return None

    with pytest.raises(TypeError, match="`model`"):
        routed(THREE)(no_model)
    with pytest.raises(TypeError, match="temperature"):
        routed([Tier("a", "m", temperature=0)])(complete)
    with pytest.raises(TypeError, match="async"):
        routed(THREE, hedge_after=1.0)(complete)
