"""``llmwarm.aclose()`` ends threads and flushes telemetry off the loop and off its executor.

``asyncio.run`` waits for the loop's default executor at shutdown, and an application may
have sized or replaced it: llmwarm never puts its work there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any

import llmwarm
from llmwarm import warm
from llmwarm.testing import reset
from llmwarm.trace import telemetry


class _RefusingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A default executor that records and refuses every job."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.asked: list[Any] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(fn)
        raise RuntimeError("the loop's default executor was used")


class _Flushed:
    """A telemetry handle stand-in: records the thread each flush ran on."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def force_flush(self) -> bool:
        self.threads.append(threading.current_thread())
        return True


def test_aclose_keeps_off_the_loops_default_executor() -> None:
    reset()

    @warm("m", interval=60, ping=lambda model: None)
    def complete(prompt: str, *, model: str = "m") -> str:
        return prompt

    complete("hi")  # a sync warmer: llmwarm's threads run
    flushed = _Flushed()
    handles = telemetry._set_up()
    handles.append(flushed)  # type: ignore[arg-type]
    executor = _RefusingExecutor()

    async def main() -> threading.Thread:
        asyncio.get_running_loop().set_default_executor(executor)
        await llmwarm.aclose()
        return threading.current_thread()

    try:
        loop_thread = asyncio.run(main())
    finally:
        handles.remove(flushed)  # type: ignore[arg-type]
        executor.shutdown()
        reset()
    assert executor.asked == []
    assert len(flushed.threads) == 1
    assert flushed.threads[0] is not loop_thread  # the flush's network I/O is off the loop
