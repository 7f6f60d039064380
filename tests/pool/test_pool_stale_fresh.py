"""A request that fails on a *fresh* connection is never sent again (the server saw it).

The stale-connection retry (``llmwarm.pool._stale``) only resends a request whose
connection had served an earlier one: the server closed it while idle, so nothing was
answered. On a connection opened for the request, the same close means the server got
the request and died on it: sending it again could run it twice. The check is made only
after a failure, from the failed connection itself (no per-request walk of the pool).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from llmwarm.pool import pooled


class ClosingServer:
    """Reads each request, then closes the connection without answering."""

    def __init__(self) -> None:
        self.requests = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                if self._read_request(conn):
                    self.requests += 1

    @staticmethod
    def _read_request(conn: socket.socket) -> bool:
        # The whole request, body included: closing with unread bytes would send a TCP
        # reset (a ReadError at the client) instead of the clean close under test.
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                return False
            buffer += data
        head, _, body = buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            data = conn.recv(65536)
            if not data:
                break
            body += data
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accept() in progress (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)


@pytest.fixture
def closing_server() -> Iterator[ClosingServer]:
    server = ClosingServer()
    try:
        yield server
    finally:
        server.close()


def test_a_failure_on_a_fresh_connection_is_not_sent_again(closing_server: ClosingServer) -> None:
    @pooled(http_options={"base_url": closing_server.url})
    def post(*, http_client: httpx.Client) -> int:
        return http_client.post("/v1/chat/completions", json={"model": "m"}).status_code

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        post()
    assert closing_server.requests == 1


async def test_async_a_failure_on_a_fresh_connection_is_not_sent_again(
    closing_server: ClosingServer,
) -> None:
    @pooled(http_options={"base_url": closing_server.url})
    async def post(*, http_client: httpx.AsyncClient) -> int:
        response = await http_client.post("/v1/chat/completions", json={"model": "m"})
        return response.status_code

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        await post()
    assert closing_server.requests == 1
