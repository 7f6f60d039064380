"""When to ping: keep a model warm, let it unload and pre-warm it, or go quiet (no I/O).

The default policy of ``@warm``. One target, ``budget``: the fraction of user calls that
may find the model cold. Every decision is about one idle gap, the time between the last
user call ``U`` and the next one, and is taken when the model would unload (``W``, the end
of the last activity plus the provider's ``keep_alive``):

* **keep** - ping at ``W - margin`` (the margin covers the ping's round trip and the
  scheduler's jitter: a few seconds, not a share of the window);
* **pre-warm** - let the model unload at ``W`` and ping ``lead`` seconds (a cold load plus
  the margin) before ``X``, the time from which a call becomes likely again;
* **quiet** - no ping at all until the next call (nights, weekends).

Skipping the window ``(W, X)`` is allowed only while the chance that the next call lands in
it stays within this gap's share of the budget, and only if it saves at least one ping.
The budget is per call, and every gap ends in one call; a gap already idle for ``s`` is one
of the few that last that long (``alive`` of ``n`` gaps seen), so it may take ``n / alive``
times more risk: ``SPEND x budget x n / alive``, and only ``SPEND`` of the budget is planned
(the rest absorbs prediction errors). The decision is conditioned on the gap lasting until
the keep-warm ping would be sent, since a call before that makes it moot.
Two predictors judge that chance, each from the last ``HISTORY_DAYS`` of calls:

1. the **idle-time histogram** (Shahrad et al., "Serverless in the Wild", ATC 2020): the
   gaps between calls, conditioned on the time already idle; the share of them that would
   end inside the window, with a pad that shrinks as samples accumulate. Periodic jobs
   and sessions are seen here;
2. the **time-of-day profile** (IceBreaker, ASPLOS 2022): the rate of calls that found the
   model idle, per ``BIN`` seconds of the day, learned separately for weekdays and weekends
   (all days while a class has not been seen), in UTC. Office hours and quiet nights are
   seen here; it only knows the times of day it has already observed.

A cold start makes every call that arrives during the load wait too (the rest of a
session): the budget is divided by the calls one cold start has made wait, on average.
A skip must also be *significant*: the window's emptiness would be unlikely (fewer than
``MU_MIN`` calls expected) if the traffic were memoryless, so chance gaps in sparse data
are not mistaken for a rhythm (Poisson traffic and session starts are kept warm).

A skip needs every informed predictor to agree and at least one to be informed: until the
history says anything (no gap yet), the model is kept warm (the histogram's fixed
keep-alive fallback). Beyond the longest gap seen, the histogram vouches for silence only
when one gap in ``len(gaps) + 1`` is within the budget.

All times are wall-clock seconds (``time.time()`` scale) passed in by the caller; the policy
reads no clock, so every decision is testable on a fake one.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from dataclasses import dataclass

__all__ = [
    "BIN",
    "DEFAULT_BUDGET",
    "DEFAULT_KEEP_ALIVE",
    "DEFAULT_LEAD",
    "HISTORY_DAYS",
    "MIN_MARGIN",
    "Decision",
    "WarmingPolicy",
]

DEFAULT_BUDGET = 0.01
DEFAULT_KEEP_ALIVE = 300.0
DEFAULT_LEAD = 30.0  # a cold load's time until one is measured
MIN_MARGIN = 2.0
HISTORY_DAYS = 7
BIN = 300.0
SPEND = 0.5
MU_MIN = 3.0
_DAY = 86_400.0
_HORIZON_DAYS = 8  # the furthest a pre-warm is planned; beyond it, quiet
_MAX_CALLS = 20_000  # a bound on memory and planning time, whatever the traffic
_EPOCH_MONDAY = 3 * _DAY  # 1 January 1970 was a Thursday: day 3 of a week from Monday


@dataclass(frozen=True)
class Decision:
    """What to do next for one model.

    ``action`` is ``"keep"``, ``"prewarm"`` or ``"quiet"``; ``at`` is when to ping (wall
    seconds), None when quiet; ``risk`` is the chance of a cold call this decision accepts.
    """

    action: str
    at: float | None
    risk: float = 0.0


def _weekend(t: float) -> bool:
    return ((t + _EPOCH_MONDAY) // _DAY) % 7 >= 5


def _bin(t: float) -> tuple[bool, int]:
    """Return the time-of-day profile's key of ``t``: (weekend, bin of the day)."""
    return _weekend(t), int((t % _DAY) // BIN)


class WarmingPolicy:
    """The warming decisions of one model, from the calls it saw (see the module doc)."""

    def __init__(
        self,
        keep_alive: float = DEFAULT_KEEP_ALIVE,
        budget: float = DEFAULT_BUDGET,
    ) -> None:
        self.keep_alive = keep_alive
        self.budget = budget
        self.calls: deque[float] = deque(maxlen=_MAX_CALLS)  # user call starts, in order
        self.started: float | None = None  # the first call: the history covers [started, now]
        self.spent = 0.0  # the risk accepted in the current gap
        self._latencies: deque[float] = deque(maxlen=32)  # warm pings
        self._loads: deque[float] = deque(maxlen=8)  # cold pings
        self._gaps: list[float] = []  # sorted gaps of the history (cache)
        self._profile: dict[tuple[bool, int], float] = {}  # idle-call counts per (weekend, bin)
        self._idle_calls = 0.0
        self._burst = 1.0  # the calls one cold start makes wait (itself and those in its load)
        # Kept in step with `calls` as calls come and go (O(log n) each, not a rebuild of the
        # whole history on every plan): the starts of the calls that followed an idle spell,
        # the calls that arrived while those loaded, and what both were counted with.
        self._idle: deque[float] = deque()
        self._followers = 0
        self._basis: tuple[float, float] | None = None  # (keep_alive, load) of the counts
        self._stale = True

    # -- what the policy learns from

    def observe_call(self, at: float) -> None:
        """Learn from one user call that started at ``at`` (calls come in order)."""
        calls = self.calls
        if calls and at < calls[-1]:
            at = calls[-1]  # threads may report a hair out of order
        if self.started is None:
            self.started = at
        if self._stale or self._basis != (self.keep_alive, self.load):
            self._stale = True  # counted from scratch at the next plan
        else:
            if len(calls) == calls.maxlen:  # the append below drops the oldest call
                self._forget_oldest()
            self._count_new(at)
        calls.append(at)
        self.spent = 0.0

    def observe_ping(self, latency: float, cold: bool) -> None:
        """Learn from one ping: its latency, and whether it had to load the model."""
        if math.isfinite(latency) and latency >= 0:
            (self._loads if cold else self._latencies).append(latency)

    @property
    def margin(self) -> float:
        """Seconds before the window ends that a keep-warm ping is sent."""
        # A quarter of the window at most: a window of seconds (a compressed test clock)
        # must still leave time between pings.
        if not self._latencies:
            return min(2 * MIN_MARGIN, self.keep_alive / 4)
        ordered = sorted(self._latencies)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        return min(max(MIN_MARGIN, 2 * p90 + 1.0), self.keep_alive / 4)

    @property
    def load(self) -> float:
        """Seconds a cold load is predicted to take: the longest measured, else 30 s."""
        return max(self._loads) if self._loads else DEFAULT_LEAD

    @property
    def lead(self) -> float:
        """Seconds before a predicted call that a pre-warm ping is sent (a load + margin)."""
        return self.load + self.margin

    @property
    def spacing(self) -> float:
        """Seconds between keep-warm pings of an idle model."""
        return self.keep_alive - self.margin

    # -- the decision

    def decide(self, now: float, warm_until: float) -> Decision:
        """Return what to do about the gap after the last call, the model warm until then.

        The risk of a skip is added to this gap's spending (a new call resets it).
        """
        decision = self.plan(now, warm_until, self.spent)
        self.spent += decision.risk
        return decision

    def plan(self, now: float, warm_until: float, spent: float = 0.0) -> Decision:
        """Like :meth:`decide`, without recording the risk (to look ahead)."""
        ping_at = max(now, warm_until - self.margin)
        keep = Decision("keep", ping_at)
        if not self.calls:
            return keep
        self._refresh(now)
        if not self._gaps:  # not representative yet: a fixed keep-alive
            return keep
        end, risk = self._safe_until(now, ping_at, self.calls[-1], warm_until, spent)
        if math.isinf(end):
            return Decision("quiet", None, risk)
        at = end - self.lead
        if at < ping_at + self.spacing:  # saves no ping: stay warm
            return keep
        return Decision("prewarm", at, risk)

    def horizon(self, now: float, warm_until: float, limit: float = _DAY) -> float:
        """Return until when the policy would keep the model warm with no call (window set).

        The end of the first window it would let close, looking ``limit`` seconds ahead.
        """
        until, spent = warm_until, self.spent
        while until < now + limit:
            decision = self.plan(now, until, spent)
            if decision.action != "keep":
                return until
            until += self.spacing
        return until

    # -- internals

    def _refresh(self, now: float) -> None:
        old = now - HISTORY_DAYS * _DAY
        while self.calls and self.calls[0] < old:
            if self._stale:
                self.calls.popleft()
            else:
                self._forget_oldest()
                self.calls.popleft()
        if self.started is not None and self.started < old:
            self.started = old
        if self.calls and len(self.calls) == self.calls.maxlen and self.started is not None:
            # Older calls fell out of the bounded history: it covers only what it keeps.
            self.started = max(self.started, self.calls[0])
        load = self.load  # what a cold start takes: `lead` less its margin
        if not self._stale and self._basis == (self.keep_alive, load):
            return
        calls = list(self.calls)
        gaps = [b - a for a, b in itertools.pairwise(calls)]
        self._gaps = sorted(gaps)
        profile: dict[tuple[bool, int], float] = {}
        idle: deque[float] = deque()
        followers = 0
        for i, (before, at) in enumerate(itertools.pairwise(calls), start=1):
            if at - before > self.keep_alive:  # only a call after an idle spell can be cold
                key = _bin(at)
                profile[key] = profile.get(key, 0.0) + 1.0
                idle.append(at)
                # The calls that arrive while a cold model loads wait too (a session).
                followers += bisect.bisect_right(calls, at + load, lo=i + 1) - i - 1
        self._profile, self._idle, self._followers = profile, idle, followers
        self._basis = (self.keep_alive, load)
        self._counted()
        self._stale = False

    def _counted(self) -> None:
        """Derive the totals from the per-bin counts (exact: sums of whole numbers)."""
        idle_calls = sum(self._profile.values())
        self._burst = 1.0 + self._followers / idle_calls if idle_calls else 1.0
        self._idle_calls = idle_calls

    def _count_new(self, at: float) -> None:
        """Count a call starting at ``at``, about to be appended, as :meth:`_refresh` would."""
        calls = self.calls
        if not calls:
            return
        assert self._basis is not None
        load = self._basis[1]
        gap = at - calls[-1]
        bisect.insort(self._gaps, gap)
        # It waited on every earlier idle call whose load it arrived within (`at + load`
        # grows with `at`, so those are a suffix of the idle calls).
        idle = self._idle
        self._followers += len(idle) - bisect.bisect_left(idle, at, key=lambda t: t + load)
        if gap > self.keep_alive:
            key = _bin(at)
            self._profile[key] = self._profile.get(key, 0.0) + 1.0
            idle.append(at)
        self._counted()

    def _forget_oldest(self) -> None:
        """Uncount the oldest call, about to leave the history, as :meth:`_refresh` would."""
        calls = self.calls
        if len(calls) < 2:
            return
        assert self._basis is not None
        first, second = calls[0], calls[1]
        gap = second - first
        gaps = self._gaps
        del gaps[bisect.bisect_left(gaps, gap)]
        if gap > self.keep_alive:  # the second call stops following an idle spell
            key = _bin(second)
            count = self._profile[key] - 1.0
            if count:
                self._profile[key] = count
            else:
                del self._profile[key]
            self._idle.popleft()
            self._followers -= bisect.bisect_right(calls, second + self._basis[1], lo=2) - 2
        self._counted()

    def _coverage(self, weekend: bool, index: int, now: float) -> int:
        """Days of the history, of this class, that fully saw bin ``index``."""
        assert self.started is not None
        first = math.floor(self.started / _DAY)
        days = 0
        for day in range(first, math.floor(now / _DAY) + 1):
            start = day * _DAY + index * BIN
            if start >= self.started and start + BIN <= now and _weekend(start) == weekend:
                days += 1
        return days

    def _rate(
        self, t: float, now: float, cache: dict[tuple[bool, int], tuple[float, int] | None]
    ) -> tuple[float, int] | None:
        """Idle calls per second seen around ``t`` and over how many days; None: never seen."""
        weekend, index = _weekend(t), int((t % _DAY) // BIN)
        key = (weekend, index)
        if key not in cache:
            days = self._coverage(weekend, index, now)
            count = self._profile.get(key, 0.0)
            if days == 0:  # this class never seen at this time: any day will do
                days = self._coverage(not weekend, index, now)
                count = self._profile.get((not weekend, index), 0.0)
            cache[key] = None if days == 0 else (count / (days * BIN), days)
        return cache[key]

    def _safe_until(
        self, now: float, decided: float, last: float, warm_until: float, spent: float
    ) -> tuple[float, float]:
        """Return until when the model may stay unloaded after ``warm_until``, and the risk.

        ``decided`` is when the decision takes effect (the keep-warm ping's time): a call
        before it makes the plan moot, so the gap is known to last at least that long.
        ``inf`` means quiet through the planning horizon.
        """
        gaps = self._gaps
        idle = max(0.0, decided - last)
        alive = len(gaps) - bisect.bisect_right(gaps, idle)  # gaps that outlasted `idle`
        # The budget is per call; a gap that reached `idle` is one of `alive` in `len(gaps)`,
        # so it may take that much more risk (the expected cold calls stay within budget).
        # `spent` is in the same unit (expected cold calls per gap), so that the decisions
        # of one long gap share the budget rather than each taking all of it.
        weight = max(1, alive) / len(gaps)  # the chance a gap lasts this long
        cap = min(0.5, (SPEND * self.budget / self._burst - spent) / weight)
        if cap <= 0:
            return warm_until, 0.0
        opens = warm_until - last  # the gap length at which the window closes
        later = gaps[bisect.bisect_right(gaps, opens) :]  # gaps ending while unloaded or after
        # 1. The histogram: unloaded until the gap that would spend the cap (padded).
        end = math.inf
        allowed = math.floor(cap * alive)
        if allowed < len(later):
            target = later[allowed]
            spread = min(self.keep_alive, 0.25 * (_quantile(later, 0.9) - _quantile(later, 0.1)))
            # The pad covers what the samples do not show yet: wide on few, narrower later.
            pad = self.margin + spread + 0.1 * target / (len(later) + 1)
            end = last + target - pad
        silent = not later and (len(gaps) + 1) * SPEND * self.budget >= self._burst
        excess = sum(g - idle for g in gaps[len(gaps) - alive :]) / alive if alive else 0.0
        # 2. The time-of-day profile, bin by bin: the idle calls expected in the window may
        # not pass -log(1 - cap). A time never observed neither vetoes nor vouches.
        most = -math.log1p(-min(cap, 0.999))
        null = self._idle_calls / max(BIN, now - (self.started or now))  # a memoryless rate
        cache: dict[tuple[bool, int], tuple[float, int] | None] = {}
        expected = vouched = 0.0
        t = warm_until
        limit = warm_until + _HORIZON_DAYS * _DAY
        while t < min(end, limit):
            step = min((math.floor(t / BIN) + 1) * BIN, end)
            seen = self._rate(t, now, cache)
            if seen is not None:
                rate, days = seen
                if expected + rate * (step - t) > most:
                    end = t + (most - expected) / rate
                    break
                expected += rate * (step - t)
                vouched += null * days * (step - t)
            t = step
        if end >= limit:
            end = math.inf
        # A skip must be significant: the emptiness of the window would be unlikely (under
        # MU_MIN expected calls) if the traffic were memoryless.
        span = (min(end, limit) - warm_until) / excess if excess > 0 else 0.0
        significant = silent or vouched >= MU_MIN or alive * -math.expm1(-span) >= MU_MIN
        if end <= warm_until or not significant:
            return warm_until, 0.0
        risk = 0.0
        if alive and not math.isinf(end):
            inside = bisect.bisect_left(gaps, end - last) - bisect.bisect_right(gaps, opens)
            risk = max(0, inside) / alive
        return end, weight * max(risk, -math.expm1(-expected))


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, int(q * (len(ordered) - 1))))]
