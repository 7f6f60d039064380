"""Replay the same traffic through every set-up, each on its own simulator, in virtual time."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmwarm.tools.demo import _virtual
from llmwarm.tools.demo._setups import SETUP_NAMES, DemoConfig, Setup, make_setup
from llmwarm.tools.demo._traffic import Request, make_traffic, working_days

__all__ = ["SetupResult", "percentile", "run_demo"]


class _Exchange:
    """What the simulator said about the upstream calls of one user request."""

    __slots__ = ("cold", "responses")

    def __init__(self) -> None:
        self.cold = False
        self.responses = 0


# Set by each replayed request; read by the httpx response hook of every set-up's client.
# Pings run in the warmer's own task, outside any request, so they are never counted.
_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "llmwarm_demo_exchange", default=None
)


async def _read_simulator_headers(response: Any) -> None:
    exchange = _exchange.get()
    if exchange is not None:
        exchange.responses += 1
        exchange.cold = exchange.cold or response.headers.get("x-sim-cold-start") == "true"


EVENT_HOOKS: dict[str, list[Any]] = {"response": [_read_simulator_headers]}


class _Network:
    """An httpx transport that adds a one-way network delay each way around another."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay = inner, delay

    async def handle_async_request(self, request: Any) -> Any:
        await asyncio.sleep(self.delay)
        response = await self.inner.handle_async_request(request)
        await response.aread()  # the whole answer crosses the network before it arrives
        await asyncio.sleep(self.delay)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def __aenter__(self) -> _Network:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def traffic_of(config: DemoConfig) -> list[Request]:
    """Return the demo's requests: one working day, or ``config.days`` of them."""
    if config.days == 1:
        return make_traffic(config.requests, seed=config.seed, mean_gap=config.mean_gap)
    return working_days(
        config.requests, days=config.days, seed=config.seed, mean_gap=config.mean_gap
    )


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
    #: Per request: answered without reaching the provider (a cache hit or a shared flight).
    cached: list[bool] = field(default_factory=list)
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
        due = origin + config.lead_in + request.at
        await asyncio.sleep(max(0.0, due - loop.time()))
        exchange = _Exchange()
        _exchange.set(exchange)
        started = loop.time()
        try:
            await setup.ask(request.question)
        except Exception:
            result.errors += 1
        # Virtual time: what the provider made the user wait, exactly; the client's own
        # CPU time costs nothing here (benchmarks/ measures it on a real clock).
        result.latencies.append(loop.time() - started)
        result.cold.append(exchange.cold)
        result.cached.append(exchange.responses == 0)
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

    The set-ups run one after the other, each with its own simulator, on a virtual clock
    (see ``_virtual``): the figures depend on the seed and the code, never on the
    machine's load, and a simulated working day takes seconds.
    """
    traffic = traffic_of(config)
    limit = config.lead_in + traffic[-1].at + 86_400  # a day past the last request
    results = []
    for name in names:
        with contextlib.ExitStack() as stack:
            if traces and name == "llmwarm":
                stack.enter_context(_telemetry())
            main = functools.partial(_run_one, name, config, on_done)
            results.append(_virtual.run(main, limit=limit))
    return results


@contextlib.contextmanager
def _telemetry() -> Iterator[None]:
    import os
    import sys

    from llmwarm.trace import telemetry

    with contextlib.ExitStack() as stack:
        if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            # Console spans go to stderr: they must not mix with --json output.
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
            handle = telemetry.setup("llmwarm-demo", exporter="console")
        else:
            handle = telemetry.setup("llmwarm-demo")
        try:
            yield
        finally:
            handle.shutdown()


async def _run_one(
    name: str, config: DemoConfig, on_done: Callable[[str], None], clock: _virtual.VirtualClock
) -> SetupResult:
    import importlib

    from llmwarm.sim import create_app

    traffic = traffic_of(config)
    app = create_app(
        cold_start=config.cold_start,
        keep_alive=config.keep_alive,
        ttft=config.ttft,
        token_time=config.token_time,
        time_scale=1.0,
        seed=config.seed,
        clock=clock.monotonic,  # virtual time (the default, the real clock, is bound at import)
    )

    def connect(library: str) -> _Network:
        module = importlib.import_module(library)  # httpx, or httpx2 for what @pooled builds
        return _Network(module.ASGITransport(app=app), config.network_delay)

    setup = make_setup(name, connect, config, EVENT_HOOKS)
    result = await _replay(setup, traffic, config, on_done)
    sim = app.state.sim
    result.upstream_calls = int(sim.registry.stats(sim.now())["total"]["requests"])
    return result
