"""Test llmwarm code without waiting: one fake clock every policy obeys, and a reset.

Every policy reads time and waits through the runtime clock: warmers' schedules and
backoff, cache TTLs (the in-memory, SQLite and Redis back ends), ``@routed`` cool-downs,
their waits and the ``hedge_after`` delay, the cache's circuit breaker, ``@batched``'s
``max_wait``, call statistics and the model-loading pauses. Install a :class:`FakeClock`
and time moves only when the test says::

    from llmwarm.testing import FakeClock, fake_clock

    with fake_clock() as clock:
        complete("hi")           # a warmer on the fake clock starts no thread
        clock.advance(600)       # its pings run here, each at its due time

:func:`reset` gives every part of the runtime fresh state (warmers idle, pools closed,
flights, breakers, cool-downs and statistics forgotten), as a new process would have.
With pytest, the ``llmwarm_reset`` and ``fake_clock`` fixtures do both (see
``docs/testing.md``; set ``llmwarm_reset = true`` in the ini file to reset around every
test).

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llmwarm._core.clock import Clock, FakeClock, ScaledClock, SystemClock
from llmwarm._core.runtime import runtime

__all__ = ["FakeClock", "ScaledClock", "SystemClock", "fake_clock", "reset", "set_clock"]


def reset() -> None:
    """Give every part of llmwarm's runtime fresh state, as in a new process.

    Warmers stop and forget what they learned and counted (their function's next call
    starts each again, as in a new process), batches waiting are sent,
    sync pools close, and flights, breakers, cool-downs, statistics and llmwarm's threads
    are forgotten; the next use makes each afresh. The clock is left as it is.

    .. versionadded:: 0.2.0
    """
    runtime.reset()


def set_clock(clock: Clock | None) -> Clock:
    """Make ``clock`` the clock every policy obeys (None: the system clock); return the last.

    Set it before the code under test runs: a warmer already running on a thread keeps
    its thread (call :func:`reset` first).

    .. versionadded:: 0.2.0
    """
    previous = runtime.clock
    runtime.clock = clock if clock is not None else SystemClock()
    return previous


@contextlib.contextmanager
def fake_clock(clock: FakeClock | None = None) -> Iterator[FakeClock]:
    """Install a :class:`FakeClock` (a new one by default) inside the ``with`` block.

    On entry and on exit the runtime is :func:`reset`, so no thread started on the real
    clock runs on the fake one, and nothing made on the fake clock outlives the block.

    .. versionadded:: 0.2.0
    """
    fake = clock if clock is not None else FakeClock()
    reset()
    previous = set_clock(fake)
    try:
        yield fake
    finally:
        reset()
        set_clock(previous)
