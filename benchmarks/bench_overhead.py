"""Hot-path overhead: each decorator and the full stack, against a bare call of the same round.

Candidates (sync and async), each in units of one bare call timed in the same round:

- ``wraps``: a ``functools.wraps`` pass-through (the floor of any Python decorator);
- one policy of each kind on a trivial function (``@pooled``, ``@warm``, ``@routed``,
  ``@cached`` hit, ``@traced`` with no SDK);
- the full ``@traced @cached @routed @warm @pooled`` stack on a cache hit (target: at most
  40x) and on a call that goes through to the trivial function (the cache refusing it);
- the full stack on a cache hit of a *stream* (the cache replays the recorded chunks),
  against consuming the same chunks from the bare function;
- scaling: a cache hit with 10 vs 10,000 entries, and ``@warm`` with 10 vs 10,000 models.

The functions return what an SDK returns: a real ``openai`` ``ChatCompletion`` (a pydantic
model: what the stack does with the result, such as telling a stream from a value, costs
more on it than on a plain value) and, for streams, an iterator of ``ChatCompletionChunk``.
Timings are the thread's CPU time, so a neighbour's load on a shared machine counts
against neither side. Targets: the full stack on a hit at most 40x a bare call (sync) and
25x (async).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

import llmwarm
from benchmarks._responses import chat_chunks, chat_completion
from benchmarks._timing import per_call_cpu, per_call_cpu_async, ratios
from llmwarm import Tier, cached, pooled, routed, traced, warm

MESSAGES = [{"role": "user", "content": "What is our refund window?"}]
TARGET_FULL_STACK_HIT = 40.0
TARGET_FULL_STACK_HIT_ASYNC = 25.0

RESPONSE = chat_completion()
CHUNKS = chat_chunks()


def _bare(
    messages: Any, *, model: str = "small", max_tokens: int = 16, http_client: Any = None
) -> Any:
    return RESPONSE


async def _abare(
    messages: Any, *, model: str = "small", max_tokens: int = 16, http_client: Any = None
) -> Any:
    return RESPONSE


def _bare_stream(
    messages: Any, *, model: str = "small", max_tokens: int = 16, http_client: Any = None
) -> Any:
    return iter(CHUNKS)


def _wraps(fn: Callable[..., Any]) -> Callable[..., Any]:
    if asyncio.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

        return awrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def _copy(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A fresh function object with the same code, so each candidate has its own stack."""
    clone = type(fn)(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)  # type: ignore[attr-defined]
    clone.__kwdefaults__ = fn.__kwdefaults__  # type: ignore[attr-defined]
    clone.__qualname__ = fn.__qualname__
    return clone


TIERS = [Tier("small", "small"), Tier("large", "large")]


def _candidates(base: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    never = {"cacheable": lambda arguments: False}
    built: dict[str, Callable[..., Any]] = {
        "wraps": _wraps(base),
        "@pooled": pooled()(_copy(base)),
        "@warm": warm("small", interval=3600)(_copy(base)),
        "@routed": routed(TIERS)(_copy(base)),
        "@cached hit": cached(ttl=3600)(_copy(base)),
        "@traced (no SDK)": traced(_copy(base)),
    }
    for name, options in (("full stack hit", {}), ("full stack through", never)):
        built[name] = traced(
            cached(ttl=3600, **options)(
                routed(TIERS)(warm(["small", "large"], interval=3600)(pooled()(_copy(base))))
            )
        )
    return built


def _sync_timer(fn: Callable[..., Any]) -> Callable[[int], float]:
    return lambda number: per_call_cpu(lambda: fn(MESSAGES), number)


def _async_timer(fn: Callable[..., Any]) -> Callable[[int], float]:
    return lambda number: per_call_cpu_async(lambda: fn(MESSAGES), number)


def _consuming_timer(fn: Callable[..., Any]) -> Callable[[int], float]:
    def consume() -> None:
        for _ in fn(MESSAGES):
            pass

    return lambda number: per_call_cpu(consume, number)


def _stream_hit(number: int, rounds: int) -> dict[str, Any]:
    """The full stack replaying a cached stream, against consuming the bare stream."""
    stack = traced(
        cached(ttl=3600)(
            routed(TIERS)(warm(["small", "large"], interval=3600)(pooled()(_copy(_bare_stream))))
        )
    )
    for _ in stack(MESSAGES):  # record the stream: later calls are hits
        pass
    return ratios(
        {"full stack hit (stream)": _consuming_timer(stack)},
        _consuming_timer(_bare_stream),
        rounds=rounds,
        number=number,
    )


def _fill(fn: Callable[..., Any], entries: int, is_async: bool) -> None:
    for i in range(entries):
        messages = [{"role": "user", "content": f"question {i}"}]
        if is_async:
            asyncio.run(fn(messages))
        else:
            fn(messages)


def _scaling(number: int, rounds: int) -> dict[str, Any]:
    """Per-call cost must not grow with the number of cache entries or warmed models."""
    out: dict[str, Any] = {}
    small_cache = cached(ttl=3600, maxsize=20_000)(_copy(_bare))
    large_cache = cached(ttl=3600, maxsize=20_000)(_copy(_bare))
    _fill(small_cache, 10, False)
    _fill(large_cache, 10_000, False)
    small_cache(MESSAGES)
    large_cache(MESSAGES)
    result = ratios(
        {"cache hit, 10,000 entries": _sync_timer(large_cache)},
        _sync_timer(small_cache),
        rounds=rounds,
        number=number,
    )
    out["cache hit, 10,000 vs 10 entries"] = result["cache hit, 10,000 entries"]
    few = warm([f"m{i}" for i in range(10)] + ["small"], interval=3600)(_copy(_bare))
    many = warm([f"m{i}" for i in range(10_000)] + ["small"], interval=3600)(_copy(_bare))
    few(MESSAGES)
    many(MESSAGES)
    result = ratios({"many": _sync_timer(many)}, _sync_timer(few), rounds=rounds, number=number)
    out["@warm, 10,000 vs 10 models"] = result["many"]
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """Measure; every timing is a ratio to a bare call timed in the same round."""
    rounds, number = (3, 2_000) if quick else (9, 20_000)
    results: dict[str, Any] = {"unit": "bare calls: median (min-max) over rounds"}
    try:
        sync = _candidates(_bare)
        for fn in sync.values():
            fn(MESSAGES)  # warm the cache, build the pools
        results["sync"] = ratios(
            {name: _sync_timer(fn) for name, fn in sync.items()},
            _sync_timer(_bare),
            rounds=rounds,
            number=number,
        )
        # Async: one event loop per measurement (asyncio.run), the same for the reference.
        asynchronous = _candidates(_abare)
        for fn in asynchronous.values():
            asyncio.run(fn(MESSAGES))
        results["async"] = ratios(
            {name: _async_timer(fn) for name, fn in asynchronous.items()},
            _async_timer(_abare),
            rounds=rounds,
            number=number,
        )
        results["stream"] = _stream_hit(number // 4, rounds)
        results["scaling"] = _scaling(number, rounds)
    finally:
        llmwarm.shutdown()
        llmwarm.close()
    hit = results["sync"]["full stack hit"]["median"]
    ahit = results["async"]["full stack hit"]["median"]
    results["target"] = {
        "full stack hit (sync) <= x bare": TARGET_FULL_STACK_HIT,
        "full stack hit (async) <= x bare": TARGET_FULL_STACK_HIT_ASYNC,
        "met (sync)": hit <= TARGET_FULL_STACK_HIT,
        "met (async)": ahit <= TARGET_FULL_STACK_HIT_ASYNC,
    }
    return results


if __name__ == "__main__":
    import json

    started = time.perf_counter()
    print(json.dumps(run(quick=False), indent=2))
    print(f"{time.perf_counter() - started:.1f} s")
