"""A ping interrupted (cancelled, its loop ended, the process forked mid-ping or mid-call)
stops no later ping."""

from __future__ import annotations

import asyncio
import time

import pytest
from warmtools import BOUND, IMPORT_FAST_CLOCK, FakeClock, FastClock, run_script, wait_for

from llmwarm import warm

MODEL = "m"


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
    out = run_script(script)
    assert out.stdout.strip() == "0", out.stderr


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
    out = run_script(script)
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
