"""Regressions of @warm found in review: interrupted pings, warm_up storms, where pings run."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import redis
from warmtools import IMPORT_FAST_CLOCK, FakeClock, FastClock, run_until

from llmwarm import warm
from llmwarm._core import current_record
from llmwarm.warm._fleet import Fleet

MODEL = "m"
BOUND = 20.0  # the longest any wait below may take (a bound, never a measurement)


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- 1. an interrupted ping does not stop later pings


async def test_a_ping_cancelled_mid_flight_leaves_the_model_schedulable(clock: FakeClock) -> None:
    started, pinged = asyncio.Event(), []

    async def hung_ping(model: str) -> None:
        pinged.append(model)
        started.set()
        await asyncio.Event().wait()  # never answers

    @warm(MODEL, interval=60, ping=hung_ping, _clock=clock)
    async def complete(*, model: str = MODEL) -> str:
        return "ok"

    await complete()
    clock.advance(61)
    task = asyncio.ensure_future(complete.warmer.arun_due())
    await asyncio.wait_for(started.wait(), BOUND)
    assert complete.warmer.next_ping_at(MODEL) is None  # in flight
    task.cancel()  # what the loop's end, stop() or aclose() do to it
    await asyncio.gather(task, return_exceptions=True)
    assert not complete.warmer._state[MODEL].pinging
    assert complete.warmer.next_ping_at(MODEL) is not None
    started.clear()
    task = asyncio.ensure_future(complete.warmer.arun_due())
    await asyncio.wait_for(started.wait(), BOUND)
    assert pinged == [MODEL, MODEL]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_a_loop_that_ends_mid_ping_does_not_stop_pings_on_the_next_loop() -> None:
    pinged: list[float] = []

    async def slow_ping(model: str) -> None:
        pinged.append(time.monotonic())
        await asyncio.sleep(BOUND)

    @warm(MODEL, interval=1, _clock=FastClock(20), ping=slow_ping)
    async def complete(*, model: str = MODEL) -> str:
        return "ok"

    async def session(pings: int) -> None:
        await complete()
        await asyncio.to_thread(wait_for, lambda: len(pinged) >= pings, "a ping")

    asyncio.run(session(1))  # the loop ends while the first ping is in flight
    assert len(pinged) == 1
    assert not complete.warmer._state[MODEL].pinging
    asyncio.run(session(2))
    assert len(pinged) == 2


def test_a_child_forked_mid_ping_keeps_pinging() -> None:
    script = (
        IMPORT_FAST_CLOCK + "import os, threading, time, llmwarm\n"
        "inside = threading.Event()\n"
        "def ping(model):\n    inside.set(); time.sleep(0.3)\n"
        "@llmwarm.warm('m', interval=1, _clock=FastClock(20), ping=ping)\n"
        "def f(*, model='m'):\n    return 1\n"
        "f(); inside.wait(20)\n"
        "pid = os.fork()\n"  # the parent's worker is inside a ping now
        "if pid == 0:\n"
        "    inside.clear(); f(); ok = inside.wait(20)\n"
        "    os._exit(0 if ok and f.warmer.pings_sent >= 1 else 3)\n"
        "_, status = os.waitpid(pid, 0); llmwarm.shutdown()\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "0", out.stderr


# --- 2. warm_up never bypasses backoff, nor asks more than once per interval


def test_warm_up_on_every_call_of_a_failing_model_sends_one_ping(clock: FakeClock) -> None:
    def failing_ping(model: str) -> None:
        raise ConnectionError("503 from " + model)

    @warm(["small", "big"], interval=100, ping=failing_ping, _clock=clock)
    def ask(*, model: str) -> str:
        return model

    for _ in range(25):  # a router asking on every call
        ask.warmer.warm_up("big")
        ask.warmer.run_due()
        clock.advance(0.02)
    assert ask.warmer.pings_sent == 1
    assert ask.warmer.ping_failures == 1
    retry = ask.warmer.next_ping_at("big")
    assert retry is not None
    assert retry > clock.now


def test_warm_up_asks_at_most_once_per_interval(clock: FakeClock) -> None:
    @warm(MODEL, interval=100, ping=lambda m: None, _clock=clock)
    def ask(*, model: str = MODEL) -> str:
        return model

    for _ in range(30):
        ask.warmer.warm_up("other")
        ask.warmer.run_due()
        clock.advance(2)  # 60 s in all
    assert ask.warmer.pings_sent == 1
    clock.advance(100)
    ask.warmer.warm_up("other")
    ask.warmer.run_due()
    assert ask.warmer.pings_sent == 2


# --- 3. a blocking ping of an async warmer does not hold asyncio.run's exit


def test_asyncio_run_does_not_wait_for_a_blocking_ping() -> None:
    inside, release, finished = threading.Event(), threading.Event(), threading.Event()

    def blocking_ping(model: str) -> None:
        inside.set()
        release.wait(BOUND)
        finished.set()

    @warm(MODEL, interval=1, _clock=FastClock(20), ping=blocking_ping)
    async def complete(*, model: str = MODEL) -> str:
        return "ok"

    async def main() -> None:
        await complete()
        await asyncio.to_thread(inside.wait, BOUND)

    try:
        asyncio.run(main())
        assert inside.is_set()
        assert not finished.is_set()  # asyncio.run returned with the ping still blocked
    finally:
        release.set()
    wait_for(finished.is_set, "the abandoned ping to end")


# --- 4. a hung sync ping holds back no other warmer


def test_a_hung_sync_ping_does_not_block_other_warmers() -> None:
    release, other = threading.Event(), []

    @warm("hung-model", interval=1, _clock=FastClock(20), ping=lambda m: release.wait(BOUND))
    def a(*, model: str = "hung-model") -> str:
        return "ok"

    @warm("other-model", interval=1, _clock=FastClock(20), ping=other.append)
    def b(*, model: str = "other-model") -> str:
        return "ok"

    try:
        a()
        wait_for(lambda: a.warmer.pings_sent == 1, "the hung ping")
        b()
        wait_for(lambda: len(other) >= 3, "other-model's pings")
        assert a.warmer.pings_sent == 1  # never sent twice while in flight
    finally:
        release.set()
        a.warmer.stop()
        b.warmer.stop()


# --- 5. async pings run on the right loop


async def test_an_undetected_async_ping_is_awaited_on_the_callers_loop(clock: FakeClock) -> None:
    seen: list[tuple[asyncio.AbstractEventLoop, str]] = []

    async def do_ping(model: str) -> None:
        seen.append((asyncio.get_running_loop(), threading.current_thread().name))

    @warm(MODEL, interval=60, ping=lambda m: do_ping(m), _clock=clock)
    async def complete(*, model: str = MODEL) -> str:
        return "ok"

    await complete()
    clock.advance(61)
    await complete.warmer.arun_due()
    clock.advance(61)
    await complete.warmer.arun_due()
    me = asyncio.get_running_loop()
    assert [loop is me for loop, _ in seen] == [True, True]
    assert complete.warmer.ping_failures == 0


def test_async_pings_of_a_sync_warmer_share_one_persistent_loop(clock: FakeClock) -> None:
    loops: list[asyncio.AbstractEventLoop] = []
    bound: list[asyncio.AbstractEventLoop] = []

    async def aping(model: str) -> None:  # a client bound to the loop it was first used on
        loop = asyncio.get_running_loop()
        if not bound:
            bound.append(loop)
        if loop is not bound[0]:
            raise RuntimeError("Event loop is closed")
        loops.append(loop)

    @warm(MODEL, interval=60, ping=aping, _clock=clock)
    def complete(*, model: str = MODEL) -> str:
        return "ok"

    complete()
    run_until(complete.warmer, clock, clock.now + 200)
    assert complete.warmer.pings_sent == 3
    assert complete.warmer.ping_failures == 0
    assert len(loops) == 3
    assert all(loop is loops[0] for loop in loops)
    assert not loops[0].is_closed()


# --- 6. fleet: a failed ping gives its lease back


def test_a_fleet_retries_a_failed_ping_on_backoff(redis_server: Any, clock: FakeClock) -> None:
    calls: list[float] = []

    def ping(model: str) -> None:
        calls.append(clock.now)
        raise ConnectionError("transient 503")

    @warm(MODEL, interval=100, ping=ping, backend=redis_server.url, _clock=clock)
    def complete(*, model: str = MODEL) -> str:
        return "ok"

    complete()
    run_until(complete.warmer, clock, clock.now + 300)
    state = complete.warmer._state[MODEL]
    assert len(calls) >= 3  # not one per lease (100 s): retried on backoff
    assert state.failures == len(calls) == complete.warmer.ping_failures
    complete.warmer.stop()


def test_the_lease_holder_may_take_it_again_and_gives_it_back(redis_server: Any) -> None:
    mine, theirs = Fleet(redis_server.url), Fleet(redis_server.url)
    try:
        assert mine.acquire(MODEL, 60)
        assert mine.acquire(MODEL, 60)  # ours already
        assert not theirs.acquire(MODEL, 60)
        theirs.release(MODEL)  # not theirs to give back
        assert not theirs.acquire(MODEL, 60)
        mine.release(MODEL)
        assert theirs.acquire(MODEL, 60)
        client = redis.Redis.from_url(redis_server.url)
        assert client.get(mine.key(MODEL, "lease")) == theirs.identity.encode()
        client.close()
    finally:
        mine.close()
        theirs.close()


# --- 9. only successful calls are activity; a call in flight means idle 0


def test_a_failed_ping_or_call_is_not_activity(clock: FakeClock) -> None:
    down = [False]

    @warm(MODEL, interval=100, keep_alive=150, _clock=clock)
    def complete(*, model: str = MODEL, messages: Any = None, max_tokens: Any = None) -> str:
        if down[0]:
            raise ConnectionError("provider down")
        return "ok"

    complete()
    down[0] = True
    clock.advance(400)  # cold now
    complete.warmer.run_due()  # the default ping goes through the stack and fails
    assert complete.warmer.ping_failures == 1
    assert not complete.warmer.is_warm(MODEL)
    with contextlib.suppress(ConnectionError):
        complete()
    assert not complete.warmer.is_warm(MODEL)


def test_idle_is_zero_while_another_call_is_in_flight(clock: FakeClock) -> None:
    idles: list[Any] = []
    inside, release = threading.Event(), threading.Event()

    @warm(MODEL, interval=100, ping=lambda m: None, _clock=clock)
    def complete(*, model: str = MODEL, hold: bool = False) -> str:
        record = current_record()
        idles.append(record.idle_s if record else "no record")
        if hold:
            inside.set()
            release.wait(BOUND)
        return "ok"

    complete()
    clock.advance(50)
    long_call = threading.Thread(target=complete, kwargs={"hold": True})
    long_call.start()
    try:
        assert inside.wait(BOUND)
        clock.advance(30)  # the long call is still in flight
        complete()
    finally:
        release.set()
        long_call.join(BOUND)
    assert idles == [None, 50.0, 0.0]


def test_a_child_forked_while_another_thread_is_in_a_call_keeps_pinging() -> None:
    script = (
        IMPORT_FAST_CLOCK + "import os, threading, time, llmwarm\n"
        "pinged = threading.Event(); inside = threading.Event(); release = threading.Event()\n"
        "def ping(model):\n    pinged.set()\n"
        "@llmwarm.warm('m', interval=1, _clock=FastClock(20), ping=ping)\n"
        "def f(*, model='m', block=False):\n"
        "    if block:\n        inside.set(); release.wait(20)\n"
        "    return 1\n"
        "t = threading.Thread(target=f, kwargs={'block': True}); t.start(); inside.wait(20)\n"
        "pid = os.fork()\n"  # another thread of the parent is inside a call now
        "if pid == 0:\n"
        "    pinged.clear(); f(); ok = pinged.wait(20)\n"
        "    os._exit(0 if ok else 3)\n"
        "_, status = os.waitpid(pid, 0); release.set(); t.join(); llmwarm.shutdown()\n"
        "print(os.waitstatus_to_exitcode(status))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "0", out.stderr


async def test_the_runner_ends_when_cancelled_as_its_event_is_set() -> None:
    # At loop shutdown every task is cancelled at once and the runner's pings set its
    # event as they end; asyncio.wait_for (Python <= 3.11) then swallowed the cancellation
    # and the runner, looping forever, hung the loop's close.
    from llmwarm._core.scheduler import _wait_for_event

    for _ in range(50):
        event = asyncio.Event()
        waiter = asyncio.ensure_future(_wait_for_event(event, 60))
        await asyncio.sleep(0)  # the waiter is waiting now
        waiter.cancel()
        event.set()  # in the same loop step as the cancellation
        with pytest.raises(asyncio.CancelledError):
            await waiter
