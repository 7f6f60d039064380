"""@warm against the cold-start simulator, with the real openai and ollama SDKs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import ollama
import openai
import pytest
from warmtools import FastClock

from llmwarm import pings, warm
from llmwarm.sim import SimServer, create_app
from llmwarm.tools.demo import _virtual

MODEL = "gpt-4o-mini"
# keep_alive 60 simulated s = 0.6 s real; a cold start 14 s = 0.14 s; a warm reply ~3 ms
FAST = pytest.mark.sim(keep_alive=60, cold_start=14, time_scale=0.01)


def model_stats(sim: SimServer, model: str = MODEL) -> dict[str, Any]:
    stats: dict[str, Any] = sim.stats()["models"].get(model, {})
    return stats


def test_auto_interval_converges_under_the_unload_window() -> None:
    # Learning takes a dozen idle gaps around the window: about 8 s on a real clock, even
    # with the simulator 100x faster. Here the simulator app (over httpx's in-process ASGI
    # transport), the SDK client and the warmer run on the demo's virtual clock, which
    # jumps to the next timer whenever every task waits: the same learning in a fraction
    # of a second, and CPU time costs no simulated time, so load cannot blur a latency.
    async def main(clock: _virtual.VirtualClock) -> None:
        app = create_app(
            keep_alive=60, cold_start=14, time_scale=1.0, seed=0, clock=clock.monotonic
        )
        sim = app.state.sim

        def cold_starts() -> int:
            return int(sim.registry.stats(sim.now())["models"][MODEL]["cold_starts"])

        http_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        async with openai.AsyncOpenAI(
            base_url="http://sim.invalid/v1", api_key="sk-sim", max_retries=0,
            http_client=http_client,
        ) as client:  # fmt: skip
            # keep_alive=200 is a wrong hint (the window is 60 s): learning must correct it
            @warm(MODEL, interval="auto", keep_alive=200.0)
            async def complete(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
                return await client.chat.completions.create(model=model, messages=messages, **kw)

            await complete([{"role": "user", "content": "hi"}])
            learner = complete.warmer._state[MODEL].learner
            for _ in range(600):  # 3000 s at most
                if learner.settled:
                    break
                await asyncio.sleep(5)
            assert learner.settled, (learner.lo, learner.hi)
            window = 60.0
            assert learner.lo < window <= learner.hi * 1.1  # the bounds bracket the window
            interval = complete.warmer.interval(MODEL)
            assert 0.25 * window < interval < window
            # settled: the pings now keep the model warm (no cold start while idle)
            await asyncio.sleep(5)
            before = cold_starts()
            await asyncio.sleep(6 * interval)
            assert cold_starts() == before
            assert complete.warmer.pings_sent >= 5
            await complete.warmer.aclose()

    _virtual.run(main, limit=86_400)


@FAST
def test_openai_chat_ping_keeps_a_sync_client_model_warm(sim_server: SimServer) -> None:
    with openai.OpenAI(
        base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0
    ) as client:

        @warm(
            MODEL, interval=1, _clock=FastClock(4), keep_alive=2.4, ping=pings.openai_chat(client)
        )
        def complete(messages: Any) -> Any:
            return client.chat.completions.create(model=MODEL, messages=messages)

        complete([{"role": "user", "content": "hi"}])  # cold: the first call
        time.sleep(1.5)  # idle for 2.5 unload windows
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "again"}]
        )
        assert raw.headers["x-sim-cold-start"] == "false"
        stats = model_stats(sim_server)
        assert stats["cold_starts"] == 1
        pinged = complete.warmer.pings_sent
        assert 3 <= pinged <= 8
        complete.warmer.stop()
        # each ping asked for one output token
        assert stats["requests"] - 2 >= pinged - 1


@FAST
async def test_openai_chat_ping_with_an_async_client(sim_server: SimServer) -> None:
    async with openai.AsyncOpenAI(
        base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0
    ) as client:
        ping = pings.openai_chat(client)
        reply = await ping(MODEL)
        assert reply.usage.completion_tokens == 1

        @warm(MODEL, interval=1, _clock=FastClock(4), ping=ping)
        async def complete() -> str:
            return "ok"

        await complete()
        await asyncio.sleep(1.0)
        await complete.warmer.aclose()
        assert complete.warmer.pings_sent >= 2
        assert model_stats(sim_server)["cold_starts"] == 1


@FAST
def test_default_ping_through_a_real_openai_stack_asks_for_one_token(
    sim_server: SimServer,
) -> None:
    with openai.OpenAI(
        base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0
    ) as client:

        @warm(MODEL, interval=1, _clock=FastClock(5))
        def complete(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
            return client.chat.completions.create(model=model, messages=messages, **kw)

        complete([{"role": "user", "content": "Say hello"}])
        out_before = model_stats(sim_server)["tokens_out"]
        time.sleep(0.7)
        complete.warmer.stop()
        sent = complete.warmer.pings_sent
        assert sent >= 2
        assert model_stats(sim_server)["tokens_out"] - out_before == sent  # 1 token a ping


def ps_models(root: str) -> list[str]:
    with httpx.Client() as http:
        return [m["name"] for m in http.get(f"{root}/api/ps").json()["models"]]


@pytest.mark.sim(keep_alive=60, time_scale=0.01)
def test_ollama_preload_loads_the_model_without_a_prompt(sim_server: SimServer) -> None:
    root = str(sim_server)
    assert ps_models(root) == []
    pings.ollama_preload(ollama.Client(host=root), keep_alive="10m")("llama3.2")
    assert ps_models(root) == ["llama3.2"]
    pings.ollama_preload(root, keep_alive=600)("qwen2.5")  # a URL: plain httpx
    assert sorted(ps_models(root)) == ["llama3.2", "qwen2.5"]
    stats = sim_server.stats()["models"]
    assert stats["llama3.2"]["tokens_in"] == stats["qwen2.5"]["tokens_in"] == 0
    time.sleep(1.0)  # keep_alive="10m" (600 simulated s, 6 s here) outlives the default 60
    assert sorted(ps_models(root)) == ["llama3.2", "qwen2.5"]


@pytest.mark.sim(keep_alive=60, time_scale=0.01)
async def test_ollama_preload_async_keeps_a_model_warm(sim_server: SimServer) -> None:
    root = str(sim_server)
    loaded: list[bool] = []

    @warm(
        "llama3.2",
        interval=1,
        _clock=FastClock(5),
        ping=pings.ollama_preload(ollama.AsyncClient(host=root)),
    )
    async def chat() -> str:
        return "ok"

    await chat()
    await asyncio.sleep(0.5)
    loaded.append("llama3.2" in await asyncio.to_thread(ps_models, root))
    url_ping = pings.ollama_preload(root, asynchronous=True)
    await url_ping("phi3")
    loaded.append("phi3" in await asyncio.to_thread(ps_models, root))
    await chat.warmer.aclose()
    assert loaded == [True, True]
    assert chat.warmer.ping_failures == 0


def test_ping_adapters_reject_bad_arguments() -> None:
    with pytest.raises(TypeError, match="client must be an OpenAI"):
        pings.openai_chat(object())
    with pytest.raises(TypeError, match="keep_alive must be a duration"):
        pings.ollama_preload("http://localhost:11434", keep_alive=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client must be an http"):
        pings.ollama_preload("localhost:11434")
