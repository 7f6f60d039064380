"""Streams: passed through while recorded, stored only when complete, replayed on a hit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionChunk

from llmwarm import cached

MESSAGES = [{"role": "user", "content": "Tell me about caches."}]


def _requests(sim_server: Any) -> int:
    stats = sim_server.stats()
    return int(stats["total"]["requests"]) if "total" in stats else int(stats["requests"])


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_openai_stream_is_recorded_then_replayed(sim_server: Any, kind: str) -> None:
    options: dict[str, Any] = {
        "base_url": sim_server.openai_base_url, "api_key": "sk-sim", "max_retries": 0
    }  # fmt: skip
    if kind == "sync":
        client: Any = OpenAI(**options)

        @cached
        def complete(messages: Any, *, model: str = "gpt-4o-mini", client: Any, **kw: Any) -> Any:
            return client.chat.completions.create(model=model, messages=messages, **kw)

        async def read() -> list[Any]:
            with complete(MESSAGES, client=client, stream=True) as stream:
                return list(stream)

        policy: Any = complete
    else:
        client = AsyncOpenAI(**options)

        @cached
        async def acomplete(
            messages: Any, *, model: str = "gpt-4o-mini", client: Any, **kw: Any
        ) -> Any:
            return await client.chat.completions.create(model=model, messages=messages, **kw)

        async def read() -> list[Any]:
            stream = await acomplete(MESSAGES, client=client, stream=True)
            async with stream:
                return [chunk async for chunk in stream]

        policy = acomplete
    originals = await read()
    assert policy.cache.stats.cache_misses == 1
    copies = await read()
    assert policy.cache.stats.cache_hits == 1
    assert len(originals) > 1
    assert all(type(c) is ChatCompletionChunk for c in copies)
    assert [c.model_dump() for c in copies] == [c.model_dump() for c in originals]
    assert _requests(sim_server) == 1  # the replay made no request
    if kind == "sync":
        client.close()
    else:
        await client.close()


def test_openai_completion_is_cached_across_different_clients_with_one_key(
    sim_server: Any,
) -> None:
    @cached
    def complete(messages: Any, *, model: str = "gpt-4o-mini", client: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages)

    one = OpenAI(base_url=sim_server.openai_base_url, api_key="sk-one", max_retries=0)
    same = OpenAI(base_url=sim_server.openai_base_url, api_key="sk-one", max_retries=0)
    other = OpenAI(base_url=sim_server.openai_base_url, api_key="sk-two", max_retries=0)
    first = complete(MESSAGES, client=one)
    assert complete(MESSAGES, client=same) is first  # the same credential shares the entry
    assert complete(MESSAGES, client=other) is not first  # another credential never does
    assert _requests(sim_server) == 2
    for client in (one, same, other):
        client.close()


def test_an_unfinished_stream_is_not_stored() -> None:
    calls: list[int] = []

    @cached
    def tokens(prompt: str) -> Iterator[str]:
        calls.append(1)
        return iter(["a", "b", "c"])

    stream = tokens("p")
    assert next(stream) == "a"
    stream.close()  # closed early: incomplete
    assert list(tokens("p")) == ["a", "b", "c"]  # upstream again, now read to the end
    with tokens("p") as replay:
        assert list(replay) == ["a", "b", "c"]
    assert len(calls) == 2


async def test_an_async_stream_that_fails_is_not_stored() -> None:
    calls: list[int] = []

    async def chunks(fail: bool) -> AsyncIterator[str]:
        yield "a"
        if fail:
            raise httpx.ReadError("connection lost mid-stream")
        yield "b"

    @cached
    async def tokens(prompt: str) -> AsyncIterator[str]:
        calls.append(1)
        return chunks(fail=len(calls) == 1)

    received: list[str] = []
    try:
        async for chunk in await tokens("p"):
            received.append(chunk)
    except httpx.ReadError:
        pass
    assert received == ["a"]
    assert [c async for c in await tokens("p")] == ["a", "b"]
    assert [c async for c in await tokens("p")] == ["a", "b"]
    assert len(calls) == 2


async def test_an_async_generator_function_is_recorded_and_replayed() -> None:
    calls: list[int] = []

    @cached
    async def tokens(prompt: str) -> AsyncIterator[str]:
        calls.append(1)
        for part in prompt.split():
            yield part

    assert [c async for c in tokens("x y z")] == ["x", "y", "z"]
    assert [c async for c in tokens("x y z")] == ["x", "y", "z"]
    assert len(calls) == 1
