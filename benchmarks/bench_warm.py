"""@warm against a cron, on four traffic shapes: cold-start rate and pings over a week.

Each shape (:mod:`llmwarm.sim.traffic`, seeded) is replayed for 7 simulated days (1 in
quick mode) with :func:`llmwarm.sim.replay.replay`: the real ``@warm`` stack against the
in-process simulator on a virtual clock, keep-alive 300 s, cold start 14 s. Three warmers
see the same arrivals:

- ``none``: no warmer (what the traffic alone costs);
- ``cron``: a ping every ``keep_alive - 5 s`` whatever the traffic (the recipe; <= 1% cold);
- ``llmwarm``: the default ``@warm(model)`` (the warming policy, ``cold_start_budget=0.01``),
  pinging through the decorated function (OpenAI-style, 1 output token);
- ``llmwarm+window``: the same, with Ollama's preload ping, which sets the window
  (``keep_alive``) to the busy period it predicts;
- ``llmwarm@0.1%``: ``@warm(model, cold_start_budget=0.001)``, for the cron's own
  cold-start rate (both find the very first call cold, or neither: the cron pings from
  time 0, ``@warm`` never before a user's call).

Held equal: the arrivals, the provider (window, load time), the simulated latencies and
the span (pings per day count over the same days). Compared: the cold-start rate (over
all calls, and from day 2 / from the third run where the target says so) and the pings,
as a ratio of the cron's. A figure is a count or a ratio, never a wall-clock time: the
run is virtual, so it is the same on any machine.
"""

from __future__ import annotations

import time
from typing import Any

from llmwarm.sim.replay import replay
from llmwarm.sim.traffic import diurnal, periodic, poisson, sessions

KEEP_ALIVE = 300.0
COLD_START = 14.0
CRON = KEEP_ALIVE - 5.0
DAY = 86_400.0

# name -> (arrivals(days), from when the cold rate is judged, target cold, target ratio)
SHAPES: dict[str, tuple[Any, str, float, float]] = {
    "poisson": (lambda days: poisson(300, days=days, seed=1), "all", 0.01, 0.65),
    "diurnal": (lambda days: diurnal(120, days=days, seed=1), "day2", 0.01, 0.30),
    "periodic": (lambda days: periodic(3600, days=days, seed=1), "run3", 0.02, 0.15),
    "sessions": (lambda days: sessions(3600, days=days, seed=1), "all", 0.01, 1.00),
}


def _judged(result: Any, since: str, arrivals: list[float]) -> float:
    if since == "day2":
        return float(result.cold_rate_after(DAY))
    if since == "run3" and len(arrivals) > 2:
        return float(result.cold_rate_after(arrivals[2]))
    return float(result.cold_rate)


def run(quick: bool = False) -> dict[str, Any]:
    """Replay every shape under each warmer; return the table's rows."""
    days = 1 if quick else 7
    rows = []
    started = time.perf_counter()
    for name, (make, since, cold_target, ratio_target) in SHAPES.items():
        arrivals = make(days)
        span = days * DAY
        common: dict[str, Any] = {
            "keep_alive": KEEP_ALIVE,
            "cold_start": COLD_START,
            "until": span,
        }
        results = {
            "none": replay(arrivals, **common),
            "cron": replay(arrivals, cron=CRON, **common),
            "llmwarm": replay(arrivals, warm={}, **common),
            "llmwarm+window": replay(arrivals, warm={}, provider="ollama", **common),
            "llmwarm@0.1%": replay(arrivals, warm={"cold_start_budget": 0.001}, **common),
        }
        cron_pings = max(1, results["cron"].pings)
        row: dict[str, Any] = {"name": name, "requests": len(arrivals), "judged_from": since}
        for mode, result in results.items():
            row[mode] = {
                "cold_rate": round(result.cold_rate, 4),
                "cold_rate_judged": round(_judged(result, since, arrivals), 4),
                "pings": result.pings,
                "pings_per_day": round(result.pings_per_day, 1),
                "pings_vs_cron": round(result.pings / cron_pings, 3),
            }
        llmwarm = row["llmwarm"]
        row["target"] = {"cold_rate": cold_target, "pings_vs_cron": ratio_target}
        row["met"] = (
            llmwarm["cold_rate_judged"] <= cold_target
            and llmwarm["pings_vs_cron"] <= ratio_target
            and llmwarm["cold_rate_judged"] <= max(cold_target, row["cron"]["cold_rate_judged"])
        )
        rows.append(row)
    return {
        "days": days,
        "keep_alive_s": KEEP_ALIVE,
        "cold_start_s": COLD_START,
        "cron_interval_s": CRON,
        "shapes": rows,
        "replay_seconds": round(time.perf_counter() - started, 1),
    }


def table(result: dict[str, Any]) -> str:
    """Return the Markdown table of a :func:`run` result (as in ``docs/warming.md``)."""
    lines = [
        "| traffic | calls | cold: none | cold: cron | cold: llmwarm | pings: cron | "
        "pings: llmwarm (x cron) | pings: llmwarm+window (x cron) | "
        "budget 0.1%: cold, pings (x cron) | target met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["shapes"]:
        w, c, n, o = row["llmwarm"], row["cron"], row["none"], row["llmwarm+window"]
        s = row["llmwarm@0.1%"]
        lines.append(
            f"| {row['name']} | {row['requests']} | {n['cold_rate_judged']:.2%} "
            f"| {c['cold_rate_judged']:.2%} | {w['cold_rate_judged']:.2%} | {c['pings']} "
            f"| {w['pings']} ({w['pings_vs_cron']:.3f}x) "
            f"| {o['pings']} ({o['pings_vs_cron']:.3f}x, cold {o['cold_rate_judged']:.2%}) "
            f"| {s['cold_rate_judged']:.2%}, {s['pings']} ({s['pings_vs_cron']:.3f}x) "
            f"| {'yes' if row['met'] else 'NO'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(table(run(quick="--quick" in sys.argv)))
