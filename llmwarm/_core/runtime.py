"""The one object that owns llmwarm's process state: its parts, its clock, its hooks.

Every module that keeps state for the whole process (the pools, the warmers and the
scheduler thread, cache flights and breakers, cool-downs, call stats, fleets, batchers)
asks the runtime for it, ``runtime.part("pools", factory, ...)``, instead of keeping a
module global. A part is made on first use, with the callbacks that end it: ``close`` /
``aclose`` for :func:`llmwarm.close` (at a *stage*, see below), ``after_fork`` for a forked
child, ``reset`` for :func:`llmwarm.testing.reset`, ``at_exit`` for interpreter exit. The
runtime installs **one** ``os.register_at_fork`` hook and **one** ``atexit`` hook, on the
first part, so ``import llmwarm`` registers nothing; a forked child or a reset sees fresh
state in every module at once.

The runtime's :attr:`Runtime.clock` is the clock every policy reads and waits on: the
system clock unless a test installs another (:mod:`llmwarm.testing`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from llmwarm._core.clock import Clock, SystemClock
from llmwarm._core.log import logger

__all__ = [
    "BATCHERS",
    "POOLS",
    "TELEMETRY",
    "THREADS",
    "WARMERS",
    "Runtime",
    "RuntimeClock",
    "asleep",
    "call_later",
    "monotonic",
    "runtime",
    "sleep",
    "wall_time",
]

# The stages of close(), in order: first what makes new work (pings), then what holds work
# back (batches waiting for company), then what carries it (pools), then what records it
# (telemetry), and last the threads that ran it.
WARMERS, BATCHERS, POOLS, TELEMETRY, THREADS = range(5)

T = TypeVar("T")


@dataclass
class _Part:
    """How one part is made and ended (see :meth:`Runtime.part`)."""

    name: Hashable
    factory: Callable[[], Any]
    stage: int | None
    close: Callable[[Any], None] | None
    aclose: Callable[[Any], Awaitable[None]] | None
    after_fork: Callable[[Any], Any] | None
    reset: Callable[[Any], Any] | None
    at_exit: Callable[[Any], None] | None


_MISSING: Any = object()


class Runtime:
    """llmwarm's process state: named parts, made lazily, ended together.

    .. versionadded:: 0.2.0
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._lock = threading.RLock()
        self._parts: dict[Hashable, _Part] = {}  # in registration order
        self._values: dict[Hashable, Any] = {}
        self._hooked = False
        #: The clock every policy reads and waits on (see :mod:`llmwarm.testing`).
        self.clock: Clock = clock if clock is not None else SystemClock()

    # -- parts

    def part(
        self,
        name: Hashable,
        factory: Callable[[], T],
        *,
        stage: int | None = None,
        close: Callable[[T], None] | None = None,
        aclose: Callable[[T], Awaitable[None]] | None = None,
        after_fork: Callable[[T], T | None] | None = None,
        reset: Callable[[T], T | None] | None = None,
        at_exit: Callable[[T], None] | None = None,
    ) -> T:
        """Return the part ``name``, made by ``factory()`` on first use (and after a reset).

        The first registration of a name stays (its callbacks too); later calls only
        fetch. :meth:`close` calls ``close(value)`` (:meth:`aclose` awaits ``aclose(value)``,
        or calls ``close``) at ``stage``; in a forked child ``after_fork(value)`` returns the
        value to keep (None: forget it, the next use makes a fresh one, which is also what a
        part without ``after_fork`` gets); :meth:`reset` works the same with ``reset``;
        ``at_exit(value)`` runs at interpreter exit.
        """
        value = self._values.get(name, _MISSING)
        if value is not _MISSING:
            return cast(T, value)
        with self._lock:
            value = self._values.get(name, _MISSING)
            if value is _MISSING:
                if name not in self._parts:
                    self._parts[name] = _Part(
                        name, factory, stage, cast(Any, close), cast(Any, aclose),
                        cast(Any, after_fork), cast(Any, reset), cast(Any, at_exit),
                    )  # fmt: skip
                    self._hook()
                value = self._values[name] = self._parts[name].factory()
            return cast(T, value)

    def peek(self, name: Hashable) -> Any:
        """Return the part ``name`` if it exists now, else None (never makes it)."""
        value = self._values.get(name, _MISSING)
        return None if value is _MISSING else value

    def forget(self, name: Hashable, value: Any = _MISSING) -> None:
        """Forget the part ``name`` (only if it is still ``value``, when given), unended.

        Its next use makes it afresh, with the callbacks first registered.
        """
        with self._lock:
            current = self._values.get(name, _MISSING)
            if current is not _MISSING and (value is _MISSING or current is value):
                del self._values[name]

    def names(self) -> list[Hashable]:
        """Return the names of the parts that exist now, in registration order."""
        with self._lock:
            return [name for name in self._parts if name in self._values]

    def _live(self) -> list[tuple[_Part, Any]]:
        with self._lock:
            return [(p, self._values[n]) for n, p in self._parts.items() if n in self._values]

    # -- the one lifecycle

    def _staged(self) -> list[tuple[_Part, Any]]:
        live = [(p, v) for p, v in self._live() if p.stage is not None]
        return sorted(live, key=lambda item: cast(int, item[0].stage))  # stable: by registration

    def close(self) -> None:
        """Call every live part's ``close``, stage by stage; a failure is logged, the rest close."""
        for part, value in self._staged():
            if part.close is None:
                continue
            try:
                part.close(value)
            except Exception:
                logger.exception("llmwarm: closing %s failed; closing the rest", part.name)

    async def aclose(self) -> None:
        """Await every live part's ``aclose`` (or call its ``close``), stage by stage."""
        for part, value in self._staged():
            try:
                if part.aclose is not None:
                    await part.aclose(value)
                elif part.close is not None:
                    part.close(value)
            except Exception:
                logger.exception("llmwarm: closing %s failed; closing the rest", part.name)

    def reset(self) -> None:
        """Give every part fresh state: each part's ``reset`` says what it keeps (tests).

        Parts reset in close order (staged ones by stage, then the rest), so warmers stop
        before the threads that ran them are forgotten.
        """
        staged = self._staged()
        rest = [(p, v) for p, v in self._live() if p.stage is None]
        for part, value in staged + rest:
            kept = None
            if part.reset is not None:
                try:
                    kept = part.reset(value)
                except Exception:
                    logger.exception("llmwarm: resetting %s failed; resetting the rest", part.name)
            with self._lock:
                if self._values.get(part.name, _MISSING) is value:
                    if kept is None:
                        del self._values[part.name]
                    else:
                        self._values[part.name] = kept

    # -- the one fork hook and the one exit hook

    def _hook(self) -> None:
        # Called under the lock, on the first part: importing llmwarm registers nothing.
        if self._hooked:
            return
        self._hooked = True
        if self is runtime:  # a runtime made by a test is not the process's
            atexit.register(self._at_exit)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        """In a forked child: a fresh lock, and each part kept by its ``after_fork`` or gone."""
        # The child inherits the parent's locks in whatever state they were: make new ones.
        self._lock = threading.RLock()
        for part, value in self._live():
            kept = None
            if part.after_fork is not None:
                try:
                    kept = part.after_fork(value)
                except Exception:
                    logger.exception("llmwarm: renewing %s after fork failed", part.name)
            if kept is None:
                self._values.pop(part.name, None)
            else:
                self._values[part.name] = kept

    def _at_exit(self) -> None:
        # In close() order: staged parts by stage (warmers stop before the pools their pings
        # use close), then the others last made, first ended, as atexit itself does.
        rest = [(p, v) for p, v in self._live() if p.stage is None]
        for part, value in self._staged() + rest[::-1]:
            if part.at_exit is not None:
                with contextlib.suppress(Exception):  # the interpreter is going away anyway
                    part.at_exit(value)


#: The process's runtime.
runtime = Runtime()


def monotonic() -> float:
    """Return the runtime clock's monotonic seconds (what every policy schedules on)."""
    return runtime.clock.monotonic()


def wall_time() -> float:
    """Return the runtime clock's wall-clock seconds (shared with other processes)."""
    return runtime.clock.time()


def sleep(seconds: float) -> None:
    """Wait ``seconds`` on the runtime clock (a fake clock moves instead of waiting)."""
    _sleep_of(runtime.clock)(seconds)


async def asleep(seconds: float) -> None:
    """Wait ``seconds`` on the runtime clock, on the running loop."""
    clock = runtime.clock
    wait = getattr(clock, "asleep", None)
    if wait is None:
        await asyncio.sleep(seconds / getattr(clock, "speed", 1.0))
        return
    await wait(seconds)


class Cancellable(Protocol):
    """A timer :func:`call_later` set: :meth:`cancel` forgets it."""

    def cancel(self) -> None:
        """Do not run the callback."""
        ...


def call_later(
    loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[], Any]
) -> Cancellable:
    """Call ``callback`` on ``loop`` once ``delay`` seconds of the runtime clock have passed.

    On a test clock that keeps timers (:class:`~llmwarm._core.clock.FakeClock`), the wait
    is the clock's: its ``advance`` hands the callback to ``loop``. Otherwise it is the
    loop's own timer, scaled to the clock's ``speed`` as :func:`asleep` is.
    """
    clock = runtime.clock
    timer = getattr(clock, "call_later", None)
    if getattr(clock, "manual", False) and timer is not None:
        return cast(Cancellable, timer(delay, lambda: loop.call_soon_threadsafe(callback)))
    return loop.call_later(max(0.0, delay) / getattr(clock, "speed", 1.0), callback)


def _sleep_of(clock: Clock) -> Callable[[float], None]:
    wait = getattr(clock, "sleep", None)
    if wait is not None:
        return cast(Callable[[float], None], wait)
    import time

    speed = getattr(clock, "speed", 1.0)
    return lambda seconds: time.sleep(seconds / speed)


class RuntimeClock:
    """Whatever clock the runtime has now: the default clock of every policy.

    A warmer made before a test installs a fake clock obeys the fake clock too.
    """

    @property
    def manual(self) -> bool:
        """Whether the runtime clock is a test clock (no thread or task starts)."""
        return bool(getattr(runtime.clock, "manual", False))

    @property
    def speed(self) -> float:
        """The runtime clock's speed (1 for the system clock)."""
        return float(getattr(runtime.clock, "speed", 1.0))

    def monotonic(self) -> float:
        """Return the runtime clock's monotonic seconds."""
        return runtime.clock.monotonic()

    def time(self) -> float:
        """Return the runtime clock's wall-clock seconds."""
        return runtime.clock.time()

    def sleep(self, seconds: float) -> None:
        """Wait on the runtime clock."""
        sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Wait on the runtime clock, on the running loop."""
        await asleep(seconds)

    def watch(self, job: Any) -> None:
        """Hand a manual job (a warmer) to the runtime clock, if it drives jobs."""
        watch = getattr(runtime.clock, "watch", None)
        if watch is not None:
            watch(job)
