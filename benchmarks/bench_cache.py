"""Cost of a ``@cached`` hit, key building, single-flight savings, memory per back end.

- ``hit_path``: a hit through ``@cached`` (memory back end) against a bare call of the
  same function, sync and async; ``stack_entry`` is an llmwarm stack with one empty policy,
  to separate the core's entry from ``@cached`` itself.
- ``miss_path``: a miss through ``@cached`` (memory back end, full: each store evicts the
  oldest entry) against a bare call of a function returning a ``ChatCompletion``, sync and
  async, in thread CPU time; ``stack_entry`` is an llmwarm stack with one empty policy,
  taking the same fresh arguments. Every call has a prompt of its own, as real misses do.
- ``key_building``: the key of a short chat request and of an 8 KB prompt, with stdlib
  ``json.dumps(sort_keys=True)`` + SHA-256 and with ``orjson`` (``OPT_SORT_KEYS``) +
  truncated SHA-256 (what llmwarm uses): microseconds, and the ratio stdlib / orjson.
- ``signed_rows``: what a hit on a persistent back end pays for its row's signature: the
  HMAC-SHA256 check of a stored ``ChatCompletion`` row alone, the whole decode (check,
  JSON, pydantic), and a hit through a SQLite back end, in microseconds. The memory back
  end signs nothing (its entries never leave the process), so ``hit_path`` has no such
  cost.
- ``single_flight``: 100 concurrent identical requests to an upstream that takes 20 ms:
  upstream calls with ``@cached`` and with a naive cache-aside (get, call, set).
- ``memory``: resident memory added by 10,000 cached ``ChatCompletion`` responses (1,000
  in quick mode) per back end, each measured in a fresh subprocess; for Redis the
  server's ``used_memory`` delta; for SQLite also the file size.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from benchmarks._timing import (
    per_await,
    per_call,
    per_call_cpu,
    per_call_cpu_async,
    ratios,
)
from llmwarm import cached
from llmwarm._core import Policy, apply
from llmwarm.cache import keys

SHORT_CHAT = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "model": "gpt-4o-mini",
    "temperature": 0.0,
    "max_tokens": 256,
}
LONG_PROMPT = {**SHORT_CHAT, "messages": [{"role": "user", "content": "lorem ipsum " * 683}]}


def _stdlib_key(arguments: dict[str, Any]) -> str:
    data = json.dumps(
        [keys.KEY_FORMAT, "m.f", arguments, None, None],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return hashlib.sha256(data).hexdigest()


def _orjson_key(arguments: dict[str, Any]) -> str:
    return keys.digest(keys.canonical([keys.KEY_FORMAT, "m.f", arguments, None, None]))


def _orjson_blake2b_key(arguments: dict[str, Any]) -> str:
    data = keys.canonical([keys.KEY_FORMAT, "m.f", arguments, None, None])
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def key_building(quick: bool) -> dict[str, Any]:
    number = 2_000 if quick else 20_000
    results: dict[str, Any] = {}
    for case, arguments in (("short_chat", SHORT_CHAT), ("prompt_8kb", LONG_PROMPT)):
        stdlib = min(per_call(lambda a=arguments: _stdlib_key(a), number) for _ in range(3))
        fast = min(per_call(lambda a=arguments: _orjson_key(a), number) for _ in range(3))
        blake = min(per_call(lambda a=arguments: _orjson_blake2b_key(a), number) for _ in range(3))
        results[case] = {
            "stdlib_sha256_us": round(stdlib * 1e6, 2),
            "orjson_blake2b_us": round(blake * 1e6, 2),
            "orjson_sha256_us": round(fast * 1e6, 2),
            "stdlib_over_orjson": round(stdlib / fast, 2),
        }
    return results


def hit_path(quick: bool) -> dict[str, Any]:
    rounds, number = (3, 2_000) if quick else (7, 20_000)

    def bare(messages: Any, *, model: str = "gpt-4o-mini", temperature: float = 0.0) -> str:
        return "answer"

    async def abare(messages: Any, *, model: str = "gpt-4o-mini", temperature: float = 0.0) -> str:
        return "answer"

    entry, hit = apply(bare, Policy()), cached(bare)
    aentry, ahit = apply(abare, Policy()), cached(abare)
    messages = SHORT_CHAT["messages"]
    hit(messages, model="gpt-4o-mini")
    asyncio.run(ahit(messages, model="gpt-4o-mini"))

    def timer(fn: Any) -> Any:
        return lambda n: per_call(lambda: fn(messages, model="gpt-4o-mini"), n)

    def atimer(fn: Any) -> Any:
        return lambda n: per_await(lambda: fn(messages, model="gpt-4o-mini"), n)

    sync = ratios(
        {"stack_entry": timer(entry), "cached_hit": timer(hit)},
        timer(bare),
        rounds=rounds,
        number=number,
    )
    async_ = ratios(
        {"stack_entry": atimer(aentry), "cached_hit": atimer(ahit)},
        atimer(abare),
        rounds=rounds,
        number=number,
    )
    assert hit.cache.stats.cache_misses == 1, "the benchmark must measure hits only"
    return {
        "sync": sync,
        "async": async_,
        "cached_hit_us": round(
            per_call(lambda: hit(messages, model="gpt-4o-mini"), number) * 1e6, 2
        ),
        "bare_call_us": round(
            per_call(lambda: bare(messages, model="gpt-4o-mini"), number) * 1e6, 3
        ),
    }


def miss_path(quick: bool) -> dict[str, Any]:
    """A miss through ``@cached`` (a full memory back end) against a bare call, in thread CPU."""
    from benchmarks._responses import chat_completion

    rounds, number = (3, 2_000) if quick else (7, 10_000)
    maxsize = 1_000
    response = chat_completion()

    def bare(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return response

    async def abare(messages: Any, *, model: str = "gpt-4o-mini") -> Any:
        return response

    # Fresh prompts for every call of every candidate in every round (made up front, so
    # building them is not timed): a miss each time, as a new question is.
    prompts = ([{"role": "user", "content": f"question {i}"}] for i in itertools.count())

    def fill(fn: Any, is_async: bool) -> Any:
        async def afill() -> None:
            for _ in range(maxsize):
                await fn(next(prompts))

        if is_async:
            asyncio.run(afill())
        else:
            for _ in range(maxsize):  # a full cache: every timed store also evicts
                fn(next(prompts))
        return fn

    def timer(fn: Any) -> Any:
        def timed(n: int) -> float:
            batch = [next(prompts) for _ in range(n)]
            it = iter(batch)
            return per_call_cpu(lambda: fn(next(it), model="gpt-4o-mini"), n)

        return timed

    def atimer(fn: Any) -> Any:
        def timed(n: int) -> float:
            batch = [next(prompts) for _ in range(n)]
            it = iter(batch)
            return per_call_cpu_async(lambda: fn(next(it), model="gpt-4o-mini"), n)

        return timed

    miss = fill(cached(maxsize=maxsize)(bare), False)
    amiss = fill(cached(maxsize=maxsize)(abare), True)
    results: dict[str, Any] = {}
    for mode, make, base, candidate, empty in (
        ("sync", timer, bare, miss, apply(bare, Policy())),
        ("async", atimer, abare, amiss, apply(abare, Policy())),
    ):
        before = candidate.cache.stats.cache_hits
        results[mode] = ratios(
            {"stack_entry": make(empty), "cached_miss": make(candidate)},
            make(base),
            rounds=rounds,
            number=number,
        )
        assert candidate.cache.stats.cache_hits == before, "the benchmark must time misses only"
    # Microseconds a miss adds over the bare call, best of three, for the docs' figures.
    for mode, make, base, candidate in (
        ("sync", timer, bare, miss),
        ("async", atimer, abare, amiss),
    ):
        added = min(make(candidate)(number) - make(base)(number) for _ in range(3))
        results[f"{mode}_added_us"] = round(added * 1e6, 2)
    return results


def full_stack(quick: bool) -> dict[str, Any]:
    """A hit through ``@traced @cached @routed @warm @pooled`` against a bare call."""
    import llmwarm
    from llmwarm import Tier, pooled, routed, traced, warm

    rounds, number = (3, 2_000) if quick else (7, 20_000)

    def bare(messages: Any, *, model: str = "gpt-4o-mini", http_client: Any = None) -> str:
        return "answer"

    stack = traced(
        cached(
            routed([Tier("small", "gpt-4o-mini"), Tier("large", "gpt-4o")])(
                warm("gpt-4o-mini", 3600, ping=lambda model: None)(pooled()(bare))
            )
        )
    )
    messages = SHORT_CHAT["messages"]
    try:
        stack(messages, model="gpt-4o-mini")

        def timer(fn: Any) -> Any:
            return lambda n: per_call(lambda: fn(messages, model="gpt-4o-mini"), n)

        result = ratios({"full_stack_hit": timer(stack)}, timer(bare), rounds=rounds, number=number)
        assert stack.cache.stats.cache_misses == 1, "the benchmark must measure hits only"
        return result
    finally:
        llmwarm.shutdown()
        llmwarm.close()


def signed_rows(quick: bool) -> dict[str, Any]:
    from openai.types.chat import ChatCompletion

    from llmwarm.cache import SQLiteBackend, codec

    number = 2_000 if quick else 20_000
    completion = ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Paris. " * 60},
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 60, "total_tokens": 63},
        }
    )
    key, secret = "m:f:" + "0" * 32, b"s" * 32
    row = codec.encode(completion, key=key, secret=secret)
    verify = min(per_call(lambda: codec.verify(secret, key, row), number) for _ in range(3))
    decode = min(
        per_call(lambda: codec.decode(row, key=key, secret=secret, now=0.0), number)
        for _ in range(3)
    )
    with tempfile.TemporaryDirectory() as directory:
        backend = SQLiteBackend(Path(directory) / "c.db", secret=secret)
        backend.set(key, completion, None)
        hit = min(per_call(lambda: backend.get(key), number) for _ in range(3))
        backend.close()
    return {
        "row_bytes": len(row),
        "verify_us": round(verify * 1e6, 2),
        "decode_us": round(decode * 1e6, 2),
        "sqlite_hit_us": round(hit * 1e6, 2),
        "verify_share_of_sqlite_hit": round(verify / hit, 3),
    }


def single_flight(quick: bool) -> dict[str, int]:
    concurrency = 100
    upstream = {"cached": 0, "naive": 0}

    @cached
    async def with_flight(prompt: str) -> str:
        upstream["cached"] += 1
        await asyncio.sleep(0.02)
        return prompt

    store: dict[str, str] = {}

    async def naive(prompt: str) -> str:
        if prompt in store:
            return store[prompt]
        upstream["naive"] += 1
        await asyncio.sleep(0.02)
        store[prompt] = prompt
        return prompt

    async def burst() -> None:
        await asyncio.gather(*(with_flight("same") for _ in range(concurrency)))
        await asyncio.gather(*(naive("same") for _ in range(concurrency)))

    asyncio.run(burst())
    return {
        "requests": concurrency,
        "upstream_calls_single_flight": upstream["cached"],
        "upstream_calls_naive_cache": upstream["naive"],
    }


MEMORY_WORKER = textwrap.dedent(
    """
    import json, sys
    from openai.types.chat import ChatCompletion
    from llmwarm.cache.backends import resolve_backend

    def rss_kb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    backend = resolve_backend(sys.argv[1] if sys.argv[1] != "memory" else None,
                              maxsize=10**6, ttl=3600)
    count = int(sys.argv[2])
    template = {
        "id": "chatcmpl-0", "object": "chat.completion", "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "x" * 400}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 100, "total_tokens": 120},
    }
    values = [ChatCompletion.model_validate({**template, "id": f"chatcmpl-{i}"})
              for i in range(count)]
    before = rss_kb()
    for i, value in enumerate(values):
        backend.set(f"bench:{i:032x}", value, 3600)
    print(json.dumps({"rss_delta_kb": rss_kb() - before}))
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory(quick: bool) -> dict[str, Any]:
    count = 1_000 if quick else 10_000
    results: dict[str, Any] = {"responses": count}

    def worker(backend: str) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_WORKER, backend, str(count)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    results["memory"] = worker("memory")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "cache.db")
        results["sqlite"] = worker(f"sqlite:///{path}")
        results["sqlite"]["file_kb"] = round(
            sum(os.path.getsize(p) for p in Path(directory).glob("cache.db*")) / 1024
        )
        binary = shutil.which("redis-server")
        if binary is None:
            results["redis"] = "redis-server not installed"
            return results
        import redis

        port = _free_port()
        server = subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(200):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            before = int(client.info("memory")["used_memory"])
            results["redis"] = worker(f"redis://127.0.0.1:{port}/0")
            used = int(client.info("memory")["used_memory"]) - before
            results["redis"]["server_used_memory_delta_kb"] = round(used / 1024)
            client.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return results


def run(quick: bool) -> dict[str, Any]:
    """Measure; ``quick`` makes fewer, shorter rounds and a smaller memory test (CI)."""
    return {
        "hit_path": hit_path(quick),
        "miss_path": miss_path(quick),
        "full_stack": full_stack(quick),
        "key_building": key_building(quick),
        "signed_rows": signed_rows(quick),
        "single_flight": single_flight(quick),
        "memory": memory(quick),
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
