"""Idle pooled connections are checked cheaply, and still found when the server closed them.

httpcore asks every idle connection "has the server closed you?" (is its socket
readable?) before each request and after each response. Under asyncio that went through
anyio's attribute lookup (a mapping rebuilt, a system call) per idle connection per
check; ``llmwarm.pool._idle`` finds each connection's socket once and polls it directly.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import anyio.abc
import httpx
import openai
import pytest

from llmwarm.pool import pooled
from llmwarm.pool._idle import install

_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class KeepAliveServer:
    """Answers every request over keep-alive; ``close_after_answer`` closes each one after.

    Closing right after answering (with no ``Connection: close``) is what a server's idle
    timeout does: the client keeps a connection the server has already closed.
    """

    def __init__(self, close_after_answer: bool = False) -> None:
        self.close_after_answer = close_after_answer
        self.connections = 0
        self.requests = 0
        self.closed = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                self.requests += 1
                conn.sendall(_RESPONSE)
                if self.close_after_answer:
                    conn.shutdown(socket.SHUT_RDWR)
                    break
        self.closed.set()

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    running = KeepAliveServer()
    yield running
    running.close()


@pytest.fixture
def closing_server() -> Iterator[KeepAliveServer]:
    running = KeepAliveServer(close_after_answer=True)
    yield running
    running.close()


@pytest.fixture
def raw_socket_lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count anyio attribute lookups of a stream's raw socket (the costly path)."""
    seen: list[int] = []
    original = anyio.abc.SocketStream.extra

    def extra(self: Any, attribute: Any, *default: Any) -> Any:
        if attribute is anyio.abc.SocketAttribute.raw_socket:
            seen.append(1)
        return original(self, attribute, *default)

    monkeypatch.setattr(anyio.abc.SocketStream, "extra", extra)
    return seen


def _functions(url: str) -> dict[str, Any]:
    """An httpx-based and an httpx2-based (the openai SDK's) pooled function."""

    @pooled()
    async def plain(*, http_client: Any = None) -> Any:
        return (await http_client.post(url, json={})).json()

    @pooled(openai.AsyncOpenAI, base_url=url, api_key="sk-test", max_retries=0)
    async def sdk(*, client: Any = None) -> Any:
        return await client.post("/", cast_to=object, body={})

    return {"httpx": plain, "httpx2 (openai)": sdk}


@pytest.mark.parametrize("library", ["httpx2 (openai)"])
async def test_idle_connections_are_checked_without_anyio_lookups(
    library: str, server: KeepAliveServer, raw_socket_lookups: list[int]
) -> None:
    call = _functions(server.url)[library]
    await asyncio.gather(*(call() for _ in range(8)))  # up to 8 connections, then idle
    opened = server.connections
    assert opened > 1
    raw_socket_lookups.clear()
    for _ in range(20):  # each checks the idle connections before and after its request
        assert await call() == {}
    # At most one look-up per connection (then the socket is known): not one per check,
    # which would be 20 requests x 2 checks x the idle connections.
    assert len(raw_socket_lookups) <= opened
    assert server.connections == opened  # and every request reused a kept connection


@pytest.mark.parametrize("library", ["httpx", "httpx2 (openai)"])
async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    library: str, closing_server: KeepAliveServer, caplog: pytest.LogCaptureFixture
) -> None:
    call = _functions(closing_server.url)[library]
    assert await call() == {}
    assert closing_server.closed.wait(5)
    await asyncio.sleep(0.05)  # the server's close reaches the client's socket
    with caplog.at_level(logging.DEBUG, logger="llmwarm"):
        assert await call() == {}
    # The check found it closed before the request went out: no request was sent on it
    # (the stale-connection retry, the fallback, never had to act).
    assert "closed keep-alive connection" not in caplog.text
    assert closing_server.requests == 2
    assert closing_server.connections == 2


def test_other_clients_are_left_as_they_are() -> None:
    plain = httpx.AsyncClient()  # httpcore 1.x: the library's own check (see _idle)
    backend = plain._transport._pool._network_backend  # type: ignore[attr-defined]
    before = type(backend)
    install(plain)
    assert type(backend) is before
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    client = httpx.AsyncClient(transport=transport)
    install(client)  # no connection pool to speak of: nothing to do, nothing raised
    assert type(client._transport) is httpx.MockTransport
    sync_client = httpx.Client()
    backend = sync_client._transport._pool._network_backend  # type: ignore[attr-defined]
    before = type(backend)
    install(sync_client)  # the sync backend's check is already a direct poll
    assert type(backend) is before
    sync_client.close()


async def test_a_second_burst_of_fifty_reuses_the_first_ones_connections(
    server: KeepAliveServer,
) -> None:
    call = _functions(server.url)["httpx2 (openai)"]
    await asyncio.gather(*(call() for _ in range(50)))
    opened = server.connections
    await asyncio.gather(*(call() for _ in range(50)))
    # The default limits keep 50 idle: none of the first burst's connections was closed
    # (with 20 kept, every burst of 50 reopened 30, each a new TCP and TLS handshake).
    assert server.connections == opened
    assert server.requests == 100


@pytest.mark.parametrize("library", ["httpx2 (openai)"])
async def test_without_select_poll_idle_checks_fall_back_to_select(
    library: str, closing_server: KeepAliveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows has no select.poll, and gevent/eventlet remove it when they patch select:
    # the check must still answer (as httpcore's own does), never fail the request.
    import select

    monkeypatch.delattr(select, "poll")
    call = _functions(closing_server.url)[library]
    assert await call() == {}
    assert closing_server.closed.wait(5)
    await asyncio.sleep(0.05)
    assert await call() == {}  # the closed connection was found by select.select
    assert closing_server.connections == 2


async def test_a_failing_socket_check_falls_back_to_the_librarys_own(
    server: KeepAliveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmwarm.pool import _idle

    def broken(sock: Any) -> bool:
        raise OSError("unexpected")

    monkeypatch.setattr(_idle, "_readable", broken)
    call = _functions(server.url)["httpx2 (openai)"]
    for _ in range(3):  # an optimization failing never breaks the application's call
        assert await call() == {}
    assert server.connections == 1


def test_a_backend_whose_class_cannot_be_swapped_is_left_alone() -> None:
    from llmwarm.pool import _idle

    class AutoBackend:  # a future layout the subclass cannot take (__slots__)
        __slots__ = ("x",)

    AutoBackend.__module__ = "httpcore2._backends.auto"

    class Pool:
        _network_backend = AutoBackend()

    class Transport:
        _pool = Pool()

    class Client:
        _transport = Transport()

    client = Client()
    _idle.install(client)  # raises nothing: the library keeps its own check
    assert type(client._transport._pool._network_backend) is AutoBackend
