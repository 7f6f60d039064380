"""A fast, minimal OpenAI-compatible server for client-side benchmarks, in its own process.

It answers every request with one canned chat completion over HTTP/1.1 keep-alive, with
no model, no sleep and almost no parsing, so a benchmark measures what the *clients* cost.
It runs in a subprocess (its CPU time is not the client's GIL), bound to 127.0.0.1 only,
and stops when the benchmark's context manager exits (or when its parent dies: it reads
its stdin, which closes with the parent). ``python -m benchmarks._fast_server`` runs it
and prints its port. ``GET /_connections`` answers instead the number of connections
accepted so far (:func:`connections`): how many a client opened during a sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator

from benchmarks._responses import COMPLETION

_COMPLETION = json.dumps(COMPLETION).encode()
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(_COMPLETION)).encode() + b"\r\n\r\n" + _COMPLETION
)
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only
#: Bound on a request head: anything longer is not a client of this benchmark.
_MAX_HEAD = 64 * 1024


#: Connections accepted so far; ``GET /_connections`` answers it (see :func:`connections`).
_accepted = 0


class _Connection(asyncio.Protocol):
    """One keep-alive connection: read a head and its body, answer, repeat."""

    def __init__(self) -> None:
        global _accepted
        _accepted += 1
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sock = transport.get_extra_info("socket")
        if self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        # ACK at once: a client that writes a request's head and body separately (with
        # Nagle's algorithm on) holds the body until the head is acknowledged, and a
        # delayed ACK would add tens of milliseconds to every request.
        if _QUICKACK is not None and self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > _MAX_HEAD and self.transport is not None:
                    self.transport.close()
                return
            head = self.buffer[:end].lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            if self.transport is not None:
                self.transport.write(
                    _count() if head.startswith(b"get /_connections") else _RESPONSE
                )


def _count() -> bytes:
    body = str(_accepted).encode()
    return b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def connections(url: str) -> int:
    """Return how many connections the server at ``url`` has accepted (this query's too).

    Asked on a connection of its own, outside any measured span: a benchmark takes the
    difference around a sample (less one) as the connections its client opened.
    """
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port)
    try:
        connection.request("GET", "/_connections")
        return int(connection.getresponse().read())
    finally:
        connection.close()


async def _main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Stop when the parent closes our stdin (its exit, or the context manager's end).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


@contextlib.contextmanager
def fast_server() -> Iterator[str]:
    """Run the server in a subprocess; yield its OpenAI base URL (``http://127.0.0.1:N/v1``)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._fast_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


if __name__ == "__main__":
    asyncio.run(_main())
