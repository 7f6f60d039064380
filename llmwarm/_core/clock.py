"""The clocks every policy reads time and waits on: the system's, a scaled one, a fake one.

The runtime (:mod:`llmwarm._core.runtime`) holds one clock, the system clock unless a test
installs another; every policy reads time and sleeps through it (warmers' schedules, cache
TTLs, cool-downs, backoff, breakers). :class:`FakeClock` is the test clock of
:mod:`llmwarm.testing`: it moves only when told, runs due timers and warmers in order as it
moves, and its sleeps move it instead of waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from llmwarm._core.jobs import Job

__all__ = ["Clock", "FakeClock", "ScaledClock", "SystemClock", "TimerHandle"]


class Clock(Protocol):
    """Time as llmwarm sees it; tests install a fake one (see :mod:`llmwarm.testing`)."""

    @property
    def manual(self) -> bool:
        """True for a test clock: no thread or task is started, the test moves time itself.

        A clock may also have a ``speed`` (clock seconds per real second, 1 when absent):
        a test clock that runs faster than real time, with the real thread or task driving it;
        and ``sleep``/``asleep`` (real waits scaled to it when absent).
        """
        ...

    def monotonic(self) -> float:
        """Return seconds on a monotonic scale (scheduling)."""
        ...

    def time(self) -> float:
        """Return wall-clock seconds since the epoch (shared with other hosts)."""
        ...


class SystemClock:
    """The real clocks: ``time.monotonic``, ``time.time``, ``time.sleep``, ``asyncio.sleep``."""

    manual = False

    # Each reads ``time.<name>`` when called, not at import: a harness that replaces
    # ``time.monotonic`` for a run (time-machine, freezegun) is obeyed.
    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def time(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Wait with ``time.sleep``."""
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Wait with ``asyncio.sleep`` on the running loop."""
        await asyncio.sleep(seconds)


class ScaledClock:
    """The real clocks run ``speed`` times faster, from now: simulated time, really driven.

    For a warmer over a time-scaled simulator (the demo, benchmarks, tests of threads and
    loops): its options stay in simulated seconds (``interval=240``), its thread or task
    waits real seconds (``delay / speed``), and fleet leases last real seconds too. Every
    warmer given the same instance agrees on the time; processes of one fleet agree on the
    wall clock when given the same ``origin`` (epoch seconds at which simulated time is
    real time; default: now). Installed as the runtime clock, every policy runs faster.
    """

    manual = False

    def __init__(self, speed: float, *, origin: float | None = None) -> None:
        if not (isinstance(speed, (int, float)) and speed > 0):
            raise ValueError(f"speed must be a number > 0; got {speed!r}.")
        self.speed = float(speed)
        self._wall = time.time() if origin is None else origin
        self._mono = time.monotonic() - (time.time() - self._wall)

    def monotonic(self) -> float:
        """Return simulated seconds on a monotonic scale."""
        return self._mono + (time.monotonic() - self._mono) * self.speed

    def time(self) -> float:
        """Return simulated wall-clock seconds since the epoch."""
        return self._wall + (time.time() - self._wall) * self.speed

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time (``seconds / speed`` real ones)."""
        time.sleep(max(0.0, seconds) / self.speed)

    async def asleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time on the running loop."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class TimerHandle:
    """A callback :meth:`FakeClock.call_later` will run; :meth:`cancel` forgets it."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], Any]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


#: The most due things one advance() runs before it takes the work for never-ending.
_MAX_STEPS = 100_000


class FakeClock:
    """A clock that moves only when told: no real time passes, no thread or task starts.

    :meth:`advance` moves it forward and, on the way, runs in time order the timers due
    (:meth:`call_later`) and the due work of every warmer on it, each at its due time.
    :meth:`sleep` and :meth:`asleep` (a cool-down wait, a ping's backoff) advance the clock
    by the time asked instead of waiting, and record it in :attr:`slept`. ``now`` is the
    monotonic time (settable); :meth:`time` is ``wall`` seconds ahead of it. (One thread
    does start: an async ``ping=`` of a sync function runs on llmwarm's ping loop, which
    keeps a client bound to a loop on the same loop from one ping to the next.)

    .. versionadded:: 0.2.0
    """

    manual = True

    def __init__(self, start: float = 1000.0, *, wall: float = 1_700_000_000.0) -> None:
        self.now = float(start)
        self._offset = wall - self.now
        #: Every wait asked of the clock, in seconds, in order.
        self.slept: list[float] = []
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._order = itertools.count()
        self._jobs: weakref.WeakSet[Job] = weakref.WeakSet()
        self._lock = threading.RLock()
        self._advancing = threading.local()

    def monotonic(self) -> float:
        """Return the fake monotonic time, :attr:`now`."""
        return self.now

    def time(self) -> float:
        """Return the fake wall-clock time."""
        return self.now + self._offset

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` at once (recorded in :attr:`slept`), running what is due."""
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        """Advance by ``seconds`` (recorded), then let the loop's other tasks run once."""
        self.slept.append(seconds)
        await self.aadvance(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], Any]) -> TimerHandle:
        """Run ``callback`` when the clock reaches ``now + delay`` (in :meth:`advance`)."""
        handle = TimerHandle(self.now + max(0.0, delay), callback)
        with self._lock:
            heapq.heappush(self._timers, (handle.when, next(self._order), handle))
        return handle

    def watch(self, job: Job) -> None:
        """Drive ``job`` (a warmer on this clock) from :meth:`advance`: its due work runs there."""
        with self._lock:
            self._jobs.add(job)

    def advance(self, seconds: float) -> None:
        """Move ``seconds`` forward, running due timers and warmers' work in time order.

        An async warmer's work runs on a loop of its own when no loop runs in this
        thread; from a coroutine, use :meth:`aadvance`.
        """
        target = self._target(seconds, "advance")
        if getattr(self._advancing, "on", False):  # a sleep inside due work: time only
            self.now = max(self.now, target)
            return
        self._advancing.on = True
        try:
            for run in self._due_until(target, "advance"):
                run(False)
        finally:
            self._advancing.on = False

    async def aadvance(self, seconds: float) -> None:
        """:meth:`advance` from a coroutine: async warmers' work runs on the running loop."""
        target = self._target(seconds, "aadvance")
        if getattr(self._advancing, "on", False):
            self.now = max(self.now, target)
            await asyncio.sleep(0)
            return
        self._advancing.on = True
        try:
            for run in self._due_until(target, "aadvance"):
                result = run(True)
                if result is not None:
                    await result
        finally:
            self._advancing.on = False
        await asyncio.sleep(0)

    def _target(self, seconds: float, verb: str) -> float:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back; got {verb}({seconds!r}).")
        return self.now + seconds

    def _due_until(self, target: float, verb: str) -> Iterator[Callable[[bool], Any]]:
        """Yield what falls due up to ``target`` in time order, moving the clock to each.

        The one loop of :meth:`advance` and :meth:`aadvance`: they differ only in how they
        run what is yielded (``run(False)`` here, ``run(True)`` awaited on the loop).
        """
        for _ in range(_MAX_STEPS):
            due = self._next(target)
            if due is None:
                self.now = max(self.now, target)
                return
            when, run = due
            self.now = max(self.now, when)
            yield run
        raise RuntimeError(f"llmwarm: FakeClock.{verb} ran {_MAX_STEPS} steps; work never ends")

    def _next(self, target: float) -> tuple[float, Callable[[bool], Any]] | None:
        """Return the earliest thing due by ``target`` and how to run it, or None.

        Timers first on a tie: a timer set for a time runs before work found due then.
        """
        with self._lock:
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            timer_at = self._timers[0][0] if self._timers else math.inf
            jobs = list(self._jobs)
        best: tuple[float, Callable[[bool], Any]] | None = None
        for job in jobs:
            delay = job.delay()
            if delay is None:
                continue
            when = self.now + max(0.0, delay)
            if when <= target and (best is None or when < best[0]):
                best = (when, _job_runner(job))
        if timer_at <= target and (best is None or timer_at <= best[0]):
            with self._lock:
                when, _, handle = heapq.heappop(self._timers)
            return when, _timer_runner(handle)
        return best


def _timer_runner(handle: TimerHandle) -> Callable[[bool], Any]:
    def run(in_loop: bool) -> None:
        handle.callback()  # what it returns is not awaited: a timer's callback is plain

    return run


def _job_runner(job: Job) -> Callable[[bool], Any]:
    def run(in_loop: bool) -> Any:
        if job.is_async:
            if in_loop:
                return job.arun_due()
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(job.arun_due())
                return None
            raise RuntimeError(
                "llmwarm: an async warmer's work is due; from a coroutine, use "
                "`await clock.aadvance(seconds)`."
            )
        job.run_due()
        return None

    return run
