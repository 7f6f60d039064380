"""Virtual time: run a coroutine on an event loop whose clock jumps instead of waiting.

The demo replays hours of traffic through real clients, the real llmwarm stack and the
real simulator app (over httpx's in-process ASGI transport: no socket). On a real clock,
figures swung with machine load, since a millisecond of CPU delay on a compressed clock
reads as a simulated second. Here, when every task is waiting, the loop's clock jumps to
the next timer: CPU time costs no simulated time, so the same seed gives the same cold
starts, pings and latencies on any machine, and a simulated day takes a few seconds.

While :func:`run` runs, the virtual clock is llmwarm's runtime clock
(:func:`llmwarm.testing.set_clock`), so every policy that reads or waits on time (the
warmer, cache expiry, cool-downs, statistics) agrees with the loop; the simulator is handed
the clock itself. The ``time`` module is left alone. Work sent to a thread
(``asyncio.to_thread``: the OpenAI SDK reads the platform once per client that way) runs
inline instead, so that no real-time wait can race the jumping clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Executor
from typing import Any, TypeVar

__all__ = ["VirtualClock", "run"]

T = TypeVar("T")


#: Where virtual time starts: fixed, not read from the real clocks, so that the float
#: arithmetic (an idle gap compared with a keep-alive) is the same in every run.
ORIGIN = 1_000_000.0
EPOCH = 1_767_571_200.0  # Monday 2026-01-05 00:00 UTC


class VirtualClock:
    """Seconds that pass only when :meth:`advance` says so.

    Installed as llmwarm's runtime clock: not a test clock (``manual`` is False), since the
    loop's own timers run the warmer's task; its waits are the loop's (``asyncio.sleep``),
    which jumps the clock forward.
    """

    manual = False

    def __init__(self) -> None:
        self._origin = ORIGIN
        self._epoch = EPOCH
        self.elapsed = 0.0

    def monotonic(self) -> float:
        """Return virtual monotonic seconds."""
        return self._origin + self.elapsed

    def time(self) -> float:
        """Return virtual seconds since the epoch."""
        return self._epoch + self.elapsed

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.elapsed += max(0.0, seconds)


#: Real seconds the loop waits for another thread to wake it when no timer is due.
_THREAD_WAKE_BOUND = 30.0


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without blocking; where the loop would wait ``timeout``, advances the clock."""

    def __init__(self, clock: VirtualClock, limit: float | None) -> None:
        super().__init__()
        self._clock = clock
        self._limit = limit

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # Nothing scheduled and nothing to read: only another thread can wake the loop
            # (llmwarm.aclose() ends its threads on a thread of its own, which then wakes
            # it). Wait for that in real time, within a bound: past it, nothing will.
            ready = super().select(_THREAD_WAKE_BOUND)
            if ready:
                return ready
            raise RuntimeError("virtual time: every task waits and no timer is due")
        self._clock.advance(timeout)
        if self._limit is not None and self._clock.elapsed > self._limit:
            # A task that never ends would otherwise spin through virtual years.
            raise RuntimeError(f"virtual time: still running after {self._limit:g} s")
        return []


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock, limit: float | None) -> None:
        super().__init__(_JumpingSelector(clock, limit))
        self._virtual = clock

    def time(self) -> float:
        return self._virtual.monotonic()

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        # Inline: a thread's real duration would race the jumping clock.
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # handed to the awaiting task, as an executor would
            future.set_exception(exc)
        return future


@contextlib.contextmanager
def _runtime_clock(clock: VirtualClock) -> Iterator[None]:
    from llmwarm.testing import set_clock

    previous = set_clock(clock)
    try:
        yield
    finally:
        set_clock(previous)


def run(main: Callable[[VirtualClock], Coroutine[Any, Any, T]], *, limit: float | None = None) -> T:
    """Run ``main(clock)`` to completion in virtual time and return its result.

    ``limit`` (virtual seconds) bounds the run: past it, :class:`RuntimeError`.
    """
    clock = VirtualClock()
    with _runtime_clock(clock):
        loop = _VirtualLoop(clock, limit)
        try:
            asyncio.set_event_loop(loop)
            return loop.run_until_complete(main(clock))
        finally:
            try:
                _cancel_remaining(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()


def _cancel_remaining(loop: asyncio.AbstractEventLoop) -> None:
    # What asyncio.run does at the end (its Runner, with a loop factory, is 3.11+ only).
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
