"""Faults scoped to what failed, hostile numbers, and fault injection on real back ends.

* a per-key fault (Redis ``WRONGTYPE`` on one key, a value too large for SQLite) is a
  miss for that key only: the circuit breaker stays closed for every other key;
* a hung Redis (``SIGSTOP``) adds at most the back end's short timeout to a call;
* Redis killed while a call is in flight and restarted: calls go on uncached, then
  caching resumes;
* a cached async call cancelled at every await point leaves no stuck single-flight entry;
* the number matrix: ``ttl=inf``/``None`` mean no expiry on every back end; NaN, zero and
  negative ``ttl``, a bad ``maxsize`` and ``@cached`` on a class fail at decoration.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from llmwarm import ConfigError, cached
from llmwarm.cache import BREAKER_BACKOFF, CacheRowError, RedisBackend, SQLiteBackend
from llmwarm.cache.backends import DEFAULT_REDIS_TIMEOUT, MISSING
from llmwarm.testing import FakeClock


def _counting(backend: Any) -> tuple[Any, list[str]]:
    upstream: list[str] = []

    @cached(ttl=600, backend=backend)
    def complete(prompt: str) -> str:
        upstream.append(prompt)
        return f"answer {prompt}"

    return complete, upstream


# ------------------------------------------------------------------ per-key faults


def test_redis_wrongtype_on_one_key_is_a_miss_for_that_key_only(
    redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    complete, upstream = _counting(redis_server.url)
    complete("other")
    # Someone stores a list under the key of one prompt: GET answers WRONGTYPE.
    redis.Redis.from_url(redis_server.url).lpush(
        "llmwarm:cache:" + complete.cache_key("poisoned"), "x"
    )
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        for _ in range(3):
            assert complete("poisoned") == "answer poisoned"
            assert complete("other") == "answer other"  # still served from Redis
    lines = [r.getMessage() for r in caplog.records if "one key of" in r.getMessage()]
    assert len(lines) == 1
    assert "WRONGTYPE" in lines[0]
    stats = complete.cache.stats
    assert complete.cache.breaker.backoff == 0
    assert stats.cache_bypassed == 0
    assert stats.cache_hits >= 3  # "other" three times (and "poisoned" once SET replaced the list)
    assert upstream.count("other") == 1


def test_the_redis_backend_reports_wrongtype_as_a_row_error(redis_server: Any) -> None:
    backend = RedisBackend(redis_server.url, secret="s")
    backend.client.lpush("llmwarm:cache:k", "x")
    with pytest.raises(CacheRowError, match="WRONGTYPE"):
        backend.get("k")
    backend.client.delete("llmwarm:cache:k")
    assert backend.get("k") is MISSING


def test_a_value_too_large_for_sqlite_is_a_miss_for_that_key_only(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "c.db", secret="s")
    upstream: list[str] = []

    @cached(ttl=600, backend=backend)
    def complete(prompt: str) -> str:
        upstream.append(prompt)
        return prompt * (5_000 if prompt == "big" else 1)

    complete("small")
    backend._connect().setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 4_000)  # rows above 4 KB fail
    with pytest.raises(CacheRowError, match="too big"):
        backend.set("k", "x" * 5_000, None)
    for _ in range(3):
        assert len(complete("big")) == 15_000
        assert complete("small") == "small"
    assert upstream == ["small", "big", "big", "big"]
    assert complete.cache.breaker.backoff == 0
    assert complete.cache.stats.cache_bypassed == 0
    assert complete.cache.stats.cache_errors == 3
    backend.close()


def test_a_per_key_fault_closes_a_breaker_that_was_open(
    redis_server: Any, clock: FakeClock
) -> None:
    complete, upstream = _counting(redis_server.url)
    complete.cache.breaker.clock = clock.monotonic
    redis_server.stop()
    complete("a")  # connection refused: the breaker opens
    assert complete.cache.breaker.backoff > 0
    redis_server.start()
    redis.Redis.from_url(redis_server.url).lpush("llmwarm:cache:" + complete.cache_key("a"), "x")
    clock.advance(BREAKER_BACKOFF + 1)
    complete("a")  # the probe gets WRONGTYPE: an answer, so the server is back
    assert complete.cache.breaker.backoff == 0
    complete("b")
    assert complete("b") == "answer b"
    assert upstream == ["a", "a", "b"]


# ---------------------------------------------------------------- a hung back end


def test_a_hung_redis_adds_at_most_its_short_timeout(redis_server: Any, clock: FakeClock) -> None:
    complete, upstream = _counting(redis_server.url + "?timeout=0.1")
    assert complete.cache.backend.timeout == 0.1
    complete.cache.breaker.clock = clock.monotonic
    complete("a")
    pid = redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)  # the server accepts nothing and answers nothing
    try:
        started = time.monotonic()
        assert complete("a") == "answer a"  # one read times out, then upstream
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):  # the breaker is open: no back-end wait at all
            assert complete("a") == "answer a"
        rest = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert first < 1.0  # 0.1 s timeout, no retries (was 1 s, plus redis-py's retries)
    assert rest < 1.0
    assert complete.cache.stats.cache_errors == 1
    assert complete.cache.stats.cache_bypassed >= 20
    assert len(upstream) == 22


def test_the_redis_timeout_is_short_by_default_and_checked() -> None:
    backend = RedisBackend("redis://127.0.0.1:9/0", secret="s")
    kwargs = backend.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == DEFAULT_REDIS_TIMEOUT <= 0.5
    assert kwargs["socket_connect_timeout"] == DEFAULT_REDIS_TIMEOUT
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(ConfigError, match=f"timeout='{bad}'"):
            cached(backend=f"redis://127.0.0.1:9/0?timeout={bad}")


# ------------------------------------------------------------- Redis killed, restarted


def test_redis_killed_mid_call_then_restarted(redis_server: Any, clock: FakeClock) -> None:
    gate, inside = threading.Event(), threading.Event()
    upstream: list[str] = []

    @cached(ttl=600, backend=redis_server.url)
    def complete(prompt: str) -> str:
        upstream.append(prompt)
        if prompt == "in flight":
            inside.set()
            assert gate.wait(10)
        return f"answer {prompt}"

    complete.cache.breaker.clock = clock.monotonic
    assert complete("a") == complete("a")
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(complete("in flight")))
    worker.start()
    assert inside.wait(10)
    redis_server.stop()  # killed while the call is upstream: its result cannot be stored
    gate.set()
    worker.join(10)
    assert results == ["answer in flight"]
    for _ in range(5):  # calls go on, uncached, without waiting for the dead server
        assert complete("a") == "answer a"
    assert upstream == ["a", "in flight", "a", "a", "a", "a", "a"]
    assert complete.cache.breaker.backoff > 0

    redis_server.start()  # back on the same port, empty
    clock.advance(BREAKER_BACKOFF + 1)
    assert complete("a") == "answer a"  # the probe: a miss, stored
    assert complete("a") == "answer a"  # caching has resumed
    assert upstream.count("a") == 7
    assert complete.cache.breaker.backoff == 0


# ------------------------------------------------------ cancellation at every await


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_cancellation_at_every_await_point_leaves_no_stuck_flight(
    kind: str, tmp_path: Path
) -> None:
    gate = asyncio.Event()
    upstream: list[str] = []

    @cached(ttl=600, backend=None if kind == "memory" else f"sqlite:///{tmp_path}/c.db")
    async def complete(prompt: str) -> str:
        upstream.append(prompt)
        await asyncio.sleep(0)
        await gate.wait()
        await asyncio.sleep(0)
        return f"answer {prompt}"

    policy = complete.llmwarm_policies[0]

    async def pause(steps: int) -> None:
        if kind == "memory":
            for _ in range(steps):
                await asyncio.sleep(0)
        else:  # the SQLite reads and writes run in worker threads
            await asyncio.sleep(steps * 0.002)

    for steps in range(24):
        prompt = f"p{steps}"
        gate.clear()
        leader = asyncio.create_task(complete(prompt))
        waiter = asyncio.create_task(complete(prompt))
        await pause(steps)
        victims = [(leader,), (waiter,), (leader, waiter)][steps % 3]
        for task in victims:
            task.cancel()
        gate.set()
        done = await asyncio.wait_for(
            asyncio.gather(leader, waiter, return_exceptions=True), timeout=10
        )
        for task, outcome in zip((leader, waiter), done, strict=True):
            if task not in victims:
                assert outcome == f"answer {prompt}"
        assert len(policy.flights) == 0  # no stuck single-flight entry
        # The key is usable again at once: a hit, or a fresh upstream call, never a hang.
        assert await asyncio.wait_for(complete(prompt), timeout=10) == f"answer {prompt}"
        assert len(policy.flights) == 0


# -------------------------------------------------------------------- the numbers


@pytest.mark.parametrize("ttl", [math.inf, None, datetime.timedelta.max, 1e300])
@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_no_expiry_works_on_every_backend(
    ttl: Any, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = {"memory": None, "sqlite": f"sqlite:///{tmp_path}/c.db"}.get(kind)
    if kind == "redis":
        backend = request.getfixturevalue("redis_server").url
    upstream: list[str] = []

    @cached(ttl, backend=backend)
    def complete(prompt: str) -> str:
        upstream.append(prompt)
        return prompt

    assert complete("a") == complete("a") == "a"
    assert upstream == ["a"]
    assert complete.cache.stats.cache_errors == 0
    assert complete.cache.breaker.backoff == 0
    if ttl in (math.inf, None):
        assert complete.cache.info()["ttl"] is None
    if kind == "redis":
        name = "llmwarm:cache:" + complete.cache_key("a")
        left = complete.cache.backend.client.pttl(name)
        assert left == -1 or left > 10 * 365 * 86400 * 1000  # none, or centuries
    if kind == "sqlite":
        with sqlite3.connect(tmp_path / "c.db") as db:
            expires = db.execute("SELECT expires FROM llmwarm_cache").fetchone()[0]
        assert expires is None or expires > time.time() + 10 * 365 * 86400


@pytest.mark.parametrize("backend_kind", ["memory", "sqlite", "redis"])
def test_backends_treat_an_infinite_ttl_as_no_expiry(
    backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend: Any
    if backend_kind == "memory":
        from llmwarm.cache import MemoryBackend

        backend = MemoryBackend(ttl=math.inf)
    elif backend_kind == "sqlite":
        backend = SQLiteBackend(tmp_path / "c.db", secret="s")
    else:
        backend = RedisBackend(request.getfixturevalue("redis_server").url, secret="s")
    backend.set("k", "v", math.inf)  # OverflowError inside RedisBackend before
    assert backend.get("k") == "v"


@pytest.mark.parametrize(
    "ttl", [math.nan, -math.inf, -1, 0, 0.0, -0.5, datetime.timedelta(0), "1h", True]
)
def test_bad_ttls_are_refused_at_decoration_naming_ttl(ttl: Any) -> None:
    with pytest.raises(ConfigError, match=r"cached\(ttl=.*must be a positive number"):
        cached(ttl)


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, True, "10", math.inf])
def test_bad_maxsize_is_refused_at_decoration_naming_maxsize(maxsize: Any) -> None:
    with pytest.raises(ConfigError, match=r"cached\(maxsize=.*must be a positive int"):
        cached(maxsize=maxsize)


def test_cached_on_a_class_is_refused() -> None:
    class Assistant:
        def ask(self, prompt: str) -> str:
            return prompt

    with pytest.raises(ConfigError, match="decorates a class"):
        cached(Assistant)
    with pytest.raises(ConfigError, match="decorates a class"):
        cached(ttl=60)(Assistant)


class OneBadKey:
    """An in-process back end of a user's own that refuses one key, as its docs ask."""

    inline = True

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if "bad" in self.rows.get(key, ""):
            raise CacheRowError(f"cannot read {key}")
        return self.rows.get(key, MISSING)

    def set(self, key: str, value: Any, ttl: float | None) -> None:
        self.rows[key] = value

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)

    def clear(self, prefix: str = "") -> None:
        self.rows.clear()


def test_a_custom_backend_reports_a_per_key_fault_without_opening_the_breaker() -> None:
    backend = OneBadKey()
    complete, upstream = _counting(backend)
    complete("bad")
    complete("good")
    for _ in range(3):
        assert complete("bad") == "answer bad"
        assert complete("good") == "answer good"
    assert complete.cache.breaker.backoff == 0
    assert complete.cache.stats.cache_errors == 3
    assert upstream == ["bad", "good", "bad", "bad", "bad"]
