"""The miss path's own pieces: the memory back end's eviction and expiry, cheap flights."""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from llmwarm.cache import MemoryBackend, cached
from llmwarm.cache.backends import MISSING
from llmwarm.cache.flight import Flights, Join, Lead, Outcome


class Answer:
    """A value that can be watched for its release (a weak reference)."""


def _no_call(call: Any) -> None:
    raise AssertionError("a flight step never runs the call itself")


def test_storing_a_key_again_makes_it_the_newest(clock: Any) -> None:
    backend = MemoryBackend(maxsize=2, ttl=60, timer=clock.monotonic)
    backend.set("a", 1, None)
    backend.set("b", 2, None)
    backend.set("a", 3, None)  # now b is the least recently stored
    backend.set("c", 4, None)
    assert (backend.get("a"), backend.get("b"), backend.get("c")) == (3, MISSING, 4)


def test_expired_entries_go_before_a_live_one_is_evicted(clock: Any) -> None:
    backend = MemoryBackend(maxsize=2, ttl=10, timer=clock.monotonic)
    backend.set("a", 1, None)
    clock.advance(5)
    backend.set("b", 2, None)
    clock.advance(6)  # a expired, b has 4 s left
    backend.set("c", 3, None)
    assert (backend.get("b"), backend.get("c")) == (2, 3)
    assert len(backend) == 2


def test_the_next_store_releases_expired_values(clock: Any) -> None:
    backend = MemoryBackend(maxsize=100, ttl=10, timer=clock.monotonic)
    value = Answer()
    released = weakref.ref(value)
    backend.set("old", value, None)
    del value
    clock.advance(11)
    assert released() is not None  # expired, not yet dropped: reads only check
    backend.set("new", Answer(), None)
    assert released() is None


def test_a_shorter_ttl_per_store_wins_over_the_backends(clock: Any) -> None:
    backend = MemoryBackend(maxsize=10, ttl=60, timer=clock.monotonic)
    backend.set("short", 1, 5)
    backend.set("long", 2, 600)  # bounded by the back end's own 60 s
    clock.advance(6)
    assert (backend.get("short"), backend.get("long")) == (MISSING, 2)
    clock.advance(60)
    assert backend.get("long") is MISSING


def test_delete_and_clear_forget_keys_for_eviction_too(clock: Any) -> None:
    backend = MemoryBackend(maxsize=2, ttl=60, timer=clock.monotonic)
    backend.set("f:a", 1, None)
    backend.set("f:b", 2, None)
    backend.delete("f:a")
    backend.set("g:c", 3, None)  # room for it: a was deleted, b stays
    assert (backend.get("f:b"), backend.get("g:c")) == (2, 3)
    backend.clear("f:")
    backend.set("g:d", 4, None)
    assert (backend.get("g:c"), backend.get("g:d")) == (3, 4)
    assert len(backend) == 2


def test_a_flight_no_one_waits_for_makes_nothing_to_wait_on() -> None:
    flights = Flights()
    lead = flights.lead("k", is_async=False)
    assert isinstance(lead, Lead)
    assert flights.lead("k", is_async=False) is None  # one leader per key
    flights.settle(lead, "value", 42)
    assert lead.waiter is None
    assert len(flights) == 0


def test_a_caller_that_finds_the_flight_already_ended_leads() -> None:
    # Between a failed lead() and its Join, the leader may settle: the joiner then leads.
    flights = Flights()
    first = flights.lead("k", is_async=False)
    assert first is not None
    assert flights.lead("k", is_async=False) is None
    flights.settle(first, "value", 1)
    joined = Join(flights, "k").run_sync(_no_call)
    assert isinstance(joined, Lead)
    flights.settle(joined, "value", 2)
    assert len(flights) == 0


def test_a_thread_waiter_gets_the_leaders_value() -> None:
    flights = Flights()
    lead = flights.lead("k", is_async=False)
    assert lead is not None
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(Join(flights, "k").run_sync(_no_call)))
    waiter.start()
    for _ in range(10_000):  # until the waiter made the event it blocks on
        if lead.waiter is not None:
            break
        waiter.join(timeout=0.001)
    assert isinstance(lead.waiter, threading.Event)
    flights.settle(lead, "value", 42)
    waiter.join(timeout=10)
    outcome = got[0]
    assert isinstance(outcome, Outcome)
    assert (outcome.kind, outcome.value) == ("value", 42)


async def test_task_flights_are_per_loop_and_waiters_share_one_future() -> None:
    flights = Flights()
    lead = flights.lead("k", is_async=True)
    assert lead is not None
    assert flights.lead("k", is_async=False) is not None  # threads fly apart from tasks

    async def wait() -> Any:
        return await Join(flights, "k").run_async(_no_call)

    waiters = [asyncio.create_task(wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert isinstance(lead.waiter, asyncio.Future)
    flights.settle(lead, "error", (ValueError("x"), None))
    outcomes = await asyncio.gather(*waiters)
    assert len({id(o) for o in outcomes}) == 1
    assert outcomes[0].kind == "error"


def test_a_proxy_type_is_judged_per_result_not_remembered() -> None:
    # A proxy (wrapt.ObjectProxy, as tracing layers return) reports its target's class,
    # so whether it is awaitable depends on the object: one plain proxied result must not
    # make a later proxied coroutine cacheable (a hit would hand out an awaited coroutine).
    import warnings

    import wrapt

    class Traced(wrapt.ObjectProxy):  # type: ignore[misc]
        pass

    async def upstream(prompt: str) -> dict[str, str]:
        return {"answer": prompt}

    upstream_calls = 0

    @cached
    def ask(prompt: str) -> Any:
        nonlocal upstream_calls
        upstream_calls += 1
        if prompt.startswith("sync"):
            return Traced({"answer": prompt})
        return Traced(upstream(prompt))

    assert ask("sync-1") == {"answer": "sync-1"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = ask("async-1")
        assert asyncio.run(first) == {"answer": "async-1"}
        again = ask("async-1")
    assert again is not first  # not served from the cache
    assert asyncio.run(again) == {"answer": "async-1"}
    assert upstream_calls == 3
