"""``interval="auto"``: learn a provider's unload window from idle gaps and latencies.

Every call that reached the provider (a user call or a ping) is an observation: the idle gap
before it and its latency (a stream's time to its first chunk). A call is *cold* when its
latency is far above the warm baseline: more than ``COLD_RATIO`` times the baseline and more
than ``COLD_FLOOR`` seconds above it (the baseline is the median of the fastest half of
recent latencies, so a few cold starts cannot drag it up).

The first ping comes after a quarter of the starting interval, so that a warm latency is
known early (the first call of a model is usually cold). The window lies between ``lo``, the
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
import statistics
import threading
from collections import deque

__all__ = ["COLD_FLOOR", "COLD_RATIO", "PROBE_GROWTH", "SAFETY", "Learner"]

COLD_RATIO = 3.0
COLD_FLOOR = 0.05
PROBE_GROWTH = 1.25
SAFETY = 0.8
_HISTORY = 64


class Learner:
    """The unload window of one model, learned from ``observe(gap, latency)``."""

    def __init__(self, start: float, *, minimum: float = 0.01, maximum: float = 86400.0) -> None:
        self.start = start
        self.minimum = minimum
        self.maximum = maximum
        self.lo: float | None = None
        self.hi: float | None = None
        self.warm_gaps: list[float] = []
        self.latencies: deque[float] = deque(maxlen=_HISTORY)
        self.observations = 0
        self._lock = threading.Lock()

    def baseline(self) -> float | None:
        """Return the warm latency baseline: the median of the fastest half seen recently."""
        if not self.latencies:
            return None
        fastest = sorted(self.latencies)[: max(1, len(self.latencies) // 2)]
        return statistics.median(fastest)

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
            cold = self.is_cold(latency)
            self.latencies.append(latency)
            if gap is None or gap <= 0:
                return
            if not cold:
                self.warm_gaps.append(gap)
                if self.hi is not None and gap >= self.hi:  # the window grew past hi
                    self.hi = None
                self.lo = max(self.warm_gaps)
            elif self.lo is not None and gap <= self.lo:  # the window shrank: forget
                self.warm_gaps = [g for g in self.warm_gaps if g < gap]
                self.lo = max(self.warm_gaps) if self.warm_gaps else None
                self.hi = gap
            else:
                self.hi = gap if self.hi is None else min(self.hi, gap)
            if len(self.warm_gaps) > _HISTORY:
                self.warm_gaps = sorted(self.warm_gaps)[-_HISTORY:]

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
            value = self.start / 4
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
