"""@cached never stores an awaitable: a sync def returning a coroutine is called each time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from llmwarm import cached


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
