"""Fault injection on loopback, bounded in time: what a real deployment meets.

- a server closing keep-alive connections (idle ones, and one crossing the next request);
- streams abandoned unread (their connections must come back to the pool);
- a call cancelled at every await point of a full stack (no connection kept, no flight).

Redis faults (killed, hung, forked workers) are in ``tests/warm/test_warm_fleet*.py``; the
owned event loops in ``tests/test_owned_loops.py``; 100 processes starting together in
``tests/warm/test_warm_herd.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from llmwarm import Tier, cached, pooled, routed, traced, warm
from llmwarm.sim import SimServer

HI = [{"role": "user", "content": "hi"}]
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class KeepAliveServer:
    """HTTP/1.1 on loopback that answers ``{}`` and closes keep-alive connections.

    ``mode="idle"``: a connection idle for 50 ms is closed (the server's keep-alive timeout).
    ``mode="race"``: the second request on a connection is met by a close, no answer (the
    server's close crossing the client's request); ``mode="reset"``: the same close, as a
    TCP reset (the close met unread bytes). Counts requests and connections.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self.connections = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._spawn(self._accept)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        served, buffer = 0, b""
        conn.settimeout(0.05)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    if self.mode == "idle" and served:
                        return  # idle past the keep-alive timeout: close
                    continue
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                if b"\r\n\r\n" not in buffer:
                    continue
                buffer = b""
                self.requests += 1
                if self.mode in ("race", "reset") and served == 1:
                    if self.mode == "reset":  # close with a TCP RST, as with unread bytes
                        conn.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    return  # closed as the next request arrives: no answer
                served += 1
                conn.sendall(OK)

    def close(self) -> None:
        self._stop.set()
        # close() alone does not wake a thread blocked in accept() (Linux): shutdown does,
        # else the join below waits out its timeout.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture(params=["idle", "race", "reset"])
def keepalive_server(request: pytest.FixtureRequest) -> Iterator[KeepAliveServer]:
    server = KeepAliveServer(request.param)
    try:
        yield server
    finally:
        server.close()


def test_a_stale_keep_alive_connection_is_retried_once_transparently(
    keepalive_server: KeepAliveServer,
) -> None:
    @pooled(http_options={"base_url": keepalive_server.url})
    def get(*, http_client: httpx.Client) -> int:
        return http_client.post("/v1/chat/completions", json={"model": "m"}).status_code

    statuses = []
    for _ in range(5):
        statuses.append(get())
        threading.Event().wait(0.15)  # idle past the server's keep-alive timeout
    assert statuses == [200] * 5  # on main, "race" failed: RemoteProtocolError
    assert keepalive_server.connections == 5  # each call after a close needed a new one
    sent_again = 0 if keepalive_server.mode == "idle" else 4
    assert keepalive_server.requests == 5 + sent_again  # retried once, never more


def test_the_openai_sdk_on_its_own_http_library_is_retried_too(
    keepalive_server: KeepAliveServer,
) -> None:
    @pooled(openai.OpenAI, base_url=f"{keepalive_server.url}/v1", api_key="sk", max_retries=0)
    def status(*, client: openai.OpenAI) -> int:
        raw = client.chat.completions.with_raw_response.create(model="m", messages=HI)
        return int(raw.status_code)

    statuses = []
    for _ in range(3):
        statuses.append(status())
        threading.Event().wait(0.15)
    assert statuses == [200] * 3  # SDK retries off: llmwarm's own retry did it
    assert keepalive_server.requests == 3 + (0 if keepalive_server.mode == "idle" else 2)


async def test_async_stale_connection_is_retried_and_a_dead_server_is_not(
    keepalive_server: KeepAliveServer,
) -> None:
    @pooled(http_options={"base_url": keepalive_server.url})
    async def get(*, http_client: httpx.AsyncClient) -> int:
        response = await http_client.post("/v1/chat/completions", json={"model": "m"})
        return response.status_code

    for _ in range(3):
        assert await get() == 200
        await asyncio.sleep(0.15)
    keepalive_server.close()  # gone for good: the retry fails too, and the error surfaces
    with pytest.raises(httpx.TransportError):
        await get()


FAST = pytest.mark.sim(cold_start=0, ttft=0.01, token_time=0.001)


@pytest.fixture
def young_heap() -> Iterator[None]:
    """Make ``gc.collect()`` scan only objects created during the test.

    A full collection of the test process's heap takes ~0.3 s; a test collecting once
    per abandoned stream spent seconds on it. Frozen objects are older than the streams,
    so what the test needs collected is collected all the same.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@FAST
@pytest.mark.usefixtures("young_heap")
def test_streams_abandoned_unread_give_their_connections_back(sim_server: SimServer) -> None:
    @pooled(
        openai.OpenAI,
        limits=httpx.Limits(max_connections=2),
        timeout=httpx.Timeout(5.0, pool=2.0),
        base_url=sim_server.openai_base_url,
        api_key="sk",
        max_retries=0,
    )
    def stream(*, client: openai.OpenAI) -> Any:
        return client.chat.completions.create(model="m", messages=HI, stream=True, max_tokens=50)

    for _ in range(10):  # 5x the pool: each would hold a connection for ever
        chunks = stream()
        next(iter(chunks))  # one chunk read, then dropped
        del chunks
        gc.collect()
    pool = stream.pool.http_client()._transport._pool
    assert all(c.is_idle() or c.is_closed() for c in pool.connections)  # none checked out
    assert len(list(stream())) > 1  # a full stream still gets a connection


@FAST
@pytest.mark.usefixtures("young_heap")
async def test_async_streams_abandoned_unread_give_their_connections_back(
    sim_server: SimServer,
) -> None:
    @pooled(
        openai.AsyncOpenAI,
        limits=httpx.Limits(max_connections=2),
        timeout=httpx.Timeout(5.0, pool=2.0),
        base_url=sim_server.openai_base_url,
        api_key="sk",
        max_retries=0,
    )
    async def stream(*, client: openai.AsyncOpenAI) -> Any:
        return await client.chat.completions.create(
            model="m", messages=HI, stream=True, max_tokens=50
        )

    for _ in range(10):
        chunks = await stream()
        async for _chunk in chunks:
            break
        del chunks
        gc.collect()
        await asyncio.sleep(0.01)  # the close scheduled by the collected stream runs
    assert len([c async for c in await stream()]) > 1


def full_stack(root: str, library: str) -> Any:
    """@traced @cached @routed @warm @pooled, one connection: the SDK (on httpx2) or httpx."""
    pool = {
        "limits": httpx.Limits(max_connections=1),  # one leaked slot would stop everything
        "timeout": httpx.Timeout(5.0, pool=1.0),
    }
    if library == "openai":

        @pooled(openai.AsyncOpenAI, base_url=f"{root}/v1", api_key="sk", max_retries=0, **pool)
        async def call(messages: Any, *, model: str = "s", max_tokens: int = 2, client: Any) -> Any:
            reply = await client.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens
            )
            return reply.choices[0].message.content

    else:

        @pooled(http_options={"base_url": root}, **pool)
        async def call(
            messages: Any, *, model: str = "s", max_tokens: int = 2, http_client: Any
        ) -> Any:
            body = {"model": model, "messages": messages, "max_tokens": max_tokens}
            response = await http_client.post("/v1/chat/completions", json=body)
            return response.raise_for_status().json()["choices"][0]["message"]["content"]

    # one stack: each decorator joins the pipeline of the one below it
    stack = warm(["s", "l"], interval=3600)(call)
    return traced(cached(ttl=60)(routed([Tier("small", "s"), Tier("large", "l")])(stack)))


@FAST
@pytest.mark.parametrize("library", ["openai", "httpx"])
async def test_cancelling_a_full_stack_at_every_await_point_keeps_nothing(
    sim_server: SimServer, library: str
) -> None:
    complete = full_stack(str(sim_server), library)

    cancelled = 0
    for steps in range(120):  # cancel after 0, 1, 2... turns of the loop
        task = asyncio.ensure_future(complete([{"role": "user", "content": f"q{steps}"}]))
        for _ in range(steps):
            await asyncio.sleep(0)
        if task.done():
            continue
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cancelled += 1
        await asyncio.sleep(0)
        assert len(complete.cache._policy.flights) == 0  # no stuck single-flight entry
    assert cancelled >= 20
    pool = complete.pool.http_client()._transport._pool
    # The closes of reclaimed connections run as tasks, and a warm-up ping the router asked
    # for may hold the one connection a moment: wait for them, up to a bound generous
    # enough for a loaded machine (the loop ends as soon as the pool is idle).
    for _ in range(1000):
        if all(c.is_idle() or c.is_closed() for c in pool.connections):
            break
        await asyncio.sleep(0.01)
    assert all(c.is_idle() or c.is_closed() for c in pool.connections), pool  # none held
    # the one slot is free: a call goes through at once (today: PoolTimeout on each tier)
    reply = await asyncio.wait_for(complete([{"role": "user", "content": "after"}]), 10)
    assert reply
