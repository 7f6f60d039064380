"""A user's file: every decorator (sync and async) and every handle, under ``mypy --strict``.

``make typecheck`` runs ``mypy --strict`` over this file, so a handle that loses its type
(``complete.cache.clear()`` failing in user code) fails CI. Each ``# type: ignore[code]``
below marks a mistake the types must catch: with ``warn_unused_ignores`` (part of
``--strict``), an ignore that is no longer needed is itself an error. The test
``tests/typing/test_usage.py`` also runs :func:`touch_every_handle`, so each handle typed here
exists at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

import llmwarm
from llmwarm import Stats, Tier, batched, cached, pooled, routed, traced, warm

if TYPE_CHECKING:
    from typing_extensions import assert_type

    from llmwarm.pool import PoolHandle
    from llmwarm.route._routed import Router
    from llmwarm.warm import Warmer

TIERS = [Tier("small", "m-small"), Tier("large", "m-large")]


# -- one decorator each: its own handle, the function's own signature ----------------------


@cached(ttl=60)
def ask(question: str, *, model: str = "m-small") -> str:
    return f"{model}: {question}"


@cached
async def aask(question: str) -> str:
    return question


@warm("m-small", interval=60)
def ping_me(messages: list[dict[str, str]], *, model: str = "m-small", max_tokens: int = 1) -> str:
    return model


@routed(TIERS)
async def route_me(prompt: str, *, model: str | None = None) -> str:
    return f"{model}: {prompt}"


@pooled()
def fetch(url: str, *, http_client: httpx.Client) -> int:
    return http_client.get(url).status_code


@pooled(http2=False)
async def afetch(url: str, *, http_client: httpx.AsyncClient) -> int:
    return (await http_client.get(url)).status_code


@batched(max_size=8, max_wait=0.0)
async def embed(texts: list[str], *, model: str = "e") -> Sequence[float]:
    return [float(len(t)) for t in texts]


@batched
async def upper(texts: list[str]) -> list[str]:
    return [t.upper() for t in texts]


@traced
def plain(x: int) -> int:
    return x


@traced(operation="embeddings")
async def aplain(x: int) -> int:
    return x


# -- the stacks of the README and the docs: every inner handle stays reachable -------------


@traced
@cached(ttl=3600)
@routed(TIERS)
@warm("m-small", interval=240, keep_alive=300)
@pooled()
async def complete(
    messages: list[dict[str, str]],
    *,
    model: str = "m-small",
    max_tokens: int = 64,
    http_client: httpx.AsyncClient,
) -> str:
    return model


@traced
@batched(max_size=100)
@pooled()
async def embed_pooled(texts: list[str], *, http_client: httpx.AsyncClient) -> list[int]:
    return [len(t) for t in texts]


@llmwarm.from_config({"llm": {"openai": {"api_key": "sk-test", "cache": {"ttl": 60}}}})
def configured(
    messages: list[dict[str, str]], *, model: str | None = None, client: Any = None
) -> str:
    return str(model)


class Bot:
    """Decorated methods: called on an instance, they bind like methods."""

    @cached(ttl=60, key=lambda arguments: arguments["question"])
    def reply(self, question: str) -> str:
        return question

    @cached(key=lambda arguments: arguments["question"])
    @warm("m-small", ping=lambda model: None)
    async def areply(self, question: str, *, model: str = "m-small") -> str:
        return question


# -- what each handle is, and what the types refuse ----------------------------------------


def typed_handles() -> None:
    """Never called: it holds what mypy must infer and refuse."""
    if TYPE_CHECKING:
        assert_type(ask("q"), str)
        assert_type(ask.cache.stats, Stats)
        assert_type(ask.cache_key("q"), str)
        assert_type(ping_me.warmer, Warmer)
        assert_type(ping_me.warmer.stats, Stats)
        assert_type(llmwarm.stats(), Stats)
        assert_type(llmwarm.stats().requests, int)
        assert_type(llmwarm.stats().operation_duration_p95, float | None)
        assert_type(route_me.router, Router)
        assert_type(fetch.pool, PoolHandle)
        assert_type(embed.batcher.stats, Stats)
        assert_type(plain(1), int)
        assert_type(complete.cache.stats, Stats)
        assert_type(complete.warmer, Warmer)
        assert_type(complete.router, Router)
        assert_type(complete.pool, PoolHandle)
        assert_type(embed_pooled.batcher.stats, Stats)
        assert_type(Bot().reply("q"), str)
        assert_type(Bot.reply.cache.stats, Stats)
        assert_type(Bot().areply.warmer, Warmer)
        assert_type(configured([]), str)
        assert_type(configured.cache.stats, Stats)

        ask(1)  # type: ignore[arg-type]
        ask("q", modle="x")  # type: ignore[call-arg]
        _ = ask.warmer  # type: ignore[attr-defined]
        _ = route_me.cache  # type: ignore[attr-defined]
        _ = embed(["a list"])  # type: ignore[arg-type]
        Bot().reply()  # type: ignore[call-arg]
        _ = ask.cache.stats.hits  # type: ignore[attr-defined]  # the pre-0.2 name: run time only


async def touch_every_handle() -> dict[str, Any]:
    """Call every decorator's function and use every handle (no network, no thread kept)."""
    seen: dict[str, Any] = {"ask": ask("q"), "cache_key": ask.cache_key("q")}
    ask.cache.clear()
    ask.cache.invalidate("q")
    seen["info"] = ask.cache.info()["function"]
    await aask.cache.aclear()
    await aask.cache.ainvalidate("q")
    seen["aask"] = await aask("q")
    seen["interval"] = ping_me.warmer.interval("m-small")
    seen["is_warm"] = ping_me.warmer.is_warm("m-small")
    seen["warm_stats"] = ping_me.warmer.stats
    seen["process_stats"] = llmwarm.stats()
    seen["route_me"] = await route_me("p", model="m-large")
    seen["cooling"] = route_me.router.cooling()
    seen["fetch_client"] = fetch.pool.http_client()
    seen["afetch_client"] = afetch.pool.client()
    seen["embed"] = await embed("abc")
    seen["upper"] = await upper("abc")
    seen["embedded_items"] = embed.batcher.stats.batch_items
    seen["plain"] = plain(2) + await aplain(3)
    seen["stack_hits"] = complete.cache.stats.cache_hits
    seen["stack_models"] = complete.warmer.models
    seen["stack_tiers"] = complete.router.tiers
    seen["stack_client"] = complete.pool.http_client()
    seen["stack_batch_size"] = embed_pooled.batcher.max_size
    bot = Bot()
    seen["reply"] = bot.reply("hi")
    seen["reply_misses"] = bot.reply.cache.stats.cache_misses
    seen["bound_policies"] = bot.reply.llmwarm_policies
    seen["policies"] = Bot.reply.llmwarm_policies
    Bot.reply.cache.invalidate(bot, "hi")
    seen["areply_models"] = bot.areply.warmer.models
    seen["areply"] = await bot.areply("hi")
    seen["configured_ttl"] = configured.cache.info()["ttl"]
    # One lifecycle: every handle closes alike, and llmwarm closes everything.
    ask.cache.close()
    await aask.cache.aclose()
    ping_me.warmer.close()
    await complete.warmer.aclose()
    embed.batcher.close()
    await upper.batcher.aclose()
    fetch.pool.close()
    await afetch.pool.aclose()
    await llmwarm.aclose()
    llmwarm.close()
    llmwarm.shutdown()
    return seen
