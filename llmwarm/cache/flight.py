"""Single-flight: concurrent identical misses make one upstream call.

The first caller of a key *leads*: it makes the call and settles the flight with an
:class:`Outcome`; callers arriving meanwhile *wait* and receive that outcome. Threads
wait on a ``threading.Event``; tasks on a future of their own event loop (flights never
cross loops), through ``asyncio.shield`` so that a cancelled waiter cancels nobody else.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from llmwarm._core import Call, Step

__all__ = ["Flights", "Join", "Lead", "Outcome"]


class Outcome:
    """How a flight ended.

    ``kind`` is ``"value"`` (share ``value``), ``"error"`` (``value`` is the leader's
    exception and its traceback: raise it), ``"stream"`` (the leader got a stream, which is
    not shared: go upstream), or ``"retry"`` (the leader was cancelled or interrupted:
    try again, one will lead).
    """

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any = None) -> None:
        self.kind = kind
        self.value = value


RETRY = Outcome("retry")
STREAM = Outcome("stream")


class _ThreadFlight:
    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: Outcome = RETRY


class Lead:
    """The ticket of the caller that leads a flight; it must settle it exactly once."""

    __slots__ = ("flight", "slot")

    def __init__(self, slot: Any, flight: Any) -> None:
        self.slot = slot
        self.flight = flight


class Flights:
    """The flights in progress for one cached function."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, _ThreadFlight] = {}
        self._tasks: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Future[Outcome]] = {}

    def __len__(self) -> int:
        return len(self._threads) + len(self._tasks)

    def settle(self, lead: Lead, outcome: Outcome) -> None:
        """End a flight: forget it, then hand ``outcome`` to its waiters."""
        with self._lock:
            if isinstance(lead.flight, _ThreadFlight):
                if self._threads.get(lead.slot) is lead.flight:
                    del self._threads[lead.slot]
            elif self._tasks.get(lead.slot) is lead.flight:
                del self._tasks[lead.slot]
        if isinstance(lead.flight, _ThreadFlight):
            lead.flight.outcome = outcome
            lead.flight.done.set()
        elif not lead.flight.done():
            future: asyncio.Future[Outcome] = lead.flight
            loop = future.get_loop()
            if loop.is_closed():
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                future.set_result(outcome)
            else:  # settled from another thread (a stream's end): hand it to its loop
                loop.call_soon_threadsafe(_resolve, future, outcome)

    def reset(self) -> None:
        """Forget every flight (in a forked child, whose leaders do not exist)."""
        self._lock = threading.Lock()
        self._threads = {}
        self._tasks = {}


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not future.done():
        future.set_result(outcome)


class Join(Step):
    """Lead the flight of ``key`` (returns a :class:`Lead`) or wait for its :class:`Outcome`."""

    __slots__ = ("flights", "key")

    def __init__(self, flights: Flights, key: str) -> None:
        self.flights = flights
        self.key = key

    def run_sync(self, proceed: Callable[[Call], Any]) -> Lead | Outcome:
        """Lead, or block this thread until the leader settles."""
        flights = self.flights
        with flights._lock:
            flight = flights._threads.get(self.key)
            if flight is None:
                flight = flights._threads[self.key] = _ThreadFlight()
                return Lead(self.key, flight)
        flight.done.wait()
        return flight.outcome

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Lead | Outcome:
        """Lead, or wait (shielded: cancelling this waiter cancels no one else)."""
        loop = asyncio.get_running_loop()
        slot = (loop, self.key)
        flights = self.flights
        with flights._lock:
            future = flights._tasks.get(slot)
            if future is None:
                future = flights._tasks[slot] = loop.create_future()
                return Lead(slot, future)
        return await asyncio.shield(future)
