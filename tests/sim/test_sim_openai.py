"""The real ``openai`` SDK against the simulator over loopback HTTP."""

from __future__ import annotations

import base64
import logging
import struct
import time

import httpx
import openai
import pytest

from llmwarm.sim import SimServer

MESSAGES = [{"role": "user", "content": "Say hello"}]

# Durations are compared with configured values, never tight wall-clock bounds:
# sleeps never end early, so a cold call takes at least cold_start * (1 - jitter).
SCALE = 0.01


def chat(client: openai.OpenAI, model: str = "gpt-4o-mini", **kw: object) -> tuple[bool, float]:
    start = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES, **kw)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    raw.parse()
    return raw.headers["x-sim-cold-start"] == "true", elapsed


@pytest.mark.sim(cold_start=40, keep_alive=50, ttft=0, token_time=0)
def test_cold_then_warm_then_cold_again_after_keep_alive(
    sim_server: SimServer, oai: openai.OpenAI
) -> None:
    cold, elapsed = chat(oai)
    assert cold
    assert elapsed >= 40 * SCALE * 0.9  # the load: 0.4 s +/- 10 %
    assert elapsed < 40 * SCALE * 1.1 + 2.0
    cold, _ = chat(oai)
    assert not cold
    time.sleep(20 * SCALE)  # idle 20 < keep_alive 50
    cold, _ = chat(oai)
    assert not cold
    time.sleep(60 * SCALE)  # idle 60 > keep_alive 50: unloaded
    cold, _ = chat(oai)
    assert cold
    stats = sim_server.stats()["models"]["gpt-4o-mini"]
    assert stats["requests"] == 4
    assert stats["cold_starts"] == 2
    assert stats["loads"] == 2
    assert stats["unloads"] == 1


def test_completion_shape_usage_and_max_tokens(oai: openai.OpenAI) -> None:
    full = oai.chat.completions.create(model="m", messages=MESSAGES)
    assert full.choices[0].finish_reason == "stop"
    assert full.choices[0].message.role == "assistant"
    assert full.usage is not None
    assert full.usage.completion_tokens == 16
    assert full.usage.prompt_tokens == 2
    assert full.usage.total_tokens == 18
    short = oai.chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
    assert short.usage is not None
    assert short.usage.completion_tokens == 3
    assert short.choices[0].finish_reason == "length"
    assert len((short.choices[0].message.content or "").split()) == 3
    newer = oai.chat.completions.create(model="m", messages=MESSAGES, max_completion_tokens=5)
    assert newer.usage is not None
    assert newer.usage.completion_tokens == 5


@pytest.mark.sim(cold_start=30)
def test_streaming_with_usage_and_cold_header(oai: openai.OpenAI) -> None:
    with oai.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        assert response.headers["x-sim-cold-start"] == "true"
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 16
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 16
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_usage_ends_with_done(sim_server: SimServer) -> None:
    body = {"model": "m", "messages": MESSAGES, "stream": True, "max_tokens": 2}
    response = httpx.post(f"{sim_server}/v1/chat/completions", json=body, trust_env=False)
    events = [line for line in response.text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    assert len(events) == 2 + 1 + 1  # two tokens, the finish chunk, [DONE]
    assert '"usage":null' in events[0]


@pytest.mark.sim(cold_start=30, ttft=0, token_time=0)
async def test_async_client_cold_then_warm(sim_server: SimServer, aoai: openai.AsyncOpenAI) -> None:
    raw = await aoai.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-sim-cold-start"] == "true"
    raw = await aoai.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.headers["x-sim-cold-start"] == "false"
    stream = await aoai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert len("".join(p or "" for p in pieces).split()) == 16
    assert sim_server.stats()["models"]["m"]["cold_starts"] == 1


def test_embeddings_are_deterministic_and_honour_dimensions(oai: openai.OpenAI) -> None:
    first = oai.embeddings.create(model="text-embedding-3-small", input=["a cat", "a dog"])
    assert [d.index for d in first.data] == [0, 1]
    assert len(first.data[0].embedding) == 1536
    assert first.data[0].embedding != first.data[1].embedding
    again = oai.embeddings.create(model="text-embedding-3-small", input="a cat", dimensions=64)
    assert len(again.data[0].embedding) == 64
    floats = oai.embeddings.create(
        model="text-embedding-3-small", input="a cat", encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(first.data[0].embedding, rel=1e-6)
    assert sum(x * x for x in floats.data[0].embedding) == pytest.approx(1.0)
    assert first.usage.prompt_tokens == 4


def test_embeddings_base64_wire_format(sim_server: SimServer) -> None:
    body = {"model": "e", "input": "x", "dimensions": 4, "encoding_format": "base64"}
    data = httpx.post(f"{sim_server}/v1/embeddings", json=body, trust_env=False).json()
    vector = struct.unpack("<4f", base64.b64decode(data["data"][0]["embedding"]))
    assert sum(x * x for x in vector) == pytest.approx(1.0, rel=1e-5)


def test_models_list(oai: openai.OpenAI) -> None:
    oai.chat.completions.create(model="seen-model", messages=MESSAGES)
    assert "seen-model" in [m.id for m in oai.models.list()]


@pytest.mark.sim(known_models=["gpt-4o-mini"])
def test_unknown_model_is_404_in_openai_shape(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        oai.chat.completions.create(model="gpt-5-ultra", messages=MESSAGES)
    error = info.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert "gpt-5-ultra" in error["message"]
    assert [m.id for m in oai.models.list()] == ["gpt-4o-mini"]


def test_invalid_requests_get_openai_errors(sim_server: SimServer, oai: openai.OpenAI) -> None:
    url = f"{sim_server}/v1/chat/completions"
    bad_json = httpx.post(url, content=b"{nope", trust_env=False)
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as missing:
        oai.chat.completions.create(model="m", messages=None)  # type: ignore[arg-type]
    assert missing.value.body["param"] == "messages"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError):
        oai.chat.completions.create(model="m", messages=MESSAGES, max_tokens=-1)
    with pytest.raises(openai.NotFoundError):
        oai.post("/nothing-here", cast_to=object)


@pytest.mark.sim(models={"busy": {"rate_429": 1.0}}, retry_after=50)
def test_rate_limit_surfaces_as_rate_limit_error_with_retry_after(
    sim_server: SimServer, oai: openai.OpenAI
) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model="busy", messages=MESSAGES)
    headers = info.value.response.headers
    assert float(headers["retry-after"]) == pytest.approx(50 * SCALE)
    assert headers["retry-after-ms"] == "500"
    assert info.value.code == "rate_limit_exceeded"
    oai.chat.completions.create(model="calm", messages=MESSAGES)  # other models unaffected
    assert sim_server.stats()["models"]["busy"]["faults"]["429"] == 1


@pytest.mark.sim(models={"a": {"rate_500": 1.0}, "b": {"rate_503": 1.0}})
def test_server_errors_surface_as_internal_server_error(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="a", messages=MESSAGES)
    assert info.value.status_code == 500
    with pytest.raises(openai.InternalServerError) as info:
        oai.chat.completions.create(model="b", messages=MESSAGES)
    assert info.value.status_code == 503


@pytest.mark.sim(rate_hang=1.0)
def test_hung_request_times_out_on_the_client(sim_server: SimServer) -> None:
    client = openai.OpenAI(
        base_url=sim_server.openai_base_url, api_key="k", max_retries=0, timeout=0.3
    )
    with client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=MESSAGES)


@pytest.mark.sim(rate_disconnect=1.0)
def test_disconnect_mid_response(oai: openai.OpenAI, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=MESSAGES)
    stream = oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        received.extend(stream)
    assert 0 < len(received) < 16
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no tracebacks


@pytest.mark.sim(api_key="sk-right")
def test_api_key_is_enforced(sim_server: SimServer) -> None:
    wrong = openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk-wrong", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as info:
        wrong.models.list()
    assert info.value.code == "invalid_api_key"
    right = openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk-right", max_retries=0)
    with right:
        right.chat.completions.create(model="m", messages=MESSAGES)
    assert httpx.get(f"{sim_server}/sim/stats", trust_env=False).status_code == 200


@pytest.mark.sim(cold_start=20, cold_start_jitter=0.0, ttft=0.5, token_time=0.1)
def test_wait_header_reports_simulated_seconds_apart_from_real_overhead(
    sim_server: SimServer,
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with httpx.Client(base_url=sim_server.openai_base_url) as client:
        cold = client.post("/chat/completions", json=body)
        warm = client.post("/chat/completions", json=body)
    tokens = warm.json()["usage"]["completion_tokens"]
    # cold: the whole load, then time to first token and the tokens; warm: no load.
    assert float(cold.headers["x-sim-wait"]) == pytest.approx(20 + 0.5 + 0.1 * tokens, abs=0.01)
    assert float(warm.headers["x-sim-wait"]) == pytest.approx(0.5 + 0.1 * tokens)
