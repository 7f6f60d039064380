"""Named traffic shapes: seeded request times for tests, benchmarks, the demo and replay.

Each shape returns a sorted list of request times in seconds, in ``[0, days * 86 400)``;
time 0 is a Monday at midnight, so shapes with a weekly rhythm (:func:`diurnal`) line up
with the calendar. The same arguments and seed give the same list on any machine (one
:class:`random.Random` per call, never the global one)::

    from llmwarm.sim.traffic import diurnal, periodic, poisson, sessions

    poisson(300, days=7, seed=1)            # memoryless, one request every 5 min on average
    diurnal(60, days=7, seed=1)             # weekday office hours, quiet nights and weekends
    periodic(3600, days=7, seed=1)          # an hourly job, ± 60 s
    sessions(3600, days=7, seed=1)          # bursts of calls, then long gaps

Why these four: real LLM traffic is rarely memoryless. Office hours and empty nights,
scheduled jobs and interactive sessions are the patterns a warming policy must learn
(Shahrad et al., "Serverless in the Wild", USENIX ATC 2020; SPES, 2024), and the
memoryless case is the one it must not lose on.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from llmwarm._core import ConfigError
from llmwarm._core import options as _options

__all__ = ["DAY", "SHAPES", "WEEK", "diurnal", "periodic", "poisson", "sessions"]

#: Seconds in a day and a week.
DAY = 86_400.0
WEEK = 7 * DAY


def _positive(name: str, value: float) -> float:
    return _options.seconds(name, value)


def _horizon(days: float) -> float:
    if not (isinstance(days, (int, float)) and math.isfinite(days) and days > 0):
        raise ConfigError("days", f"must be a positive finite number, got {days!r}")
    return float(days) * DAY


def _poisson_between(rng: random.Random, start: float, end: float, mean_gap: float) -> list[float]:
    """Poisson arrivals with ``mean_gap`` in ``[start, end)``."""
    times: list[float] = []
    now = start + rng.expovariate(1.0 / mean_gap)
    while now < end:
        times.append(now)
        now += rng.expovariate(1.0 / mean_gap)
    return times


def poisson(mean_gap: float, days: float = 7, seed: int = 0) -> list[float]:
    """Return memoryless traffic: independent requests, ``mean_gap`` seconds apart on average.

    The hardest case for prediction (the time since the last request says nothing about
    the next one), and the one where a warmer should simply ping while idle.

    .. versionadded:: 0.2.0
    """
    gap = _positive("mean_gap", mean_gap)
    return _poisson_between(random.Random(seed), 0.0, _horizon(days), gap)


def diurnal(
    mean_gap: float = 120,
    days: float = 7,
    seed: int = 0,
    *,
    open_hour: float = 9,
    close_hour: float = 18,
    quiet_gap: float | None = None,
) -> list[float]:
    """Return office hours: Poisson requests ``mean_gap`` apart on weekdays, quiet otherwise.

    Monday to Friday between ``open_hour`` and ``close_hour`` (time 0 is Monday 00:00),
    requests arrive ``mean_gap`` seconds apart on average. Nights and weekends are silent,
    or, with ``quiet_gap``, see a rare request that far apart on average (a night-shift
    user, a monitoring probe).

    .. versionadded:: 0.2.0
    """
    gap = _positive("mean_gap", mean_gap)
    quiet = None if quiet_gap is None else _positive("quiet_gap", quiet_gap)
    if not 0 <= open_hour < close_hour <= 24:
        raise ConfigError(
            "open_hour",
            f"and close_hour must satisfy 0 <= open_hour < close_hour <= 24, "
            f"got {open_hour!r} and {close_hour!r}",
        )
    end = _horizon(days)
    rng = random.Random(seed)
    times: list[float] = []
    # Day by day, so that the office-hours boundaries are exact and one RNG stream
    # draws everything in time order (the same seed gives the same list).
    for day in range(math.ceil(end / DAY)):
        midnight = day * DAY
        opens, closes = midnight + open_hour * 3600, midnight + close_hour * 3600
        spans = [(midnight, opens, quiet), (opens, closes, gap if day % 7 < 5 else quiet)]
        spans.append((closes, midnight + DAY, quiet))
        for start, stop, span_gap in spans:
            if span_gap is not None and start < end:
                times.extend(_poisson_between(rng, start, min(stop, end), span_gap))
    return times


def periodic(
    period: float = 3600,
    days: float = 7,
    seed: int = 0,
    *,
    jitter: float | None = None,
    offset: float | None = None,
) -> list[float]:
    """Return a scheduled job's requests: one every ``period`` seconds, ± ``jitter``.

    The ``k``-th run is at ``offset + k * period`` plus a uniform draw in
    ``[-jitter, +jitter]`` (a cron on a busy host). ``jitter`` defaults to 60 s, or a
    tenth of the period when that is shorter. ``offset`` (the first run's nominal time)
    defaults to a seeded draw in ``[jitter, period)``. Runs that would fall outside the
    range are dropped.

    .. versionadded:: 0.2.0
    """
    every = _positive("period", period)
    if jitter is None:
        jitter = min(60.0, every / 10)
    if not (isinstance(jitter, (int, float)) and 0 <= jitter < every / 2):
        raise ConfigError(
            "jitter", f"must be in [0, period / 2) = [0, {every / 2:g}), got {jitter!r}"
        )
    end = _horizon(days)
    rng = random.Random(seed)
    if offset is None:
        first = rng.uniform(min(jitter, every / 2), every)
    else:
        first = _options.seconds("offset", offset, minimum=0.0, inclusive=True)
    times: list[float] = []
    nominal = first
    while nominal - jitter < end:
        at = nominal + rng.uniform(-jitter, jitter) if jitter else nominal
        if 0 <= at < end:
            times.append(at)
        nominal += every
    # jitter < period / 2 keeps the runs in order; sort anyway, it is cheap and certain.
    times.sort()
    return times


def sessions(
    session_gap: float = 3600,
    days: float = 7,
    seed: int = 0,
    *,
    calls: tuple[int, int] = (3, 15),
    call_gap: float = 20,
) -> list[float]:
    """Return interactive sessions: bursts of calls, then long gaps.

    Sessions start as a Poisson process, ``session_gap`` seconds apart on average. Each
    makes between ``calls[0]`` and ``calls[1]`` calls (uniform, inclusive), ``call_gap``
    seconds apart on average (exponential: a user reading an answer, then asking again).
    Sessions may overlap.

    .. versionadded:: 0.2.0
    """
    gap = _positive("session_gap", session_gap)
    within = _positive("call_gap", call_gap)
    low, high = calls
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ConfigError("calls", f"must be (min, max) with 1 <= min <= max, got {calls!r}")
    end = _horizon(days)
    rng = random.Random(seed)
    times: list[float] = []
    for start in _poisson_between(rng, 0.0, end, gap):
        at = start
        for _ in range(rng.randint(low, high)):
            if at >= end:
                break
            times.append(at)
            at += rng.expovariate(1.0 / within)
    times.sort()
    return times


#: The shapes by name, for command lines and benchmark tables.
SHAPES: dict[str, Callable[..., list[float]]] = {
    "poisson": poisson,
    "diurnal": diurnal,
    "periodic": periodic,
    "sessions": sessions,
}
