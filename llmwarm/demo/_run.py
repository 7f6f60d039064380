"""Replay the same traffic through every set-up, concurrently, each on its own simulator."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import math
import multiprocessing
import queue
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmwarm.demo._setups import SETUP_NAMES, DemoConfig, Setup, make_setup
from llmwarm.demo._traffic import Request, make_traffic

__all__ = ["SetupResult", "percentile", "run_demo"]


class _Exchange:
    """What the simulator said about the upstream calls of one user request."""

    __slots__ = ("cold", "simulated_wait")

    def __init__(self) -> None:
        self.simulated_wait = 0.0
        self.cold = False


# Set by each replayed request; read by the httpx response hook of every set-up's client.
# Pings run in the warmer's own task, outside any request, so they are never counted.
_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "llmwarm_demo_exchange", default=None
)


async def _read_simulator_headers(response: Any) -> None:
    exchange = _exchange.get()
    if exchange is not None:
        exchange.simulated_wait += float(response.headers.get("x-sim-wait", 0.0))
        exchange.cold = exchange.cold or response.headers.get("x-sim-cold-start") == "true"


EVENT_HOOKS: dict[str, list[Any]] = {"response": [_read_simulator_headers]}


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0 to 100) of ``values``, interpolating linearly."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class SetupResult:
    """What one set-up did with the traffic; latencies in simulated seconds."""

    name: str
    latencies: list[float] = field(default_factory=list)
    cold: list[bool] = field(default_factory=list)
    errors: int = 0
    pings: int = 0
    upstream_calls: int = 0
    cache_hits: int = 0

    @property
    def cold_starts(self) -> int:
        """User requests that waited for a model to load (the simulator's own word)."""
        return sum(self.cold)

    def summary(self) -> dict[str, Any]:
        """Return the figures the demo reports (the ``--json`` output's ``setups`` items)."""
        requests = len(self.latencies)
        return {
            "name": self.name,
            "requests": requests,
            "cold_starts": self.cold_starts,
            "cold_start_rate": self.cold_starts / requests if requests else 0.0,
            "p50_s": round(percentile(self.latencies, 50), 3),
            "p95_s": round(percentile(self.latencies, 95), 3),
            "p99_s": round(percentile(self.latencies, 99), 3),
            "pings": self.pings,
            "upstream_calls": self.upstream_calls,
            "cache_hits": self.cache_hits,
            "errors": self.errors,
        }


async def _replay(
    setup: Setup,
    traffic: Sequence[Request],
    config: DemoConfig,
    on_done: Callable[[str], None],
) -> SetupResult:
    result = SetupResult(setup.name)
    loop = asyncio.get_running_loop()
    await setup.start()
    origin = loop.time()

    async def one(request: Request) -> None:
        due = origin + config.real(config.lead_in + request.at)
        await asyncio.sleep(max(0.0, due - loop.time()))
        exchange = _Exchange()
        _exchange.set(exchange)
        started = loop.time()
        try:
            await setup.ask(request.question)
        except Exception:
            result.errors += 1
        elapsed = loop.time() - started
        # What a user would wait: the provider's time at simulated scale, plus the
        # client's own overhead (connections, SDK, llmwarm) at its real value. Scaling
        # the overhead too would inflate a millisecond into a simulated second.
        overhead = max(0.0, elapsed - exchange.simulated_wait * config.time_scale)
        result.latencies.append(exchange.simulated_wait + overhead)
        result.cold.append(exchange.cold)
        on_done(setup.name)

    try:
        await asyncio.gather(*(one(r) for r in traffic))
    finally:
        result.pings = setup.pings
        result.cache_hits = setup.cache_hits
        await setup.stop()
    return result


def run_demo(
    config: DemoConfig,
    on_done: Callable[[str], None] = lambda name: None,
    names: Sequence[str] = SETUP_NAMES,
    *,
    traces: bool = False,
) -> list[SetupResult]:
    """Run the demo; ``on_done(setup_name)`` is called after each request (for progress).

    Each set-up runs in a process of its own, with its own simulator on the same event
    loop as its clients, and all of them at once. Isolation keeps the measurement fair:
    in one process, the plain set-up's client construction (tens of milliseconds of CPU
    per call) would delay the others' requests and pings, and with a compressed clock a
    millisecond of delay reads as a simulated second.
    """
    context = multiprocessing.get_context("spawn")  # no inherited threads, loops or pools
    messages: Any = context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(name, config, messages, traces),
            name=f"llmwarm-demo-{name}",
            daemon=True,
        )
        for name in names
    ]
    for worker in workers:
        worker.start()
    results: dict[str, SetupResult] = {}
    try:
        while len(results) < len(names):
            try:
                kind, name, payload = messages.get(timeout=1.0)
            except queue.Empty:
                dead = [w.name for w in workers if not w.is_alive() and w.exitcode != 0]
                if dead:
                    raise RuntimeError(f"demo set-up process(es) {dead} died") from None
                continue
            if kind == "done":
                on_done(name)
            elif kind == "result":
                results[name] = SetupResult(**payload)
            else:
                raise RuntimeError(f"demo set-up {name!r} failed:\n{payload}")
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)
        messages.close()
    return [results[name] for name in names]


def _worker(name: str, config: DemoConfig, messages: Any, traces: bool) -> None:
    """One set-up, in its own process: replay the traffic and send the result back."""
    try:
        telemetry: Any = None
        if traces and name == "llmwarm":
            import os
            import sys

            from llmwarm import telemetry as otel

            if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
                sys.stdout = sys.stderr  # console spans must not mix with --json output
            exporter = None if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "console"
            telemetry = otel.setup("llmwarm-demo", exporter=exporter)
        try:
            result = asyncio.run(
                _run_one(name, config, lambda done: messages.put(("done", done, None)))
            )
        finally:
            if telemetry is not None:
                telemetry.shutdown()
        messages.put(("result", name, dataclasses.asdict(result)))
    except BaseException:
        messages.put(("error", name, traceback.format_exc()))
        raise


async def _run_one(name: str, config: DemoConfig, on_done: Callable[[str], None]) -> SetupResult:
    from llmwarm.sim import aserve

    traffic = make_traffic(config.requests, seed=config.seed, mean_gap=config.mean_gap)
    async with aserve(
        cold_start=config.cold_start,
        keep_alive=config.keep_alive,
        ttft=config.ttft,
        token_time=config.token_time,
        time_scale=config.time_scale,
        seed=config.seed,
    ) as url:
        setup = make_setup(name, url, config, EVENT_HOOKS)
        result = await _replay(setup, traffic, config, on_done)
        result.upstream_calls = int((await url.astats())["total"]["requests"])
    return result
