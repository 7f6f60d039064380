"""The three set-ups the demo compares, each talking to its own simulator.

1. ``plain``: a new client per call, no warmer, no cache.
2. ``recipe``: the common recipe: one pooled client and a fixed-interval ping every
   keep-alive seconds (``while True: ping(); sleep(keep_alive)``).
3. ``llmwarm``: ``@traced @cached @routed(prefer_warm) @warm(small) @pooled``, with the
   default warming policy (no interval given).

The clients reach their simulator through httpx's in-process ASGI transport (mounted on
:data:`BASE_URL`), and the whole run is in virtual time (``_virtual``): every duration is
in simulated seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SETUP_NAMES", "DemoConfig", "Setup", "make_setup"]

SETUP_NAMES = ("plain", "recipe", "llmwarm")
EventHooks = dict[str, list[Callable[..., Awaitable[None]]]]
Connect = Callable[[str], Any]
SMALL_MODEL = "gpt-4o-mini"
LARGE_MODEL = "gpt-4o"
API_KEY = "sk-llmwarm-demo"  # the simulator accepts any key unless started with one
#: Where the clients send requests; the ASGI transport is mounted there, nothing listens.
BASE_URL = "http://llmwarm-demo-sim"


@dataclass(frozen=True)
class DemoConfig:
    """The run's parameters, in simulated seconds unless the name says otherwise."""

    requests: int = 120
    seed: int = 7
    #: Working days replayed, ``requests`` each, with silent nights between: a warming
    #: policy shows what it learns over nights, which one day cannot show.
    days: int = 3
    cold_start: float = 14.0
    keep_alive: float = 300.0
    ttft: float = 0.3
    token_time: float = 0.02
    max_tokens: int = 32
    mean_gap: float = 240.0
    cache_ttl: float = 3600.0
    #: One-way network delay of every HTTP exchange. In virtual time nothing else takes
    #: time, and a ping sent exactly keep-alive seconds after the last one would land on
    #: the unload instant; a real network puts it just after, as here.
    network_delay: float = 0.01
    #: The service starts this long before its first user arrives, in every set-up.
    lead_in: float = 120.0


def _messages(question: str) -> Any:
    return [{"role": "user", "content": question}]


class Setup:
    """One way of calling the model; the demo replays the same traffic through each."""

    name: str = ""

    def __init__(self, connect: Connect, config: DemoConfig, event_hooks: EventHooks) -> None:
        self.config = config
        # connect(library) -> a transport of that HTTP library ("httpx" or "httpx2") to
        # the simulator app, in process.
        self.connect = connect
        # Response hooks through which the demo reads the simulator's headers.
        self.event_hooks = event_hooks

    def http_options(self, library: str = "httpx") -> dict[str, Any]:
        """Return the ``AsyncClient`` options of ``library`` that reach the simulator."""
        return {"event_hooks": self.event_hooks, "mounts": {BASE_URL: self.connect(library)}}

    async def start(self) -> None:
        """Prepare before the first request (start warmers, open pools)."""

    async def ask(self, question: str) -> None:
        """Send one user request and wait for the whole answer."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop background work and close clients."""

    @property
    def pings(self) -> int:
        """Warm-up pings sent so far."""
        return 0

    @property
    def cache_hits(self) -> int:
        """Requests answered without reaching the provider."""
        return 0


class Plain(Setup):
    """A new client per call: what most code does before it is optimised."""

    name = "plain"

    async def ask(self, question: str) -> None:
        """Open a client, send the request, close the client."""
        import httpx
        from openai import AsyncOpenAI

        async with AsyncOpenAI(
            base_url=f"{BASE_URL}/v1",
            api_key=API_KEY,
            max_retries=0,
            # openai 3 is typed for httpx2 clients and accepts httpx ones (docs/pooling.md).
            # transport= rather than mounts=: the only URL is served in process, and httpx
            # then builds no default TLS transport, whose CA bundle costs ~60 ms of real
            # time per client (no simulated time: the figures are the same either way).
            http_client=httpx.AsyncClient(  # type: ignore[arg-type]
                transport=self.connect("httpx"), event_hooks=self.event_hooks
            ),
        ) as client:
            await client.chat.completions.create(
                model=SMALL_MODEL, messages=_messages(question), max_tokens=self.config.max_tokens
            )


class Recipe(Setup):
    """One pooled client and a ping every keep-alive seconds, whatever the traffic."""

    name = "recipe"

    def __init__(self, connect: Connect, config: DemoConfig, event_hooks: EventHooks) -> None:
        super().__init__(connect, config, event_hooks)
        import httpx
        from openai import AsyncOpenAI

        self.client = AsyncOpenAI(
            base_url=f"{BASE_URL}/v1",
            api_key=API_KEY,
            max_retries=0,
            http_client=httpx.AsyncClient(**self.http_options()),  # type: ignore[arg-type]
        )
        self._pings = 0
        self._task: asyncio.Task[None] | None = None

    async def _ping_forever(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # the recipe's pings must not crash it
                await self.client.chat.completions.create(
                    model=SMALL_MODEL, messages=_messages("ping"), max_tokens=1
                )
                self._pings += 1
            await asyncio.sleep(self.config.keep_alive)

    async def start(self) -> None:
        """Start the fixed-interval pinger."""
        self._task = asyncio.create_task(self._ping_forever(), name="demo-recipe-pinger")

    async def ask(self, question: str) -> None:
        """Send the request on the shared client."""
        await self.client.chat.completions.create(
            model=SMALL_MODEL, messages=_messages(question), max_tokens=self.config.max_tokens
        )

    async def stop(self) -> None:
        """Cancel the pinger and close the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    @property
    def pings(self) -> int:
        """Pings the fixed-interval loop has sent."""
        return self._pings


class LLMWarm(Setup):
    """The full llmwarm stack."""

    name = "llmwarm"

    def __init__(self, connect: Connect, config: DemoConfig, event_hooks: EventHooks) -> None:
        super().__init__(connect, config, event_hooks)
        from openai import AsyncOpenAI

        from llmwarm import Tier, cached, pooled, routed, traced, warm
        from llmwarm.cache.backends import MemoryBackend
        from llmwarm.pool import http_library

        # @pooled builds the client on the HTTP library the SDK is built on (httpx2 for
        # openai 3): the transport to the simulator must be of the same library.
        library = http_library(AsyncOpenAI)

        tiers = [Tier("small", SMALL_MODEL), Tier("large", LARGE_MODEL)]
        # Its entries expire on the runtime clock: the demo's virtual one (see _virtual).
        cache = MemoryBackend(ttl=config.cache_ttl)

        @traced
        # A back end of this set-up's own: nothing else shares its key namespace (scope=
        # says so, and keeps @cached from warning about closures sharing one).
        @cached(ttl=config.cache_ttl, backend=cache, scope=lambda: BASE_URL)
        @routed(tiers, prefer_warm=True)
        # The default policy, on the tier most calls use: prefer_warm sends a call whose
        # tier is predicted cold to the warm one, so keeping the large tier warm too
        # would double the pings for the few calls that need it.
        @warm(SMALL_MODEL, keep_alive=config.keep_alive)
        @pooled(
            AsyncOpenAI,
            http_options=self.http_options(library),
            base_url=f"{BASE_URL}/v1",
            api_key=API_KEY,
            max_retries=0,
        )
        async def complete(
            messages: list[dict[str, str]],
            *,
            model: str = SMALL_MODEL,
            max_tokens: int = config.max_tokens,
            client: Any = None,
        ) -> Any:
            return await client.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens
            )

        self.complete: Callable[..., Awaitable[Any]] = complete

    async def start(self) -> None:
        """Start warming the small tier's model before traffic arrives."""
        import llmwarm

        # stats() is per process; count only this run's pings. Its window is on the runtime
        # clock, virtual here, and a run spans days of it: count them all.
        self._pings_before = int(llmwarm.stats(window=math.inf)["warmup_pings"])
        self.complete.warmer.start()  # type: ignore[attr-defined]

    async def ask(self, question: str) -> None:
        """Send the request through the stack."""
        await self.complete(_messages(question))

    async def stop(self) -> None:
        """Stop the warmer and close the pools of this loop."""
        import llmwarm

        await self.complete.warmer.aclose()  # type: ignore[attr-defined]
        await llmwarm.aclose()

    @property
    def pings(self) -> int:
        """Warm-up pings, as ``llmwarm.stats()`` counts them (adapter pings included)."""
        import llmwarm

        return int(llmwarm.stats(window=math.inf)["warmup_pings"]) - self._pings_before

    @property
    def cache_hits(self) -> int:
        """Requests the cache answered: hits, and misses that shared a single flight."""
        stats = self.complete.cache.stats  # type: ignore[attr-defined]
        return int(stats.cache_hits + stats.cache_shared)


def make_setup(name: str, connect: Connect, config: DemoConfig, event_hooks: EventHooks) -> Setup:
    """Build the set-up called ``name`` (one of :data:`SETUP_NAMES`)."""
    kinds: dict[str, type[Setup]] = {"plain": Plain, "recipe": Recipe, "llmwarm": LLMWarm}
    return kinds[name](connect, config, event_hooks)
