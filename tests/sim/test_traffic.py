"""Named traffic shapes: sorted, in range, the same for the same seed, and shaped as named."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmwarm.sim
from llmwarm import ConfigError
from llmwarm.sim.traffic import DAY, SHAPES, diurnal, periodic, poisson, sessions

seeds = st.integers(min_value=0, max_value=2**32)
days = st.floats(min_value=0.01, max_value=3.0)


def _shape(name: str, gap: float) -> Callable[[float, int], list[float]]:
    # One positional "gap" per shape (its first parameter) to drive them all alike.
    return lambda d, seed: SHAPES[name](gap, d, seed)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(SHAPES)),
    gap=st.floats(min_value=30.0, max_value=7200.0),
    d=days,
    seed=seeds,
)
def test_every_shape_is_sorted_in_range_and_deterministic(
    name: str, gap: float, d: float, seed: int
) -> None:
    shape = _shape(name, gap)
    times = shape(d, seed)
    assert times == sorted(times)
    assert all(0 <= t < d * DAY for t in times)
    assert shape(d, seed) == times


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_different_seed_gives_different_traffic(name: str) -> None:
    assert SHAPES[name](600, 2, 1) != SHAPES[name](600, 2, 2)


def test_shapes_are_exported_lazily_from_the_sim_package() -> None:
    assert llmwarm.sim.poisson is poisson
    assert (llmwarm.sim.diurnal, llmwarm.sim.periodic, llmwarm.sim.sessions) == (
        diurnal,
        periodic,
        sessions,
    )


def test_poisson_has_the_mean_gap_it_was_asked_for() -> None:
    times = poisson(300, days=7, seed=3)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert statistics.mean(gaps) == pytest.approx(300, rel=0.08)
    # Memoryless: the standard deviation of exponential gaps equals their mean.
    assert statistics.stdev(gaps) == pytest.approx(300, rel=0.12)


def test_diurnal_is_busy_on_weekday_office_hours_and_silent_otherwise() -> None:
    times = diurnal(120, days=7, seed=5, open_hour=9, close_hour=18)
    assert times
    for t in times:
        day, hour = int(t // DAY), (t % DAY) / 3600
        assert day < 5, f"a weekend request at {t}"
        assert 9 <= hour < 18, f"a request outside office hours at {t}"
    per_day = [sum(1 for t in times if int(t // DAY) == d) for d in range(5)]
    assert all(9 * 3600 / 120 * 0.8 < n < 9 * 3600 / 120 * 1.2 for n in per_day)


def test_diurnal_quiet_gap_adds_rare_requests_at_night_and_on_weekends() -> None:
    times = diurnal(120, days=7, seed=5, quiet_gap=3600)
    weekend = [t for t in times if t >= 5 * DAY]
    assert 24 < len(weekend) < 80  # about 48 hours at one an hour


def test_periodic_runs_once_per_period_within_its_jitter() -> None:
    times = periodic(3600, days=2, seed=9, jitter=60, offset=1800)
    assert len(times) == 48
    for k, t in enumerate(times):
        assert abs(t - (1800 + k * 3600)) <= 60


def test_periodic_without_jitter_is_exact() -> None:
    assert periodic(600, days=600 * 3 / DAY, seed=0, jitter=0, offset=0) == [0.0, 600.0, 1200.0]


def test_sessions_are_bursts_separated_by_long_gaps() -> None:
    times = sessions(3600, days=7, seed=11, calls=(3, 6), call_gap=20)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    short = [g for g in gaps if g < 300]
    long_ = [g for g in gaps if g >= 300]
    assert len(short) > 2 * len(long_)  # most gaps are within a session
    assert statistics.median(long_) > 1200  # and sessions are far apart


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: poisson(0), "mean_gap"),
        (lambda: poisson(float("nan")), "mean_gap"),
        (lambda: poisson(60, days=0), "days"),
        (lambda: diurnal(60, open_hour=18, close_hour=9), "open_hour"),
        (lambda: diurnal(60, quiet_gap=-1), "quiet_gap"),
        (lambda: periodic(600, jitter=300), "jitter"),
        (lambda: periodic(600, offset=-5), "offset"),
        (lambda: sessions(600, calls=(0, 3)), "calls"),
        (lambda: sessions(600, call_gap=0), "call_gap"),
    ],
)
def test_bad_parameters_are_refused_by_name(call: Callable[[], object], parameter: str) -> None:
    with pytest.raises(ConfigError) as raised:
        call()
    assert raised.value.path == parameter
