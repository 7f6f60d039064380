"""@warm's schedule on a fake clock: activity, idle pings, backoff, prediction; sync and async."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import pytest
from warmtools import FakeClock, arun_until, run_until

from llmwarm import warm
from llmwarm._core import Call, CallRecord, Flow, Policy, apply, current_record

MODEL = "m"


def sync_fn(clock: FakeClock, log: list[Any], **options: Any) -> Any:
    @warm(MODEL, interval=60, _clock=clock, **options)
    def complete(messages: Any = None, *, model: str = MODEL, max_tokens: int = 16) -> str:
        record = current_record()
        log.append((clock.now, model, record.warmup if record else None, max_tokens))
        return "ok"

    return complete


def async_fn(clock: FakeClock, log: list[Any], **options: Any) -> Any:
    @warm(MODEL, interval=60, _clock=clock, **options)
    async def complete(messages: Any = None, *, model: str = MODEL, max_tokens: int = 16) -> str:
        record = current_record()
        log.append((clock.now, model, record.warmup if record else None, max_tokens))
        return "ok"

    return complete


def pings(log: list[Any]) -> list[float]:
    return [t for t, _, warmup, _ in log if warmup]


# --- activity: no ping while calls come more often than the interval


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Run the test over a ``def`` and over an ``async def`` (sync_fn or async_fn)."""
    return str(request.param)


async def call(fn: Any, *args: Any) -> Any:
    """Call ``fn``; await the result when it is async (one test body for both)."""
    result = fn(*args)
    return await result if inspect.isawaitable(result) else result


async def run_warmer_until(kind: str, fn: Any, clock: FakeClock, end: float) -> None:
    """:func:`run_until` for a sync function's warmer, :func:`arun_until` for an async one."""
    if kind == "sync":
        run_until(fn.warmer, clock, end)
    else:
        await arun_until(fn.warmer, clock, end)


async def test_no_ping_while_calls_arrive_more_often_than_interval(
    kind: str, clock: FakeClock
) -> None:
    log: list[Any] = []
    fn = (sync_fn if kind == "sync" else async_fn)(clock, log)
    for _ in range(100):
        await call(fn, [])
        await run_warmer_until(kind, fn, clock, clock.now + 59)
    assert pings(log) == []
    assert fn.warmer.pings_sent == 0
    assert len(log) == 100


async def test_one_ping_per_interval_when_idle_and_none_before_the_first_call(
    kind: str, clock: FakeClock
) -> None:
    log: list[Any] = []
    fn = (sync_fn if kind == "sync" else async_fn)(clock, log)
    await run_warmer_until(kind, fn, clock, clock.now + 3600)
    assert log == []  # never a ping before a user's call
    await call(fn, [])
    start = clock.now
    await run_warmer_until(kind, fn, clock, start + 600)
    times = pings(log)
    assert len(times) == 10 == fn.warmer.pings_sent
    assert [round(b - a, 6) for a, b in zip([start, *times], times, strict=False)] == [60.0] * 10
    # the default ping goes through the function with the smallest request
    assert {(m, mt) for _, m, w, mt in log if w} == {(MODEL, 1)}


def test_activity_moves_the_due_time(clock: FakeClock) -> None:
    log: list[Any] = []
    fn = sync_fn(clock, log)
    fn([])
    assert fn.warmer.next_ping_at(MODEL) == clock.now + 60
    clock.advance(45)
    fn([])
    assert fn.warmer.next_ping_at(MODEL) == clock.now + 60
    run_until(fn.warmer, clock, clock.now + 59)
    assert pings(log) == []


def test_a_day_of_bursty_traffic_costs_fewer_pings_than_a_fixed_rhythm(clock: FakeClock) -> None:
    log: list[Any] = []
    fn = sync_fn(clock, log)
    start = clock.now
    for hour in range(24):  # ten busy minutes an hour (a call every 30 s), then quiet
        for k in range(20):
            run_until(fn.warmer, clock, start + hour * 3600 + k * 30)
            fn([])
    run_until(fn.warmer, clock, start + 86400)
    fixed = 86400 / 60  # what a fixed-interval warmer sends
    busy_free = 24 * (3600 - 570) / 60  # pings in the quiet stretches only
    assert fn.warmer.pings_sent <= busy_free < fixed
    assert fn.warmer.pings_sent >= busy_free - 24  # one per interval when idle
    assert all(not w for t, _, w, _ in log if (t - start) % 3600 < 570)  # none while busy


# --- prediction and the record


class Spy(Policy):
    def __init__(self, seen: list[CallRecord]) -> None:
        self.seen = seen

    def flow(self, call: Call) -> Flow:
        result = yield call
        self.seen.append(call.record)
        return result


def test_records_predict_cold_starts_and_idle_gaps(clock: FakeClock) -> None:
    seen: list[CallRecord] = []

    def base(messages: Any = None, *, model: str = MODEL, max_tokens: int = 16) -> str:
        return "ok"

    fn = apply(warm(MODEL, interval=60, keep_alive=300, _clock=clock)(base), Spy(seen))
    fn([])
    clock.advance(30)
    fn([])
    fn.warmer.stop()
    clock.advance(400)
    fn([])
    fn([], model="other")  # not a listed model: ignored
    assert [(r.cold_start, r.idle_s, r.model) for r in seen[:3]] == [
        (True, None, MODEL),
        (False, 30.0, MODEL),
        (True, 400.0, MODEL),
    ]
    assert fn.warmer.next_ping_at("other") is None
    assert fn.warmer.is_warm(MODEL)
    assert not fn.warmer.is_warm("other")


async def test_the_default_ping_goes_through_the_outermost_stack_marked_warmup(
    clock: FakeClock,
) -> None:
    seen: list[CallRecord] = []
    calls: list[str] = []

    async def base(messages: Any = None, *, model: str = MODEL, max_tokens: int = 16) -> str:
        calls.append(model)
        return "ok"

    fn = apply(warm(MODEL, interval=60, _clock=clock)(base), Spy(seen))  # Spy is outer
    await fn([])
    await arun_until(fn.warmer, clock, clock.now + 61)
    assert [r.warmup for r in seen] == [False, True]
    assert calls == [MODEL, MODEL]


# --- ping= callables


def test_a_sync_ping_callable(clock: FakeClock) -> None:
    sent: list[str] = []

    @warm(["a", "b"], interval=10, ping=sent.append, _clock=clock)
    def complete(*, model: str) -> str:
        return model

    complete(model="a")
    clock.advance(5)
    complete(model="b")
    run_until(complete.warmer, clock, clock.now + 26)
    assert sent == ["a", "b", "a", "b", "a"]


async def test_an_async_ping_callable_on_a_sync_and_an_async_function(clock: FakeClock) -> None:
    sent: list[str] = []

    async def ping(model: str) -> None:
        sent.append(model)

    @warm("a", interval=10, ping=ping, _clock=clock)
    async def acomplete() -> str:  # one model: every call is for it, no `model` needed
        return "ok"

    @warm("b", interval=10, ping=ping, _clock=clock)
    def complete() -> str:
        return "ok"

    await acomplete()
    await arun_until(acomplete.warmer, clock, clock.now + 10)
    assert sent == ["a"]
    complete()
    # a sync warmer runs an async ping on its own thread (here the test's, in a worker)
    import asyncio

    await asyncio.to_thread(run_until, complete.warmer, clock, clock.now + 10)
    assert sent == ["a", "b"]


def test_a_streamed_ping_result_is_read_and_closed(clock: FakeClock) -> None:
    closed: list[bool] = []

    def stream(model: str) -> Any:
        try:
            yield from ("a", "b")
        finally:
            closed.append(True)

    @warm(MODEL, interval=10, ping=stream, _clock=clock)
    def complete() -> str:
        return "ok"

    complete()
    run_until(complete.warmer, clock, clock.now + 10)
    assert closed == [True]
    assert complete.warmer.ping_failures == 0


# --- failures: backoff with full jitter, capped; user calls unaffected


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_failing_pings_back_off_and_never_reach_user_calls(
    clock: FakeClock, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[float] = []
    healthy = [False]

    def ping(model: str) -> None:
        attempts.append(clock.now)
        if not healthy[0]:
            raise ConnectionError("provider down")

    if kind == "sync":

        @warm(MODEL, interval=60, ping=ping, _clock=clock)
        def complete() -> str:
            return "answer"

        step = run_until
    else:

        @warm(MODEL, interval=60, ping=ping, _clock=clock)
        async def complete() -> str:
            return "answer"

        step = arun_until

    async def call() -> str:
        result = complete()
        return await result if kind == "async" else result

    caplog.set_level(logging.DEBUG, "llmwarm")
    assert await call() == "answer"
    start = clock.now
    for hour in range(1, 11):  # ten hours of outage
        result = step(complete.warmer, clock, start + hour * 3600)
        if kind == "async":
            await result
    assert await call() == "answer"  # the user's calls are unaffected
    w = complete.warmer
    assert w.ping_failures == w.pings_sent == len(attempts)
    # a dead endpoint gets fewer pings than a healthy idle one (600 in ten hours)
    assert 5 < len(attempts) < 600 / 2
    gaps = [b - a for a, b in zip([start, *attempts], attempts, strict=False)]
    for n, gap in enumerate(gaps[1:], start=1):  # ceiling doubles from interval/4, capped 10x
        assert 0.6 - 1e-9 <= gap <= min(10.0, 0.25 * 2 ** (n - 1)) * 60 + 1e-6
    assert max(gaps) > 60  # the spacing grew past the interval
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(warnings) <= 1 + len(attempts) // 10  # no flood
    # recovery: the first success restores the rhythm, logged once
    healthy[0] = True
    await call()
    before = len(attempts)
    result = step(w, clock, clock.now + 600)
    if kind == "async":
        await result
    assert w.pings_sent - w.ping_failures == len(attempts) - before
    assert 9 <= len(attempts) - before <= 10
    assert sum("work again" in r.getMessage() for r in caplog.records) <= 1


# --- the handle


def test_start_pings_at_once_and_warm_up_asks_for_a_ping(clock: FakeClock) -> None:
    log: list[Any] = []
    fn = sync_fn(clock, log)
    fn.warmer.start()
    assert fn.warmer.next_ping_at(MODEL) == clock.now
    fn.warmer.run_due()
    assert len(pings(log)) == 1
    assert fn.warmer.is_warm(MODEL)
    fn.warmer.warm_up("other")  # any model, once
    fn.warmer.run_due()
    assert [m for _, m, w, _ in log if w] == [MODEL, "other"]
    run_until(fn.warmer, clock, clock.now + 30)
    assert len(pings(log)) == 2
    from llmwarm._core import Warmth

    assert fn.find(Warmth) is not None


def test_after_stop_no_ping_starts_and_calls_do_not_restart_it(clock: FakeClock) -> None:
    log: list[Any] = []
    fn = sync_fn(clock, log)
    fn([])
    fn.warmer.stop()
    assert fn.warmer.next_ping_at(MODEL) is None
    fn([])
    clock.advance(3600)
    fn.warmer.run_due()
    assert pings(log) == []


# --- validation


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((300,), {}, TypeError, "model must be a model name"),
        (([],), {}, TypeError, "model must be a model name"),
        ((["a", ""],), {}, ValueError, "model names must be non-empty"),
        (("m", 0), {}, ValueError, "interval must be a finite number of seconds >= 1"),
        (
            ("m", "fast"),
            {},
            ValueError,
            'interval must be a number of seconds >= 1, "auto" or None',
        ),
        (("m", True), {}, TypeError, "interval must be"),
        (
            ("m", 300),
            {"keep_alive": 300},
            ValueError,
            "interval (300 s) must be shorter than keep_alive (300 s): the model would go "
            "cold between pings; use e.g. interval=240",
        ),
        (("m", 60), {"keep_alive": -1}, ValueError, "keep_alive must be"),
        (("m",), {"ping": "yes"}, TypeError, "ping must be a callable"),
        (("m",), {"backend": "http://x"}, TypeError, "backend must be a Redis URL"),
    ],
)
def test_bad_options_fail_at_decoration_naming_the_parameter(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        warm(*args, **kwargs)
    assert message in str(info.value)


def test_timedelta_options_and_functions_that_cannot_be_pinged() -> None:
    from datetime import timedelta

    warm("m", timedelta(minutes=4), keep_alive=timedelta(minutes=5))

    def no_messages(*, model: str) -> str:
        return model

    with pytest.raises(TypeError, match=r"messages, max_tokens .*pass ping="):
        warm("m")(no_messages)

    def no_model(messages: Any) -> str:
        return "x"

    with pytest.raises(TypeError, match=r"needs .* to take a `model` argument"):
        warm(["a", "b"], ping=print)(no_model)
