"""Where pings run: a blocking ping never holds asyncio.run's exit nor another warmer, and
async pings run on the caller's loop, or on one persistent loop for a sync warmer."""

from __future__ import annotations

import asyncio
import threading

from warmtools import BOUND, FakeClock, FastClock, run_until, wait_for

from llmwarm import warm

MODEL = "m"


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
