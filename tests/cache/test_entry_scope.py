"""Who shares an entry: instances, credentials, base URLs, closures and qualified names."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ollama
import openai
import pytest

from llmwarm import cached
from llmwarm.cache import MemoryBackend, keys


class Assistant:
    def __init__(self, api_key: str, persona: str = "plain") -> None:
        self.client = openai.OpenAI(api_key=api_key, base_url="http://127.0.0.1:9/v1")
        self.persona = persona

    @cached
    def ask(self, prompt: str) -> str:
        return f"{self.client.api_key}:{prompt}"


class AsyncAssistant:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    @cached
    async def ask(self, prompt: str) -> str:
        await asyncio.sleep(0)
        return f"{self.api_key}:{prompt}"


def test_instances_with_different_credentials_do_not_share_entries() -> None:
    tenant_a, tenant_b = Assistant("sk-tenant-a"), Assistant("sk-tenant-b")
    assert tenant_a.ask("hi") == "sk-tenant-a:hi"
    assert tenant_b.ask("hi") == "sk-tenant-b:hi"  # was: tenant A's answer
    assert Assistant("sk-tenant-a").ask("hi") == "sk-tenant-a:hi"
    assert Assistant.ask.cache.stats.cache_hits == 1  # same credentials, another instance: shared
    key = Assistant.ask.cache_key(tenant_a, "hi")
    assert "sk-tenant" not in key
    assert key != Assistant.ask.cache_key(tenant_b, "hi")


async def test_async_instances_with_different_api_keys_do_not_share_entries() -> None:
    assert await AsyncAssistant("sk-a").ask("hi") == "sk-a:hi"
    assert await AsyncAssistant("sk-b").ask("hi") == "sk-b:hi"
    assert await AsyncAssistant("sk-a").ask("hi") == "sk-a:hi"
    assert AsyncAssistant.ask.cache.stats.cache_hits == 1


def test_a_method_without_key_or_scope_warns_once_at_decoration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="llmwarm"):

        class Bot:
            @cached
            def ask(self, prompt: str) -> str:
                return prompt

            @cached(key=lambda a: (a["self"].persona, a["prompt"]))
            def keyed(self, prompt: str) -> str:
                return prompt

        Bot().ask("a")
        Bot().ask("b")
    messages = [r.getMessage() for r in caplog.records]
    about_self = [m for m in messages if "`self` is not in the key" in m]
    assert len(about_self) == 1
    assert "Bot.ask" in about_self[0]
    assert "key= or scope=" in about_self[0]


def test_module_and_qualname_cannot_collide() -> None:
    def one(prompt: str) -> str:
        return prompt

    def two(prompt: str) -> str:
        return prompt

    one.__module__, one.__qualname__ = "a.b", "c"
    two.__module__, two.__qualname__ = "a", "b.c"
    shared = MemoryBackend()
    assert cached(backend=shared)(one).cache_key("x") != cached(backend=shared)(two).cache_key("x")
    assert keys.KEY_FORMAT == "llmwarm-cache-3"


def test_closures_warn_at_decoration_and_scope_separates_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = MemoryBackend()

    def make(persona: str, **options: Any) -> Any:
        @cached(backend=shared, **options)
        def complete(prompt: str) -> str:
            return f"{persona}:{prompt}"

        return complete

    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        make("pirate")
    assert any("make.<locals>.complete" in r.getMessage() for r in caplog.records)
    assert any("key= or scope=" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        pirate = make("pirate", scope=lambda: "pirate")
        robot = make("robot", scope=lambda: "robot")
    assert not [r for r in caplog.records if "<locals>" in r.getMessage()]
    assert pirate("hi") == "pirate:hi"
    assert robot("hi") == "robot:hi"


def test_closures_with_their_own_memory_cache_do_not_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def make(persona: str) -> Any:
        @cached  # the default back end: a memory cache per decorated closure
        def complete(prompt: str) -> str:
            return f"{persona}:{prompt}"

        return complete

    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        pirate, robot = make("pirate"), make("robot")
    assert not [r for r in caplog.records if "<locals>" in r.getMessage()]
    assert (pirate("hi"), robot("hi")) == ("pirate:hi", "robot:hi")


def test_clients_with_the_same_key_but_another_base_url_do_not_share() -> None:
    @cached
    def complete(prompt: str, client: Any = None) -> str:
        return f"{client.base_url}{prompt}"

    local = openai.OpenAI(api_key="dummy", base_url="http://127.0.0.1:8001/v1")
    other = openai.OpenAI(api_key="dummy", base_url="http://127.0.0.1:8002/v1")
    assert complete("hi", client=local) == "http://127.0.0.1:8001/v1/hi"
    assert complete("hi", client=other) == "http://127.0.0.1:8002/v1/hi"  # was: 8001's
    again = openai.OpenAI(api_key="dummy", base_url="http://127.0.0.1:8001/v1")
    assert complete.cache_key("hi", client=again) == complete.cache_key("hi", client=local)
    assert "8001" not in complete.cache_key("hi", client=local)
    hosts = [ollama.Client(host=f"http://127.0.0.1:{port}") for port in (11434, 11435)]
    assert complete.cache_key("hi", client=hosts[0]) != complete.cache_key("hi", client=hosts[1])
    sync_and_async = (openai.OpenAI, openai.AsyncOpenAI)
    made = [kind(api_key="dummy", base_url="http://127.0.0.1:8001/v1") for kind in sync_and_async]
    assert complete.cache_key("hi", client=made[0]) != complete.cache_key("hi", client=made[1])
