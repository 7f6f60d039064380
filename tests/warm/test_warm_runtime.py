"""@warm on the real clock, with small intervals: the shared thread, tasks, stop, loops."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from warmtools import IMPORT_FAST_CLOCK, FastClock, run_script

import llmwarm
from llmwarm import warm
from llmwarm._core import scheduler as _scheduler

MODEL = "m"


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def warm_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "llmwarm-warm"]


def test_sync_warmers_share_one_daemon_thread_that_stop_ends() -> None:
    pinged: list[str] = []

    @warm("a", interval=1, _clock=FastClock(20), ping=pinged.append)
    def one() -> str:
        return "a"

    @warm("b", interval=1, _clock=FastClock(20), ping=pinged.append)
    def two() -> str:
        return "b"

    one()
    two()
    assert wait_for(lambda: pinged.count("a") >= 2 and pinged.count("b") >= 2)
    threads = warm_threads()
    assert len(threads) == 1
    assert threads[0].daemon
    one.warmer.stop()
    two.warmer.stop()
    threads[0].join(5)
    assert not threads[0].is_alive()
    count = len(pinged)
    time.sleep(0.2)
    assert len(pinged) == count  # no ping after stop()


async def test_async_warmer_is_a_task_on_the_function_loop_and_aclose_ends_it() -> None:
    pinged: list[tuple[str, Any]] = []

    three = asyncio.Event()

    async def ping(model: str) -> None:
        pinged.append((model, asyncio.get_running_loop()))
        if len(pinged) >= 3:
            three.set()

    @warm(MODEL, interval=1, _clock=FastClock(20), ping=ping)
    async def complete() -> str:
        return "ok"

    await complete()
    await asyncio.wait_for(three.wait(), 10)
    assert {loop for _, loop in pinged} == {asyncio.get_running_loop()}
    runner = complete.warmer._runner
    assert runner is not None
    await complete.warmer.aclose()
    assert runner.task.done()
    count = len(pinged)
    await asyncio.sleep(0.2)
    assert len(pinged) == count
    assert warm_threads() == []  # an async warmer starts no thread


def test_an_async_warmer_ends_with_its_loop_and_restarts_on_the_next() -> None:
    loops: list[Any] = []

    async def ping(model: str) -> None:
        loops.append(asyncio.get_running_loop())

    @warm(MODEL, interval=1, _clock=FastClock(33), ping=ping)
    async def complete() -> str:
        return "ok"

    async def session() -> None:
        await complete()
        for _ in range(500):
            if len({id(loop) for loop in loops}) == len(seen) + 1:
                break
            await asyncio.sleep(0.01)
        seen.append(asyncio.get_running_loop())

    seen: list[Any] = []
    asyncio.run(session())  # the loop closes: the task is cancelled with it
    asyncio.run(session())  # a new loop: the next call starts a new task there
    assert len(loops) >= 2
    assert loops[0] is seen[0]
    assert loops[-1] is seen[1]
    complete.warmer.stop()


async def test_shutdown_stops_every_warmer() -> None:
    pinged: list[str] = []

    @warm("s", interval=1, _clock=FastClock(20), ping=pinged.append)
    def sync() -> str:
        return "ok"

    @warm("a", interval=1, _clock=FastClock(20), ping=pinged.append)
    async def asynchronous() -> str:
        return "ok"

    await asyncio.to_thread(sync)
    await asynchronous()
    await asyncio.sleep(0.15)
    llmwarm.shutdown()
    count = len(pinged)
    await asyncio.sleep(0.2)
    assert len(pinged) == count
    assert wait_for(lambda: warm_threads() == [])


def test_the_fastapi_lifespan_pattern_start_then_stop() -> None:
    pinged: list[str] = []

    @warm(MODEL, interval=30, ping=pinged.append)
    def complete() -> str:
        return "ok"

    complete.warmer.start()  # warms the model before the first request
    assert wait_for(lambda: pinged == [MODEL])
    # The ping's bookkeeping (it goes through the stack, counted and traced) ends a moment
    # after the adapter returned; until then the ping is in flight and nothing is due.
    assert wait_for(lambda: complete.warmer.next_ping_at(MODEL) is not None)
    next_at = complete.warmer.next_ping_at(MODEL)
    assert next_at is not None
    assert next_at > time.monotonic() + 20
    complete.warmer.stop()


def test_the_scheduler_thread_never_keeps_the_interpreter_alive() -> None:
    script = (
        IMPORT_FAST_CLOCK + "import time, llmwarm\n"
        "@llmwarm.warm('m', interval=1, _clock=FastClock(20), ping=lambda m: time.sleep(0.01))\n"
        "def f():\n    return 1\n"
        "f(); time.sleep(0.1); print('bye')\n"
    )
    started = time.monotonic()
    out = run_script(script, warnings=None)
    assert out.stdout.strip() == "bye"
    assert time.monotonic() - started < 60


def test_a_forked_child_gets_its_own_scheduler() -> None:
    parent = _scheduler.shared()
    script = (
        IMPORT_FAST_CLOCK + "import os, time, llmwarm\n"
        "from llmwarm._core import scheduler as _scheduler\n"
        "pinged = []\n"
        "@llmwarm.warm('m', interval=1, _clock=FastClock(33), ping=pinged.append)\n"
        "def f():\n    return 1\n"
        "f(); time.sleep(0.1)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    pinged.clear(); f(); time.sleep(0.2)\n"
        "    os._exit(0 if pinged and _scheduler.shared().pid == os.getpid() else 3)\n"
        "_, status = os.waitpid(pid, 0); print(os.waitstatus_to_exitcode(status))\n"
    )
    out = run_script(script)
    assert out.stdout.strip() == "0"
    assert parent.pid == _scheduler.shared().pid
