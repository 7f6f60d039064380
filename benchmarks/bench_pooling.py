"""@pooled: per-request latency with a new client per call vs one pooled client.

A hypercorn server on loopback speaks HTTP/1.1 and HTTP/2 over TLS (trustme certificates).
Each round times ``number`` requests made with a fresh ``httpx`` client per request (a new
TCP connection and TLS handshake each time, the SSL context reused, which flatters this
side) and ``number`` requests through a ``@pooled`` function, interleaved in the same round;
the reported ratio is new-client latency / pooled latency (median, min and max over rounds).
Loopback has no network round trip: over a real network each handshake costs one to three
RTTs more, so these ratios are a floor. ``connections`` counts TCP connections accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class _Server:
    """Hypercorn over TLS on a pre-bound loopback socket, in a thread; counts connections."""

    def __init__(self, certfile: str, keyfile: str) -> None:
        self.peers: set[tuple[str, int]] = set()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.files = (certfile, keyfile)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-tls", daemon=True)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":  # startup comes first
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        self.peers.add(tuple(scope["client"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"ok": true}'})

    def _run(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{self.sock.fileno()}"]
        config.certfile, config.keyfile = self.files
        config.accesslog = config.errorlog = None
        config.graceful_timeout = 0.5

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            self.ready.set()
            await serve(self.app, config, shutdown_trigger=self.stop_event.wait)  # type: ignore[arg-type]

        asyncio.run(main())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(15)
        with contextlib.suppress(OSError):
            self.sock.close()


@contextlib.contextmanager
def _tls_server() -> Iterator[tuple[_Server, ssl.SSLContext]]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    with tempfile.TemporaryDirectory() as directory:
        certfile, keyfile = str(Path(directory, "cert.pem")), str(Path(directory, "key.pem"))
        cert.private_key_and_cert_chain_pem.write_to_path(certfile)
        cert.private_key_pem.write_to_path(keyfile)
        server = _Server(certfile, keyfile)
        server.thread.start()
        server.ready.wait(10)
        context = ssl.create_default_context()
        ca.configure_trust(context)
        try:
            yield server, context
        finally:
            import llmwarm

            llmwarm.close()  # hypercorn waits for open connections before it stops
            server.stop()


def _per_request(fn: Callable[[], Any], number: int) -> float:
    started = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - started) / number


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


class _Counter:
    """Connections the server accepted during each side's phases."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.counts = {"new_client": 0, "pooled": 0}

    @contextlib.contextmanager
    def phase(self, side: str) -> Iterator[None]:
        before = len(self.server.peers)
        yield
        self.counts[side] += len(self.server.peers) - before


def _result(counter: _Counter, fresh: list[float], kept: list[float], number: int) -> Any:
    return {
        "ratio_new_client_over_pooled": _spread([f / k for f, k in zip(fresh, kept, strict=True)]),
        "new_client_ms": round(statistics.median(fresh) * 1000, 3),
        "pooled_ms": round(statistics.median(kept) * 1000, 3),
        "requests_per_side": len(fresh) * number,
        "connections_new_client": counter.counts["new_client"],
        "connections_pooled": counter.counts["pooled"],
    }


def _measure_sync(
    server: _Server, context: ssl.SSLContext, http2: bool, rounds: int, number: int
) -> dict[str, Any]:
    import httpx

    from llmwarm import pooled

    def new_client() -> None:
        with httpx.Client(verify=context, http2=http2) as client:
            client.get(server.url).raise_for_status()

    @pooled(http2=http2, http_options={"verify": context})
    def with_pool(*, http_client: Any = None) -> None:
        http_client.get(server.url).raise_for_status()

    counter = _Counter(server)
    fresh, kept = [], []
    with counter.phase("pooled"):
        with_pool()  # the pool's first connection, as a long-lived process has it
    for _ in range(rounds):
        with counter.phase("new_client"):
            fresh.append(_per_request(new_client, number))
        with counter.phase("pooled"):
            kept.append(_per_request(with_pool, number))
    return _result(counter, fresh, kept, number)


def _measure_async(
    server: _Server, context: ssl.SSLContext, http2: bool, rounds: int, number: int
) -> dict[str, Any]:
    import httpx

    from llmwarm import pooled

    @pooled(http2=http2, http_options={"verify": context})
    async def with_pool(*, http_client: Any = None) -> None:
        (await http_client.get(server.url)).raise_for_status()

    async def new_client() -> None:
        async with httpx.AsyncClient(verify=context, http2=http2) as client:
            (await client.get(server.url)).raise_for_status()

    async def timed(make: Callable[[], Any]) -> float:
        started = time.perf_counter()
        for _ in range(number):
            await make()
        return (time.perf_counter() - started) / number

    counter = _Counter(server)
    fresh, kept = [], []

    async def main() -> None:
        with counter.phase("pooled"):
            await with_pool()
        for _ in range(rounds):
            with counter.phase("new_client"):
                fresh.append(await timed(new_client))
            with counter.phase("pooled"):
                kept.append(await timed(with_pool))

    asyncio.run(main())
    return _result(counter, fresh, kept, number)


def run(quick: bool) -> dict[str, Any]:
    """Return new-client/pooled latency ratios for HTTP/1.1 and HTTP/2 over TLS on loopback."""
    rounds, number = (3, 10) if quick else (7, 40)
    results: dict[str, Any] = {}
    with _tls_server() as (server, context):
        for name, http2 in (("http1", False), ("http2", True)):
            results[f"sync_{name}"] = _measure_sync(server, context, http2, rounds, number)
            results[f"async_{name}"] = _measure_async(server, context, http2, rounds, number)
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick=False), indent=2))
