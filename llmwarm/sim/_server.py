"""Serving the simulator: ``serve()`` in a thread, ``aserve()`` on the caller's loop.

Both bind the listening socket themselves, so every connection gets ``TCP_NODELAY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from llmwarm.sim._app import create_app
from llmwarm.sim._config import SimConfig
from llmwarm.sim._engine import SimulatedDisconnect, Simulator, SimulatorStopping

__all__ = ["SimServer", "StoppingServer", "aserve", "listen", "serve", "uvicorn_config"]

_STARTUP_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind a listening TCP socket whose accepted connections have ``TCP_NODELAY`` set.

    asyncio only sets ``TCP_NODELAY`` on accepted sockets whose protocol is
    ``IPPROTO_TCP``: a socket made with ``socket.socket()`` (protocol 0) and handed to
    uvicorn would keep Nagle's algorithm, adding ~40 ms to each keep-alive request. So the
    socket is created with ``IPPROTO_TCP`` and has ``TCP_NODELAY`` set, which Linux also
    copies to every accepted connection.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _QuietFaults(logging.Filter):
    """Drops uvicorn's tracebacks for the simulator's own deliberate disconnects."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not _is_ours(exc)


def _is_ours(exc: BaseException | None, depth: int = 0) -> bool:
    if exc is None or depth > 5:
        return False
    if isinstance(exc, (SimulatedDisconnect, SimulatorStopping)):
        return True
    nested: tuple[BaseException, ...] = getattr(exc, "exceptions", None) or ()
    if nested and all(_is_ours(e, depth + 1) for e in nested):
        return True
    return _is_ours(exc.__cause__, depth + 1)


_FILTER = _QuietFaults()


def uvicorn_config(app: Starlette, **overrides: Any) -> uvicorn.Config:
    """Return the uvicorn settings the simulator runs with (quiet, no lifespan, asyncio)."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    settings: dict[str, Any] = {
        "loop": "asyncio",
        "lifespan": "off",
        "ws": "none",
        "log_config": None,
        "access_log": False,
        "timeout_keep_alive": 65,
        "timeout_graceful_shutdown": 5,
        "server_header": False,
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


class StoppingServer(uvicorn.Server):
    """A uvicorn server that also ends the simulator's pending waits when it stops."""

    def __init__(self, config: uvicorn.Config, sim: Simulator) -> None:
        super().__init__(config)
        self.sim = sim
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def request_exit(self) -> None:
        """Ask the server to stop, from any thread, without waiting for its next tick."""
        self.should_exit = True
        wake = self._wake
        if wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop has closed: it has stopped
                wake[0].call_soon_threadsafe(wake[1].set)

    async def main_loop(self) -> None:
        """Serve until asked to exit, then cut every simulated wait (even hangs) short."""
        # uvicorn's own loop, except that the 0.1 s sleep between ticks ends early when
        # request_exit() is called: a test starts and stops hundreds of simulators, and
        # each stop waited up to a whole tick for nothing.
        wake = asyncio.Event()
        self._wake = (asyncio.get_running_loop(), wake)
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            # asyncio.TimeoutError is the builtin only from Python 3.11 on.
            with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)
        self.sim.stop()


class SimServer(str):
    """A running simulator. It *is* its root URL (a ``str``), e.g. ``http://127.0.0.1:8400``.

    OpenAI clients use :attr:`openai_base_url` (``<root>/v1``), Ollama clients the root.
    """

    url: str
    openai_base_url: str
    app: Starlette

    def __new__(cls, url: str, app: Starlette) -> SimServer:
        """Wrap the root ``url`` of the server running ``app``."""
        self = super().__new__(cls, url)
        self.url = url
        self.openai_base_url = f"{url}/v1"
        self.app = app
        return self

    @property
    def config(self) -> SimConfig:
        """The simulator's configuration."""
        sim: Simulator = self.app.state.sim
        return sim.config

    def stats(self) -> dict[str, Any]:
        """Return ``GET /sim/stats``: per-model and total counters."""
        with httpx.Client(trust_env=False, timeout=10) as client:
            data: dict[str, Any] = client.get(f"{self.url}/sim/stats").raise_for_status().json()
            return data

    async def astats(self) -> dict[str, Any]:
        """Return ``GET /sim/stats`` without blocking the event loop (for :func:`aserve`)."""
        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            response = (await client.get(f"{self.url}/sim/stats")).raise_for_status()
            data: dict[str, Any] = response.json()
            return data

    def reset(self) -> None:
        """``POST /sim/reset``: unload every model and zero the counters."""
        with httpx.Client(trust_env=False, timeout=10) as client:
            client.post(f"{self.url}/sim/reset").raise_for_status()


@contextlib.contextmanager
def serve(
    config: SimConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.monotonic,
    **options: Any,
) -> Iterator[SimServer]:
    """Run a simulator in a background thread; yield its root URL as a :class:`SimServer`.

    Pass a :class:`SimConfig` or its options as keywords (``cold_start=14``,
    ``time_scale=0.01``, ...). ``port=0`` picks a free port. ``clock`` is the simulator's
    clock (real monotonic seconds; a test may inject a fake one). On exit the server stops:
    pending simulated waits (including hung requests) end, connections close and the
    thread is joined.

    >>> with serve(time_scale=0.01) as base_url:  # doctest: +SKIP
    ...     client = OpenAI(base_url=f"{base_url}/v1", api_key="sk-sim")
    """
    app = create_app(config, clock=clock, **options)
    sim: Simulator = app.state.sim
    sock = listen(host, port)
    server = StoppingServer(uvicorn_config(app), sim)
    bound_host, bound_port = sock.getsockname()[:2]
    thread = threading.Thread(target=server.run, args=([sock],), name=f"llmwarm-sim:{bound_port}")
    try:
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The llmwarm simulator failed to start; see the log above.")
            time.sleep(0.002)
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield SimServer(f"http://{shown}:{bound_port}", app)
    finally:
        server.request_exit()
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        sock.close()


@contextlib.asynccontextmanager
async def aserve(
    config: SimConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Callable[[], float] = time.monotonic,
    **options: Any,
) -> AsyncIterator[SimServer]:
    """Run a simulator on the running event loop (no thread); yield it as :func:`serve` does.

    For async code that wants the server and its clients on one loop: no thread hand-offs
    (whose GIL switches cost milliseconds, which a compressed clock turns into simulated
    seconds), and the server's timers are ordered with the clients' own. Everything the
    clients do on the loop delays the server too, as it would a real provider's clients.

    >>> async with aserve(time_scale=0.01) as base_url:  # doctest: +SKIP
    ...     client = AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-sim")
    """
    app = create_app(config, clock=clock, **options)
    sim: Simulator = app.state.sim
    sock = listen(host, port)
    server = StoppingServer(uvicorn_config(app), sim)
    bound_host, bound_port = sock.getsockname()[:2]
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"llmwarm-sim:{bound_port}")
    loop = asyncio.get_running_loop()
    try:
        deadline = loop.time() + _STARTUP_TIMEOUT
        while not server.started:
            if task.done() or loop.time() > deadline:
                raise RuntimeError("The llmwarm simulator failed to start; see the log above.")
            await asyncio.sleep(0.002)
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        yield SimServer(f"http://{shown}:{bound_port}", app)
    finally:
        server.request_exit()
        try:
            await asyncio.wait_for(asyncio.shield(task), _STOP_TIMEOUT)
        except (TimeoutError, asyncio.TimeoutError):
            server.force_exit = True
            await task
        sock.close()
