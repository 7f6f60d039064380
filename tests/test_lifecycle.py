"""One lifecycle: ``llmwarm.close()`` / ``aclose()`` end warmers, batches, pools, telemetry and
llmwarm's threads; each handle has the same ``close``/``aclose``.

Real components: the simulator over loopback HTTP, the real openai SDK, the real
OpenTelemetry SDK (in a child process, as ``setup()`` installs global providers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import llmwarm
from llmwarm import batched, cached, pooled, warm
from llmwarm._core import ScaledClock
from llmwarm._core.runtime import POOLS, TELEMETRY, WARMERS, Runtime
from llmwarm.sim import SimServer
from llmwarm.testing import FakeClock

MODEL = "gpt-4o-mini"
FAST = pytest.mark.sim(keep_alive=60, cold_start=1, time_scale=0.01)
HI = [{"role": "user", "content": "hi"}]


def llmwarm_threads() -> list[str]:
    """The library's threads (the simulator's ``llmwarm-sim`` thread is the test's own)."""
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("llmwarm-") and not t.name.startswith("llmwarm-sim")
    ]


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    yield
    llmwarm.close()


@FAST
def test_close_stops_warmers_closes_pools_and_ends_every_llmwarm_thread(
    sim_server: SimServer,
) -> None:
    @warm(MODEL, interval=1, _clock=ScaledClock(5))  # 1 s at 5x: 0.2 s real
    @pooled(openai.OpenAI, base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0)
    def complete(messages: Any, *, model: str = MODEL, max_tokens: int = 8, client: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens)

    pinged: list[str] = []

    async def async_ping(model: str) -> None:  # runs on llmwarm's ping loop thread
        pinged.append(model)

    @warm("other-model", interval=1, ping=async_ping, _clock=ScaledClock(5))
    def other(prompt: str, *, model: str = "other-model") -> str:
        return prompt

    complete(HI)
    client = complete.pool.http_client()
    complete.warmer.start()
    other.warmer.start()
    wait_for(lambda: complete.warmer.pings_sent >= 1 and pinged)
    assert {"llmwarm-warm", "llmwarm-ping-loop"} <= set(llmwarm_threads())

    llmwarm.close()

    assert llmwarm_threads() == []
    assert client.is_closed
    assert complete.warmer.next_ping_at(MODEL) is None  # stopped
    sent = complete.warmer.pings_sent
    time.sleep(0.5)  # more than two intervals: a live warmer would have pinged again
    assert complete.warmer.pings_sent == sent
    assert llmwarm_threads() == []
    complete(HI)  # calls go on afterwards, on a new pool
    assert complete.pool.http_client() is not client


@FAST
async def test_aclose_drains_batches_closes_the_loops_pools_and_leaves_no_task(
    sim_server: SimServer,
) -> None:
    @warm(MODEL, interval=1, _clock=ScaledClock(5))  # 1 s at 5x: 0.2 s real
    @pooled(
        openai.AsyncOpenAI, base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0
    )
    async def complete(
        messages: Any, *, model: str = MODEL, max_tokens: int = 8, client: Any
    ) -> Any:
        return await client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens
        )

    @batched(max_size=100, max_wait=600.0)  # without a drain, the batch would wait 10 min
    async def lengths(texts: list[str]) -> list[int]:
        return [len(t) for t in texts]

    await complete(HI)
    client = complete.pool.http_client()
    complete.warmer.start()
    for _ in range(2000):
        if complete.warmer.pings_sent:
            break
        await asyncio.sleep(0.01)
    assert complete.warmer.pings_sent >= 1
    waiting = [asyncio.create_task(lengths(t)) for t in ("a", "bb")]
    await asyncio.sleep(0)  # the items join their batch
    assert not any(task.done() for task in waiting)

    await llmwarm.aclose()

    assert all(task.done() for task in waiting)  # answered by the drain, not the timer
    assert [task.result() for task in waiting] == [1, 2]
    assert lengths.batcher.stats.batches == 1
    assert client.is_closed
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert llmwarm_threads() == []


def test_each_handle_closes_alike(tmp_path: Any, fake_clock: FakeClock) -> None:
    @cached(backend=f"sqlite:///{tmp_path / 'cache.db'}", fingerprint_key="k")
    def ask(question: str) -> str:
        return question.upper()

    @pooled()
    def fetch(*, http_client: Any) -> Any:
        return http_client

    assert ask("a") == "A"
    backend: Any = ask.cache.backend
    assert backend._connection is not None
    ask.cache.close()
    assert backend._connection is None
    assert ask("a") == "A"  # reopened on use: a hit
    assert ask.cache.stats.cache_hits == 1

    client = fetch.pool.http_client()
    fetch.pool.close()
    assert client.is_closed
    assert fetch() is not client

    async def run() -> None:
        await ask.cache.aclose()
        assert backend._connection is None

        @batched(max_wait=600.0)
        async def double(items: list[int]) -> list[int]:
            return [2 * i for i in items]

        task = asyncio.create_task(double(21))
        await asyncio.sleep(0)
        await double.batcher.aclose()
        assert task.done()
        assert task.result() == 42

        @pooled()
        async def afetch(*, http_client: Any) -> Any:
            return http_client

        aclient = await afetch()
        await afetch.pool.aclose()
        assert aclient.is_closed

    asyncio.run(run())

    @warm(MODEL, interval=60, ping=lambda model: None)
    def idle(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    # On the fake clock no thread can ping between start() and the look (a ping in flight
    # has no due time): the first ping is due now, and nothing runs it until time moves.
    idle.warmer.start()
    assert idle.warmer.next_ping_at(MODEL) == fake_clock.now
    idle.warmer.close()
    assert idle.warmer.next_ping_at(MODEL) is None
    fake_clock.advance(600)
    assert idle.warmer.pings_sent == 0  # closed before its due time came


def test_shutdown_is_close_kept_for_compatibility() -> None:
    @pooled()
    def fetch(*, http_client: Any) -> Any:
        return http_client

    @warm(MODEL, interval=60, ping=lambda model: None)
    def idle(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    client = fetch()
    idle.warmer.start()
    llmwarm.shutdown()  # it stopped warmers only: now it closes pools too
    assert idle.warmer.next_ping_at(MODEL) is None
    assert client.is_closed


def test_a_part_that_fails_to_close_is_logged_and_the_rest_still_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rt = Runtime()  # the process's runtime has live parts; a fresh one holds only these
    closed: list[str] = []

    def broken(_: object) -> None:
        raise RuntimeError("exporter down")

    rt.part("pools", object, stage=POOLS, close=lambda _: closed.append("pools"))
    rt.part("warmers", object, stage=WARMERS, close=broken)
    rt.part("telemetry", object, stage=TELEMETRY, close=lambda _: closed.append("telemetry"))
    rt.part("pools", object, stage=POOLS, close=lambda _: closed.append("again"))  # kept once
    with caplog.at_level(logging.ERROR, logger="llmwarm"):
        rt.close()
        asyncio.run(rt.aclose())
    assert closed == ["pools", "telemetry", "pools", "telemetry"]
    assert caplog.text.count("closing warmers failed") == 2


CHILD = """
import asyncio, os, llmwarm, llmwarm.telemetry
llmwarm.telemetry.setup("lifecycle-test", exporter="console")

@llmwarm.traced
def chat(prompt, *, model="gpt-4o-mini"):
    return {"id": "r-1", "model": model, "choices": [{"finish_reason": "stop"}]}

chat("hello")
__CLOSE__
print("CLOSED", flush=True)
os._exit(0)  # no exit hooks: only close() can have flushed the span
"""


@pytest.mark.parametrize("close", ["llmwarm.close()", "asyncio.run(llmwarm.aclose())"])
def test_close_flushes_the_telemetry_setup_installed(close: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD.replace("__CLOSE__", close)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    out = done.stdout
    assert '"name": "chat gpt-4o-mini"' in out
    assert out.index('"name": "chat gpt-4o-mini"') < out.index("CLOSED")


def test_a_call_after_close_starts_its_warmer_afresh_and_stop_still_holds() -> None:
    # close() stopped warmers for good, unlike pools: calls after it were never kept warm.
    @warm(MODEL, interval=60, ping=lambda model: None)
    def idle(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    idle("a")
    assert idle.warmer.next_ping_at(MODEL) is not None
    assert "llmwarm-warm" in llmwarm_threads()
    llmwarm.close()
    assert idle.warmer.next_ping_at(MODEL) is None  # no ping until the next call
    assert llmwarm_threads() == []
    idle("b")
    assert idle.warmer.next_ping_at(MODEL) is not None  # warming again, on a new thread
    assert "llmwarm-warm" in llmwarm_threads()
    llmwarm.close()
    assert llmwarm_threads() == []  # the second close ends the new thread too
    idle.warmer.stop()  # the handle's stop is still "until start()"
    idle("c")
    assert idle.warmer.next_ping_at(MODEL) is None
    assert llmwarm_threads() == []
    idle.warmer.start()
    assert idle.warmer.next_ping_at(MODEL) is not None


HOOKS = """
import asyncio, atexit, json, os
counts = {"fork": 0, "exit": 0}
real_fork, real_exit = os.register_at_fork, atexit.register
def ours(fn):  # the standard library registers hooks of its own (random, threading)
    return (getattr(fn, "__module__", None) or "").startswith("llmwarm")
def fork_hook(**kw):
    counts["fork"] += sum(1 for fn in kw.values() if ours(fn))
    real_fork(**kw)
def exit_hook(fn, *a, **k):
    counts["exit"] += ours(fn)
    return real_exit(fn, *a, **k)
os.register_at_fork, atexit.register = fork_hook, exit_hook

import llmwarm
from llmwarm import batched, cached, pooled, routed, warm
from llmwarm._core import cooldowns
from llmwarm.route import Tier
after_import = dict(counts)

@warm("m", interval=60, ping=lambda model: None)
@cached(ttl=60)
@pooled()
def ask(prompt, *, model="m", http_client):
    return prompt

@routed([Tier("s", "s")], classify=lambda args: 0)
def route(prompt, *, model="x"):
    return model

@batched(max_wait=0.01)
async def double(items):
    return [2 * i for i in items]

ask("a"); ask("a"); route("a"); cooldowns.cool("s", 1)
asyncio.run(double(1))
llmwarm.close()
print(json.dumps({"import": after_import, "used": counts}))
"""


def test_one_fork_hook_and_one_exit_hook_however_many_parts_are_used() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOOKS], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["import"] == {"fork": 0, "exit": 0}  # import llmwarm registers nothing
    assert report["used"] == {"fork": 1, "exit": 1}
