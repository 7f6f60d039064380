"""How the demo shows itself: live progress bars, the final table, and the latency chart."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from llmwarm.demo._run import SetupResult
from llmwarm.demo._setups import DemoConfig

__all__ = ["Progress", "plot", "print_table"]

DESCRIPTIONS = {
    "plain": "a new client per call, no warmer, no cache",
    "recipe": "one pooled client, a ping every keep-alive seconds",
    "llmwarm": "@traced @cached @routed(prefer_warm) @warm @pooled",
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


def print_table(summaries: Sequence[dict[str, Any]], config: DemoConfig) -> None:
    """Print the comparison table and a one-line verdict."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{config.requests} requests, cold start {config.cold_start:g} s, "
        f"keep-alive {config.keep_alive:g} s (simulated seconds)",
        caption="\n".join(f"{name}: {text}" for name, text in DESCRIPTIONS.items()),
    )
    columns = [
        ("set-up", "left"),
        ("requests", "right"),
        ("cold", "right"),
        ("cold %", "right"),
        ("p50 s", "right"),
        ("p95 s", "right"),
        ("p99 s", "right"),
        ("pings", "right"),
        ("upstream", "right"),
        ("hits", "right"),
    ]
    for title, justify in columns:
        table.add_column(title, justify=justify)  # type: ignore[arg-type]
    for s in summaries:
        table.add_row(
            s["name"],
            str(s["requests"]),
            str(s["cold_starts"]),
            f"{100 * s['cold_start_rate']:.1f}",
            f"{s['p50_s']:.2f}",
            f"{s['p95_s']:.2f}",
            f"{s['p99_s']:.2f}",
            str(s["pings"]),
            str(s["upstream_calls"]),
            str(s["cache_hits"]),
        )
    console = Console()
    console.print(table)
    by_name = {s["name"]: s for s in summaries}
    if {"plain", "recipe", "llmwarm"} <= by_name.keys():
        ours, recipe, plain = by_name["llmwarm"], by_name["recipe"], by_name["plain"]
        console.print(
            f"llmwarm: {100 * ours['cold_start_rate']:.1f}% cold starts "
            f"(recipe {100 * recipe['cold_start_rate']:.1f}%, plain "
            f"{100 * plain['cold_start_rate']:.1f}%); p99 {ours['p99_s']:.2f} s "
            f"(recipe {recipe['p99_s']:.2f} s, plain {plain['p99_s']:.2f} s); "
            f"{ours['pings']} pings (recipe {recipe['pings']})."
        )
    if any(s["errors"] for s in summaries):
        console.print("[yellow]some requests failed: see the errors column of --json[/yellow]")


def plot(results: Sequence[SetupResult], path: str) -> None:
    """Write a chart of every request's latency, cold and warm, per set-up."""
    import random

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jitter = random.Random(0)
    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=120)
    for index, result in enumerate(results):
        for label, want_cold, color in (("warm", False, "#1f77b4"), ("cold", True, "#d62728")):
            points = [
                lat
                for lat, cold in zip(result.latencies, result.cold, strict=True)
                if cold is want_cold
            ]
            xs = [index + jitter.uniform(-0.25, 0.25) for _ in points]
            axes.scatter(
                xs,
                [max(p, 1e-3) for p in points],
                s=10,
                alpha=0.6,
                color=color,
                label=label if index == 0 else None,
            )
    axes.set_xticks(range(len(results)), [r.name for r in results])
    axes.set_yscale("log")
    axes.set_ylabel("latency (simulated seconds, log scale)")
    axes.set_title("Every request's latency: cold starts in red")
    axes.legend(loc="upper right")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
