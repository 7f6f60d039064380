"""What is activity: warm_up asks once per interval and never bypasses backoff; a failed
ping or call is not activity; a call in flight makes the idle time 0."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from warmtools import BOUND, FakeClock

from llmwarm import warm
from llmwarm._core import current_record

MODEL = "m"


def test_warm_up_on_every_call_of_a_failing_model_sends_one_ping(clock: FakeClock) -> None:
    def failing_ping(model: str) -> None:
        raise ConnectionError("503 from " + model)

    @warm(["small", "big"], interval=100, ping=failing_ping, _clock=clock)
    def ask(*, model: str) -> str:
        return model

    for _ in range(25):  # a router asking on every call
        ask.warmer.warm_up("big")
        ask.warmer.run_due()
        clock.advance(0.02)
    assert ask.warmer.pings_sent == 1
    assert ask.warmer.ping_failures == 1
    retry = ask.warmer.next_ping_at("big")
    assert retry is not None
    assert retry > clock.now


def test_warm_up_asks_at_most_once_per_interval(clock: FakeClock) -> None:
    @warm(MODEL, interval=100, ping=lambda m: None, _clock=clock)
    def ask(*, model: str = MODEL) -> str:
        return model

    for _ in range(30):
        ask.warmer.warm_up("other")
        ask.warmer.run_due()
        clock.advance(2)  # 60 s in all
    assert ask.warmer.pings_sent == 1
    clock.advance(100)
    ask.warmer.warm_up("other")
    ask.warmer.run_due()
    assert ask.warmer.pings_sent == 2


def test_a_failed_ping_or_call_is_not_activity(clock: FakeClock) -> None:
    down = [False]

    @warm(MODEL, interval=100, keep_alive=150, _clock=clock)
    def complete(*, model: str = MODEL, messages: Any = None, max_tokens: Any = None) -> str:
        if down[0]:
            raise ConnectionError("provider down")
        return "ok"

    complete()
    down[0] = True
    clock.advance(400)  # cold now
    complete.warmer.run_due()  # the default ping goes through the stack and fails
    assert complete.warmer.ping_failures == 1
    assert not complete.warmer.is_warm(MODEL)
    with contextlib.suppress(ConnectionError):
        complete()
    assert not complete.warmer.is_warm(MODEL)


def test_idle_is_zero_while_another_call_is_in_flight(clock: FakeClock) -> None:
    idles: list[Any] = []
    inside, release = threading.Event(), threading.Event()

    @warm(MODEL, interval=100, ping=lambda m: None, _clock=clock)
    def complete(*, model: str = MODEL, hold: bool = False) -> str:
        record = current_record()
        idles.append(record.idle_s if record else "no record")
        if hold:
            inside.set()
            release.wait(BOUND)
        return "ok"

    complete()
    clock.advance(50)
    long_call = threading.Thread(target=complete, kwargs={"hold": True})
    long_call.start()
    try:
        assert inside.wait(BOUND)
        clock.advance(30)  # the long call is still in flight
        complete()
    finally:
        release.set()
        long_call.join(BOUND)
    assert idles == [None, 50.0, 0.0]
