"""from_config builds one fused stack that really calls the simulator (sync and async)."""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import llmwarm
from llmwarm._core import driver as _core
from llmwarm.cache._cached import CachedPolicy
from llmwarm.config import DefaultModelPolicy, from_config
from llmwarm.pool import PooledPolicy
from llmwarm.route._routed import RoutedPolicy
from llmwarm.sim import SimServer
from llmwarm.trace import TracedPolicy
from llmwarm.warm._warm import WarmPolicy


def _config(sim: SimServer, **sections: Any) -> dict[str, Any]:
    openai_section: dict[str, Any] = {
        "api_key": "${SIM_KEY}",
        "api_base": sim.openai_base_url,
        "default_model": "gpt-4o-mini",
        "connection_pooling": {"max_connections": 10, "max_keepalive_connections": 5},
        **sections,
    }
    return {"llm": {"openai": openai_section}}


ENV = {"SIM_KEY": "sk-sim-key-0123456789"}
FULL_SECTIONS = {
    "cache": {"max_size": 100, "ttl_seconds": "1h"},
    "tracing": {"capture_content": False},
}


def _models(sim: SimServer) -> dict[str, int]:
    stats = sim.stats()
    return {name: m["requests"] for name, m in stats["models"].items()}


def _names(fn: Any) -> list[type[Any]]:
    return [type(p) for p in fn.llmwarm_policies]


@pytest.mark.sim(api_key="sk-sim-key-0123456789", known_models=["gpt-4o-mini", "gpt-4o"])
def test_sync_stack_is_fused_and_calls_the_simulator(sim_server: SimServer) -> None:
    stack = from_config(_config(sim_server, **FULL_SECTIONS), environ=ENV)

    @stack
    def complete(prompt: str, *, model: str | None = None, client: Any = None) -> str:
        assert isinstance(client, openai.OpenAI)
        response = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )
        return f"{response.model}:{response.choices[0].message.content}"

    assert type(complete) is _core.Stack
    assert _names(complete) == [DefaultModelPolicy, TracedPolicy, CachedPolicy, PooledPolicy]
    first = complete("hello")
    assert first.startswith("gpt-4o-mini:")
    assert complete("hello") == first  # a cache hit: no second upstream call
    assert complete("hello", model="gpt-4o").startswith("gpt-4o:")
    assert _models(sim_server) == {"gpt-4o-mini": 1, "gpt-4o": 1}


@pytest.mark.sim(api_key="sk-sim-key-0123456789")
async def test_async_stack_uses_the_async_client(sim_server: SimServer) -> None:
    stack = from_config(_config(sim_server, **FULL_SECTIONS), environ=ENV)

    @stack
    async def complete(prompt: str, *, model: str | None = None, client: Any = None) -> str:
        assert isinstance(client, openai.AsyncOpenAI)
        response = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )
        return f"{response.model}:{response.choices[0].message.content}"

    assert inspect.iscoroutinefunction(complete)
    assert type(complete) is _core.Stack
    assert _names(complete) == [DefaultModelPolicy, TracedPolicy, CachedPolicy, PooledPolicy]
    first = await complete("hello")
    assert first.startswith("gpt-4o-mini:")
    assert await complete("hello") == first
    assert _models(sim_server) == {"gpt-4o-mini": 1}


@pytest.mark.sim(api_key="sk-sim-key-0123456789")
def test_wrong_key_reaches_the_provider_as_401(sim_server: SimServer) -> None:
    stack = from_config(_config(sim_server), environ={"SIM_KEY": "sk-wrong"})

    @stack
    def complete(*, model: str | None = None, client: Any = None) -> Any:
        return client.with_options(max_retries=0).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )

    assert _names(complete) == [DefaultModelPolicy, PooledPolicy]
    with pytest.raises(openai.AuthenticationError):
        complete()


def test_routing_replaces_the_default_model(sim_server: SimServer) -> None:
    stack = from_config(
        _config(
            sim_server,
            routing={
                "tiers": [
                    {"name": "small", "model": "m-small", "max_tokens": 2},
                    {"name": "large", "model": "m-large"},
                ],
                "fallback": True,
            },
        ),
        environ=ENV,
    )

    @stack
    def complete(
        prompt: str, *, model: str | None = None, max_tokens: int = 16, client: Any = None
    ) -> str:
        response = client.chat.completions.create(
            model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": prompt}]
        )
        return f"{response.model}:{response.usage.completion_tokens}"

    assert _names(complete) == [RoutedPolicy, PooledPolicy]
    assert complete("hi") == "m-small:2"
    assert complete("hi", model="m-large").startswith("m-large:")


def test_ollama_gets_a_pooled_http_client_on_its_host(sim_server: SimServer) -> None:
    data = {
        "llm": {
            "ollama": {
                "api_base": str(sim_server),
                "default_model": "llama3.2",
                "connection_pooling": {"keepalive_expiry": "5m"},
                "cache": {"ttl_seconds": 60},
            }
        }
    }

    @from_config(data, provider="ollama")
    def chat(prompt: str, *, model: str | None = None, http_client: Any = None) -> str:
        assert isinstance(http_client, httpx.Client)
        body = {"model": model, "stream": False, "messages": [{"role": "user", "content": prompt}]}
        reply = http_client.post("/api/chat", json=body).raise_for_status().json()
        return f"{reply['model']}:{reply['message']['content']}"

    assert _names(chat) == [DefaultModelPolicy, CachedPolicy, PooledPolicy]
    assert chat("hi").startswith("llama3.2:")
    assert chat("hi") == chat("hi")
    assert _models(sim_server) == {"llama3.2": 1}


def test_yaml_file_source(tmp_path: Path, sim_server: SimServer) -> None:
    path = tmp_path / "llmwarm.yaml"
    path.write_text(
        f"llm:\n  openai:\n    api_key: sk-sim\n    api_base: {sim_server.openai_base_url}\n"
        "    default_model: gpt-4o-mini\n    cache: {ttl_seconds: 10m}\n"
    )

    @llmwarm.from_config(path)
    def complete(*, model: str | None = None, client: Any = None) -> str:
        response = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
        return str(response.model)

    assert complete() == "gpt-4o-mini"
    assert _names(complete) == [DefaultModelPolicy, CachedPolicy, PooledPolicy]


def test_decoration_errors_name_the_problem() -> None:
    data = {"llm": {"openai": {"default_model": "m", "connection_pooling": {"enabled": False}}}}

    def no_model(prompt: str) -> str:
        return prompt

    with pytest.raises(TypeError, match="has no `model` parameter"):
        from_config(data)(no_model)

    def no_client(prompt: str, *, model: str | None = None) -> str:
        return prompt

    with pytest.raises(TypeError, match="'client'"):
        from_config({"llm": {"openai": {}}})(no_client)
    with pytest.raises(
        llmwarm.config._from_config.ConfigError, match=r"^llm\.ollama is not configured"
    ):
        from_config(data, provider="ollama")
    with pytest.raises(ValueError, match="known providers: ollama, openai"):
        from_config(data, provider="azure")


def test_default_model_keeps_an_explicit_model() -> None:
    data = {"llm": {"openai": {"default_model": "m", "connection_pooling": {"enabled": False}}}}

    @from_config(data)
    def echo(*, model: str | None = None) -> str | None:
        return model

    assert echo() == "m"
    assert echo(model="other") == "other"
    assert echo(model=None) == "m"
    assert _names(echo) == [DefaultModelPolicy]


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.sim(api_key="sk-sim-key-0123456789")
def test_full_openai_stack_pings_through_itself(sim_server: SimServer) -> None:
    sections = {
        **FULL_SECTIONS,
        "warmup": {"interval_seconds": 1, "model": "gpt-4o-mini"},
        "routing": {"tiers": [{"name": "small", "model": "gpt-4o-mini"}]},
    }
    stack = from_config(_config(sim_server, **sections), environ=ENV)

    @stack
    def complete(
        messages: list[dict[str, str]],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        client: Any = None,
    ) -> str:
        response = client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens
        )
        return str(response.model)

    assert _names(complete) == [TracedPolicy, CachedPolicy, RoutedPolicy, WarmPolicy, PooledPolicy]
    assert complete([{"role": "user", "content": "hi"}]) == "gpt-4o-mini"
    # Idle for more than the interval: @warm pings through the same stack (pooled client).
    _wait_for(lambda: complete.warmer.pings_sent >= 1)
    _wait_for(lambda: _models(sim_server).get("gpt-4o-mini", 0) >= 2)
    assert complete.warmer.ping_failures == 0


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_ollama_warmup_uses_the_preload(sim_server: SimServer, kind: str) -> None:
    data = {
        "llm": {
            "ollama": {
                "api_base": str(sim_server),
                "default_model": "llama3.2",
                "warmup": {"interval_seconds": 1, "keep_alive": "10m"},
            }
        }
    }
    body = {"stream": False, "messages": [{"role": "user", "content": "hi"}]}
    if kind == "sync":

        def chat(*, model: str | None = None, http_client: Any = None) -> str:
            return str(http_client.post("/api/chat", json={**body, "model": model}).json()["model"])

        fn: Any = from_config(data, provider="ollama")(chat)
        assert fn() == "llama3.2"
    else:

        async def achat(*, model: str | None = None, http_client: Any = None) -> str:
            assert isinstance(http_client, httpx.AsyncClient)
            reply = await http_client.post("/api/chat", json={**body, "model": model})
            return str(reply.json()["model"])

        fn = from_config(data, provider="ollama")(achat)
        assert await fn() == "llama3.2"
    assert _names(fn) == [DefaultModelPolicy, WarmPolicy, PooledPolicy]
    # Idle past the interval: @warm sends the Ollama preload (POST /api/generate, no prompt).
    deadline = time.monotonic() + 10
    while sim_server.stats()["models"]["llama3.2"]["requests"] < 2:
        assert time.monotonic() < deadline, "no preload reached the simulator"
        await asyncio.sleep(0.05)  # never block the loop: async pings run on it
    assert fn.warmer.pings_sent >= 1
    assert fn.warmer.ping_failures == 0
