"""@pooled over real TLS on loopback: connection reuse, sharing (one test over sync and
async pools where they match), loops, fork, close."""

from __future__ import annotations

import asyncio
import inspect
import os
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import llmwarm
from llmwarm._core import current_record
from llmwarm.pool import _pooled as pool
from llmwarm.pool import pooled

TLSServer = Any  # tests/pool/conftest.py: the fixture type


def reused() -> bool | None:
    record = current_record()
    assert record is not None
    return record.connection_reused


# ------------------------------------------------------------------ one connection


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    """Run the test over a ``def`` and over an ``async def`` (sync and async pools)."""
    return str(request.param)


def pooled_get(kind: str, url: str, **options: Any) -> Any:
    """``@pooled(**options)`` over a GET of ``url``: returns (text, connection reused?)."""
    if kind == "sync":

        @pooled(**options)
        def get(*, http_client: Any = None) -> tuple[str, bool | None]:
            assert isinstance(http_client, httpx.Client)
            return http_client.get(url).text, reused()

        return get

    @pooled(**options)
    async def aget(*, http_client: Any = None) -> tuple[str, bool | None]:
        assert isinstance(http_client, httpx.AsyncClient)
        return (await http_client.get(url)).text, reused()

    return aget


async def call(fn: Any) -> Any:
    """Call ``fn``; await the result when it is async (one test body for both)."""
    result = fn()
    return await result if inspect.isawaitable(result) else result


async def test_sequential_calls_share_one_connection(
    kind: str, tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    get = pooled_get(kind, tls_server.url, http_options={"verify": trust})
    results = [await call(get) for _ in range(8)]
    assert [text for text, _ in results] == ["ok"] * 8
    assert [flag for _, flag in results] == [False] + [True] * 7
    assert tls_server.requests == 8
    assert tls_server.connections == 1


async def test_same_configuration_shares_a_pool(
    kind: str, tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    one = pooled_get(kind, tls_server.url, http_options={"verify": trust})
    two = pooled_get(kind, tls_server.url + "/two", http_options={"verify": trust})
    for _ in range(3):
        assert (await call(one))[0] == (await call(two))[0] == "ok"
    assert one.pool.http_client() is two.pool.http_client()
    assert tls_server.connections == 1


@pytest.mark.parametrize(
    "options", [{"timeout": 20.0}, {"limits": httpx.Limits(max_connections=5)}], ids=repr
)
async def test_different_configurations_do_not_share(
    kind: str, options: dict[str, Any], tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    default = pooled_get(kind, tls_server.url, http_options={"verify": trust})
    other = pooled_get(kind, tls_server.url, http_options={"verify": trust}, **options)
    for _ in range(3):
        assert (await call(default))[0] == (await call(other))[0] == "ok"
    assert default.pool.http_client() is not other.pool.http_client()
    assert tls_server.connections == 2


# ------------------------------------------------------------------- event loops


def test_async_pools_survive_successive_asyncio_run(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    async def get(*, http_client: Any = None) -> Any:
        await http_client.get(tls_server.url)
        return http_client

    async def three() -> list[Any]:
        return [await get() for _ in range(3)]

    first = asyncio.run(three())
    second = asyncio.run(three())  # a new loop: never "Event loop is closed"
    assert len({id(c) for c in first}) == 1
    assert len({id(c) for c in second}) == 1
    assert first[0] is not second[0]
    assert first[0].is_closed  # closed on its own loop when asyncio.run ended
    assert second[0].is_closed
    assert tls_server.connections == 2  # one per loop


async def test_concurrent_tasks_share_the_loops_pool(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    async def get(*, http_client: Any = None) -> Any:
        assert (await http_client.get(tls_server.url)).text == "ok"
        return http_client

    clients = await asyncio.gather(*(get() for _ in range(10)))
    assert len({id(c) for c in clients}) == 1
    assert 1 <= tls_server.connections <= 10
    opened = tls_server.connections
    await asyncio.gather(*(get() for _ in range(10)))
    assert tls_server.connections <= opened + 10
    assert tls_server.requests == 20


async def test_http2_is_negotiated_and_multiplexes_after_prewarm(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http2=True, http_options={"verify": trust})
    async def get(*, http_client: Any = None) -> str:
        return str((await http_client.get(tls_server.url)).http_version)

    await get.pool.aprewarm(tls_server.url)
    assert tls_server.connections == 1
    versions = await asyncio.gather(*(get() for _ in range(10)))
    assert versions == ["HTTP/2"] * 10
    assert tls_server.connections == 1  # ten concurrent streams on one connection


def test_http2_sync(tls_server: TLSServer, trust: ssl.SSLContext) -> None:
    @pooled(http2=True, http_options={"verify": trust})
    def get(*, http_client: Any = None) -> str:
        return str(http_client.get(tls_server.url).http_version)

    assert [get() for _ in range(3)] == ["HTTP/2"] * 3
    assert tls_server.versions == ["2"] * 3
    assert tls_server.connections == 1


# ----------------------------------------------------------------------- prewarm


def test_prewarm_opens_the_connection_before_the_first_call(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust, "base_url": tls_server.url})
    def get(*, http_client: Any = None) -> bool | None:
        http_client.get("/")
        return reused()

    get.pool.prewarm()  # the client's base_url
    assert tls_server.connections == 1
    assert get() is True  # the first user call found an open connection
    assert tls_server.connections == 1


async def test_aprewarm_opens_several_connections(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    async def get(*, http_client: Any = None) -> bool | None:
        await http_client.get(tls_server.url)
        return reused()

    await get.pool.aprewarm(tls_server.url, connections=3)
    assert tls_server.connections == 3
    assert await asyncio.gather(get(), get(), get()) == [True, True, True]
    assert tls_server.connections == 3


def test_prewarm_failure_is_logged_not_raised(
    trust: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    @pooled(http_options={"verify": trust})
    def get(*, http_client: Any = None) -> None: ...

    get.pool.prewarm("https://127.0.0.1:1")  # nothing listens on port 1
    assert "prewarming https://127.0.0.1:1 failed" in caplog.text
    with pytest.raises(ValueError, match="needs a url"):
        get.pool.prewarm()
    with pytest.raises(TypeError, match="aprewarm"):
        asyncio.run(get.pool.aprewarm("https://127.0.0.1:1"))


# ------------------------------------------------------------------ caller's client


def test_a_client_the_caller_passes_is_used_as_is(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    def get(url: str, http_client: Any = None) -> tuple[Any, bool | None]:
        http_client.get(url)
        return http_client, reused()

    with httpx.Client(verify=trust) as mine:
        assert get(tls_server.url, http_client=mine) == (mine, None)
        assert get(tls_server.url, mine) == (mine, None)  # by position too
    assert pool._sync_pools == {}  # no pool was built for those calls
    injected, _ = get(tls_server.url, http_client=None)  # None is not a client: inject
    assert injected is get.pool.http_client()


async def test_an_async_client_the_caller_passes_is_used_as_is(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    async def get(url: str, *, http_client: Any = None) -> Any:
        await http_client.get(url)
        return http_client

    async with httpx.AsyncClient(verify=trust) as mine:
        assert await get(tls_server.url, http_client=mine) is mine
    assert pool._async_pools == {}
    assert await get(tls_server.url) is get.pool.http_client()


# --------------------------------------------------------------------------- close


def stream_lines(server: TLSServer, trust: ssl.SSLContext) -> Any:
    @pooled(http_options={"verify": trust})
    def lines(*, http_client: Any = None) -> Iterator[str]:
        with http_client.stream("GET", server.url + "/stream") as response:
            yield from response.iter_lines()

    return lines


def test_close_waits_for_the_call_in_progress(tls_server: TLSServer, trust: ssl.SSLContext) -> None:
    lines = stream_lines(tls_server, trust)
    client = lines.pool.http_client()
    stream = lines()
    assert next(stream) == "0"
    llmwarm.close()
    assert not client.is_closed  # the stream is still reading from it
    assert list(stream) == ["1", "2", "3", "4", "ok"]
    assert client.is_closed
    assert lines.pool.http_client() is not client  # the next call gets a new pool


async def test_aclose_waits_for_the_call_in_progress(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    async def lines(*, http_client: Any = None) -> AsyncIterator[str]:
        async with http_client.stream("GET", tls_server.url + "/stream") as response:
            async for line in response.aiter_lines():
                yield line

    client = lines.pool.http_client()
    stream = lines()
    assert await stream.__anext__() == "0"
    await llmwarm.aclose()
    assert not client.is_closed
    assert [line async for line in stream] == ["1", "2", "3", "4", "ok"]
    for _ in range(100):  # the close runs as a task on this loop
        if client.is_closed:
            break
        await asyncio.sleep(0.01)
    assert client.is_closed


def test_close_closes_idle_sync_pools_and_new_calls_reconnect(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    def get(*, http_client: Any = None) -> bool | None:
        http_client.get(tls_server.url)
        return reused()

    assert [get(), get()] == [False, True]
    client = get.pool.http_client()
    llmwarm.close()
    assert client.is_closed
    assert [get(), get()] == [False, True]
    assert tls_server.connections == 2


def close_before_the_first_lease(monkeypatch: pytest.MonkeyPatch, closer: Any) -> list[Any]:
    """Make ``closer(pool)`` run between a call's pool look-up and its lease, once."""
    original = pool.Pool.acquire
    closed: list[Any] = []

    def acquire(self: pool.Pool) -> bool:
        if not closed:
            closed.append(self.http_client)
            closer(self)
        return original(self)

    monkeypatch.setattr(pool.Pool, "acquire", acquire)
    return closed


def test_close_from_another_thread_between_look_up_and_lease(
    tls_server: TLSServer, trust: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    @pooled(http_options={"verify": trust})
    def get(*, http_client: Any = None) -> tuple[str, Any]:
        return http_client.get(tls_server.url).text, http_client

    def close_in_another_thread(_: pool.Pool) -> None:
        thread = threading.Thread(target=llmwarm.close)
        thread.start()
        thread.join(10)

    closed = close_before_the_first_lease(monkeypatch, close_in_another_thread)
    text, used = get()
    assert text == "ok"
    assert len(closed) == 1
    assert closed[0].is_closed
    assert used is not closed[0]
    assert not used.is_closed
    assert get()[1] is used


async def test_a_pool_closing_between_look_up_and_lease_is_not_used(
    tls_server: TLSServer, trust: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    @pooled(http_options={"verify": trust})
    async def get(*, http_client: Any = None) -> tuple[str, Any]:
        return (await http_client.get(tls_server.url)).text, http_client

    closed = close_before_the_first_lease(monkeypatch, pool.Pool.request_close)
    text, used = await get()
    assert text == "ok"
    assert len(closed) == 1
    assert used is not closed[0]
    assert not used.is_closed
    for _ in range(100):  # the close runs as a task on this loop
        if closed[0].is_closed:
            break
        await asyncio.sleep(0.01)
    assert closed[0].is_closed
    assert (await get())[1] is used


async def test_aclose_closes_this_loops_pools_and_sync_pools(
    tls_server: TLSServer, trust: ssl.SSLContext
) -> None:
    @pooled(http_options={"verify": trust})
    async def aget(*, http_client: Any = None) -> None:
        await http_client.get(tls_server.url)

    @pooled(http_options={"verify": trust})
    def get(*, http_client: Any = None) -> None:
        http_client.get(tls_server.url)

    await aget()
    get()
    clients = [aget.pool.http_client(), get.pool.http_client()]
    await llmwarm.aclose()
    assert [c.is_closed for c in clients] == [True, True]
    await aget()
    assert aget.pool.http_client() is not clients[0]


def test_pools_close_at_exit_without_warnings(
    tls_server: TLSServer, ca: Any, tmp_path: Any
) -> None:
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    script = textwrap.dedent(
        f"""
        import asyncio, atexit, ssl
        loop = asyncio.new_event_loop()  # a loop left open: its pool is closed at exit too
        clients = []
        atexit.register(loop.close)  # the application's own clean-up, after llmwarm's
        atexit.register(lambda: print(*[c.is_closed for c in clients]))
        from llmwarm import pooled
        context = ssl.create_default_context(cafile={str(cafile)!r})

        @pooled(http_options={{"verify": context}})
        def get(*, http_client=None):
            clients.append(http_client)
            return http_client.get({tls_server.url!r}).text

        @pooled(http2=True, http_options={{"verify": context}})
        async def aget(*, http_client=None):
            clients.append(http_client)
            return (await http_client.get({tls_server.url!r})).text

        print(get(), asyncio.run(aget()), loop.run_until_complete(aget()))
        print(*[c.is_closed for c in clients])
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-W", "always::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr == ""
    ok, before_exit, at_exit = done.stdout.splitlines()
    assert ok.split() == ["ok", "ok", "ok"]
    assert before_exit.split() == ["False", "True", "False"]  # asyncio.run closed its own
    assert at_exit.split() == ["True", "True", "True"]
    assert done.returncode == 0


# ---------------------------------------------------------------------------- fork


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_forked_child_builds_its_own_pool(tls_server: TLSServer, trust: ssl.SSLContext) -> None:
    @pooled(http_options={"verify": trust})
    def get(*, http_client: Any = None) -> tuple[int, bool | None]:
        http_client.get(tls_server.url)
        return id(http_client), reused()

    parent_id, _ = get()
    assert tls_server.connections == 1
    # Held so that the child's copy of the parent's client stays alive there: a freed
    # one could give the child's new client the same id(), a false "same client".
    parent_client = get.pool.http_client()
    assert id(parent_client) == parent_id
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any test machinery
        try:
            child_id, child_reused = get()
            again_id, again_reused = get()
            report = f"{child_id != parent_id} {child_reused} {again_id == child_id} {again_reused}"
        except BaseException as exc:
            report = f"error {exc!r}"
        os.write(write_end, report.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    assert report == "True False True True"
    assert tls_server.connections == 2  # the child's own connection
    assert get() == (parent_id, True)  # the parent's connection was left open
    assert tls_server.connections == 2


# ------------------------------------------------------------ threads and methods


def test_threads_share_the_sync_pool(tls_server: TLSServer, trust: ssl.SSLContext) -> None:
    from concurrent.futures import ThreadPoolExecutor

    @pooled(http_options={"verify": trust})
    def get(*, http_client: Any = None) -> Any:
        assert http_client.get(tls_server.url).text == "ok"
        return http_client

    with ThreadPoolExecutor(max_workers=4) as executor:
        clients = list(executor.map(lambda _: get(), range(16)))
    assert len({id(c) for c in clients}) == 1
    assert 1 <= tls_server.connections <= 4  # at most one per concurrent thread
    assert tls_server.requests == 16


def test_methods_get_the_pool_and_the_handle(tls_server: TLSServer, trust: ssl.SSLContext) -> None:
    class Service:
        @pooled(http_options={"verify": trust})
        def get(self, *, http_client: Any = None) -> Any:
            http_client.get(tls_server.url)
            return http_client

    one, two = Service(), Service()
    assert one.get() is two.get() is one.get.pool.http_client()
    assert tls_server.connections == 1


def test_an_async_pool_needs_a_running_loop(trust: ssl.SSLContext) -> None:
    @pooled(http_options={"verify": trust})
    async def get(*, http_client: Any = None) -> None: ...

    with pytest.raises(RuntimeError, match="belongs to an event loop"):
        get.pool.http_client()
