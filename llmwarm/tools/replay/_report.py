"""How ``llmwarm replay`` shows itself: the table (80 columns) and the chart."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmwarm.tools.replay._compare import Outcome
from llmwarm.tools.replay._parse import RequestLog

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["plot", "render_table"]

#: Where the chart draws the pings (a log scale has no zero).
FLOOR = 1e-2


def render_table(
    summaries: Sequence[dict[str, Any]],
    log: RequestLog,
    args: argparse.Namespace,
    console: Console | None = None,
) -> None:
    """Print the comparison and a one-line verdict; fits 80 columns, folds when narrower."""
    from rich.console import Console
    from rich.table import Table

    days = log.span_s / 86_400
    table = Table(
        title=f"{len(log.times)} requests over {days:.1f} days from {log.origin:%Y-%m-%d}\n"
        f"cold start {args.cold_start:g} s, keep-alive {args.keep_alive:g} s",
        caption="cron: a ping every interval whatever the traffic, the cheapest\n"
        "that does as well as llmwarm (or --budget)",
    )
    headers = ["set-up", "cold %", "p50 s", "p99 s", "pings/day", "tokens/day", "$/day"]
    for title in headers:
        justify = "left" if title == "set-up" else "right"
        table.add_column(title, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for s in summaries:
        table.add_row(
            s["name"],
            f"{100 * s['cold_start_rate']:.2f}",
            f"{s['p50_s']:.2f}",
            f"{s['p99_s']:.2f}",
            f"{s['pings_per_day']:.1f}",
            f"{s['ping_tokens_per_day']:.0f}",
            f"{s['ping_cost_per_day']:.6f}",
        )
    console = console or Console()
    console.print(table)
    console.print(verdict(summaries))


def verdict(summaries: Sequence[dict[str, Any]]) -> str:
    """Return one sentence: llmwarm against the cron and no warming."""
    none, cron, ours = summaries
    if cron["pings_per_day"] > 0:
        saving = 1 - ours["pings_per_day"] / cron["pings_per_day"]
        pings = f"{100 * saving:.0f}% fewer pings than the {cron['name']}"
        if saving < 0:
            pings = f"{-100 * saving:.0f}% more pings than the {cron['name']}"
    else:
        pings = f"{ours['pings_per_day']:.1f} pings/day"
    return (
        f"llmwarm: {100 * ours['cold_start_rate']:.2f}% cold (cron "
        f"{100 * cron['cold_start_rate']:.2f}%, none {100 * none['cold_start_rate']:.2f}%), "
        f"{pings}."
    )


def plot(outcomes: Sequence[Outcome], log: RequestLog, path: str) -> None:
    """Write a chart: each set-up's request latencies over time, cold ones red, and pings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, rows = plt.subplots(len(outcomes), 1, sharex=True, sharey=True, figsize=(9, 6), dpi=120)
    for axes, outcome in zip(rows, outcomes, strict=True):
        hours = [t / 3600 for t in outcome.at]
        for want_cold, color, label in ((False, "#1f77b4", "warm"), (True, "#d62728", "cold")):
            points = [
                (h, max(latency, FLOOR))
                for h, latency, cold in zip(hours, outcome.latencies, outcome.cold, strict=True)
                if cold is want_cold
            ]
            axes.scatter(
                [p[0] for p in points], [p[1] for p in points], s=6, color=color, label=label
            )
        pings = [t / 3600 for t in outcome.ping_times]
        axes.scatter(
            pings, [FLOOR] * len(pings), s=10, marker="|", color="#2ca02c", label="ping (time only)"
        )
        axes.set_yscale("log")
        axes.set_ylabel("latency s")
        axes.set_title(
            f"{outcome.name}: {100 * outcome.cold_rate:.2f}% cold, {len(outcome.ping_times)} pings",
            fontsize="small",
            loc="left",
        )
        axes.grid(axis="y", alpha=0.3)
    rows[0].legend(loc="upper right", fontsize="small")
    rows[-1].set_xlabel(f"hours since {log.origin:%Y-%m-%d} 00:00 UTC")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
