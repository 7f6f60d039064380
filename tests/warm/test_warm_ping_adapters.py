"""Ping adapters run through the stack: a loading model is waited out once (not once per
nested attempt), and the unload-window learner observes each ping once."""

from __future__ import annotations

from typing import Any

from llmwarm import warm


class SleepingClock:
    """A manual clock whose ``sleep`` moves time on at once (the waits are counted)."""

    manual = True

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


class ModelNotReadyException(Exception):
    """As an SDK says the model is not ready (recognised by its class name)."""


def test_an_adapter_ping_meeting_a_loading_model_waits_once_not_nested() -> None:
    # The adapter was wrapped in a patient wait and also ran inside the stack's wait for
    # a loading model: each outer attempt re-ran the whole inner wait (1560 s, 144 pings).
    clock, calls = SleepingClock(), []

    def ping(model: str) -> None:
        calls.append(model)
        raise ModelNotReadyException("model m is not ready")

    @warm("m", interval=60, ping=ping, _clock=clock)
    def complete(*, model: str = "m") -> str:
        return model

    complete.warmer.start()
    complete.warmer.run_due()
    assert complete.warmer.ping_failures == 1
    assert clock.slept <= 120.0  # one wait, within DEFAULT_MAX_WAIT
    assert len(calls) <= 12


def test_the_auto_learner_observes_each_adapter_ping_once(manual_clock: Any) -> None:
    # An adapter ping runs through the stack, whose flow teaches the learner; _work taught
    # it the same ping a second time, halving what it learned from traffic.
    clock, sent = manual_clock, []

    @warm("m", interval="auto", ping=sent.append, _clock=clock)
    def complete(*, model: str = "m") -> str:
        return model

    learner = complete.warmer._state["m"].learner
    assert learner is not None
    seen: list[Any] = []
    observe = learner.observe

    def counting(*args: Any) -> None:
        seen.append(args)
        observe(*args)

    learner.observe = counting  # type: ignore[method-assign]
    complete.warmer.start()
    for _ in range(3):
        complete.warmer.run_due()
        clock.now += complete.warmer.interval("m")
    assert len(sent) == 3
    assert len(seen) == len(sent)
