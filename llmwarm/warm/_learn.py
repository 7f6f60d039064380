"""``interval="auto"``: learn a provider's unload window from idle gaps and latencies.

Every call that reached the provider (a user call or a ping) is an observation: the idle gap
before it and its latency (a stream's time to its first chunk). A call is *cold* when its
latency is far above the warm baseline: more than ``COLD_RATIO`` times the baseline and more
than ``COLD_FLOOR`` seconds above it (the baseline is the 20th percentile of recent
latencies, so cold starts cannot drag it up unless they are four in five).

The first ping comes soon (after a quarter of the starting interval, ``FIRST_LOOK`` = 1 s at
most), so that a warm latency is known early (the first call of a model is usually cold).
Each observation is classified against the current baseline, every time: a fast call seen
late shows that earlier "warm" ones were cold. The window lies between ``lo``, the
longest gap after which a call was still warm, and ``hi``, the shortest longer gap after
which a call was cold. Until a cold call bounds it, the learner *probes*: the next interval
is ``PROBE_GROWTH`` x ``lo``, so the pings themselves stretch the gap until one comes back
cold (that one ping pays a cold start, which no user waits for unless they call during it).
With both bounds, it probes their geometric middle until ``hi / lo <= PROBE_GROWTH``, then
settles on ``SAFETY x lo``. A cold call after a gap shorter than ``lo`` means the window
shrank: warm gaps at least as long are forgotten and learning resumes from there.

Limits: a provider whose cold starts are not clearly slower (under ``COLD_FLOOR`` or
``COLD_RATIO``) teaches nothing, and the interval stays where probing left it; evictions
under memory pressure look like a shorter window; a window that grows is only found again
after a cold observation resets the bounds.
"""

from __future__ import annotations

import math
import threading
from collections import deque

__all__ = ["COLD_FLOOR", "COLD_RATIO", "FIRST_LOOK", "PROBE_GROWTH", "SAFETY", "Learner"]

COLD_RATIO = 3.0
COLD_FLOOR = 0.05
FIRST_LOOK = 1.0
BASELINE_PERCENTILE = 0.2
PROBE_GROWTH = 1.25
SAFETY = 0.8
_HISTORY = 128


class Learner:
    """The unload window of one model, learned from ``observe(gap, latency)``."""

    def __init__(self, start: float, *, minimum: float = 0.01, maximum: float = 86400.0) -> None:
        self.start = start
        self.minimum = minimum
        self.maximum = maximum
        self.lo: float | None = None
        self.hi: float | None = None
        self.history: deque[tuple[float, float]] = deque(maxlen=_HISTORY)
        self.latencies: deque[float] = deque(maxlen=_HISTORY)
        self.observations = 0
        self._lock = threading.Lock()

    def baseline(self) -> float | None:
        """Return the warm latency baseline: a low percentile of recent latencies."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[int(BASELINE_PERCENTILE * (len(ordered) - 1))]

    def is_cold(self, latency: float) -> bool:
        """Whether ``latency`` is a cold start against the current baseline."""
        base = self.baseline()
        if base is None:
            return False
        return latency > COLD_RATIO * base and latency > base + COLD_FLOOR

    def observe(self, gap: float | None, latency: float) -> None:
        """Learn from one call: ``gap`` idle seconds before it (None: never seen), its latency."""
        if not (latency >= 0 and math.isfinite(latency)):
            return
        with self._lock:
            self.observations += 1
            self.latencies.append(latency)
            if gap is not None and gap > 0:
                self.history.append((gap, latency))
            self._replay()

    def _replay(self) -> None:
        # Classify every remembered observation against today's baseline, in order: a
        # fast call seen late can show that earlier "warm" ones were all cold.
        lo: float | None = None
        hi: float | None = None
        warm: list[float] = []
        for gap, latency in self.history:
            if not self.is_cold(latency):
                warm.append(gap)
                if hi is not None and gap >= hi:  # the window grew past hi
                    hi = None
                lo = max(warm)
            elif lo is not None and gap <= lo:  # the window shrank: forget longer warm gaps
                warm = [g for g in warm if g < gap]
                lo = max(warm) if warm else None
                hi = gap
            else:
                hi = gap if hi is None else min(hi, gap)
        self.lo, self.hi = lo, hi

    @property
    def settled(self) -> bool:
        """Whether both bounds are known and close enough to stop probing."""
        lo, hi = self.lo, self.hi
        return lo is not None and hi is not None and hi <= PROBE_GROWTH * lo

    def window(self) -> float | None:
        """Return the best estimate of the unload window (None until a cold call bounds it)."""
        lo, hi = self.lo, self.hi
        if hi is None:
            return None
        return hi if lo is None else math.sqrt(lo * hi)

    def interval(self) -> float:
        """Return the idle time to allow before the next ping."""
        lo, hi = self.lo, self.hi
        if len(self.latencies) < 2:  # a quick second look gives a warm baseline
            value = min(self.start / 4, FIRST_LOOK)
        elif lo is None and hi is None:
            value = self.start
        elif lo is None:
            assert hi is not None
            value = min(self.start, hi) / 2
        elif hi is None:
            value = max(PROBE_GROWTH * lo, self.start)
        elif hi <= PROBE_GROWTH * lo:
            value = SAFETY * lo
        else:
            value = math.sqrt(lo * hi)
        return min(self.maximum, max(self.minimum, value))
