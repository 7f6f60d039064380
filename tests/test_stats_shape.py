"""One stats shape: llmwarm.stats() and every handle's stats are the same typed snapshot."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

import llmwarm
from llmwarm import Stats, batched, cached, warm
from llmwarm.batch import BatchStats
from llmwarm.cache import CacheStats
from llmwarm.trace import _semconv


def test_every_source_returns_the_same_frozen_snapshot() -> None:
    @cached
    def ask(question: str) -> str:
        return question

    @warm("m", ping=lambda model: None)
    def ping_me(*, model: str = "m") -> str:
        return model

    @batched(max_size=4, max_wait=0.0)
    async def upper(texts: list[str]) -> list[str]:
        return [t.upper() for t in texts]

    ask("q")
    ask("q")
    asyncio.run(upper("a"))
    snapshots = {
        "process": llmwarm.stats(),
        "cache": ask.cache.stats,
        "warm": ping_me.warmer.stats,
        "batch": upper.batcher.stats,
    }
    for scope, snapshot in snapshots.items():
        assert type(snapshot) is Stats
        assert snapshot.scope == scope
        with pytest.raises(dataclasses.FrozenInstanceError):
            snapshot.requests = 1  # type: ignore[misc]
    assert (ask.cache.stats.cache_hits, ask.cache.stats.cache_misses) == (1, 1)
    assert (upper.batcher.stats.batches, upper.batcher.stats.batch_items) == (1, 1)
    assert llmwarm.stats().cache_hits >= 1  # the process counts the same hit
    assert ask.cache.stats.requests == 0  # a field the cache does not measure stays empty
    ping_me.warmer.close()


def test_the_fields_are_named_after_the_metrics_traced_emits() -> None:
    fields = {f.name for f in dataclasses.fields(Stats)}
    # llmwarm.coldstarts, llmwarm.warmup.pings, llmwarm.cache.lookups (hit / miss), and
    # gen_ai.client.operation.duration summarised.
    assert _semconv.COLDSTARTS.removeprefix("llmwarm.") in fields
    assert _semconv.WARMUP_PINGS.removeprefix("llmwarm.").replace(".", "_") in fields
    assert {"cache_hits", "cache_misses"} <= fields
    duration = _semconv.OPERATION_DURATION.removeprefix("gen_ai.client.").replace(".", "_")
    assert {f"{duration}_avg", f"{duration}_p50", f"{duration}_p95", f"{duration}_p99"} <= fields


def test_the_former_shapes_still_read() -> None:
    snapshot = Stats(requests=3, request_errors=1, cache_errors=2, cache_hits=4, batch_items=5)
    # The keys of the dict llmwarm.stats() returned, and the new names, by subscript.
    assert (snapshot["total_requests"], snapshot["errors"], snapshot["cache_hits"]) == (3, 1, 4)
    assert dict(snapshot)["requests"] == 3
    with pytest.raises(KeyError):
        snapshot["no_such_figure"]
    # The attributes of CacheStats and BatchStats, deprecated.
    with pytest.warns(DeprecationWarning, match="cache_hits"):
        assert snapshot.hits == 4  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning, match="cache_errors"):
        assert snapshot.errors == 2  # type: ignore[attr-defined]  # a cache's back-end errors
    # BatchStats.items gave way to the mapping method items(); the name still subscripts.
    assert snapshot["items"] == 5
    with pytest.raises(AttributeError):
        snapshot.no_such_attribute  # type: ignore[attr-defined]  # noqa: B018
    assert CacheStats is Stats
    assert BatchStats is Stats
