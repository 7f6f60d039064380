"""The real ``ollama`` SDK against the simulator over loopback HTTP."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx
import ollama
import pytest

from llmwarm.sim import SimServer

MESSAGES = [{"role": "user", "content": "Say hello"}]
SCALE = 0.01


def loaded(client: ollama.Client) -> list[str]:
    return [m.model or "" for m in client.ps().models]


@pytest.mark.sim(cold_start=40, keep_alive=50, ttft=0, token_time=0)
def test_chat_cold_warm_and_expiry_agree_with_ps_and_stats(
    sim_server: SimServer, oll: ollama.Client
) -> None:
    assert loaded(oll) == []
    start = time.perf_counter()
    first = oll.chat(model="llama3.2", messages=MESSAGES, stream=False)
    elapsed = time.perf_counter() - start
    assert elapsed >= 40 * SCALE * 0.9
    assert first.load_duration is not None
    assert 36e9 <= first.load_duration <= 44e9  # simulated nanoseconds, within the jitter
    assert first.done_reason == "stop"
    assert first.eval_count == 16
    assert len((first.message.content or "").split()) == 16
    second = oll.chat(model="llama3.2", messages=MESSAGES, stream=False)
    assert second.load_duration == 0
    ps = oll.ps().models
    assert [m.model for m in ps] == ["llama3.2"]
    expires = ps[0].expires_at
    assert expires is not None
    remaining = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 0 < remaining <= 50 * SCALE + 0.1  # keep_alive is in simulated seconds too
    time.sleep(60 * SCALE)
    assert loaded(oll) == []
    stats = sim_server.stats()["models"]["llama3.2"]
    assert (stats["requests"], stats["cold_starts"], stats["loads"], stats["unloads"]) == (
        2, 1, 1, 1,
    )  # fmt: skip
    assert stats["tokens_out"] == 32


def test_streamed_chat_and_generate(oll: ollama.Client) -> None:
    parts = list(oll.chat(model="m", messages=MESSAGES, stream=True))
    assert all(not p.done for p in parts[:-1])
    assert parts[-1].done
    assert parts[-1].done_reason == "stop"
    assert len(parts) == 17
    assert len("".join(p.message.content or "" for p in parts).split()) == 16
    gen = list(oll.generate(model="m", prompt="Why is the sky blue?", stream=True))
    assert gen[-1].done
    assert gen[-1].eval_count == 16
    assert gen[-1].prompt_eval_count == 6
    assert len("".join(p.response or "" for p in gen).split()) == 16


def test_generate_json_and_num_predict(oll: ollama.Client) -> None:
    out = oll.generate(model="m", prompt="hi", stream=False, options={"num_predict": 4})
    assert out.done
    assert out.done_reason == "length"
    assert out.eval_count == 4
    assert len((out.response or "").split()) == 4


@pytest.mark.sim(keep_alive=300, cold_start=1)
def test_keep_alive_per_request(oll: ollama.Client) -> None:
    oll.generate(model="short", prompt="hi", keep_alive="20s")
    oll.generate(model="forever", prompt="hi", keep_alive=-1)
    oll.generate(model="default", prompt="hi")
    by_name = {m.model: m.expires_at for m in oll.ps().models}
    assert set(by_name) == {"short", "forever", "default"}
    assert by_name["forever"] is not None
    assert by_name["forever"].year > 2100
    time.sleep(30 * SCALE)
    assert set(loaded(oll)) == {"forever", "default"}
    unloaded = oll.generate(model="forever", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert loaded(oll) == ["default"]


@pytest.mark.sim(cold_start=30)
def test_model_without_prompt_only_loads_it(sim_server: SimServer, oll: ollama.Client) -> None:
    load = oll.generate(model="preload-me")
    assert load.done
    assert load.done_reason == "load"
    assert load.response == ""
    assert loaded(oll) == ["preload-me"]
    chat_load = oll.chat(model="preload-me", messages=[])
    assert chat_load.done_reason == "load"
    warm = httpx.post(
        f"{sim_server}/api/generate",
        json={"model": "preload-me", "prompt": "hi", "stream": False},
        trust_env=False,
    )
    assert warm.headers["x-sim-cold-start"] == "false"
    stats = sim_server.stats()["models"]["preload-me"]
    assert (stats["loads"], stats["cold_starts"], stats["tokens_out"]) == (1, 1, 16)


@pytest.mark.sim(max_loaded_models=2)
def test_least_recently_used_model_is_evicted(sim_server: SimServer, oll: ollama.Client) -> None:
    for name in ("a", "b", "a", "c"):
        oll.generate(model=name)
    assert sorted(loaded(oll)) == ["a", "c"]
    assert sim_server.stats()["models"]["b"]["evictions"] == 1


def test_embed(oll: ollama.Client) -> None:
    out = oll.embed(model="nomic-embed-text", input=["one", "two"])
    assert len(out.embeddings) == 2
    assert len(out.embeddings[0]) == 768
    assert out.embeddings[0] == oll.embed(model="nomic-embed-text", input="one").embeddings[0]


@pytest.mark.sim(known_models=["llama3.2"])
def test_unknown_model_is_404_in_ollama_shape(sim_server: SimServer, oll: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        oll.chat(model="mistral", messages=MESSAGES)
    assert info.value.status_code == 404
    assert info.value.error == "model 'mistral' not found"
    assert [m.model for m in oll.list().models] == ["llama3.2"]


def test_invalid_requests_get_ollama_errors(sim_server: SimServer) -> None:
    url = f"{sim_server}/api/chat"
    bad_json = httpx.post(url, content=b"{nope", trust_env=False)
    assert bad_json.status_code == 400
    assert isinstance(bad_json.json()["error"], str)
    no_model = httpx.post(url, json={"messages": MESSAGES}, trust_env=False)
    assert (no_model.status_code, no_model.json()) == (400, {"error": "model is required"})
    bad_keep_alive = httpx.post(
        url, json={"model": "m", "keep_alive": "10 parsecs"}, trust_env=False
    )
    assert bad_keep_alive.status_code == 400
    assert "invalid duration" in bad_keep_alive.json()["error"]
    assert httpx.get(f"{sim_server}/api/nothing", trust_env=False).json() == {
        "error": "404 page not found"
    }


@pytest.mark.sim(models={"a": {"rate_429": 1.0}, "b": {"rate_500": 1.0}, "c": {"rate_503": 1.0}})
def test_faults_surface_as_response_errors(oll: ollama.Client) -> None:
    for model, status in (("a", 429), ("b", 500), ("c", 503)):
        with pytest.raises(ollama.ResponseError) as info:
            oll.chat(model=model, messages=MESSAGES)
        assert info.value.status_code == status
    with pytest.raises(ollama.ResponseError) as streamed:
        list(oll.chat(model="a", messages=MESSAGES, stream=True))
    assert streamed.value.status_code == 429


@pytest.mark.sim(rate_disconnect=1.0)
def test_disconnect_mid_stream(oll: ollama.Client) -> None:
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        received.extend(oll.generate(model="m", prompt="hi", stream=True))
    assert 0 < len(received) < 16


@pytest.mark.sim(api_key="secret")
def test_api_key_is_enforced_on_ollama_routes(sim_server: SimServer) -> None:
    with (
        ollama.Client(host=str(sim_server)) as anonymous,
        pytest.raises(ollama.ResponseError) as info,
    ):
        anonymous.ps()
    assert info.value.status_code == 401
    headers = {"Authorization": "Bearer secret"}
    with ollama.Client(host=str(sim_server), headers=headers) as authorised:
        assert authorised.ps().models == []


async def test_async_client(sim_server: SimServer) -> None:
    async with ollama.AsyncClient(host=str(sim_server)) as client:
        response = await client.chat(model="m", messages=MESSAGES)
        assert response.done
        stream = await client.generate(model="m", prompt="hi", stream=True)
        parts = [part async for part in stream]
        assert parts[-1].done
