"""@warm details: streams, cache hits, methods, the unload-window learner, public names."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from warmtools import FakeClock, arun_until, run_until

from llmwarm import warm
from llmwarm._core import Call, Flow, Policy, apply
from llmwarm.warm import _warm
from llmwarm.warm._learn import Learner

MODEL = "m"


def test_a_stream_is_activity_until_it_ends_and_its_latency_is_the_first_chunk(
    clock: FakeClock,
) -> None:
    @warm(MODEL, interval="auto", keep_alive=100, ping=lambda m: None, _clock=clock)
    def stream(*, model: str = MODEL) -> Iterator[str]:
        clock.advance(2)  # time to the first chunk
        yield "a"
        clock.advance(500)  # a long generation: longer than any interval
        yield "b"

    result = stream()
    learner = stream.warmer._state[MODEL].learner
    assert next(iter(result)) == "a"
    run_until(stream.warmer, clock, clock.now + 10)  # in flight: no ping
    assert stream.warmer.pings_sent == 0
    assert list(result) == ["b"]
    assert list(learner.latencies) == [2.0]
    assert stream.warmer.next_ping_at(MODEL) > clock.now  # the stream's end was activity


async def test_an_async_stream_is_activity_until_it_ends(clock: FakeClock) -> None:
    @warm(MODEL, interval=60, ping=lambda m: None, _clock=clock)
    async def stream(*, model: str = MODEL) -> AsyncIterator[str]:
        yield "a"
        clock.advance(300)
        yield "b"

    chunks = [chunk async for chunk in stream()]
    assert chunks == ["a", "b"]
    assert stream.warmer.next_ping_at(MODEL) == clock.now + 60
    await arun_until(stream.warmer, clock, clock.now + 59)
    assert stream.warmer.pings_sent == 0


class FakeCache(Policy):
    """Answers every call after the first without calling the function: a cache hit."""

    def __init__(self) -> None:
        self.seen = False

    def flow(self, call: Call) -> Flow:
        if self.seen:
            call.record.cache_hit = True
            return "cached"
        self.seen = True
        call.record.cache_hit = False
        return (yield call)


def test_cache_hits_are_not_activity(clock: FakeClock) -> None:
    def base(messages: Any = None, *, model: str = MODEL, max_tokens: int = 16) -> str:
        return "fresh"

    fn = warm(MODEL, interval=60, ping=lambda m: None, _clock=clock)(apply(base, FakeCache()))
    assert fn() == "fresh"
    first_due = fn.warmer.next_ping_at(MODEL)
    clock.advance(30)
    assert fn() == "cached"  # served without the provider: the model still idles
    assert fn.warmer.next_ping_at(MODEL) == first_due


CLIENT_CLOCK = FakeClock()  # manual: the test drives the warmer, no thread


class Client:
    def __init__(self, log: list[Any], name: str) -> None:
        self.log, self.name = log, name

    @warm(MODEL, interval=60, _clock=CLIENT_CLOCK)
    def complete(self, messages: Any, *, model: str = MODEL, max_tokens: int = 16) -> str:
        self.log.append((self.name, max_tokens))
        return "ok"


def test_a_method_default_ping_uses_the_last_instance_and_never_keeps_it_alive() -> None:
    warmer = Client.complete.warmer
    log: list[Any] = []
    warmer.start()  # (an earlier test's reset stopped this class-level warmer)
    warmer.run_due()  # no call yet: no instance to ping through
    assert warmer.pings_sent == 0
    assert log == []
    client = Client(log, "first")
    client.complete([])
    warmer.warm_up(MODEL)
    warmer.run_due()
    assert log == [("first", 16), ("first", 1)]  # the ping went through the same instance
    del client
    gc.collect()
    warmer.warm_up(MODEL)
    warmer.run_due()
    assert len(log) == 2  # the instance is gone: skipped, not kept alive
    assert warmer.ping_failures == 0
    delay = warmer.delay()
    assert delay is not None
    assert delay > 30  # skipped until an interval later, never a busy loop
    warmer.stop()


def simulate(window: float, start: float, steps: int = 60) -> Learner:
    """Drive a learner with its own pings against a provider unloading after ``window``."""
    learner = Learner(start)
    learner.observe(None, 14.0)  # the first call: cold, gap unknown
    for _ in range(steps):
        gap = learner.interval()
        learner.observe(gap, 14.0 if gap > window else 0.3)
    return learner


@settings(max_examples=60, deadline=None)
@given(
    window=st.floats(min_value=5, max_value=3600),
    start=st.floats(min_value=1, max_value=7200),
)
def test_the_learner_settles_safely_under_any_window(window: float, start: float) -> None:
    learner = simulate(window, start)
    assert learner.settled
    assert learner.lo is not None
    assert learner.hi is not None
    assert learner.lo <= window < learner.hi
    assert 0.8 * window / 1.25 <= learner.interval() < window


def test_the_learner_follows_a_window_that_shrinks() -> None:
    learner = simulate(300, 60)
    assert learner.interval() > 200
    for _ in range(60):  # the provider now unloads after 100 s
        gap = learner.interval()
        learner.observe(gap, 14.0 if gap > 100 else 0.3)
    assert learner.interval() < 100


def test_no_dead_default_interval_constant() -> None:
    # DEFAULT_INTERVAL (300 s) was used by nothing since the policy became the default,
    # and its docstring described another constant: it misled readers of the API page.
    assert not hasattr(_warm, "DEFAULT_INTERVAL")
    assert "DEFAULT_INTERVAL" not in sys.modules["llmwarm.warm"].__all__
