"""How the demo shows itself: live progress bars, the final table, and the latency chart."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from llmwarm.tools.demo._run import SetupResult
from llmwarm.tools.demo._setups import DemoConfig

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Progress", "chart", "plot", "render_table", "verdict"]

#: Where the chart draws answers that took no time (a log scale has no zero).
FLOOR = 1e-3

DESCRIPTIONS = {
    "plain": "a new client per call, no warmer, no cache",
    "recipe": "one pooled client, a ping every keep-alive seconds",
    "llmwarm": "@traced @cached @routed(prefer_warm) @warm(small) @pooled",
}


class Progress:
    """A live progress bar per set-up, on standard error (so ``--json`` stays clean)."""

    def __init__(self, names: Sequence[str], total: int, *, quiet: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self._lock = threading.Lock()
        self._bars = RichProgress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
            # The real clock, bound now: the run itself is in virtual time.
            get_time=time.monotonic,
        )
        self._tasks = {n: self._bars.add_task(n, total=total) for n in names}

    def __enter__(self) -> Progress:
        self._bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._bars.stop()

    def advance(self, name: str) -> None:
        """Count one finished request of set-up ``name``."""
        with self._lock:
            self._bars.advance(self._tasks[name])


def render_table(
    summaries: Sequence[dict[str, Any]], config: DemoConfig, console: Console | None = None
) -> None:
    """Print the comparison table and a one-line verdict on ``console`` (stdout by default).

    The table fits an 80-column terminal (the request count is in the title, not a
    column); narrower, cells fold instead of losing digits to an ellipsis.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{config.requests * config.days} requests over {_days(config.days)}\n"
        f"cold start {config.cold_start:g} s, keep-alive {config.keep_alive:g} s "
        "(simulated seconds)",
        caption="\n".join(f"{name}: {text}" for name, text in DESCRIPTIONS.items()),
    )
    columns = ["set-up", "cold", "cold %", "p50 s", "p95 s", "p99 s", "pings", "upstream", "hits"]
    for title in columns:
        justify = "left" if title == "set-up" else "right"
        table.add_column(title, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for s in summaries:
        table.add_row(
            s["name"],
            str(s["cold_starts"]),
            f"{100 * s['cold_start_rate']:.1f}",
            f"{s['p50_s']:.2f}",
            f"{s['p95_s']:.2f}",
            f"{s['p99_s']:.2f}",
            str(s["pings"]),
            str(s["upstream_calls"]),
            str(s["cache_hits"]),
        )
    console = console or Console()
    console.print(table)
    console.print(verdict(summaries))
    if any(s["errors"] for s in summaries):
        console.print("[yellow]some requests failed: see the errors column of --json[/yellow]")


def _days(days: int) -> str:
    return "a working day" if days == 1 else f"{days} working days"


def verdict(summaries: Sequence[dict[str, Any]]) -> str:
    """Return one sentence comparing llmwarm with the recipe and the plain client."""
    by_name = {s["name"]: s for s in summaries}
    if not {"plain", "recipe", "llmwarm"} <= by_name.keys():
        return ""
    ours, recipe, plain = by_name["llmwarm"], by_name["recipe"], by_name["plain"]
    return (
        f"llmwarm: {100 * ours['cold_start_rate']:.1f}% cold starts "
        f"(recipe {100 * recipe['cold_start_rate']:.1f}%, plain "
        f"{100 * plain['cold_start_rate']:.1f}%); p99 {ours['p99_s']:.2f} s "
        f"(recipe {recipe['p99_s']:.2f} s, plain {plain['p99_s']:.2f} s); "
        f"{ours['pings']} pings (recipe {recipe['pings']}); "
        f"{ours['cache_hits']} answers from the cache."
    )


def plot(results: Sequence[SetupResult], path: str) -> None:
    """Write a chart of every request's latency, cold and warm, per set-up."""
    import matplotlib.pyplot as plt

    figure = chart(results)
    figure.savefig(path)
    plt.close(figure)


def chart(results: Sequence[SetupResult]) -> Any:
    """Return the latency chart as a matplotlib figure (the caller closes it)."""
    import random

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jitter = random.Random(0)
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=120)
    kinds = (
        ("warm", "#1f77b4", "o"),
        ("cold start", "#d62728", "o"),
        (f"answered by the cache (0 s, drawn at {FLOOR * 1000:g} ms)", "#2ca02c", "v"),
    )
    for index, result in enumerate(results):
        cached = result.cached or [False] * len(result.latencies)
        groups: dict[str, list[float]] = {label: [] for label, _, _ in kinds}
        for latency, cold, hit in zip(result.latencies, result.cold, cached, strict=True):
            label = kinds[2][0] if hit else kinds[1][0] if cold else kinds[0][0]
            groups[label].append(latency)
        for label, color, marker in kinds:
            points = groups[label]
            axes.scatter(
                [index + jitter.uniform(-0.25, 0.25) for _ in points],
                # A log scale has no zero: instant answers sit on a labelled floor.
                [max(p, FLOOR) for p in points],
                s=12,
                alpha=0.6,
                color=color,
                marker=marker,
                label=label if index == 0 else None,
            )
    axes.set_xticks(range(len(results)), [r.name for r in results])
    axes.set_yscale("log")
    axes.set_ylabel("latency (simulated seconds, log scale)")
    axes.set_title("Every request's latency: cold starts in red, cache answers in green")
    axes.legend(loc="center right", fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure
