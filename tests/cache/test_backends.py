"""Back ends: SQLite and Redis persistence across processes, recovery, and the codec."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from llmwarm import cached
from llmwarm.cache import MemoryBackend, RedisBackend, SQLiteBackend, codec, register_type
from llmwarm.cache.backends import MISSING
from llmwarm.testing import FakeClock

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Cached hello."},
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}

WORKER = textwrap.dedent(
    """
    import json, sys
    from openai.types.chat import ChatCompletion
    from llmwarm import cached

    COMPLETION = json.loads(sys.argv[2])
    upstream = []

    @cached(ttl=600, backend=sys.argv[1])
    def complete(messages, *, model="gpt-4o-mini", api_key=None):
        upstream.append(1)
        return ChatCompletion.model_validate(COMPLETION)

    result = complete([{"role": "user", "content": "hi"}], api_key="sk-shared")
    print(json.dumps({
        "type": type(result).__name__,
        "content": result.choices[0].message.content,
        "upstream": len(upstream),
        "hits": complete.cache.stats.cache_hits,
    }))
    """
)


def _worker(backend: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, backend, json.dumps(COMPLETION)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_sqlite_entries_persist_across_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cache.db"
    first, second = _worker(url), _worker(url)
    assert first == {"type": "ChatCompletion", "content": "Cached hello.", "upstream": 1, "hits": 0}
    assert second == {
        "type": "ChatCompletion",
        "content": "Cached hello.",
        "upstream": 0,
        "hits": 1,
    }
    row = sqlite3.connect(tmp_path / "cache.db").execute("SELECT key, value FROM llmwarm_cache")
    key, value = row.fetchone()
    assert b"sk-shared" not in value
    assert "sk-shared" not in key


def test_redis_entries_are_shared_across_processes(redis_server: Any) -> None:
    first, second = _worker(redis_server.url), _worker(redis_server.url)
    assert (first["upstream"], first["hits"]) == (1, 0)
    assert (second["upstream"], second["hits"]) == (0, 1)
    assert second["type"] == "ChatCompletion"
    client = redis.Redis.from_url(redis_server.url)
    names = client.keys("llmwarm:cache:*")
    assert len(names) == 1
    assert 0 < client.pttl(names[0]) <= 600_000  # the TTL lives in Redis
    assert b"sk-shared" not in client.get(names[0])
    client.close()


def test_redis_outage_goes_upstream_and_recovers(
    redis_server: Any, caplog: pytest.LogCaptureFixture, clock: FakeClock
) -> None:
    calls: list[str] = []

    @cached(backend=redis_server.url)
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt.upper()

    complete.cache.breaker.clock = clock.monotonic
    assert complete("a") == "A"
    assert complete("a") == "A"
    assert calls == ["a"]
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        assert complete("a") == "A"  # Redis is down: upstream, not an error
        assert complete("a") == "A"
    assert calls == ["a", "a", "a"]
    assert complete.cache.stats.cache_errors == 1  # then the breaker skips Redis
    assert complete.cache.stats.cache_bypassed >= 2
    failures = [r for r in caplog.records if "failed to" in r.getMessage()]
    assert len(failures) == 1  # logged once, not once per call
    redis_server.start()  # same port, empty
    deadline = time.monotonic() + 20
    while complete.cache.stats.cache_hits < 2 and time.monotonic() < deadline:
        clock.advance(61)  # past any backoff: the next call probes Redis
        complete("a")
        time.sleep(0.05)
    assert complete.cache.stats.cache_hits >= 2  # stored again, and served again


async def test_async_redis_outage_goes_upstream_and_recovers(
    redis_server: Any, clock: FakeClock
) -> None:
    calls: list[str] = []

    @cached(backend=redis.Redis.from_url(redis_server.url, socket_timeout=1))
    async def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt.upper()

    complete.cache.breaker.clock = clock.monotonic
    assert await complete("a") == "A"
    assert await complete("a") == "A"
    redis_server.stop()
    assert await complete("a") == "A"
    assert calls == ["a", "a"]
    redis_server.start()
    deadline = time.monotonic() + 20
    while complete.cache.stats.cache_hits < 2 and time.monotonic() < deadline:
        clock.advance(61)
        await complete("a")
        await asyncio.sleep(0.01)
    assert complete.cache.stats.cache_hits >= 2


def test_redis_clear_is_per_function_and_namespace(redis_server: Any) -> None:
    backend = RedisBackend(redis_server.url, namespace="app1:")

    @cached(backend=backend)
    def one(prompt: str) -> str:
        return prompt

    @cached(backend=backend)
    def two(prompt: str) -> str:
        return prompt

    one("a")
    two("a")
    one.cache.clear()
    assert backend.get(one.cache_key("a")) is MISSING
    assert backend.get(two.cache_key("a")) == "a"
    assert all(k.startswith(b"app1:") for k in backend.client.keys("*"))


def test_sqlite_expired_rows_are_skipped_and_cleaned(tmp_path: Path, clock: FakeClock) -> None:
    backend = SQLiteBackend(tmp_path / "c.db", timer=clock.time)
    backend.set("k", {"a": 1}, 0.05)
    backend.set("keep", [1, 2], None)
    assert backend.get("k") == {"a": 1}
    clock.advance(0.1)
    assert backend.get("k") is MISSING
    backend.cleanup()
    rows = sqlite3.connect(tmp_path / "c.db").execute("SELECT key FROM llmwarm_cache").fetchall()
    assert rows == [("keep",)]
    backend.close()


def test_a_corrupt_sqlite_row_is_a_miss_and_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    calls: list[str] = []

    @cached(backend=f"sqlite:///{path}")
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt

    complete("a")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE llmwarm_cache SET value = ?", (b"\x00not json",))
    assert complete("a") == "a"
    assert calls == ["a", "a"]
    stats = complete.cache.stats
    assert (stats.cache_corrupt_rows, stats.cache_errors) == (1, 0)  # the back end itself works
    assert complete("a") == "a"  # rewritten, then served
    assert calls == ["a", "a"]


def test_a_failing_disk_goes_upstream(tmp_path: Path) -> None:
    @cached(backend=f"sqlite:///{tmp_path}/missing-dir-is-a-file/c.db")
    def complete(prompt: str) -> str:
        return prompt

    (tmp_path / "missing-dir-is-a-file").write_text("not a directory")
    assert complete("a") == "a"
    assert complete("a") == "a"
    assert complete.cache.stats.cache_errors == 1  # then the breaker skips the disk
    assert complete.cache.stats.cache_bypassed >= 2


@register_type
@dataclasses.dataclass
class Usage:
    tokens: int
    tags: tuple[str, ...]


def test_codec_round_trips_types_and_never_uses_pickle() -> None:
    completion = ChatCompletion.model_validate(COMPLETION)
    chunk = ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}],
        }
    )
    value = {
        "completion": completion,
        "usage": Usage(3, ("a", "b")),
        "raw": b"\x00\x01",
        "pair": (1, 2.5),
        "ints": {1: "one"},
        "stream": codec.RecordedStream((chunk, chunk)),
    }
    data = codec.encode(value, key="k", secret=b"s")
    assert b"pickle" not in data
    back = codec.decode(data, key="k", secret=b"s", now=0.0)
    assert type(back["completion"]) is ChatCompletion
    assert back["completion"] == completion
    assert back["usage"] == Usage(3, ("a", "b"))
    assert back["raw"] == b"\x00\x01"
    assert back["pair"] == (1, 2.5)
    assert back["ints"] == {1: "one"}
    assert [type(c) for c in back["stream"].chunks] == [ChatCompletionChunk] * 2


def test_codec_refuses_foreign_classes_and_unknown_values() -> None:
    with pytest.raises(codec.CodecError, match="cannot be stored"):
        codec.encode(object(), key="k", secret=b"s")

    @dataclasses.dataclass
    class Unregistered:
        x: int

    with pytest.raises(codec.CodecError, match="register_type"):
        codec.encode(Unregistered(1), key="k", secret=b"s")
    # Even signed with the right secret, a row naming a type off the allow-list is refused.
    for name in ("os:system", "nopkg_xyz.mod:Cls", "pygments.__main__:main"):
        for tag in ("dataclass", "pydantic"):
            payload = json.dumps(
                {"v": 2, "value": {"__llmwarm__": tag, "type": name, "data": {}}}
            ).encode()
            with pytest.raises(codec.CorruptCacheRow, match="not an allowed"):
                codec.decode(codec.sign(b"s", "k", payload), key="k", secret=b"s", now=0.0)


async def test_async_sqlite_stream_and_value_round_trip(tmp_path: Path) -> None:
    calls: list[str] = []

    async def chunks() -> Any:
        for part in ("x", "y"):
            yield {"delta": part}

    @cached(backend=f"sqlite:///{tmp_path}/c.db")
    async def tokens(prompt: str) -> Any:
        calls.append(prompt)
        return chunks()

    assert [c async for c in await tokens("p")] == [{"delta": "x"}, {"delta": "y"}]
    policy = tokens.llmwarm_policies[0]
    for _ in range(1000):  # the recording is written off the event loop: at most 10 s
        if policy.backend.get(tokens.cache_key("p")) is not MISSING:
            break
        await asyncio.sleep(0.01)
    assert [c async for c in await tokens("p")] == [{"delta": "x"}, {"delta": "y"}]
    assert calls == ["p"]


def test_an_unstorable_result_is_returned_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    @cached(backend=f"sqlite:///{tmp_path}/c.db")
    def complete(prompt: str) -> object:
        return object()

    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        first, second = complete("a"), complete("a")
    assert first is not second
    assert complete.cache.stats.cache_uncacheable == 2
    assert len([r for r in caplog.records if "cannot be cached" in r.getMessage()]) == 1


def test_ttl_is_honoured_with_a_memory_backend_instance(clock: FakeClock) -> None:
    backend = MemoryBackend(ttl=3600, timer=clock.monotonic)
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
