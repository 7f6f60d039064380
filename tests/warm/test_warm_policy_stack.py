"""The default @warm (the warming policy) on a fake clock: keep warm, pre-warm, go quiet."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from warmtools import FakeClock, run_until

from llmwarm import ConfigError
from llmwarm.warm import warm

MODEL = "m"


def decorated(clock: FakeClock, sent: list[float], **options: Any) -> Any:
    @warm(MODEL, _clock=clock, **options)
    def complete(messages: Any, *, model: str = MODEL, max_tokens: int = 8) -> str:
        if max_tokens == 1:
            sent.append(clock.now)
        return "ok"

    return complete


def calls_at(complete: Any, clock: FakeClock, times: list[float]) -> None:
    start = clock.now
    for at in times:
        run_until(complete.warmer, clock, start + at)
        complete([{"role": "user", "content": "hi"}])


def test_the_default_keeps_warm_a_few_seconds_before_the_window_ends(clock: FakeClock) -> None:
    sent: list[float] = []
    complete = decorated(clock, sent)
    assert complete.warmer.next_ping_at(MODEL) is None  # never a ping before a user's call
    complete([{"role": "user", "content": "hi"}])
    due = complete.warmer.next_ping_at(MODEL)
    assert due is not None
    assert 290 <= due - clock.now < 300  # keep_alive 300 s minus seconds, not a ratio
    run_until(complete.warmer, clock, clock.now + 1000)
    assert len(sent) == 3  # idle: one ping per window
    assert all(290 <= b - a < 300 for a, b in itertools.pairwise(sent))


def test_an_hourly_job_is_pre_warmed_not_kept_warm(clock: FakeClock) -> None:
    sent: list[float] = []
    complete = decorated(clock, sent)
    rng = random.Random(1)
    runs = [k * 3600 + rng.uniform(-30, 30) for k in range(1, 9)]
    calls_at(complete, clock, runs)
    before = len(sent)
    last = clock.now
    run_until(complete.warmer, clock, last + 3400)
    assert len(sent) - before <= 1  # at most the pre-warm, not ~11 keep-warm pings
    due = complete.warmer.next_ping_at(MODEL)
    pings = sent[before:]
    first = pings[0] if pings else due
    assert first is not None
    assert last + 3000 < first < last + 3540  # loaded before the next run


def test_a_long_silence_after_busy_traffic_is_quiet(clock: FakeClock) -> None:
    sent: list[float] = []
    complete = decorated(clock, sent)
    rng = random.Random(2)
    t, times = 0.0, []
    for _ in range(200):  # ~6 h of traffic, gaps of 10-200 s
        t += rng.uniform(10, 200)
        times.append(t)
    calls_at(complete, clock, times)
    assert sent == []  # calls closer than the window: no ping at all
    run_until(complete.warmer, clock, clock.now + 86_400)
    assert len(sent) <= 2  # longer than any gap seen: quiet after a window or two
    assert complete.warmer.next_ping_at(MODEL) is None


def test_interval_overrides_the_policy(clock: FakeClock) -> None:
    sent: list[float] = []
    complete = decorated(clock, sent, interval=100)
    complete([{"role": "user", "content": "hi"}])
    run_until(complete.warmer, clock, clock.now + 1000)
    assert len(sent) == 10


@pytest.mark.parametrize("value", [1.0, -0.1, "1%", True, float("nan")])
def test_a_bad_budget_is_a_clear_error(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"cold_start_budget must be a fraction"):
        warm(MODEL, cold_start_budget=value)


def test_failed_pings_back_off_under_the_policy_too(clock: FakeClock) -> None:
    attempts: list[float] = []

    def failing(model: str) -> None:
        attempts.append(clock.now)
        raise ConnectionError("provider down")

    @warm(MODEL, ping=failing, _clock=clock)
    def complete(messages: Any, *, model: str = MODEL) -> str:
        return "ok"

    complete([{"role": "user", "content": "hi"}])
    run_until(complete.warmer, clock, clock.now + 6 * 3600)
    assert complete.warmer.ping_failures == len(attempts) >= 3
    spacings = [b - a for a, b in itertools.pairwise(attempts)]
    assert max(spacings) > 300  # backing off past the window, not hammering a dead endpoint
    assert len(attempts) < 6 * 3600 / 296  # fewer than a healthy idle model's pings
