"""@traced against the real openai and ollama SDKs on the simulator, with the in-memory SDK."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Iterator
from typing import Any

import ollama
import openai
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from llmwarm import traced
from llmwarm._core import Call, CallRecord, Flow, Policy, apply
from llmwarm._core import call_stats as stats
from llmwarm._core import driver as _core
from llmwarm.sim import SimServer

Otel = Any  # the recorder built by the `otel` fixture (tests/conftest.py, tests/oteltools.py)

pytestmark = pytest.mark.sim(cold_start=1, ttft=0.5, token_time=0.01)

CANARY_KEY = "sk-CANARY-7f3a9d1e-never-export"
CANARY_PROMPT = "CANARY-PROMPT-4b8e secret question"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def oai(sim_server: SimServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def aoai(sim_server: SimServer) -> Any:
    async with openai.AsyncOpenAI(
        base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0
    ) as client:
        yield client


def port_of(server: SimServer) -> int:
    return int(str(server).rsplit(":", 1)[1])


def assert_request_attributes(attrs: Any, server: SimServer) -> None:
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["server.address"] == "127.0.0.1"
    assert attrs["server.port"] == port_of(server)


# ------------------------------------------------------------------------- plain calls


def test_sync_call_span_has_request_response_and_llmwarm_attributes(
    otel: Otel, oai: openai.OpenAI, sim_server: SimServer
) -> None:
    @traced(**otel.providers)
    def chat(messages: Any, *, model: str = "gpt-4o-mini", client: Any = oai, **kw: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages, **kw)

    response = chat(MESSAGES, max_tokens=5, temperature=0.25, top_p=0.5)
    span = otel.span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is otel_trace.SpanKind.CLIENT
    assert span.status.status_code is otel_trace.StatusCode.UNSET
    attrs = span.attributes
    assert_request_attributes(attrs, sim_server)
    assert attrs["gen_ai.request.max_tokens"] == 5
    assert attrs["gen_ai.request.temperature"] == 0.25
    assert attrs["gen_ai.request.top_p"] == 0.5
    assert attrs["gen_ai.response.model"] == response.model
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.response.finish_reasons"] == ("length",)
    assert attrs["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == response.usage.completion_tokens == 5
    assert attrs["llmwarm.cold_start"] is True  # never called before in this process
    assert "llmwarm.idle_s" not in attrs
    assert "llmwarm.cache.hit" not in attrs
    assert "llmwarm.warmup" not in attrs
    assert span.instrumentation_scope.name == "llmwarm"
    assert span.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.41.0"

    chat(MESSAGES, max_tokens=5)
    second = otel.spans()[1].attributes
    assert second["llmwarm.cold_start"] is False
    assert 0.0 <= second["llmwarm.idle_s"] < 60.0

    points = otel.metrics()
    durations = points["gen_ai.client.operation.duration"]
    assert sum(p.count for p in durations) == 2
    assert {p.attributes["llmwarm.cold_start"] for p in durations} == {True, False}
    assert list(durations[0].explicit_bounds) == [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
    ]  # fmt: skip
    tokens = points["gen_ai.client.token.usage"]
    assert {p.attributes["gen_ai.token.type"] for p in tokens} == {"input", "output"}
    assert list(tokens[0].explicit_bounds)[:4] == [1, 4, 16, 64]
    assert sum(p.value for p in points["llmwarm.coldstarts"]) == 1
    assert "gen_ai.client.operation.time_to_first_chunk" not in points  # not a stream


async def test_async_call_span_has_request_response_and_llmwarm_attributes(
    otel: Otel, aoai: openai.AsyncOpenAI, sim_server: SimServer
) -> None:
    @traced(**otel.providers)
    async def chat(
        messages: Any, *, model: str = "gpt-4o-mini", client: Any = aoai, **kw: Any
    ) -> Any:
        return await client.chat.completions.create(model=model, messages=messages, **kw)

    response = await chat(MESSAGES, max_tokens=5, temperature=0.25, top_p=0.5)
    span = otel.span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is otel_trace.SpanKind.CLIENT
    attrs = span.attributes
    assert_request_attributes(attrs, sim_server)
    assert attrs["gen_ai.request.max_tokens"] == 5
    assert attrs["gen_ai.request.temperature"] == 0.25
    assert attrs["gen_ai.request.top_p"] == 0.5
    assert attrs["gen_ai.response.model"] == response.model
    assert attrs["gen_ai.response.id"] == response.id
    assert attrs["gen_ai.response.finish_reasons"] == ("length",)
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert attrs["llmwarm.cold_start"] is True

    await chat(MESSAGES, max_tokens=5)
    assert otel.spans()[1].attributes["llmwarm.cold_start"] is False
    durations = otel.metrics()["gen_ai.client.operation.duration"]
    assert sum(p.count for p in durations) == 2


# ----------------------------------------------------------------------------- streams


def test_sync_stream_span_stays_open_until_exhausted_with_usage_and_ttfc(
    otel: Otel, oai: openai.OpenAI, sim_server: SimServer
) -> None:
    @traced(**otel.providers)
    def chat(messages: Any, *, model: str = "gpt-4o-mini", client: Any, **kw: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages, **kw)

    stream = chat(
        MESSAGES, client=oai, stream=True, max_tokens=4, stream_options={"include_usage": True}
    )
    assert otel.spans() == []  # open while the stream is consumed
    chunks = list(stream)
    assert chunks
    span = otel.span()
    attrs = span.attributes
    assert_request_attributes(attrs, sim_server)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.response.finish_reasons"] == ("length",)
    assert attrs["gen_ai.usage.output_tokens"] == 4
    assert attrs["gen_ai.usage.input_tokens"] >= 1
    assert attrs["gen_ai.response.id"] == chunks[0].id
    assert 0.0 < attrs["gen_ai.response.time_to_first_chunk"] <= span_seconds(span)
    assert span.status.status_code is otel_trace.StatusCode.UNSET
    stream.close()  # a second end: still one span
    assert len(otel.spans()) == 1
    ttfc = otel.metrics()["gen_ai.client.operation.time_to_first_chunk"]
    assert sum(p.count for p in ttfc) == 1


async def test_async_stream_span_stays_open_until_exhausted_with_usage_and_ttfc(
    otel: Otel, aoai: openai.AsyncOpenAI, sim_server: SimServer
) -> None:
    @traced(**otel.providers)
    async def chat(messages: Any, *, model: str = "gpt-4o-mini", client: Any, **kw: Any) -> Any:
        return await client.chat.completions.create(model=model, messages=messages, **kw)

    stream = await chat(
        MESSAGES, client=aoai, stream=True, max_tokens=4, stream_options={"include_usage": True}
    )
    assert otel.spans() == []
    chunks = [chunk async for chunk in stream]
    span = otel.span()
    attrs = span.attributes
    assert_request_attributes(attrs, sim_server)
    assert attrs["gen_ai.request.stream"] is True
    assert attrs["gen_ai.usage.output_tokens"] == 4
    assert attrs["gen_ai.response.id"] == chunks[0].id
    assert 0.0 < attrs["gen_ai.response.time_to_first_chunk"] <= span_seconds(span)
    await stream.close()
    assert len(otel.spans()) == 1


def span_seconds(span: Any) -> float:
    return float(span.end_time - span.start_time) / 1e9


def test_sync_stream_closed_early_ends_the_span_once_without_error(
    otel: Otel, oai: openai.OpenAI
) -> None:
    @traced(**otel.providers)
    def chat(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return oai.chat.completions.create(model=model, messages=messages, stream=True)

    with chat(MESSAGES) as stream:
        next(iter(stream))
        assert otel.spans() == []
    span = otel.span()
    assert span.status.status_code is otel_trace.StatusCode.UNSET
    assert "error.type" not in span.attributes
    assert span.attributes["gen_ai.response.time_to_first_chunk"] > 0


async def test_async_stream_closed_early_ends_the_span_once_without_error(
    otel: Otel, aoai: openai.AsyncOpenAI
) -> None:
    @traced(**otel.providers)
    async def chat(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return await aoai.chat.completions.create(model=model, messages=messages, stream=True)

    stream = await chat(MESSAGES)
    await stream.__anext__()
    await stream.aclose()
    await stream.aclose()
    span = otel.span()
    assert span.status.status_code is otel_trace.StatusCode.UNSET


def test_sync_abandoned_stream_ends_its_span_with_other_error(
    otel: Otel, oai: openai.OpenAI
) -> None:
    @traced(**otel.providers)
    def chat(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return oai.chat.completions.create(model=model, messages=messages, stream=True)

    stream = chat(MESSAGES)
    next(iter(stream))
    del stream
    gc.collect()
    span = otel.span()
    assert span.attributes["error.type"] == "_OTHER"
    assert span.status.status_code is otel_trace.StatusCode.ERROR
    assert [e.name for e in span.events] == []  # nothing raised: nothing to record
    durations = otel.metrics()["gen_ai.client.operation.duration"]
    assert [p.attributes["error.type"] for p in durations] == ["_OTHER"]


async def test_async_abandoned_stream_ends_its_span_with_other_error(
    otel: Otel, aoai: openai.AsyncOpenAI
) -> None:
    @traced(**otel.providers)
    async def chat(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return await aoai.chat.completions.create(model=model, messages=messages, stream=True)

    stream = await chat(MESSAGES)
    await stream.__anext__()
    del stream
    gc.collect()
    span = otel.span()
    assert span.attributes["error.type"] == "_OTHER"
    assert span.status.status_code is otel_trace.StatusCode.ERROR


# ------------------------------------------------------------------------------ errors


@pytest.mark.sim(rate_500=1.0)
def test_sync_error_span_records_the_exception_once_and_reraises_it(
    otel: Otel, oai: openai.OpenAI
) -> None:
    @traced(**otel.providers)
    def chat(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return oai.chat.completions.create(model=model, messages=messages)

    with pytest.raises(openai.InternalServerError) as caught:
        chat(MESSAGES)
    span = otel.span()
    assert span.status.status_code is otel_trace.StatusCode.ERROR
    error_type = span.attributes["error.type"]
    assert error_type.startswith("openai.")
    assert error_type.endswith(".InternalServerError")
    events = [e for e in span.events if e.name == "exception"]
    assert len(events) == 1
    assert events[0].attributes["exception.type"].endswith("InternalServerError")
    durations = otel.metrics()["gen_ai.client.operation.duration"]
    assert [p.attributes["error.type"] for p in durations] == [error_type]
    assert stats.stats()["errors"] == 1
    assert caught.value.status_code == 500


@pytest.mark.sim(rate_500=1.0)
async def test_async_error_span_records_the_exception_once_and_reraises_it(
    otel: Otel, aoai: openai.AsyncOpenAI
) -> None:
    @traced(**otel.providers)
    async def chat(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return await aoai.chat.completions.create(model=model, messages=messages)

    with pytest.raises(openai.InternalServerError):
        await chat(MESSAGES)
    span = otel.span()
    assert span.status.status_code is otel_trace.StatusCode.ERROR
    assert span.attributes["error.type"].endswith(".InternalServerError")
    assert len([e for e in span.events if e.name == "exception"]) == 1


def test_the_same_exception_object_is_reraised_with_a_builtin_error_type(otel: Otel) -> None:
    boom = ValueError("bad input")

    @traced(**otel.providers)
    def chat(*, model: str = "m") -> Any:
        raise boom

    with pytest.raises(ValueError, match="bad input") as caught:
        chat()
    assert caught.value is boom
    assert otel.span().attributes["error.type"] == "ValueError"


def test_a_positional_only_client_still_names_the_provider_and_server(otel: Otel) -> None:
    # @traced reads the client, it never passes it: positional-only must count too.
    import httpx

    client = httpx.Client(base_url="http://localhost:11434")

    @traced(**otel.providers)
    def chat(http_client: Any, /, messages: Any, *, model: str = "llama3.2") -> Any:
        return {"model": "llama3.2", "done_reason": "stop"}

    chat(client, MESSAGES)
    client.close()
    attributes = otel.span().attributes
    assert attributes["gen_ai.provider.name"] == "ollama"
    assert attributes["server.address"] == "localhost"
    assert attributes["server.port"] == 11434


# ---------------------------------------------------------------- facts of other policies


class FakeCache(Policy):
    """A cache that always hits: writes the fact @cached writes and short-circuits."""

    def flow(self, call: Call) -> Flow:
        call.record.cache_hit = True
        return {"id": "cached-1", "model": "gpt-4o-mini", "usage": {"prompt_tokens": 3}}
        yield call  # pragma: no cover - makes this a generator


class FakeRoute(Policy):
    """Routes to another model and tells why, as @routed and @pooled would."""

    def flow(self, call: Call) -> Flow:
        call.record.model = "big-model"
        call.record.tier = "large"
        call.record.route_reason = "fallback"
        call.record.connection_reused = True
        return (yield call.with_arguments(model="big-model"))


def test_cache_hit_span_has_no_usage_and_counts_a_lookup(otel: Otel) -> None:
    def chat(prompt: str, *, model: str = "gpt-4o-mini") -> Any:
        raise AssertionError("a cache hit never calls the function")

    fn = traced(**otel.providers)(apply(chat, FakeCache()))
    assert fn("hi")["id"] == "cached-1"
    attrs = otel.span().attributes
    assert attrs["llmwarm.cache.hit"] is True
    assert attrs["llmwarm.cold_start"] is False  # the model was never reached
    assert attrs["gen_ai.response.id"] == "cached-1"
    assert "gen_ai.usage.input_tokens" not in attrs
    points = otel.metrics()
    lookups = points["llmwarm.cache.lookups"]
    assert [(p.attributes["llmwarm.cache.hit"], p.value) for p in lookups] == [(True, 1)]
    assert "gen_ai.client.token.usage" not in points
    assert stats.stats()["cache_hits"] == 1


async def test_inner_route_facts_are_read_at_the_end_and_rename_the_span(otel: Otel) -> None:
    async def chat(prompt: str, *, model: str = "small-model") -> dict[str, Any]:
        return {"model": model, "choices": [{"finish_reason": "stop"}]}

    fn = traced(**otel.providers)(apply(chat, FakeRoute()))
    assert (await fn("hi"))["model"] == "big-model"
    span = otel.span()
    assert span.name == "chat big-model"
    attrs = span.attributes
    assert attrs["gen_ai.request.model"] == "big-model"
    assert attrs["gen_ai.response.model"] == "big-model"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["llmwarm.route.tier"] == "large"
    assert attrs["llmwarm.route.reason"] == "fallback"
    assert attrs["llmwarm.connection.reused"] is True


def test_warmup_ping_span_is_marked_and_counted_but_not_a_request(otel: Otel) -> None:
    @traced(**otel.providers)
    def chat(prompt: str, *, model: str = "gpt-4o-mini") -> dict[str, Any]:
        return {"model": model}

    _core.invoke(chat, "", _record=CallRecord(chat.__qualname__, warmup=True))
    attrs = otel.span().attributes
    assert attrs["llmwarm.warmup"] is True
    assert "llmwarm.cold_start" not in attrs
    points = otel.metrics()
    assert sum(p.value for p in points["llmwarm.warmup.pings"]) == 1
    assert [p.attributes["llmwarm.warmup"] for p in points["gen_ai.client.operation.duration"]] == [
        True
    ]  # fmt: skip
    figures = stats.stats()
    assert (figures["total_requests"], figures["warmup_pings"]) == (0, 1)
    chat("hi")  # the ping counted as activity: the first real call is warm
    assert otel.spans()[1].attributes["llmwarm.cold_start"] is False


# ------------------------------------------------------------------- cold / warm flipping


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(stats, "_clock", fake)
    return fake


def test_sync_cold_tag_flips_as_idle_gaps_cross_the_keep_alive(
    otel: Otel, clock: FakeClock
) -> None:
    @traced(**otel.providers)
    def chat(prompt: str, *, model: str = "m1") -> str:
        return "ok"

    gaps = [0.0, 10.0, 299.0, 301.0, 5.0, 1000.0]
    for gap in gaps:
        clock.now += gap
        chat("hi")
    tags = [s.attributes["llmwarm.cold_start"] for s in otel.spans()]
    assert tags == [True, False, False, True, False, True]
    idles = [s.attributes.get("llmwarm.idle_s") for s in otel.spans()]
    assert idles[0] is None
    assert idles[1:] == pytest.approx(gaps[1:], abs=0.5)
    chat("hi", model="m2")  # another model has its own history
    assert otel.spans()[-1].attributes["llmwarm.cold_start"] is True
    assert stats.stats()["cold_starts"] == 4


async def test_async_cold_tag_flips_as_idle_gaps_cross_the_keep_alive(
    otel: Otel, clock: FakeClock
) -> None:
    @traced(**otel.providers)
    async def chat(prompt: str, *, model: str = "m1") -> str:
        await asyncio.sleep(0)
        return "ok"

    for gap in [0.0, 10.0, 301.0, 5.0]:
        clock.now += gap
        await chat("hi")
    tags = [s.attributes["llmwarm.cold_start"] for s in otel.spans()]
    assert tags == [True, False, True, False]


def test_a_prediction_made_by_warm_is_kept(otel: Otel) -> None:
    class FakeWarm(Policy):
        def flow(self, call: Call) -> Flow:
            call.record.cold_start = False
            call.record.idle_s = 12.5
            return (yield call)

    fn = traced(**otel.providers)(apply(lambda *, model="m": "ok", FakeWarm()))
    fn()
    attrs = otel.span().attributes
    assert (attrs["llmwarm.cold_start"], attrs["llmwarm.idle_s"]) == (False, 12.5)


# --------------------------------------------------------------------------- privacy


def exported_text(otel: Otel) -> str:
    dump: list[Any] = []
    for span in otel.spans():
        dump.append([span.name, dict(span.attributes or {}), span.status.description])
        dump.extend([e.name, dict(e.attributes or {})] for e in span.events)
    for name, points in otel.metrics().items():
        dump.append([name, [dict(p.attributes) for p in points]])
    return json.dumps(dump, default=str)


@pytest.mark.sim(api_key=CANARY_KEY)
def test_no_credential_and_no_content_are_exported_by_default(
    otel: Otel, sim_server: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = openai.OpenAI(base_url=sim_server.openai_base_url, api_key=CANARY_KEY, max_retries=0)

    @traced(**otel.providers)
    def chat(prompt: str, *, model: str = "gpt-4o-mini", client: Any = client, **kw: Any) -> Any:
        messages = [{"role": "user", "content": prompt}]
        return client.chat.completions.create(model=model, messages=messages, **kw)

    with client:
        chat(CANARY_PROMPT)
        for _ in chat(CANARY_PROMPT, stream=True):
            pass
    text = exported_text(otel) + caplog.text
    assert len(otel.spans()) == 2
    assert CANARY_KEY not in text
    assert "CANARY-PROMPT" not in text
    assert "gen_ai.input.messages" not in text
    assert "gen_ai.output.messages" not in text


@pytest.mark.sim(api_key=CANARY_KEY)
async def test_content_is_exported_on_opt_in_but_never_the_key(
    otel: Otel, sim_server: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client = openai.AsyncOpenAI(
        base_url=sim_server.openai_base_url, api_key=CANARY_KEY, max_retries=0
    )

    @traced(**otel.providers)
    async def chat(prompt: str, *, model: str = "gpt-4o-mini", client: Any = client) -> Any:
        messages = [{"role": "user", "content": prompt}]
        return await client.chat.completions.create(model=model, messages=messages)

    async with client:
        response = await chat(CANARY_PROMPT)
    attrs = otel.span().attributes
    inputs = json.loads(attrs["gen_ai.input.messages"])
    assert inputs == [{"role": "user", "parts": [{"type": "text", "content": CANARY_PROMPT}]}]
    outputs = json.loads(attrs["gen_ai.output.messages"])
    assert outputs[0]["parts"][0]["content"] == response.choices[0].message.content
    assert CANARY_KEY not in exported_text(otel)


def test_capture_content_false_wins_over_the_environment(
    otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")

    @traced(capture_content=False, **otel.providers)
    def chat(messages: Any, *, model: str = "m") -> dict[str, Any]:
        return {"choices": [{"message": {"content": "answer"}}]}

    chat([{"role": "user", "content": CANARY_PROMPT}])
    assert "CANARY-PROMPT" not in exported_text(otel)


# ---------------------------------------------------------------------------- ollama


def test_ollama_sync_and_stream_spans(otel: Otel, sim_server: SimServer) -> None:
    client = ollama.Client(host=str(sim_server))

    @traced(**otel.providers)
    def chat(messages: Any, *, model: str = "llama3.2", client: Any = client, **kw: Any) -> Any:
        return client.chat(model=model, messages=messages, **kw)

    response = chat(MESSAGES, options={"num_predict": 3, "temperature": 0.1})
    attrs = otel.span().attributes
    assert attrs["gen_ai.provider.name"] == "ollama"
    assert attrs["server.port"] == port_of(sim_server)
    assert attrs["gen_ai.request.max_tokens"] == 3
    assert attrs["gen_ai.request.temperature"] == 0.1
    assert attrs["gen_ai.response.model"] == response.model
    assert attrs["gen_ai.response.finish_reasons"] == (response.done_reason,)
    assert attrs["gen_ai.usage.input_tokens"] == response.prompt_eval_count
    assert attrs["gen_ai.usage.output_tokens"] == response.eval_count == 3

    for _ in chat(MESSAGES, stream=True, options={"num_predict": 2}):
        pass
    streamed = otel.spans()[1].attributes
    assert streamed["gen_ai.usage.output_tokens"] == 2  # from the final `done` chunk
    assert streamed["gen_ai.response.time_to_first_chunk"] > 0
    assert streamed["gen_ai.request.stream"] is True


async def test_ollama_async_span(otel: Otel, sim_server: SimServer) -> None:
    client = ollama.AsyncClient(host=str(sim_server))

    @traced(**otel.providers)
    async def chat(messages: Any, *, model: str = "llama3.2", client: Any = client) -> Any:
        return await client.chat(model=model, messages=messages, options={"num_predict": 2})

    await chat(MESSAGES)
    attrs = otel.span().attributes
    assert attrs["gen_ai.provider.name"] == "ollama"
    assert attrs["gen_ai.usage.output_tokens"] == 2


# ------------------------------------------------------------------ OTel library rules


def test_without_an_sdk_traced_starts_no_span_and_returns_the_result_unchanged() -> None:
    assert isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider)
    result = object()

    @traced
    def chat(*, model: str = "m") -> object:
        assert not otel_trace.get_current_span().get_span_context().is_valid
        return result

    assert chat() is result
    policy = chat.llmwarm_policies[0]
    assert policy._resolve(time.perf_counter()) is None  # no span, no measurement
    assert stats.stats()["total_requests"] == 1  # stats need no telemetry back end


def test_the_span_is_current_inside_the_call_only_when_it_records(
    otel: Otel, make_otel: Any
) -> None:
    seen: list[Any] = []

    def body(*, model: str = "m") -> str:
        seen.append(otel_trace.get_current_span())
        return "ok"

    traced(**otel.providers)(body)()
    assert seen[-1].get_span_context().span_id == otel.span().context.span_id

    sampled_out = make_otel(sampler=ALWAYS_OFF)
    traced(**sampled_out.providers)(body)()
    assert not seen[-1].get_span_context().is_valid
    assert sampled_out.spans() == []


def test_latest_experimental_conventions_rename_the_metrics(
    otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http,gen_ai_latest_experimental")

    @traced(**otel.providers)
    def chat(*, model: str = "m") -> dict[str, Any]:
        return {"model": model, "usage": {"prompt_tokens": 7, "completion_tokens": 9}}

    chat()
    points = otel.metrics()
    assert "gen_ai.client.operation.duration" not in points
    assert sum(p.count for p in points["gen_ai.client.inference.duration"]) == 1
    assert [p.sum for p in points["gen_ai.client.inference.operation.input_tokens"]] == [7]
    assert [p.sum for p in points["gen_ai.client.inference.operation.output_tokens"]] == [9]
    assert otel.span().attributes["gen_ai.usage.output_tokens"] == 9


def test_explicit_provider_and_operation(otel: Otel) -> None:
    @traced(operation="embeddings", provider="azure.ai.openai", **otel.providers)
    def embed(text: str, *, model: str = "text-embedding-3-small") -> list[float]:
        return [0.0]

    embed("x")
    span = otel.span()
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"


def test_provider_is_inferred_from_azure_and_known_hosts() -> None:
    from llmwarm.trace._responses import endpoint_of

    azure = openai.AzureOpenAI(
        azure_endpoint="https://acme.openai.azure.com", api_key="k", api_version="2024-06-01"
    )
    assert endpoint_of(azure).provider == "azure.ai.openai"
    assert (endpoint_of(azure).address, endpoint_of(azure).port) == ("acme.openai.azure.com", 443)
    groq = openai.OpenAI(base_url="https://api.groq.com/openai/v1", api_key="k")
    assert endpoint_of(groq).provider == "groq"
    local = openai.OpenAI(base_url="http://localhost:11434/v1", api_key="k")
    assert endpoint_of(local).provider == "ollama"
    assert endpoint_of(None).provider is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"operation": ""}, "operation must be a non-empty string"),
        ({"provider": 3}, "provider must be None"),
        ({"capture_content": "yes"}, "capture_content must be True, False or None"),
        ({"tracer_provider": object()}, "tracer_provider must be an OpenTelemetry"),
        ({"meter_provider": object()}, "meter_provider must be an OpenTelemetry"),
    ],
)
def test_bad_options_fail_at_decoration_naming_the_parameter(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        traced(**options)


def test_bare_and_called_forms_build_one_policy_each(otel: Otel) -> None:
    def a(*, model: str = "m") -> int:
        return 1

    def b(*, model: str = "m") -> int:
        return 2

    first, second = traced(a), traced()(b)
    assert (first(), second()) == (1, 2)
    assert first.llmwarm_policies[0] is not second.llmwarm_policies[0]


# ------------------------------------------------------------- with the real decorators


def test_real_cached_hit_and_miss_spans_against_the_simulator(
    otel: Otel, oai: openai.OpenAI
) -> None:
    from llmwarm import cached

    @traced(**otel.providers)
    @cached(ttl=60)
    def chat(prompt: str, *, model: str = "gpt-4o-mini", max_tokens: int = 3) -> Any:
        messages = [{"role": "user", "content": prompt}]
        return oai.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens)

    first = chat("hello")
    second = chat("hello")
    assert second.id == first.id
    miss, hit = (s.attributes for s in otel.spans())
    assert (miss["llmwarm.cache.hit"], hit["llmwarm.cache.hit"]) == (False, True)
    assert miss["gen_ai.usage.output_tokens"] == 3
    assert "gen_ai.usage.output_tokens" not in hit
    assert hit["llmwarm.cold_start"] is False
    lookups = {
        p.attributes["llmwarm.cache.hit"]: p.value for p in otel.metrics()["llmwarm.cache.lookups"]
    }
    assert lookups == {False: 1, True: 1}
    figures = stats.stats()
    assert (figures["total_requests"], figures["cache_hits"]) == (2, 1)


def test_a_response_traced_cannot_read_never_breaks_the_call(
    otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    class Odd:
        """A response of no known shape whose `choices` is not iterable (a mock, say)."""

        choices = 42
        usage = object()

    odd = Odd()
    fn = traced(**otel.providers)(lambda *, model="m": odd)
    assert fn() is odd
    assert "@traced" in caplog.text


def test_a_span_that_cannot_start_leaves_the_call_untraced(
    otel: Otel, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fn = traced(**otel.providers)(lambda *, model="m": "answer")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("exporter misconfigured")

    policy = fn.llmwarm_policies[0]
    monkeypatch.setattr(policy, "_open", broken)
    assert fn() == "answer"
    assert "could not start a span" in caplog.text
