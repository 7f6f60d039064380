"""The complete attribute sets of @traced's spans and metric points, call kind by call kind.

Other tests check the attributes that matter to each feature; these pin the whole set (and
the deterministic values), so that a change to the traced path's shape (how the end of a
call is read, merged or recorded) cannot add, drop or move an attribute unnoticed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmwarm import traced
from llmwarm._core import Call, Flow, Policy, apply

Otel = Any  # the recorder built by the `otel` fixture (tests/conftest.py, tests/oteltools.py)

START = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.max_tokens": 64,
}
RESPONSE = {
    "model": "gpt-4o-mini-2024",
    "id": "chatcmpl-1",
    "choices": [{"finish_reason": "stop", "message": {"content": "hello"}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7},
}
#: What every metric point of a first (cold) call carries.
POINT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024",
    "llmwarm.warmup": False,
    "llmwarm.cold_start": True,
    "llmwarm.cold_start.kind": "blocking",
}


def chat(prompt: str, *, model: str = "gpt-4o-mini", max_tokens: int = 64) -> Any:
    if prompt == "fail":
        raise ValueError("boom")
    if prompt == "stream":
        return iter([{**RESPONSE, "usage": None}, {"choices": [], **RESPONSE}])
    return RESPONSE


def attributes(points: list[Any]) -> list[dict[str, Any]]:
    return sorted((dict(p.attributes) for p in points), key=repr)


@pytest.fixture
def fn(otel: Otel) -> Any:
    return traced(provider="openai", **otel.providers)(chat)


def test_a_returned_value_gives_the_whole_span_and_every_point(otel: Otel, fn: Any) -> None:
    fn("hi")
    span = otel.span()
    assert span.name == "chat gpt-4o-mini"
    assert dict(span.attributes) == {
        **START,
        "gen_ai.response.model": "gpt-4o-mini-2024",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 7,
        "llmwarm.cold_start": True,
        "llmwarm.cold_start.kind": "blocking",
    }
    assert span.status.status_code.name == "UNSET"
    assert list(span.events) == []
    metrics = otel.metrics()
    assert set(metrics) == {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "llmwarm.coldstarts",
    }
    assert attributes(metrics["gen_ai.client.operation.duration"]) == [POINT]
    assert attributes(metrics["gen_ai.client.token.usage"]) == [
        {**POINT, "gen_ai.token.type": "input"},
        {**POINT, "gen_ai.token.type": "output"},
    ]
    assert [p.sum for p in sorted(metrics["gen_ai.client.token.usage"], key=lambda p: p.sum)] == [
        5,
        7,
    ]
    assert attributes(metrics["llmwarm.coldstarts"]) == [
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "llmwarm.cold_start.kind": "blocking",
        }
    ]


def test_a_warm_second_call_carries_its_idle_time_and_no_cold_kind(otel: Otel, fn: Any) -> None:
    fn("hi")
    fn("hi")
    second = otel.spans()[1]
    assert set(second.attributes) == {
        *START,
        "gen_ai.response.model",
        "gen_ai.response.id",
        "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "llmwarm.cold_start",
        "llmwarm.idle_s",
    }
    assert second.attributes["llmwarm.cold_start"] is False
    warm = {**POINT, "llmwarm.cold_start": False}
    del warm["llmwarm.cold_start.kind"]
    assert warm in attributes(otel.points("gen_ai.client.operation.duration"))


def test_a_stream_adds_its_time_to_first_chunk(otel: Otel, fn: Any) -> None:
    assert len(list(fn("stream"))) == 2
    attrs = dict(otel.span().attributes)
    assert isinstance(attrs.pop("gen_ai.response.time_to_first_chunk"), float)
    assert set(attrs) == {
        *START,
        "gen_ai.response.model",
        "gen_ai.response.id",
        "gen_ai.response.finish_reasons",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "llmwarm.cold_start",
        "llmwarm.cold_start.kind",
    }
    assert attributes(otel.points("gen_ai.client.operation.time_to_first_chunk")) == [POINT]


def test_an_error_adds_its_type_to_the_span_and_the_duration_only(otel: Otel, fn: Any) -> None:
    with pytest.raises(ValueError, match="boom"):
        fn("fail")
    span = otel.span()
    assert dict(span.attributes) == {
        **START,
        "llmwarm.cold_start": True,
        "llmwarm.cold_start.kind": "blocking",
        "error.type": "ValueError",
    }
    assert span.status.status_code.name == "ERROR"
    assert [e.name for e in span.events] == ["exception"]
    point = {k: v for k, v in POINT.items() if k != "gen_ai.response.model"}
    assert attributes(otel.points("gen_ai.client.operation.duration")) == [
        {**point, "error.type": "ValueError"}
    ]
    assert otel.points("gen_ai.client.token.usage") == []


class _Hit(Policy):
    """A cache that always answers (the facts @cached writes on a hit)."""

    def flow(self, call: Call) -> Flow:
        call.record.cache_hit = True
        return RESPONSE
        yield call  # a generator that never reaches the function


class _Routed(Policy):
    """A router that sent the call to another model and tier."""

    def flow(self, call: Call) -> Flow:
        call.record.model = "big-model"
        call.record.tier = "large"
        call.record.route_reason = "fallback"
        call.record.connection_reused = True
        return (yield call.with_arguments(model="big-model"))


def test_a_cache_hit_has_no_usage_and_counts_a_lookup(otel: Otel) -> None:
    traced(provider="openai", **otel.providers)(apply(chat, _Hit()))("hi")
    assert dict(otel.span().attributes) == {
        **START,
        "gen_ai.response.model": "gpt-4o-mini-2024",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "llmwarm.cold_start": False,
        "llmwarm.cache.hit": True,
    }
    point = {**POINT, "llmwarm.cold_start": False, "llmwarm.cache.hit": True}
    del point["llmwarm.cold_start.kind"]
    metrics = otel.metrics()
    assert set(metrics) == {"gen_ai.client.operation.duration", "llmwarm.cache.lookups"}
    assert attributes(metrics["gen_ai.client.operation.duration"]) == [point]
    assert attributes(metrics["llmwarm.cache.lookups"]) == [
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "llmwarm.cache.hit": True,
        }
    ]


def test_a_routed_async_call_renames_the_span_and_its_points(otel: Otel) -> None:
    async def achat(prompt: str, *, model: str = "gpt-4o-mini", max_tokens: int = 64) -> Any:
        return RESPONSE

    fn = traced(provider="openai", **otel.providers)(apply(achat, _Routed()))
    asyncio.run(fn("hi"))
    span = otel.span()
    assert span.name == "chat big-model"
    assert dict(span.attributes) == {
        **START,
        "gen_ai.request.model": "big-model",
        "gen_ai.response.model": "gpt-4o-mini-2024",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 5,
        "gen_ai.usage.output_tokens": 7,
        "llmwarm.cold_start": True,
        "llmwarm.cold_start.kind": "blocking",
        "llmwarm.route.tier": "large",
        "llmwarm.route.reason": "fallback",
        "llmwarm.connection.reused": True,
    }
    point = {**POINT, "gen_ai.request.model": "big-model"}
    assert attributes(otel.points("gen_ai.client.operation.duration")) == [point]
