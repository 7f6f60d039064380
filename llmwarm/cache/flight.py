"""Single-flight: concurrent identical misses make one upstream call.

The first caller of a key *leads*: it makes the call and settles the flight with an
:class:`Outcome`; callers arriving meanwhile *wait* and receive that outcome. Threads
wait on a ``threading.Event``; tasks on a future of their own event loop (flights never
cross loops), through ``asyncio.shield`` so that a cancelled waiter cancels nobody else.
The first waiter makes what they wait on: a flight no one waits for costs one object.
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
_OUTCOMES = {"retry": RETRY, "stream": STREAM}  # the outcomes that carry no value


class Lead:
    """A flight in progress, held by the caller that leads it: it must settle it once.

    Leading costs one small object and one ``dict.setdefault``: what waiters block on (a
    ``threading.Event``, a future of their loop) is made by the first waiter, so a miss
    that no one else waits for (the common case) makes none.
    """

    __slots__ = ("outcome", "slot", "table", "waiter")

    def __init__(self, table: dict[Any, Lead], slot: Any) -> None:
        self.table = table
        self.slot = slot
        self.waiter: Any = None  # the Event or future the waiters share, once one waits
        self.outcome: Outcome = RETRY


class Flights:
    """The flights in progress for one cached function.

    Threads and tasks fly apart: a task's flight is keyed by its event loop too, since a
    future belongs to one loop (flights never cross loops).
    """

    def __init__(self) -> None:
        # Guards a flight's waiter and outcome between its waiters and its leader.
        self._lock = threading.Lock()
        self._threads: dict[Any, Lead] = {}
        self._tasks: dict[Any, Lead] = {}

    def __len__(self) -> int:
        return len(self._threads) + len(self._tasks)

    def lead(self, key: str, is_async: bool) -> Lead | None:
        """Lead the flight of ``key`` if none is in progress; else return None (then wait).

        Never blocks: a caller that gets None yields :class:`Join`, which leads (the
        flight ended meanwhile) or waits. ``is_async``: the caller is a task on the running
        loop, not a thread.
        """
        if is_async:
            table = self._tasks
            slot: Any = (asyncio.get_running_loop(), key)
        else:
            table, slot = self._threads, key
        lead = Lead(table, slot)
        # setdefault is atomic: of two callers racing for one key, exactly one leads.
        return lead if table.setdefault(slot, lead) is lead else None

    def settle(self, lead: Lead, kind: str, value: Any = None) -> None:
        """End a flight: forget it, then hand its :class:`Outcome` to its waiters, if any.

        The outcome is made only when someone waits (``kind`` and ``value`` as in
        :class:`Outcome`): after the flight is forgotten no one else can find it.
        """
        with self._lock:
            if lead.table.get(lead.slot) is lead:
                del lead.table[lead.slot]
            waiter = lead.waiter
            if waiter is None:
                return
            outcome = lead.outcome = _OUTCOMES.get(kind) or Outcome(kind, value)
        if type(waiter) is threading.Event:
            waiter.set()
            return
        future: asyncio.Future[Outcome] = waiter
        if future.done():
            return
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
        table = flights._threads
        with flights._lock:
            lead = Lead(table, self.key)
            flight = table.setdefault(self.key, lead)
            if flight is lead:
                return lead
            # Found under the lock, the flight is not settled yet: it will set this event.
            if flight.waiter is None:
                flight.waiter = threading.Event()
            done: threading.Event = flight.waiter
        done.wait()
        return flight.outcome

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Lead | Outcome:
        """Lead, or wait (shielded: cancelling this waiter cancels no one else)."""
        loop = asyncio.get_running_loop()
        slot = (loop, self.key)
        flights = self.flights
        table = flights._tasks
        with flights._lock:
            lead = Lead(table, slot)
            flight = table.setdefault(slot, lead)
            if flight is lead:
                return lead
            if flight.waiter is None:
                flight.waiter = loop.create_future()
            future: asyncio.Future[Outcome] = flight.waiter
        return await asyncio.shield(future)
