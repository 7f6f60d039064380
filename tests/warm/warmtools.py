"""Helpers of the @warm tests: a fake clock and drivers that step a manual warmer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from llmwarm._core import ScaledClock


class FakeClock:
    """A clock that moves only when told; warmers on it start no thread or task."""

    manual = True

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall + (self.now - 1000.0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_until(warmer: Any, clock: FakeClock, end: float) -> int:
    """Run a manual warmer's due work until ``clock.now == end``; return the rounds run."""
    for rounds in range(100_000):
        delay = warmer.delay()
        if delay is None or clock.now + max(delay, 0) > end:
            clock.now = end
            return rounds
        clock.advance(max(delay, 0))
        warmer.run_due()
    raise AssertionError("the warmer never went idle")


async def arun_until(warmer: Any, clock: FakeClock, end: float) -> int:
    """Async twin of :func:`run_until`."""
    for rounds in range(100_000):
        delay = warmer.delay()
        if delay is None or clock.now + max(delay, 0) > end:
            clock.now = end
            return rounds
        clock.advance(max(delay, 0))
        await warmer.arun_due()
    raise AssertionError("the warmer never went idle")


class FastClock(ScaledClock):
    """The real clock run ``speed`` times faster; warmers on it start their real thread/task.

    For tests of the runtime (threads, tasks, loops, Redis) that need real time to pass but
    not the real minimum interval's worth of it: ``interval=1`` at ``speed=20`` is 50 ms.
    """

    def __init__(self, speed: float = 20.0) -> None:
        super().__init__(speed)


#: The first line of a test's subprocess script that uses :class:`FastClock` too.
IMPORT_FAST_CLOCK = (
    f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
    "from warmtools import FastClock\n"
)


#: The longest any wait of a real-clock test may take (a bound, never a measurement).
BOUND = 20.0


def wait_for(condition: Any, what: str) -> None:
    """Poll ``condition`` until it is true; fail after :data:`BOUND` seconds."""
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def run_script(
    script: str, *args: str, warnings: str | None = "ignore", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a new interpreter (``python -c script args...``); fail if it fails.

    ``warnings`` is its ``-W`` filter (None: the default filters). Output is captured as text.
    """
    options = ["-W", warnings] if warnings is not None else []
    return subprocess.run(
        [sys.executable, *options, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
