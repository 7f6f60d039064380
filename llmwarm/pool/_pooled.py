"""``@pooled``: one long-lived HTTP connection pool (and SDK client) per configuration.

Building an ``httpx`` client (or an SDK client around one) per call throws away the TCP
connection, the TLS session and the HTTP/2 set-up every time: each request pays the
handshakes again. ``@pooled`` injects one long-lived client instead, shared by every
decorated function with the same configuration:

- sync functions get an ``httpx.Client``, one per configuration and process;
- async functions get an ``httpx.AsyncClient``, one per configuration *and event loop*
  (an ``AsyncClient`` must never cross loops); a pool whose loop has closed is dropped;
- after ``os.fork()`` the child forgets its parent's pools and builds its own.

With a ``factory`` (``openai.OpenAI``, ``openai.AsyncOpenAI``, ...), the SDK client is built
once per credential around the pooled client and injected as ``client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import threading
import warnings
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import httpx

from llmwarm._core import (
    Call,
    ConfigError,
    Flow,
    FunctionSpec,
    Policy,
    Stack,
    apply,
    base_url_of,
    logger,
)
from llmwarm._core import loops as _loops
from llmwarm._core import options as _numbers
from llmwarm._core import runtime as _runtime
from llmwarm._core.streams import NOT_STREAMS, is_stream, observe_stream
from llmwarm.pool._idle import install as install_cheap_idle_checks
from llmwarm.pool._reclaim import reclaim
from llmwarm.pool._stale import install as install_stale_retry
from llmwarm.pool._transports import adapter_for

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "FromEnv",
    "Pool",
    "PoolHandle",
    "PooledPolicy",
    "aclose",
    "close",
    "from_env",
    "pooled",
]

if TYPE_CHECKING:
    from llmwarm.pool._handles import PoolDecorator

F = TypeVar("F", bound=Callable[..., Any])

#: Connect fast (a dead host should fail in seconds), read long (a long generation or a
#: stream can be silent for minutes), write and wait for a free connection moderately.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=600.0, write=30.0, pool=30.0)
#: Keep idle connections 5 minutes (httpx's default is 5 s: any pause between user
#: requests would cost a new TCP+TLS handshake); 100 concurrent, 50 kept idle: a burst of
#: up to 50 calls comes back to open connections (with 20 kept, each burst of 50 reopened
#: 30), while every idle connection kept adds a check to each later request.
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=50, keepalive_expiry=300.0
)

_MISSING: Any = object()


class FromEnv:
    """A client keyword read from the environment when the client is first needed.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: Any = _MISSING) -> None:
        self.name = name
        self.default = default

    def resolve(self, keyword: str) -> Any:
        """Return the variable's value (or the default); raise if neither exists."""
        value = os.environ.get(self.name, self.default)
        if value is _MISSING:
            raise LookupError(
                f"@pooled: the environment variable {self.name!r} (for the client keyword "
                f"{keyword!r}) is not set; set it, or give from_env({self.name!r}, default=...)."
            )
        return value

    def __repr__(self) -> str:  # never the value: it is often a credential
        return f"from_env({self.name!r})"


def from_env(name: str, default: Any = _MISSING) -> FromEnv:
    """Read a client keyword (an API key, a base URL) from ``os.environ`` at first use.

    The value is read again on each call, so a rotated key gets its own client.

    .. versionadded:: 0.1.0
    """
    return FromEnv(name, default)


def _digest(items: Mapping[str, Any]) -> str:
    # Credentials never sit readable in a key, a repr or a log: only their hash does.
    text = repr(sorted(items.items(), key=lambda item: item[0]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- pools


class Pool:
    """One pooled ``httpx`` client, the SDK clients built around it, and its users.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, http_client: Any, loop: asyncio.AbstractEventLoop | None, http2: bool = False
    ) -> None:
        self.http_client = http_client
        self.http2 = http2
        self.loop_ref = weakref.ref(loop) if loop is not None else None
        self.sdk_clients: dict[tuple[Any, str], tuple[Any, Any]] = {}
        self.in_use = 0
        self.completed = 0
        self.closing = False
        self.closed = False
        self._lock = threading.Lock()
        self._shutdown: Any = None  # async: a generator the loop finalizes before closing
        self._close_task: asyncio.Task[None] | None = None
        self._core_pool: Any = _UNRESOLVED  # the transport's connection pool, found once

    @property
    def is_async(self) -> bool:
        """Whether this pool holds an ``httpx.AsyncClient`` bound to an event loop."""
        return self.loop_ref is not None

    def loop_gone(self) -> bool:
        """Whether the event loop of an async pool has closed (or been collected)."""
        loop = self.loop_ref() if self.loop_ref is not None else None
        return self.loop_ref is not None and (loop is None or loop.is_closed())

    def sdk_client(self, key: tuple[Any, str], build: Callable[[Any], Any]) -> Any:
        """Return the SDK client for ``key`` (factory, credentials), built once by ``build``."""
        entry = self.sdk_clients.get(key)
        if entry is None:
            with self._lock:
                entry = self.sdk_clients.get(key)
                if entry is None:
                    client = build(self.http_client)
                    entry = (client, _origin(getattr(client, "base_url", None)))
                    self.sdk_clients[key] = entry
        return entry[0]

    def origin_of(self, client: Any) -> Any:
        """Return the origin (scheme, host, port) a pooled client talks to, when known."""
        for sdk, origin in self.sdk_clients.values():
            if sdk is client:
                return origin
        return _origin(getattr(self.http_client, "base_url", None))

    def has_open_connection(self, origin: Any = None) -> bool:
        """Whether a request could go out on an already open connection (an estimate).

        Constant time whatever the number of connections: this runs on every call, and
        walking the connections (as an exact, per-origin answer needs) made the pool's
        own cost grow with concurrency. An HTTP/1.1 connection carries one request at a
        time, so one is free when the pool holds more connections than calls in flight
        (this one excluded); an HTTP/2 connection multiplexes, so any open one will do.
        ``origin`` is accepted for compatibility and not consulted.
        """
        core = self._core_pool
        if core is _UNRESOLVED:
            core = self._core_pool = _connection_pool(self.http_client)
        if core is None:  # another transport: fall back to "a request has completed"
            return self.completed > 0
        # The private list, not the public `connections` property: that one copies the
        # list on every call, a cost that grew with the connections the pool held.
        return len(core._connections) > (0 if self.http2 else self.in_use - 1)

    def acquire(self) -> bool:
        """Count one more call using the pool; return False (and count nothing) if closing.

        A pool found in the registry may be closed by :func:`close` on another thread
        before the call takes its lease: the caller must then look up a fresh pool.
        """
        with self._lock:
            if self.closing or self.closed:
                return False
            self.in_use += 1
            return True

    def release(self) -> None:
        """Count one call done; run a close requested while the pool was in use."""
        with self._lock:
            self.in_use -= 1
            self.completed += 1
            due = self.closing and self.in_use == 0 and not self.closed
        if due:
            self._close_now()

    def request_close(self) -> None:
        """Close now if idle, or when the last call using the pool ends."""
        with self._lock:
            self.closing = True
            due = self.in_use == 0 and not self.closed
        if due:
            self._close_now()

    def _close_now(self) -> None:
        if not self.is_async:
            self.closed = True
            self.http_client.close()
            return
        loop = self.loop_ref() if self.loop_ref is not None else None
        if loop is None or loop.is_closed():
            self.closed = True  # its sockets died with the loop's transports
            return
        with contextlib.suppress(RuntimeError):  # the loop closed just now
            loop.call_soon_threadsafe(self._schedule_aclose, loop)

    def _schedule_aclose(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._close_task is None:
            self._close_task = loop.create_task(self.aclose())

    async def aclose(self) -> None:
        """Close an async pool's client on its own loop (idempotent)."""
        if not self.closed:
            self.closed = True
            await self.http_client.aclose()


_UNRESOLVED: Any = object()


def _connection_pool(http_client: Any) -> Any:
    """Return the httpcore(2) connection pool under ``http_client``, or None if unknown."""
    try:
        core = http_client._transport._pool  # httpcore's (and httpcore2's), private
        len(core._connections)
    except Exception:
        return None
    return core


async def _close_with_loop(pool: Pool) -> AsyncGenerator[None, None]:
    # An async generator started on the pool's loop: `asyncio.run` (and every Runner)
    # calls `loop.shutdown_asyncgens()` before closing the loop, which runs this `finally`
    # on that loop. So pools close cleanly when their loop ends, with no warnings.
    try:
        yield
    finally:
        await pool.aclose()


def _watch_loop(pool: Pool) -> None:
    agen = _close_with_loop(pool)
    step = cast(Any, agen.__anext__())  # registers the generator with the running loop
    try:
        step.send(None)
    except StopIteration:
        pool._shutdown = agen  # keep it alive: the loop only holds a weak reference
        # A loop closed by hand (no asyncio.run) never finalizes the generator: do it there.
        _loops.on_loop_close(asyncio.get_running_loop(), agen.aclose)
    else:  # pragma: no cover - the generator yields without awaiting
        raise RuntimeError("llmwarm: unexpected suspension while watching the event loop")


def _origin(url: Any) -> Any:
    if url is None or not str(url):  # httpx's "no base URL" is URL(""), which is truthy
        return None
    try:
        import httpcore

        parsed = httpx.URL(str(url))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return httpcore.Origin(parsed.scheme.encode(), parsed.host.encode(), port)
    except Exception:
        return None


# -------------------------------------------------------------------------- registry

# The registries stay module globals (a call's fast path reads them with no look-up); the
# runtime's "pools" part, registered with the first pool, is what closes, resets and
# forgets them (at close(), at exit, in a forked child).
_lock = threading.Lock()
_sync_pools: dict[tuple[Any, ...], Pool] = {}
_async_pools: dict[tuple[Any, ...], Pool] = {}
_hooks_registered = False


def _register_hooks() -> None:
    global _hooks_registered
    if not _hooks_registered:
        _hooks_registered = True
        _runtime.runtime.part(
            "pools",
            lambda: True,
            stage=_runtime.POOLS,
            close=lambda _: close(),
            aclose=lambda _: aclose(),
            at_exit=lambda _: _close_at_exit(),
            after_fork=_forget,
            reset=_reset_part,
        )


def _get_pool(
    key: tuple[Any, ...], is_async: bool, build: Callable[[], Any], http2: bool = False
) -> Pool:
    if not is_async:
        pool = _sync_pools.get(key)
        if pool is None:
            with _lock:
                pool = _sync_pools.get(key)
                if pool is None:
                    _register_hooks()
                    pool = _sync_pools[key] = Pool(build(), None, http2)
        return pool
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "@pooled: an async function's pool belongs to an event loop; call it (or its "
            ".pool methods) from a coroutine running on the loop that makes the calls."
        ) from None
    loop_key = (*key, id(loop))
    pool = _async_pools.get(loop_key)
    if (
        pool is not None
        and pool.loop_ref is not None
        and pool.loop_ref() is loop  # a live loop: its id cannot belong to another loop
        and not pool.closing
        and not pool.closed
    ):
        return pool
    with _lock:  # a new loop (or a dead one whose id was recycled): a new pool
        _register_hooks()
        for stale in [k for k, p in _async_pools.items() if p.loop_gone()]:
            del _async_pools[stale]
        pool = _async_pools[loop_key] = Pool(build(), loop, http2)
    _watch_loop(pool)
    return pool


def close() -> None:
    """Close every sync pool; drop async pools whose event loop has closed.

    A pool in use closes when its last call ends; the next call builds a new pool.
    Async pools on live loops are closed by :func:`aclose` on their loop, or when the loop
    ends (``asyncio.run`` finalizes them).

    .. versionadded:: 0.1.0
    """
    with _lock:
        pools = list(_sync_pools.values())
        _sync_pools.clear()
        for key in [k for k, p in _async_pools.items() if p.loop_gone()]:
            del _async_pools[key]
    for pool in pools:
        pool.request_close()


async def aclose() -> None:
    """Close every sync pool and every async pool of the running event loop.

    .. versionadded:: 0.1.0
    """
    close()
    loop = asyncio.get_running_loop()
    with _lock:
        mine = [(k, p) for k, p in _async_pools.items() if p.loop_ref and p.loop_ref() is loop]
        for key, _ in mine:
            del _async_pools[key]
    for _, pool in mine:
        with pool._lock:
            pool.closing = True
            due = pool.in_use == 0
        if due:
            await pool.aclose()


def _close_pool(pool: Pool) -> None:
    """Take one pool out of the registry and close it (when idle, else after its last call)."""
    with _lock:
        for registry in (_sync_pools, _async_pools):
            for key in [k for k, p in registry.items() if p is pool]:
                del registry[key]
    pool.request_close()


def _close_at_exit() -> None:
    with _lock:
        pools = [*_sync_pools.values(), *_async_pools.values()]
        _sync_pools.clear()
        _async_pools.clear()
    for pool in pools:
        with contextlib.suppress(Exception):
            if not pool.is_async:
                pool.http_client.close()
                continue
            loop = pool.loop_ref() if pool.loop_ref is not None else None
            if loop is not None and not loop.is_closed() and not loop.is_running():
                loop.run_until_complete(pool.aclose())


def _forget(kept: bool) -> bool:
    # In a forked child: the parent's sockets are shared, never ours to close; forget them.
    global _lock
    _lock = threading.Lock()
    _sync_pools.clear()
    _async_pools.clear()
    return kept


def _reset() -> None:
    """Close what can be closed and forget every pool (tests; see llmwarm.testing.reset)."""
    close()
    with _lock:
        _async_pools.clear()


def _reset_part(kept: bool) -> bool:
    _reset()
    return kept


# ---------------------------------------------------------------------------- policy

#: Look-ups a call makes when close() keeps closing the pool it found before it used it.
_LEASE_ATTEMPTS = 16


class _Lease:
    """Releases a pool when the call using it ends (a stream's end for streams)."""

    __slots__ = ("pool",)

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def on_chunk(self, chunk: Any) -> None:
        """Ignore chunks."""

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        """Release the pool."""
        self.pool.release()


class PooledPolicy(Policy):
    """The ``@pooled`` policy: injects a pooled client unless the caller passed one.

    .. versionadded:: 0.1.0
    """

    handles = ("pool",)
    writes: ClassVar[frozenset[str]] = frozenset({"connection_reused"})

    def __init__(
        self,
        factory: Callable[..., Any] | None,
        http2: bool,
        limits: httpx.Limits,
        timeout: httpx.Timeout,
        http_options: Mapping[str, Any],
        client_kwargs: Mapping[str, Any],
    ) -> None:
        self.factory = factory
        self.adapter = adapter_for(factory)
        self.http2 = http2
        self.limits = limits
        self.timeout = timeout
        self.http_options = dict(http_options)
        self.client_kwargs = dict(client_kwargs)
        self.inject = "http_client" if factory is None else "client"
        self.injects = (self.inject,)
        self.is_async = False
        self.pool = PoolHandle(self)
        #: Keywords the stack adds to the SDK client (``max_retries=0`` under ``@routed``);
        #: the user's own ``client_kwargs`` always win over them.
        self.sdk_defaults: dict[str, Any] = {}
        self.handled = False  # whether a policy of the stack handles failures itself
        self._warned_retries = False
        self._static_http = not any(isinstance(v, FromEnv) for v in self.http_options.values())
        self._static_sdk = not any(isinstance(v, FromEnv) for v in self.client_kwargs.values())
        self._http_digest = _digest(self.http_options) if self._static_http else ""
        self._set_keys()
        if self.adapter.via_transport:
            accepted = self.adapter.transport_options()
            for name in self.http_options:
                if name not in accepted:
                    raise ConfigError(
                        "@pooled:",
                        f"http_options={{{name!r}: ...}} is not an option of the "
                        f"{self.adapter.library} transport {factory!r} is given; accepted: "
                        f"{sorted(accepted)}. Pass client options (headers, host...) as "
                        "@pooled keyword arguments instead.",
                    )

    def _set_keys(self) -> None:
        adapter = self.adapter
        self._key = (
            adapter.library,
            "transport" if adapter.via_transport else "client",
            "http2" if self.http2 else "http1",
            repr(self.limits),
            repr(self.timeout),
        )
        merged = {**self.sdk_defaults, **self.client_kwargs}
        self._sdk_digest = _digest(merged) if self._static_sdk else ""

    def bind(self, spec: FunctionSpec) -> None:
        """Refuse a function that cannot receive the keyword ``@pooled`` injects."""
        if not spec.accepts(self.inject):
            raise TypeError(
                f"@pooled injects the keyword argument {self.inject!r}, but {spec.qualname}() "
                f"has no such parameter; add `{self.inject}=None` (keyword) to its signature"
                + (" or pass a factory to inject `client` instead." if not self.factory else ".")
            )
        factory = self.factory
        if isinstance(factory, type) and factory.__name__.startswith("Async") != spec.is_async:
            kind = "an async" if spec.is_async else "a sync"
            raise TypeError(
                f"@pooled(factory={factory.__name__}) decorates {kind} function "
                f"{spec.qualname}(); use the {'async' if spec.is_async else 'sync'} client "
                "class (e.g. AsyncOpenAI for async def, OpenAI for def)."
            )
        self.is_async = spec.is_async

    def attach(self, stack: Stack) -> None:
        """Fall in step with the policies around: no SDK retries under a failure handler.

        A policy that handles failures itself (``@routed`` with fallback) must see the
        first 429/5xx: an SDK retrying it (openai's default is 2 retries, honouring
        ``Retry-After``) would sleep seconds before the fallback could start. And an SDK
        timeout shorter than a policy's patience (``@routed``'s ``hedge_after``) would cut
        the calls that policy is still waiting on, and one shorter than the cold start a
        policy predicts (``@warm``'s ``expected_cold_start``) would cut the calls that find
        the model cold while it loads: the pool's timeout is raised to the longest of them.
        """
        policies = stack.llmwarm_policies
        self.handled = any(p.handles_failures for p in policies if p is not self)
        self.sdk_defaults = {}
        if self.handled and self.factory is not None and _accepts(self.factory, "max_retries"):
            self.sdk_defaults["max_retries"] = 0
        patience = max((p.patience or 0.0 for p in policies), default=0.0)
        cold = max((p.expected_cold_start or 0.0 for p in policies), default=0.0)
        self.timeout = _at_least(self.timeout, max(patience, cold))
        self._set_keys()

    def _http_client(self, is_async: bool) -> tuple[Pool, Any]:
        options = self.http_options
        digest = self._http_digest
        if not self._static_http:
            options = _resolve(options)
            digest = _digest(options)
        kind = "async" if is_async else "sync"
        key = (kind, *self._key, digest)
        pool = _sync_pools.get(key) if not is_async else None
        if pool is None:  # a sync pool's fast path above; otherwise look up (or build)
            adapter, http2, limits, timeout = self.adapter, self.http2, self.limits, self.timeout

            def build() -> Any:
                client = adapter.build_http(is_async, http2, limits, timeout, options)
                install_stale_retry(client)  # before an SDK (or ollama) takes its transport
                install_cheap_idle_checks(client)  # one poll per idle connection and check
                return client

            pool = _get_pool(key, is_async, build, http2)
        return pool, pool.http_client

    def _client(self, is_async: bool) -> tuple[Pool, Any]:
        pool, http_client = self._http_client(is_async)
        factory = self.factory
        if factory is None:
            return pool, http_client
        kwargs = self.client_kwargs
        digest = self._sdk_digest
        if not self._static_sdk:
            kwargs = _resolve(kwargs)
            digest = _digest({**self.sdk_defaults, **kwargs})
        entry = pool.sdk_clients.get((factory, digest))
        if entry is not None:
            return pool, entry[0]
        merged = {**self.sdk_defaults, **kwargs}
        adapter = self.adapter

        def build(http_client: Any) -> Any:
            return adapter.build_sdk(factory, http_client, merged)

        return pool, pool.sdk_client((factory, digest), build)

    def _leased_client(self, is_async: bool) -> tuple[Pool, Any]:
        # Look up and lease atomically with respect to close(): close() unregisters a pool
        # before it asks it to close, so a pool that refuses the lease (it is closing) is
        # out of the registry and the next look-up builds a fresh one. Bounded: only a
        # close() landing between every look-up and its lease could exhaust it.
        for _ in range(_LEASE_ATTEMPTS):
            pool, client = self._client(is_async)
            if pool.acquire():
                return pool, client
        raise RuntimeError(
            f"@pooled: the connection pool was closed {_LEASE_ATTEMPTS} times in a row "
            "between looking it up and using it; llmwarm.close() is being called in a loop."
        )

    def _check_callers_client(self, client: Any) -> None:
        retries = getattr(client, "max_retries", 0)
        if self.handled and not self._warned_retries and isinstance(retries, int) and retries:
            self._warned_retries = True  # once per decorated function: it is the same client
            warnings.warn(
                f"@pooled: the client passed to {type(client).__name__} calls retries failures "
                f"itself (max_retries={retries}) under a policy that handles them (@routed): "
                "the SDK sleeps through 429/5xx before the fallback can start. Build it with "
                "max_retries=0, or pass client.with_options(max_retries=0).",
                RuntimeWarning,
                stacklevel=2,
            )

    def flow(self, call: Call) -> Flow:
        """Inject the pooled client; hold the pool until the call (or its stream) ends."""
        if call.passed(self.inject):
            client = call.get(self.inject)
            if client is not None:
                self._check_callers_client(client)
                return (yield call)  # the caller's own client, used as is
        pool, client = self._leased_client(call.spec.is_async)
        call.record.connection_reused = pool.has_open_connection()
        try:
            result = yield call.with_arguments(**{self.inject: client})
        except BaseException as exc:
            pool.release()
            if pool.is_async and isinstance(exc, asyncio.CancelledError):
                reclaim(pool.http_client)  # httpcore may keep a slot for the cancelled call
            raise
        if type(result) in NOT_STREAMS or not is_stream(result):
            pool.release()
            return result
        return observe_stream(result, _Lease(pool))


def _accepts(factory: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _at_least(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    # Read and pool waits bound how long a call may take; connect stays short on purpose
    # (a dead host should fail fast, which the router turns into a fallback).
    if not seconds:
        return timeout
    values = timeout.as_dict()
    for name in ("read", "pool"):
        value = values[name]
        if value is not None and value < seconds:
            values[name] = seconds
    return httpx.Timeout(**values)


def _resolve(options: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.resolve(k) if isinstance(v, FromEnv) else v for k, v in options.items()}


class PoolHandle:
    """``decorated.pool``: the pooled clients of a decorated function, and pre-warming.

    Async methods and :meth:`http_client` on an async function act on the running loop's pool.

    .. versionadded:: 0.1.0
    """

    def __init__(self, policy: PooledPolicy) -> None:
        self._policy = policy

    def http_client(self) -> Any:
        """Return the pooled ``httpx`` client for this process (or the running loop)."""
        return self._policy._http_client(self._policy.is_async)[1]

    def client(self) -> Any:
        """Return the injected client: the SDK client with a factory, else the httpx one."""
        return self._policy._client(self._policy.is_async)[1]

    def _target(self, url: str | None, client: Any) -> str:
        target = url or base_url_of(client) or ""  # ollama's: its inner httpx client's
        if not str(target):
            raise ValueError(
                "pool.prewarm() needs a url: the pooled client has no base_url to warm."
            )
        return str(target)

    def prewarm(self, url: str | None = None, *, connections: int = 1) -> None:
        """Open ``connections`` connections to ``url`` (default: the client's base URL).

        Sends ``HEAD`` requests (the status is ignored), paying DNS, TCP, TLS and HTTP/2
        set-up before the first real request. Failures are logged, never raised.
        """
        if self._policy.is_async:
            raise TypeError("pool.prewarm() is for sync functions; await pool.aprewarm().")
        http_client = self._policy._http_client(False)[1]
        target = self._target(url, self._policy._client(False)[1])

        def head(_: int) -> None:
            try:
                http_client.head(target)
            except Exception as exc:
                logger.warning("llmwarm: prewarming %s failed: %r", target, exc)

        if connections <= 1:
            head(0)
            return
        with ThreadPoolExecutor(max_workers=connections) as executor:
            list(executor.map(head, range(connections)))

    def close(self) -> None:
        """Close this function's pool: the process's for a sync function.

        An async function's pools belong to their event loops: :meth:`aclose` closes the
        running loop's; ``llmwarm.close()`` closes them all. Functions with the same
        configuration share a pool: their next call opens a new one.

        .. versionadded:: 0.2.0
        """
        if self._policy.is_async:
            return
        _close_pool(self._policy._http_client(False)[0])

    async def aclose(self) -> None:
        """Close this function's pool on the running loop (and the sync one, see :meth:`close`).

        .. versionadded:: 0.2.0
        """
        if not self._policy.is_async:
            self.close()
            return
        pool = self._policy._http_client(True)[0]
        _close_pool(pool)
        if pool.in_use == 0:
            await pool.aclose()

    async def aprewarm(self, url: str | None = None, *, connections: int = 1) -> None:
        """Open connections for the running loop's pool; see :meth:`prewarm`."""
        if not self._policy.is_async:
            raise TypeError("pool.aprewarm() is for async functions; call pool.prewarm().")
        http_client = self._policy._http_client(True)[1]
        target = self._target(url, self._policy._client(True)[1])

        async def head() -> None:
            try:
                await http_client.head(target)
            except Exception as exc:
                logger.warning("llmwarm: prewarming %s failed: %r", target, exc)

        await asyncio.gather(*(head() for _ in range(max(1, connections))))


# ------------------------------------------------------------------------- decorator


def pooled(
    factory: Callable[..., Any] | None = None,
    *,
    http2: bool = False,
    limits: httpx.Limits | None = None,
    timeout: httpx.Timeout | float | None = None,
    http_options: Mapping[str, Any] | None = None,
    **client_kwargs: Any,
) -> PoolDecorator:
    """Inject a long-lived, shared HTTP client (``http_client``) or SDK client (``client``).

    ``factory`` (e.g. ``openai.AsyncOpenAI``) is called once per credential as
    ``factory(http_client=<pooled client>, **client_kwargs)``; values may be
    :func:`from_env`. ``http_options`` go to ``httpx.Client``/``AsyncClient`` (``verify``,
    ``proxy``, ``headers``, ``base_url``...). ``limits`` and ``timeout`` default to
    :data:`DEFAULT_LIMITS` and :data:`DEFAULT_TIMEOUT`.

    .. versionadded:: 0.1.0
    """
    limits, timeout = _check(factory, http2, limits, timeout, http_options, client_kwargs)

    def decorate(target: F) -> F:
        policy = PooledPolicy(factory, http2, limits, timeout, http_options or {}, client_kwargs)
        return apply(target, policy)

    return cast("PoolDecorator", decorate)


def _check(
    factory: Any,
    http2: Any,
    limits: Any,
    timeout: Any,
    http_options: Any,
    client_kwargs: Mapping[str, Any],
) -> tuple[httpx.Limits, httpx.Timeout]:
    if factory is not None and not callable(factory):
        raise TypeError(f"@pooled: factory must be a class or callable, got {factory!r}.")
    if inspect.iscoroutinefunction(factory):
        raise TypeError(
            f"@pooled: factory must build a client synchronously, got the coroutine function "
            f"{factory!r}; did you mean @pooled() (with parentheses) above it?"
        )
    if not isinstance(http2, bool):
        raise TypeError(f"@pooled: http2 must be True or False, got {http2!r}.")
    if http2:
        try:
            import h2  # noqa: F401
        except ImportError:
            raise ImportError(
                "@pooled(http2=True) needs the h2 package: pip install 'llmwarm[http2]'."
            ) from None
    if limits is None:
        limits = DEFAULT_LIMITS
    elif not isinstance(limits, httpx.Limits):
        raise TypeError(f"@pooled: limits must be an httpx.Limits or None, got {limits!r}.")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    elif isinstance(timeout, httpx.Timeout):
        for part in ("connect", "read", "write", "pool"):
            _numbers.seconds_or_none(f"@pooled: timeout.{part}", getattr(timeout, part))
    else:
        hint = " Or an httpx.Timeout, or None (the defaults); httpx.Timeout(None) disables them."
        timeout = httpx.Timeout(_numbers.seconds("@pooled: timeout", timeout, hint=hint))
    if http_options is not None and not isinstance(http_options, Mapping):
        raise TypeError(f"@pooled: http_options must be a mapping, got {http_options!r}.")
    for name in ("http2", "limits", "timeout", "transport"):
        if http_options and name in http_options:
            raise TypeError(f"@pooled: http_options cannot set {name!r}; use @pooled's own.")
    if factory is None and client_kwargs:
        names = ", ".join(sorted(client_kwargs))
        raise TypeError(
            f"@pooled got client keyword arguments ({names}) but no factory to pass them to; "
            "give a factory (e.g. openai.OpenAI), or pass httpx options as http_options={...}."
        )
    if "http_client" in client_kwargs:
        raise TypeError("@pooled: http_client is the pooled client; do not pass it.")
    return cast(httpx.Limits, limits), cast(httpx.Timeout, timeout)


Pooled = PooledPolicy  # rename_policies: keep
"""Deprecated: the former name of :class:`PooledPolicy`."""
