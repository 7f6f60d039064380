"""Replay request times through the real ``@warm`` stack on a virtual clock: a week in seconds.

:func:`replay` builds the in-process simulator (:func:`llmwarm.sim.create_app`), reaches it
through httpx's ASGI transport (no socket), decorates an ordinary async function that
calls it with the very ``@warm`` a user writes, and plays the arrivals on an event loop
whose clock jumps to the next timer whenever every task waits (``looptime``). Nothing in
the warmer is modelled: its scheduler, policy, pings and back-off run as they do in
production, only time is virtual::

    from llmwarm.sim.replay import replay
    from llmwarm.sim.traffic import poisson

    result = replay(poisson(300, days=7), keep_alive=300, cold_start=14, warm={})
    result.cold_rate, result.pings, result.pings_per_day

``warm=None`` and ``cron=None`` replay the traffic with no warming at all; ``warm={...}``
passes those keyword arguments to ``@warm``; ``cron=seconds`` pings every that many
seconds whatever the traffic (the fixed-interval baseline). Time 0 is a Monday at 00:00
UTC, as in :mod:`llmwarm.sim.traffic`, so policies that learn time of day see a calendar.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmwarm._core import ConfigError
from llmwarm._core import options as _options

__all__ = ["EPOCH", "PingRecord", "ReplayResult", "RequestRecord", "replay"]

EPOCH = 1_704_067_200.0
"""The wall-clock time (Unix seconds) of replay time 0: Monday 1 January 2024, 00:00 UTC."""

_MODEL = "replay-model"
_USER = "x-llmwarm-replay"  # marks a user's request; anything else reaching the sim is a ping
_DAY = 86_400.0


@dataclass(frozen=True)
class RequestRecord:
    """One user request of a replay.

    .. versionadded:: 0.2.0
    """

    at: float
    """When it was sent (seconds since time 0)."""
    cold: bool
    """Whether it waited for a model load (the simulator's own answer)."""
    latency_s: float
    """Seconds until its answer (virtual)."""


@dataclass(frozen=True)
class PingRecord:
    """One keep-warm request of a replay (any request that was not a user's).

    .. versionadded:: 0.2.0
    """

    at: float
    """When it reached the simulator (seconds since time 0)."""
    cold: bool
    """Whether it loaded the model (a pre-warm) rather than finding it loaded."""
    window: float | None = None
    """The keep-alive the ping set, in seconds, when it set one (Ollama ``keep_alive``)."""


@dataclass(frozen=True)
class ReplayResult:
    """What a replay measured: every request, every ping, and their totals.

    .. versionadded:: 0.2.0
    """

    requests: list[RequestRecord]
    pings_sent: list[PingRecord]
    duration_s: float
    """The span replayed: from time 0 to the last request's end, or ``until``."""
    mode: str
    """``"none"``, ``"cron"`` or ``"warm"``."""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ping_times(self) -> list[float]:
        """The time of every ping, in order."""
        return [p.at for p in self.pings_sent]

    @property
    def pings(self) -> int:
        """How many pings were sent."""
        return len(self.pings_sent)

    @property
    def cold_starts(self) -> int:
        """How many user requests were cold."""
        return sum(r.cold for r in self.requests)

    @property
    def cold_rate(self) -> float:
        """The fraction of user requests that were cold (0 with no request)."""
        return self.cold_starts / len(self.requests) if self.requests else 0.0

    @property
    def pings_per_day(self) -> float:
        """Pings per day over the span replayed."""
        return self.pings / (self.duration_s / _DAY) if self.duration_s > 0 else 0.0

    def cold_rate_after(self, start: float) -> float:
        """Return the cold fraction of the user requests sent at or after ``start`` seconds."""
        later = [r for r in self.requests if r.at >= start]
        return sum(r.cold for r in later) / len(later) if later else 0.0

    def totals(self) -> dict[str, Any]:
        """Return the totals as a JSON-ready dict."""
        latencies = sorted(r.latency_s for r in self.requests)
        return {
            "mode": self.mode,
            "requests": len(self.requests),
            "cold_starts": self.cold_starts,
            "cold_rate": self.cold_rate,
            "pings": self.pings,
            "pings_per_day": self.pings_per_day,
            "p50_s": _percentile(latencies, 0.5),
            "p99_s": _percentile(latencies, 0.99),
            "days": self.duration_s / _DAY,
        }


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _arrivals(arrivals: Iterable[float]) -> list[float]:
    times: list[float] = []
    previous = -math.inf
    for i, value in enumerate(arrivals):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError("arrivals", f"[{i}] must be a number of seconds, got {value!r}")
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError("arrivals", f"[{i}] must be finite and >= 0, got {value!r}")
        if value < previous:
            raise ConfigError(
                "arrivals", f"must be sorted: [{i}] = {value!r} comes after {previous!r}"
            )
        previous = float(value)
        times.append(previous)
    return times


def _positive(name: str, value: object) -> float:
    return _options.seconds(name, value)


class LoopClock:
    """The warmer's clock during a replay: the event loop's (virtual) time.

    .. versionadded:: 0.2.0
    """

    manual = False

    def __init__(self, loop: asyncio.AbstractEventLoop, epoch: float = EPOCH) -> None:
        self.loop, self.epoch = loop, epoch

    def monotonic(self) -> float:
        """Return the loop's time."""
        return self.loop.time()

    def time(self) -> float:
        """Return the wall-clock time the loop's time stands for."""
        return self.epoch + self.loop.time()


def replay(
    arrivals: Iterable[float],
    *,
    keep_alive: float = 300.0,
    cold_start: float = 14.0,
    warm: Mapping[str, Any] | None = None,
    cron: float | None = None,
    provider: str = "openai",
    until: float | None = None,
) -> ReplayResult:
    """Replay request times (seconds, sorted) through ``@warm`` against the simulator.

    ``keep_alive`` and ``cold_start`` are the simulated provider's unload window and load
    time. ``warm`` is a dict of ``@warm`` keyword arguments (``{}`` for the defaults;
    ``keep_alive`` defaults to the provider's); ``cron`` pings every that many seconds
    whatever the traffic; neither replays without warming. ``provider`` is ``"openai"``
    (pings are 1-token chat completions through the decorated function) or ``"ollama"``
    (pings are :func:`llmwarm.pings.ollama_preload` requests, which may set the window).
    ``until`` extends the span past the last request (pings/day count over the span).

    .. versionadded:: 0.2.0
    """
    times = _arrivals(arrivals)
    window = _positive("keep_alive", keep_alive)
    load = _positive("cold_start", cold_start)
    if warm is not None and cron is not None:
        raise ConfigError("cron", "and warm= cannot both be given: pick one warmer to replay")
    if warm is not None and not isinstance(warm, Mapping):
        raise ConfigError("warm", f"must be a dict of @warm keyword arguments, got {warm!r}")
    every = None if cron is None else _positive("cron", cron)
    if provider not in ("openai", "ollama"):
        raise ConfigError("provider", f'must be "openai" or "ollama", got {provider!r}')
    end = None if until is None else _positive("until", until)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "replay() runs its own event loop on virtual time: call it from sync code "
            "(or with `await asyncio.to_thread(replay, ...)`), not from a running loop."
        )
    import looptime

    loop = looptime.new_event_loop(start=0.0, noop_cycles=2)
    try:
        run = _Run(loop, times, window, load, warm, every, provider, end)
        return loop.run_until_complete(run.main())
    finally:
        # What the run leaves (a ping's cancelled wait) ends before the loop closes.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class _Run:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        times: list[float],
        keep_alive: float,
        cold_start: float,
        warm: Mapping[str, Any] | None,
        cron: float | None,
        provider: str,
        until: float | None,
    ) -> None:
        self.loop, self.times, self.keep_alive = loop, times, keep_alive
        self.cold_start, self.warm, self.cron = cold_start, warm, cron
        self.provider, self.until = provider, until
        self.requests: list[RequestRecord] = []
        self.pings: list[PingRecord] = []

    def _app(self) -> Any:
        from llmwarm.sim._app import create_app

        app = create_app(
            cold_start=self.cold_start,
            cold_start_jitter=0.0,
            keep_alive=self.keep_alive,
            seed=0,
            clock=self.loop.time,
        )
        pings = self.pings

        async def recorder(scope: Any, receive: Any, send: Any) -> None:
            # Every request that is not a user's is a ping, whoever sent it: the warmer
            # through the decorated function, or a ping adapter straight to the endpoint.
            headers = dict(scope.get("headers") or [])
            if scope["type"] != "http" or _USER.encode() in headers:
                await app(scope, receive, send)
                return
            at = self.loop.time()
            body = bytearray()
            cold = [False]

            async def read() -> Any:
                message = await receive()
                body.extend(message.get("body", b""))
                return message

            async def sent(message: Any) -> None:
                if message["type"] == "http.response.start":
                    cold[0] = (b"x-sim-cold-start", b"true") in list(message.get("headers", []))
                await send(message)

            await app(scope, read, sent)
            pings.append(PingRecord(at, cold[0], _window_of(bytes(body))))

        return recorder

    async def main(self) -> ReplayResult:
        import httpx

        transport = httpx.ASGITransport(app=self._app())
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim", timeout=httpx.Timeout(None)
        ) as http:
            call = self._call(http)
            stop: Callable[[], Awaitable[None]] | None = None
            if self.warm is not None:
                call, stop = self._warmed(call, http)
            cron = None
            if self.cron is not None:
                cron = asyncio.ensure_future(self._cron(call))
            tasks = []
            for at in self.times:
                delay = at - self.loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.ensure_future(self._user(call)))
            await asyncio.gather(*tasks)
            if self.until is not None and self.until > self.loop.time():
                await asyncio.sleep(self.until - self.loop.time())
            end = self.loop.time()
            if cron is not None:
                cron.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await cron
            details: dict[str, Any] = {}
            if stop is not None:
                await stop()
        mode = "warm" if self.warm is not None else "cron" if self.cron is not None else "none"
        pings = [p for p in self.pings if p.at <= end]
        requests = sorted(self.requests, key=lambda r: r.at)
        return ReplayResult(requests, pings, end, mode, details)

    def _call(self, http: Any) -> Callable[..., Awaitable[Any]]:
        ollama = self.provider == "ollama"

        async def complete(
            messages: list[dict[str, str]],
            *,
            model: str = _MODEL,
            max_tokens: int = 8,
            user: bool = False,
        ) -> Any:
            headers = {_USER: "1"} if user else {}
            if ollama:
                body: dict[str, Any] = {
                    "model": model,
                    "messages": messages,
                    "stream": False,
                    "options": {"num_predict": max_tokens},
                }
                response = await http.post("/api/chat", json=body, headers=headers)
            else:
                body = {"model": model, "messages": messages, "max_tokens": max_tokens}
                response = await http.post("/v1/chat/completions", json=body, headers=headers)
            response.raise_for_status()
            return response

        return complete

    def _warmed(
        self, call: Callable[..., Awaitable[Any]], http: Any
    ) -> tuple[Callable[..., Awaitable[Any]], Callable[[], Awaitable[None]]]:
        from llmwarm.warm import pings, warm

        options = dict(self.warm or {})
        options.setdefault("keep_alive", self.keep_alive)
        if self.provider == "ollama" and "ping" not in options:
            options["ping"] = pings.ollama_preload(_OllamaOverHttpx(http))
        decorated = warm(_MODEL, _clock=LoopClock(self.loop), **options)(call)
        warmer = decorated.warmer
        return decorated, warmer.aclose

    async def _cron(self, call: Callable[..., Awaitable[Any]]) -> None:
        assert self.cron is not None
        # A cron fires on its schedule (k x interval), however long each ping takes.
        sent: set[asyncio.Future[Any]] = set()
        k = 1
        while True:
            await asyncio.sleep(k * self.cron - self.loop.time())
            ping = asyncio.ensure_future(call([{"role": "user", "content": "ping"}], max_tokens=1))
            sent.add(ping)
            ping.add_done_callback(_settled(sent))
            k += 1

    async def _user(self, call: Callable[..., Awaitable[Any]]) -> None:
        at = self.loop.time()
        response = await call([{"role": "user", "content": "hello"}], user=True)
        cold = response.headers.get("x-sim-cold-start") == "true"
        self.requests.append(RequestRecord(at, cold, self.loop.time() - at))


def _settled(pending: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    def done(future: asyncio.Future[Any]) -> None:
        pending.discard(future)
        if not future.cancelled():
            future.exception()  # a failed cron ping is counted, never raised

    return done


class _OllamaOverHttpx:
    """The part of ``ollama.AsyncClient`` a preload ping uses, over the replay's transport."""

    def __init__(self, http: Any) -> None:
        self.http = http

    async def generate(self, *, model: str, keep_alive: Any = None) -> Any:
        body: dict[str, Any] = {"model": model, "stream": False}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        response = await self.http.post("/api/generate", json=body)
        return response.raise_for_status().json()


def _window_of(body: bytes) -> float | None:
    import orjson

    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    value = data.get("keep_alive") if isinstance(data, dict) else None
    if value is None:
        return None
    try:
        return _options.parse_duration(value, negative_is_forever=True)
    except (TypeError, ValueError):
        return None
