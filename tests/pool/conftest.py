"""Fixtures for ``@pooled``: a real TLS server on loopback that counts TCP connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from llmwarm.pool import _pooled as pool


@pytest.fixture(autouse=True)
def _reset_pools() -> Iterator[None]:
    pool._reset()
    yield
    pool._reset()


class TLSServer:
    """A hypercorn ASGI server over TLS (HTTP/1.1 and HTTP/2) in a background thread.

    ``connections`` counts distinct client (host, port) pairs: one per TCP connection.
    ``GET /stream`` streams five chunks; every other path answers ``ok``.
    """

    def __init__(self, certfile: str, keyfile: str) -> None:
        self.peers: set[tuple[str, int]] = set()
        self.versions: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._certfile = certfile
        self._keyfile = keyfile
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-server", daemon=True)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self.peers)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        with self._lock:
            self.peers.add(tuple(scope["client"]))
            self.versions.append(scope["http_version"])
            self.requests += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] == "/stream":
            for i in range(5):
                await send({"type": "http.response.body", "body": b"%d\n" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b"ok"})

    def _run(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{self._sock.fileno()}"]
        config.certfile = self._certfile
        config.keyfile = self._keyfile
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 0.5

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._started.set()
            await serve(self.app, config, shutdown_trigger=self._stop.wait)  # type: ignore[arg-type]

        asyncio.run(main())

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        with contextlib.suppress(OSError):  # hypercorn closed it already
            self._sock.close()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    directory = tmp_path_factory.mktemp("tls")
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    return str(certfile), str(keyfile)


@pytest.fixture
def trust(ca: trustme.CA) -> ssl.SSLContext:
    """A client SSL context trusting the test CA (one object: one pool configuration)."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def tls_server(tls_files: tuple[str, str]) -> Iterator[TLSServer]:
    server = TLSServer(*tls_files)
    server.start()
    try:
        yield server
    finally:
        # Hypercorn waits for open connections before it stops: close the sync pools first.
        pool._reset()
        server.stop()


class CountingRelay:
    """A loopback TCP relay in front of a server that counts the connections it accepts.

    The simulator does not count TCP connections; the relay sits between the client and
    it, so "one connection reused across calls" is counted where the server sees it.
    Bounded: at most ``_MAX_CONNECTIONS`` accepted, every socket closed on ``stop()``.
    """

    _MAX_CONNECTIONS = 64

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.accepted = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)  # accept() wakes up to see stop()
        self._stopped = threading.Event()
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, name="relay", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while self.accepted < self._MAX_CONNECTIONS and not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            conn.settimeout(None)
            upstream = socket.create_connection(self.upstream, timeout=10)
            with self._lock:
                self.accepted += 1
                self._sockets += [conn, upstream]
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(10)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.fixture
def relay(sim_server: Any) -> Iterator[CountingRelay]:
    """A :class:`CountingRelay` in front of the ``sim_server`` simulator."""
    host, port = str(sim_server).removeprefix("http://").rsplit(":", 1)
    counting = CountingRelay((host, int(port)))
    try:
        yield counting
    finally:
        pool._reset()
        counting.stop()
