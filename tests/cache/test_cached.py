"""@cached behaviour, sync and async (one test over both where they match): hits, errors,
TTL, scope, options, handles."""

from __future__ import annotations

import asyncio
import datetime
import gc
import inspect
import logging
import weakref
from typing import Any

import pytest

from llmwarm import Stats, cached, pooled
from llmwarm._core import CallRecord, current_record, invoke
from llmwarm.cache import MemoryBackend


def test_a_hit_returns_the_stored_value_without_calling_upstream() -> None:
    calls: list[str] = []
    records: list[CallRecord | None] = []

    @cached
    def complete(prompt: str, model: str = "m") -> dict[str, str]:
        calls.append(prompt)
        return {"answer": prompt.upper()}

    first = complete("hi")
    second = complete(prompt="hi", model="m")
    assert first == second == {"answer": "HI"}
    assert calls == ["hi"]
    assert complete.cache.stats == Stats(scope="cache", cache_hits=1, cache_misses=1)

    @cached()
    def spy(prompt: str) -> str:
        records.append(current_record())
        return prompt

    spy("x")
    assert records[0] is not None
    assert records[0].cache_hit is False


async def test_an_async_hit_returns_a_value_never_a_coroutine() -> None:
    calls: list[str] = []

    @cached(ttl=60)
    async def complete(prompt: str, model: str = "m") -> dict[str, str]:
        calls.append(prompt)
        await asyncio.sleep(0)
        return {"answer": prompt.upper()}

    assert await complete("hi") == {"answer": "HI"}
    assert await complete("hi") == {"answer": "HI"}  # awaiting twice works: a value is cached
    assert await complete(prompt="hi") == {"answer": "HI"}
    assert calls == ["hi"]
    assert complete.cache.stats.cache_hits == 2


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Run the test over a ``def`` and over an ``async def``: the two paths of @cached."""
    return str(request.param)


def cached_over(kind: str, body: Any, **options: Any) -> Any:
    """``@cached(**options)`` over a function of ``prompt`` running ``body(prompt)``."""
    if kind == "sync":

        def complete(prompt: str) -> Any:
            return body(prompt)

        return cached(**options)(complete)

    async def acomplete(prompt: str) -> Any:
        return body(prompt)

    return cached(**options)(acomplete)


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; await the result when it is async (one test body for both)."""
    result = fn(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def test_exceptions_are_never_cached(kind: str) -> None:
    attempts: list[int] = []

    def body(prompt: str) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("upstream down")
        return "ok"

    flaky = cached_over(kind, body)
    with pytest.raises(ConnectionError):
        await call(flaky, "hi")
    assert await call(flaky, "hi") == "ok"
    assert await call(flaky, "hi") == "ok"
    assert len(attempts) == 2


async def test_ttl_expiry_with_a_fake_clock(kind: str, clock: Any) -> None:
    calls: list[int] = []

    def body(prompt: str) -> int:
        calls.append(1)
        return len(calls)

    complete = cached_over(
        kind, body, backend=MemoryBackend(maxsize=10, ttl=30, timer=clock.monotonic)
    )
    assert await call(complete, "a") == 1
    clock.advance(29.9)
    assert await call(complete, "a") == 1
    clock.advance(0.2)
    assert await call(complete, "a") == 2  # expired: upstream again
    assert await call(complete, "a") == 2


def test_maxsize_evicts_the_oldest_entry(clock: Any) -> None:
    backend = MemoryBackend(maxsize=2, ttl=60, timer=clock.monotonic)
    backend.set("a", 1, None)
    backend.set("b", 2, None)
    backend.set("c", 3, None)
    assert len(backend) == 2
    assert backend.get("b") == 2
    assert backend.get("c") == 3
    clock.advance(61)
    assert len(backend) == 0


async def test_scope_isolates_entries(kind: str) -> None:
    tenant = {"id": "a"}
    calls: list[str] = []

    def body(prompt: str) -> str:
        calls.append(tenant["id"])
        return f"{tenant['id']}:{prompt}"

    complete = cached_over(kind, body, scope=lambda: tenant["id"])
    assert await call(complete, "hi") == "a:hi"
    tenant["id"] = "b"
    assert await call(complete, "hi") == "b:hi"  # never a's answer
    tenant["id"] = "a"
    assert await call(complete, "hi") == "a:hi"
    assert calls == ["a", "b"]
    assert complete.cache.stats.cache_misses == 2


async def test_warmup_pings_neither_read_nor_fill_the_cache(kind: str) -> None:
    calls: list[str] = []

    def body(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    complete = cached_over(kind, body)
    await call(invoke, complete, "hi", _record=CallRecord("complete", warmup=True))
    await call(complete, "hi")  # not filled by the ping: a miss
    await call(invoke, complete, "hi", _record=CallRecord("complete", warmup=True))  # nor served
    assert calls == ["hi", "hi", "hi"]
    assert complete.cache.stats == Stats(scope="cache", cache_misses=1)


def test_n_greater_than_one_and_cacheable_refusals_go_upstream() -> None:
    calls: list[int] = []

    @cached
    def complete(prompt: str, n: int = 1) -> int:
        calls.append(n)
        return len(calls)

    assert complete("a", n=2) == 1
    assert complete("a", n=2) == 2
    assert complete("a") == complete("a") == 3

    @cached(cacheable=lambda a: a["temperature"] == 0)
    def sampled(prompt: str, temperature: float = 0.0) -> int:
        calls.append(0)
        return len(calls)

    assert sampled("a", temperature=1.0) != sampled("a", temperature=1.0)
    assert sampled("a") == sampled("a")
    assert sampled.cache.stats.cache_uncacheable == 2
    assert complete.cache.stats.cache_uncacheable == 2


def test_unserializable_arguments_go_upstream_and_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[object] = []

    @cached
    def complete(prompt: object) -> int:
        calls.append(prompt)
        return len(calls)

    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        thing = object()
        assert complete(thing) == 1
        assert complete(thing) == 2
    assert complete.cache.stats.cache_uncacheable == 2
    assert len([r for r in caplog.records if "cannot be cached" in r.getMessage()]) == 1


def test_methods_do_not_key_on_self_and_do_not_pin_it() -> None:
    calls: list[str] = []

    class Bot:
        @cached
        def ask(self, prompt: str) -> str:
            calls.append(prompt)
            return prompt * 2

    bot = Bot()
    assert bot.ask("hi") == "hihi"
    assert Bot().ask("hi") == "hihi"  # another instance, same key (self is not in it)
    assert calls == ["hi"]
    ref = weakref.ref(bot)
    del bot
    gc.collect()
    assert ref() is None  # the cache did not keep the instance alive
    Bot.ask.cache.invalidate(Bot(), "hi")
    assert Bot().ask("hi") == "hihi"
    assert calls == ["hi", "hi"]


def test_clear_and_invalidate() -> None:
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    complete("a")
    complete("b")
    complete.cache.invalidate("a")
    complete("a")
    complete("b")
    assert calls == ["a", "b", "a"]
    complete.cache.clear()
    complete("a")
    complete("b")
    assert calls == ["a", "b", "a", "a", "b"]
    info = complete.cache.info()
    assert info["backend"] == "MemoryBackend"
    assert info["hits"] == 1


async def test_async_clear_and_invalidate() -> None:
    calls: list[str] = []

    @cached
    async def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    await complete("a")
    await complete.cache.ainvalidate("a")
    await complete("a")
    await complete.cache.aclear()
    await complete("a")
    assert calls == ["a", "a", "a"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ttl": -1}, r"ttl=-1\) must be a positive number"),
        ({"ttl": datetime.timedelta(seconds=-5)}, "must be a positive number"),
        ({"ttl": "1h"}, "must be a positive number"),
        ({"maxsize": 0}, r"maxsize=0\) must be a positive int"),
        ({"backend": "memcached://localhost"}, "unknown scheme 'memcached'"),
        ({"backend": "sqlite://"}, "no file path"),
        ({"fingerprint_key": ""}, "must not be empty"),
    ],
)
def test_bad_options_fail_at_decoration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cached(**options)


def test_bad_callables_and_backends_fail_at_decoration() -> None:
    with pytest.raises(TypeError, match="key=3"):
        cached(key=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not a back end"):
        cached(backend=42)


def test_ttl_accepts_a_timedelta() -> None:
    fn = cached(datetime.timedelta(minutes=2))(lambda prompt: prompt)
    assert fn.cache.info()["ttl"] == 120.0


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
