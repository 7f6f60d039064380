"""A failing back end is skipped, probed after a backoff that doubles, and recovers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from llmwarm import cached
from llmwarm.cache.backends import MISSING
from llmwarm.testing import FakeClock


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

    complete.cache.breaker.clock = clock.monotonic
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

    complete.cache.breaker.clock = clock.monotonic
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
