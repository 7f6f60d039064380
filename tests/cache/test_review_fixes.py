"""Regressions from the @cached review: awaitables, instances, breaker, names, TTL, order."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import ollama
import openai
import pytest

from llmwarm import cached, pooled
from llmwarm.cache import MemoryBackend, keys
from llmwarm.cache.backends import MISSING
from tests.cache.conftest import FakeClock

# --------------------------------------------------------- 1. awaitable results


async def test_a_sync_def_returning_a_coroutine_is_never_cached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    async def upstream(prompt: str) -> str:
        calls.append(prompt)
        await asyncio.sleep(0)
        return prompt.upper()

    @cached
    def complete(prompt: str) -> Any:  # a thin wrapper over an async SDK
        return upstream(prompt)

    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        assert await complete("hi") == "HI"
        assert await complete("hi") == "HI"  # was: cannot reuse already awaited coroutine
        assert await complete("hi") == "HI"
    assert calls == ["hi", "hi", "hi"]
    assert complete.cache.stats.cache_uncacheable == 3
    assert complete.cache.stats.cache_hits == 0
    warnings = [r.getMessage() for r in caplog.records if "awaitable" in r.getMessage()]
    assert len(warnings) == 1  # once per function
    assert "make the function `async def`" in warnings[0]


async def test_an_async_call_object_is_returned_untouched() -> None:
    class Client:
        def __init__(self) -> None:
            self.calls = 0

        async def __call__(self, prompt: str) -> str:
            self.calls += 1
            return prompt

    client = Client()

    @cached
    def complete(prompt: str) -> Any:
        return client(prompt)

    for _ in range(3):
        assert await complete("x") == "x"
    assert client.calls == 3
    assert complete.cache.stats.cache_uncacheable == 3


# ------------------------------------------------------- 2. instances of methods


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


# ---------------------------------------------------------- 3. circuit breaker


class FailingBackend:
    """A back end that raises (as a timed-out Redis would) and counts what it was asked."""

    def __init__(self, inline: bool) -> None:
        self.inline = inline
        self.healthy = False
        self.gets = 0
        self.sets = 0
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        self.gets += 1
        if not self.healthy:
            raise TimeoutError("Timeout reading from socket")
        return self.data.get(key, MISSING)

    def set(self, key: str, value: Any, ttl: float | None) -> None:
        self.sets += 1
        if not self.healthy:
            raise TimeoutError("Timeout writing to socket")
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def clear(self, prefix: str = "") -> None:
        self.data.clear()


@pytest.mark.parametrize("inline", [False, True])
def test_a_failing_backend_is_skipped_then_probed_then_recovers(
    inline: bool, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    backend = FailingBackend(inline)

    @cached(backend=backend)
    def complete(prompt: str) -> str:
        return prompt

    complete.cache.breaker.clock = clock
    with caplog.at_level(logging.INFO, logger="llmwarm"):
        for _ in range(10):
            assert complete("a") == "a"
        assert (backend.gets, backend.sets) == (1, 0)  # was: (10, 10), a timeout each
        assert complete.cache.stats.cache_errors == 1
        assert complete.cache.stats.cache_bypassed == 19
        clock.advance(5)  # the backoff is over: one call probes, and fails
        assert complete("a") == "a"
        assert (backend.gets, backend.sets) == (2, 0)
        clock.advance(5)  # the backoff doubled to 10 s: still skipped
        assert complete("a") == "a"
        assert backend.gets == 2
        backend.healthy = True
        clock.advance(5)
        assert complete("a") == "a"  # the probe succeeds: the breaker closes, the set goes
        assert (backend.gets, backend.sets) == (3, 1)
        assert complete("a") == "a"
        assert complete.cache.stats.cache_hits == 1
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(recovered) == 1


async def test_async_a_failing_backend_is_skipped_then_recovers(clock: FakeClock) -> None:
    backend = FailingBackend(inline=False)

    @cached(backend=backend)
    async def complete(prompt: str) -> str:
        return prompt

    complete.cache.breaker.clock = clock
    for _ in range(10):
        assert await complete("a") == "a"
    assert (backend.gets, backend.sets) == (1, 0)
    for _ in range(6):  # 5 s, 10, 20, 40, 60, 60: the backoff stops doubling at 60 s
        clock.advance(complete.cache.breaker.backoff)
        assert await complete("a") == "a"
    assert complete.cache.breaker.backoff == 60.0
    assert backend.gets == 7
    backend.healthy = True
    clock.advance(60)
    assert await complete("a") == "a"
    assert await complete("a") == "a"
    assert complete.cache.stats.cache_hits == 1
    assert complete.cache.breaker.backoff == 0.0


# ------------------------------------------------------ 6. names and closures


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


# ------------------------------------------------------------- 7. base_url


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


# ----------------------------------------------------- 8. ttl with a MemoryBackend


def test_ttl_is_honoured_with_a_memory_backend_instance(clock: FakeClock) -> None:
    backend = MemoryBackend(ttl=3600, timer=clock)
    calls: list[str] = []

    @cached(ttl=10, backend=backend)
    def short(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    @cached(ttl=None, backend=backend)
    def long(prompt: str) -> str:
        calls.append("long")
        return prompt

    short("a")
    long("a")
    clock.advance(9)
    short("a")
    assert calls == ["a", "long"]
    clock.advance(2)  # 11 s: past short's 10 s, well within the back end's hour
    short("a")
    long("a")
    assert calls == ["a", "long", "a"]
    clock.advance(3600)  # the back end's own hour bounds ttl=None
    long("a")
    assert calls == ["a", "long", "a", "long"]


# ------------------------------------------------------ 9. policies outside


def test_pooled_outside_cached_warns_once_and_inside_does_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def complete(prompt: str, http_client: Any = None) -> str:
        return prompt

    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        pooled()(cached(complete))
    outside = [r.getMessage() for r in caplog.records if "outside @cached" in r.getMessage()]
    assert len(outside) == 1
    assert "@traced @cached @routed @warm @pooled" in outside[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        cached(pooled()(complete))
    assert not [r for r in caplog.records if "outside @cached" in r.getMessage()]


# ------------------------------------------- single-flight: one exception each


def test_each_waiter_gets_its_own_exception_caused_by_the_leaders() -> None:
    release = threading.Event()

    @cached
    def complete(prompt: str) -> str:
        release.wait(timeout=10)
        raise ConnectionError("refused")

    errors: list[BaseException] = []

    def call() -> None:
        try:
            complete("hi")
        except ConnectionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    policy = complete.llmwarm_policies[0]
    deadline = time.monotonic() + 10
    while policy.misses < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 4
    assert len({id(e) for e in errors}) == 4  # was: one object raised in four threads
    leaders = [e for e in errors if e.__cause__ is None]
    assert len(leaders) == 1
    assert all(e.__cause__ is leaders[0] for e in errors if e is not leaders[0])
    assert all(e.args == ("refused",) for e in errors)


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
