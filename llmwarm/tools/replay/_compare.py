"""Replay one log three ways: no warming, the best fixed-interval cron, and llmwarm.

Each way is one call of the replay engine (:func:`llmwarm.sim.replay.replay`), the real
``@warm`` stack against the in-process simulator in virtual time; :func:`_engine` is the
only place that calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The demo's percentile (linear interpolation), so both commands report alike.
from llmwarm.tools.demo._run import percentile

__all__ = ["CRON_MARGIN", "Costs", "Outcome", "compare", "cron_candidates"]

#: The cron a careful user writes pings this long before the keep-alive runs out.
CRON_MARGIN = 5.0
_DAY = 86_400.0


@dataclass(frozen=True)
class Costs:
    """What one ping costs: tokens, and dollars per million tokens (gpt-4o-mini's prices).

    .. versionadded:: 0.2.0
    """

    input_tokens: int = 8
    output_tokens: int = 1
    input_price: float = 0.15
    output_price: float = 0.60

    def per_ping(self) -> float:
        """Dollars per ping."""
        return (self.input_tokens * self.input_price + self.output_tokens * self.output_price) / 1e6


@dataclass
class Outcome:
    """One set-up's replay of the log.

    .. versionadded:: 0.2.0
    """

    name: str
    at: list[float]
    latencies: list[float]
    cold: list[bool]
    ping_times: list[float]
    days: float
    cron_interval: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def cold_rate(self) -> float:
        """The fraction of requests that waited for a model load."""
        return sum(self.cold) / len(self.cold) if self.cold else 0.0

    def summary(self, costs: Costs) -> dict[str, Any]:
        """Return the figures the table and ``--json`` show."""
        pings_per_day = len(self.ping_times) / self.days
        tokens = costs.input_tokens + costs.output_tokens
        return {
            "name": self.name,
            "requests": len(self.cold),
            "cold_starts": sum(self.cold),
            "cold_start_rate": self.cold_rate,
            "p50_s": round(percentile(self.latencies, 50), 3),
            "p99_s": round(percentile(self.latencies, 99), 3),
            "pings": len(self.ping_times),
            "pings_per_day": round(pings_per_day, 1),
            "ping_tokens_per_day": round(pings_per_day * tokens, 1),
            "ping_cost_per_day": pings_per_day * costs.per_ping(),
            "cron_interval_s": self.cron_interval,
        }


def _engine(times: Sequence[float], **options: Any) -> Any:
    from llmwarm.sim.replay import replay

    return replay(times, **options)


def _outcome(name: str, times: Sequence[float], result: Any, keep_alive: float) -> Outcome:
    first = times[0]
    end = max(float(result.duration_s), first)
    # Per day of the log itself: from its first request to the end of its last (with at
    # least one keep-alive, so that a log of one request does not divide by zero).
    days = max(end - first, keep_alive) / _DAY
    pings = [p for p in result.ping_times if first <= p <= end]
    requests = result.requests
    return Outcome(
        name=name,
        at=[r.at for r in requests],
        latencies=[r.latency_s for r in requests],
        cold=[r.cold for r in requests],
        ping_times=pings,
        days=days,
    )


def cron_candidates(keep_alive: float) -> list[float]:
    """Return the cron intervals to try, shortest first: ``keep_alive - 5 s``, then longer ones.

    Longer than the keep-alive, a cron lets the model unload between pings; on busy
    traffic the user's own requests may keep it loaded, so a longer cron can be enough.

    .. versionadded:: 0.2.0
    """
    first = max(keep_alive - CRON_MARGIN, keep_alive / 2)
    return [first] + [m * keep_alive for m in (1.5, 2, 3, 4, 6, 8)]


def compare(
    times: Sequence[float],
    *,
    keep_alive: float,
    cold_start: float,
    warm: Mapping[str, Any],
    cron: float | None = None,
    budget: float = 0.01,
    provider: str = "openai",
    on_step: Callable[[str], None] = lambda step: None,
) -> list[Outcome]:
    """Replay ``times`` with no warming, with a cron, and with ``@warm(**warm)``.

    ``cron`` fixes the cron's interval; by default it is the longest of
    :func:`cron_candidates` whose cold-start rate is at most llmwarm's or ``budget``,
    whichever is higher: the cheapest cron that does as well.

    .. versionadded:: 0.2.0
    """
    common = {"keep_alive": keep_alive, "cold_start": cold_start, "provider": provider}
    on_step("none")
    none = _outcome("none", times, _engine(times, **common), keep_alive)
    on_step("llmwarm")
    ours = _outcome("llmwarm", times, _engine(times, warm=dict(warm), **common), keep_alive)
    ours.details["warm"] = dict(warm)
    target = max(ours.cold_rate, budget)
    best: Outcome | None = None
    for interval in [cron] if cron is not None else cron_candidates(keep_alive):
        on_step(f"cron {interval:g} s")
        result = _engine(times, cron=interval, **common)
        outcome = _outcome(f"cron {interval:g} s", times, result, keep_alive)
        outcome.cron_interval = interval
        if best is not None and outcome.cold_rate > target:
            break  # longer intervals only get colder
        best = outcome
    assert best is not None
    return [none, best, ours]
