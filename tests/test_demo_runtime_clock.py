"""The demo's virtual time is llmwarm's runtime clock; the ``time`` module is left alone."""

from __future__ import annotations

import asyncio
import time

import pytest

from llmwarm._core import runtime as _runtime
from llmwarm.tools.demo import _virtual


def test_a_virtual_run_is_the_runtime_clock_and_patches_no_time_function() -> None:
    real = time.monotonic, time.time
    before = _runtime.runtime.clock
    seen: dict[str, object] = {}

    async def main(clock: _virtual.VirtualClock) -> None:
        seen["time module"] = (time.monotonic, time.time)
        seen["runtime clock"] = _runtime.runtime.clock
        start = _runtime.monotonic()
        await _runtime.asleep(3600)  # an hour of virtual time: the loop jumps to it
        seen["slept"] = _runtime.monotonic() - start
        seen["loop"] = asyncio.get_running_loop().time() == clock.monotonic()
        seen["wall"] = _runtime.wall_time() == clock.time()

    _virtual.run(main, limit=7200)
    assert seen["time module"] == real  # nothing else in the process sees virtual time
    assert isinstance(seen["runtime clock"], _virtual.VirtualClock)
    assert seen["slept"] == 3600
    assert seen["loop"] is True
    assert seen["wall"] is True
    assert _runtime.runtime.clock is before  # restored after the run


def test_a_virtual_run_waits_for_a_thread_that_wakes_it() -> None:
    # llmwarm.aclose() ends its threads on a thread of its own: a virtual run that awaits
    # such a thread, with no timer due meanwhile, must wait for it rather than fail.
    import threading

    async def main(clock: _virtual.VirtualClock) -> str:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()

        def later() -> None:
            time.sleep(0.2)
            loop.call_soon_threadsafe(done.set_result, "woken")

        threading.Thread(target=later).start()
        return await done

    assert _virtual.run(main) == "woken"


def test_a_virtual_run_that_nothing_can_wake_fails_within_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_virtual, "_THREAD_WAKE_BOUND", 0.1)

    async def main(clock: _virtual.VirtualClock) -> None:
        await asyncio.get_running_loop().create_future()  # never resolved

    with pytest.raises(RuntimeError, match="no timer is due"):
        _virtual.run(main)
