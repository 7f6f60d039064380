"""The warming policy's decisions (keep warm, pre-warm, go quiet) on a fake clock, no I/O."""

from __future__ import annotations

import random

import pytest

from llmwarm.sim.traffic import diurnal, periodic, poisson
from llmwarm.warm._policy import BIN, MIN_MARGIN, WarmingPolicy

T0 = 1_704_067_200.0  # Monday 1 January 2024, 00:00 UTC
K = 300.0


def learned(times: list[float], budget: float = 0.01) -> WarmingPolicy:
    policy = WarmingPolicy(K, budget)
    policy.observe_ping(14.0, cold=True)  # a measured load: pre-warms lead by 14 s + margin
    for at in times:
        policy.observe_call(T0 + at)
    return policy


def test_no_history_keeps_warm_with_a_margin_of_seconds() -> None:
    policy = WarmingPolicy(K)
    assert policy.decide(T0, T0 + K).action == "keep"
    policy.observe_call(T0)
    decision = policy.decide(T0, T0 + K)
    assert decision.action == "keep"
    assert decision.at == pytest.approx(T0 + K - policy.margin)
    for _ in range(10):
        policy.observe_ping(0.3, cold=False)
    assert MIN_MARGIN <= policy.margin < 5  # measured round trip + jitter, not a ratio of K
    assert policy.spacing == K - policy.margin


def test_memoryless_traffic_is_kept_warm() -> None:
    times = poisson(300, days=3, seed=2)
    policy = learned(times)
    last = T0 + times[-1]
    decision = policy.decide(last, last + K)
    assert decision.action == "keep"
    assert decision.at == pytest.approx(last + K - policy.margin)


def test_an_hourly_job_is_pre_warmed_just_before_its_next_run() -> None:
    times = periodic(3600, days=1, seed=3, jitter=30)
    policy = learned(times)
    last = T0 + times[-1]
    decision = policy.decide(last, last + K)
    assert decision.action == "prewarm"
    assert decision.at is not None
    # Loaded before the earliest next run seen (gap >= 3540 s), and not much earlier.
    ready = decision.at + 14.0
    assert last + 3000 < ready < last + 3540
    assert decision.risk <= 0.01


def test_a_night_after_office_hours_is_quiet_until_the_morning() -> None:
    times = diurnal(120, days=3, seed=4)  # Monday to Wednesday; Thursday has not come yet
    policy = learned(times)
    last = T0 + times[-1]  # Wednesday evening, just before 18:00
    decision = policy.decide(last, last + K)
    # Keep warm a little (gaps of the day are still possible), then silence.
    assert decision.action == "keep"
    late = last + 3 * 3600  # 21:00: three hours without a call
    decision = policy.decide(late, late)
    assert decision.action == "prewarm"
    assert decision.at is not None
    thursday_9 = T0 + 3 * 86400 + 9 * 3600
    assert thursday_9 - 3600 < decision.at < thursday_9  # pre-warmed before the first call


def test_silence_beyond_every_gap_seen_is_quiet_once_the_history_vouches_for_it() -> None:
    rng = random.Random(5)
    times, t = [], 0.0
    for _ in range(400):  # busy traffic: gaps of at most 200 s
        t += rng.uniform(10, 200)
        times.append(t)
    policy = learned(times)
    late = T0 + times[-1] + 1000
    assert policy.decide(late, late).action == "quiet"
    few = learned(times[:20])  # 19 gaps do not vouch for silence within a 1% budget
    late = T0 + times[19] + 1000
    assert few.decide(late, late).action == "keep"


def test_a_new_rhythm_is_learned_within_a_day() -> None:
    # Office hours Monday to Wednesday; from Wednesday a job also calls at 03:00. On
    # Wednesday evening the policy pre-warms for Thursday 03:00, not only for 09:00.
    office = diurnal(120, days=3, seed=6)
    with_job = sorted([*office, 2 * 86400 + 3 * 3600])
    late = T0 + 2 * 86400 + 21 * 3600  # Wednesday 21:00, three hours after the last call
    thursday_3 = T0 + 3 * 86400 + 3 * 3600
    before = learned(office).decide(late, late)
    after = learned(with_job).decide(late, late)
    assert before.at is not None
    assert after.at is not None
    assert before.at > thursday_3
    assert after.action == "prewarm"
    assert after.at < thursday_3


def test_the_risk_of_one_gap_is_spent_once() -> None:
    times = periodic(3600, days=1, seed=3, jitter=30)
    policy = learned(times)
    last = T0 + times[-1]
    first = policy.decide(last, last + K)
    assert policy.spent == pytest.approx(first.risk)
    policy.observe_call(last + 3600)
    assert policy.spent == 0.0


def test_horizon_covers_the_busy_period_for_a_window_setting_ping() -> None:
    times = poisson(300, days=2, seed=7)  # idle gaps of up to ~40 min
    policy = learned(times)
    last = T0 + times[-1]
    horizon = policy.horizon(last, last + K)
    assert horizon > last + 2 * K  # more than one window: one preload instead of pings
    assert horizon <= last + 86400


def test_bins_are_five_minutes() -> None:
    assert BIN == 300


def test_a_window_of_seconds_still_leaves_time_between_pings() -> None:
    policy = WarmingPolicy(2.0)  # a compressed clock: the provider unloads after 2 s
    policy.observe_call(T0)
    decision = policy.decide(T0, T0 + 2.0)
    assert decision.at == pytest.approx(T0 + 1.5)
    assert policy.spacing == pytest.approx(1.5)
