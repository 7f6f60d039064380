"""Cache back ends behind one small interface: memory, SQLite file, Redis.

A back end maps string keys to results with a time to live. The memory back end keeps
Python objects (no encoding, no signature on the hottest path: its entries never leave the
process, and only this process writes them); the persistent ones store rows made by
:mod:`llmwarm.cache.codec`, signed under the cache secret over key and value.

Back ends raise on failure; ``@cached`` logs it and goes upstream. Three kinds of failure
are told apart, because each calls for another reaction:

* :class:`~llmwarm.CorruptCacheRow`: a row that fails its signature or format
  check. The back end has deleted it; it is a miss, counted in ``corrupt_rows``.
* :class:`CacheRowError`: a fault confined to one key (Redis ``WRONGTYPE``, a value too large
  for SQLite). A miss for that key only; the back end stays in use.
* anything else: the back end itself is failing (connection refused, timeout, disk). The
  circuit breaker of ``@cached`` skips it for a while.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit, urlunsplit

import cachetools

from llmwarm._core import CacheRowError
from llmwarm._core import runtime as _runtime
from llmwarm.cache import codec
from llmwarm.cache.keys import ENV_SECRET, is_default_secret, secret_from

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "DEFAULT_REDIS_TIMEOUT",
    "DEFAULT_SQLITE_TIMEOUT",
    "MISSING",
    "Backend",
    "MemoryBackend",
    "RedisBackend",
    "CacheRowError",
    "SQLiteBackend",
    "resolve_backend",
]

DEFAULT_REDIS_TIMEOUT = 0.25
"""Seconds a Redis back end built from a URL waits to connect, and for each reply.

A hung Redis adds at most this to a user call (no retries), then the breaker skips it.
"""
DEFAULT_SQLITE_TIMEOUT = 1.0
"""Seconds a SQLite back end waits for a lock held by another process before failing."""


def _lifetime(ttl: float | None) -> float:
    """Seconds, with ``None`` and ``inf`` ("no expiry") as a very long finite time."""
    return _NEVER if ttl is None or math.isinf(ttl) else ttl


_warned_unsigned = False


def _row_secret(secret: str | bytes | None, backend: str) -> bytes:
    """Return the secret signing rows; warn once per process when it is the default."""
    global _warned_unsigned
    resolved = secret_from(secret)
    if is_default_secret(resolved) and not _warned_unsigned:
        _warned_unsigned = True
        logging.getLogger("llmwarm").warning(
            "llmwarm: cache back end %s runs without a cache secret: its rows are signed "
            "with a public default, so anyone who can write the store can forge cached "
            "answers (they can never run code: stored types are an allow-list). Pass "
            "secret= to the back end or set %s (the same value in every process sharing "
            "the store). See the security page of the docs.",
            backend,
            ENV_SECRET,
        )
    return resolved


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What :meth:`Backend.get` returns for an absent or expired key (``None`` is a value)."""

DEFAULT_NAMESPACE = "llmwarm:cache:"
_NEVER = 1e18  # seconds: "no expiry" for the memory back end


@runtime_checkable
class Backend(Protocol):
    """What ``@cached`` needs from a back end.

    ``inline`` says whether lookups are cheap and never block (then the async path does
    not move them to a thread), and so that the back end lives in this process: an inline
    back end is keyed by ``"<module>:<qualname>:<canonical JSON>"`` (any length; the
    prompt, never a credential), the others by a 32-hex digest. ``ttl`` is seconds, or
    ``None`` for no expiry.

    .. versionadded:: 0.1.0
    """

    inline: bool

    def get(self, key: str) -> Any:
        """Return the value stored under ``key``, or :data:`MISSING`."""
        ...

    def set(self, key: str, value: Any, ttl: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` (absent keys are fine)."""
        ...

    def clear(self, prefix: str = "") -> None:
        """Remove every key that starts with ``prefix``."""
        ...


class _Evicting(cachetools.TTLCache[str, Any]):
    """A ``TTLCache`` that drops what it evicts or expires from the lock-free read index."""

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float], index: dict[str, Any]
    ) -> None:
        super().__init__(maxsize, ttl, timer=timer)
        self.index = index

    def popitem(self) -> tuple[str, Any]:
        key, value = super().popitem()
        self.index.pop(key, None)
        return key, value

    def expire(self, time: float | None = None) -> Any:
        expired = super().expire(time)
        for key, _ in expired:
            self.index.pop(key, None)
        return expired


class MemoryBackend:
    """An in-process ``cachetools.TTLCache`` (monotonic clock); values stay Python objects.

    Writes go through the ``TTLCache`` under a lock (it evicts the least recently *stored*
    entry when full and drops expired ones); reads are one lock-free ``dict`` lookup in an
    index the cache keeps in step, plus an expiry check, because ``TTLCache.__getitem__``
    alone costs about a microsecond, a third of a hit. ``ttl=None`` never expires.
    An entry lives for the shorter of the cache's own time to live and the ``ttl`` given
    to :meth:`set` (``@cached(ttl=...)``), so one instance can serve functions with
    different lifetimes.
    ``timer`` is the clock (tests pass a fake one).

    .. versionadded:: 0.1.0
    """

    inline = True

    def __init__(
        self,
        *,
        maxsize: int = 1000,
        ttl: float | None = 3600.0,
        timer: Callable[[], float] = _runtime.monotonic,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"MemoryBackend(maxsize={maxsize!r}) must be at least 1.")
        self.maxsize = maxsize
        self.ttl = ttl
        self.timer = timer
        self._index: dict[str, tuple[Any, float]] = {}
        self._store = _Evicting(maxsize, _lifetime(ttl), timer, self._index)
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        """Return the value under ``key`` or :data:`MISSING` (no lock: one dict lookup)."""
        entry = self._index.get(key)
        if entry is None or entry[1] <= self.timer():
            return MISSING
        return entry[0]

    def get_at(self, key: str, now: float) -> Any:
        """Like :meth:`get`, the time on this back end's clock (``timer``) given by the caller.

        ``@cached`` passes the time its call started when that is the same clock: a clock
        read less per hit (140-200 ns on some virtual machines, twice a bare call).
        """
        entry = self._index.get(key)
        if entry is None or entry[1] <= now:
            return MISSING
        return entry[0]

    def set(self, key: str, value: Any, ttl: float | None) -> None:
        """Store ``value`` under ``key`` for the shorter of ``ttl`` and the cache's own."""
        lifetime = min(_lifetime(self.ttl), _lifetime(ttl))
        with self._lock:
            self._store[key] = None
            self._index[key] = (value, self.timer() + lifetime)

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        with self._lock:
            self._store.pop(key, None)
            self._index.pop(key, None)

    def clear(self, prefix: str = "") -> None:
        """Remove every key that starts with ``prefix``."""
        with self._lock:
            if not prefix:
                self._store.clear()
                self._index.clear()
                return
            for key in [k for k in self._index if k.startswith(prefix)]:
                self._store.pop(key, None)
                self._index.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            self._store.expire()
            now = self.timer()
            return sum(1 for _, expires in self._index.values() if expires > now)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()


class SQLiteBackend:
    """A SQLite file in WAL mode: survives restarts, shared by the processes of one host.

    One connection per process (reopened after ``fork``) behind a lock. Expiry uses the
    wall clock (``time.time``), which every process shares. Expired rows are skipped on
    read and deleted every ``cleanup_every`` writes. Rows are signed under ``secret``
    (default ``$LLMWARM_CACHE_SECRET``); a row that fails the check is deleted and raises
    :class:`~llmwarm.CorruptCacheRow`. ``timeout``: seconds to wait for another
    process's lock (:data:`DEFAULT_SQLITE_TIMEOUT`). ``timer``: the wall clock, shared by
    every process (tests pass a fake one).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 signed rows, ``secret``, ``timeout`` and ``timer``.
    """

    inline = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cleanup_every: int = 256,
        secret: str | bytes | None = None,
        timeout: float = DEFAULT_SQLITE_TIMEOUT,
        timer: Callable[[], float] = _runtime.wall_time,
    ) -> None:
        self.path = os.fspath(path)
        self.cleanup_every = cleanup_every
        self.timeout = timeout
        self.timer = timer
        self._secret = _row_secret(secret, "SQLiteBackend")
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._writes = 0

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        import sqlite3  # stdlib, but only SQLite users pay for its import

        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, check_same_thread=False, isolation_level=None
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS llmwarm_cache "
            "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL)"
        )
        self._connection, self._pid = connection, os.getpid()
        return connection

    def get(self, key: str) -> Any:
        """Return the value under ``key`` or :data:`MISSING` (expired rows are absent)."""
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT value, expires FROM llmwarm_cache WHERE key = ?", (key,))
                .fetchone()
            )
        now = self.timer()
        if row is None or (row[1] is not None and row[1] <= now):
            return MISSING
        try:
            return codec.decode(row[0], key=key, secret=self._secret, now=now)
        except codec.ExpiredRow:  # its signed expiry passed: the column was extended
            self.delete(key)
            return MISSING
        except codec.CorruptCacheRow:
            self.delete(key)  # a corrupt row is dropped, then reported
            raise

    def set(self, key: str, value: Any, ttl: float | None) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (``None``/``inf``: no expiry)."""
        import sqlite3

        expires = None if ttl is None or math.isinf(ttl) else self.timer() + ttl
        data = codec.encode(value, key=key, secret=self._secret, expires=expires)
        with self._lock:
            connection = self._connect()
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO llmwarm_cache (key, value, expires) VALUES (?, ?, ?)",
                    (key, data, expires),
                )
            except (sqlite3.DataError, sqlite3.IntegrityError) as exc:  # "blob too big"
                raise CacheRowError(f"SQLite refused the row of {key!r}: {exc}") from exc
            self._writes += 1
            if self._writes % self.cleanup_every == 0:
                self._cleanup(connection)

    def _cleanup(self, connection: sqlite3.Connection) -> None:
        connection.execute(
            "DELETE FROM llmwarm_cache WHERE expires IS NOT NULL AND expires <= ?", (self.timer(),)
        )

    def cleanup(self) -> None:
        """Delete every expired row now."""
        with self._lock:
            self._cleanup(self._connect())

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        with self._lock:
            self._connect().execute("DELETE FROM llmwarm_cache WHERE key = ?", (key,))

    def clear(self, prefix: str = "") -> None:
        """Remove every key that starts with ``prefix``."""
        with self._lock:
            self._connect().execute(
                "DELETE FROM llmwarm_cache WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
            )

    def close(self) -> None:
        """Close this process's connection (it reopens on next use)."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._connection = None  # the parent's connection must not be used by the child


class RedisBackend:
    """Redis (sync client, moved to a worker thread on the async path): shared by replicas.

    Keys are ``namespace + key``; the TTL is set in Redis (``SET ... PX``). ``client`` is
    a ``redis.Redis`` or a URL. A URL client waits at most ``timeout`` seconds
    (:data:`DEFAULT_REDIS_TIMEOUT`) to connect and for each reply, without retries, so a
    hung server adds at most that to a call; ``redis-py`` reconnects by itself when the
    server is back. A client passed in keeps its own timeouts and retries.

    Rows are signed under ``secret`` (default ``$LLMWARM_CACHE_SECRET``) over the full
    Redis key, the value and its expiry on the wall clock ``timer`` (so a key whose Redis
    TTL someone removed is still refused once it is due). ``WRONGTYPE`` and other errors
    about one key raise :class:`CacheRowError`; connection faults and timeouts propagate
    as they are.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 signed rows, ``secret``, ``timeout`` and ``timer``.
    """

    inline = False

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        secret: str | bytes | None = None,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        timer: Callable[[], float] = _runtime.wall_time,
    ) -> None:
        if isinstance(client, str):
            client = _redis_from_url(client, timeout)
        elif type(client).__module__.startswith("redis.asyncio"):
            raise TypeError(
                "RedisBackend needs a synchronous redis.Redis client (llmwarm runs it in a "
                f"worker thread on the async path); got {type(client).__qualname__} from "
                "redis.asyncio. Pass redis.Redis(...) or a redis:// URL instead."
            )
        self.client = client
        self.namespace = namespace
        self.timeout = timeout
        self.timer = timer
        self._secret = _row_secret(secret, "RedisBackend")

    def get(self, key: str) -> Any:
        """Return the value under ``key`` or :data:`MISSING`."""
        name = self.namespace + key
        try:
            data = self.client.get(name)
        except Exception as exc:
            raise _scoped(exc, key) from exc
        if data is None:
            return MISSING
        try:
            return codec.decode(data, key=name, secret=self._secret, now=self.timer())
        except codec.ExpiredRow:  # its signed expiry passed: the Redis TTL was extended
            self.delete(key)
            return MISSING
        except codec.CorruptCacheRow:
            self.delete(key)
            raise

    def set(self, key: str, value: Any, ttl: float | None) -> None:
        """Store ``value`` under ``key`` with a Redis-side TTL (``None``/``inf``: none)."""
        name = self.namespace + key
        # Beyond ~30 million years Redis refuses the expiry ("invalid expire time"): none.
        milliseconds = expires = None
        if ttl is not None and ttl < _REDIS_MAX_TTL:
            milliseconds = max(1, int(ttl * 1000))
            expires = self.timer() + ttl
        data = codec.encode(value, key=name, secret=self._secret, expires=expires)
        try:
            self.client.set(name, data, px=milliseconds)
        except Exception as exc:
            raise _scoped(exc, key) from exc

    def delete(self, key: str) -> None:
        """Remove ``key``."""
        self.client.delete(self.namespace + key)

    def clear(self, prefix: str = "") -> None:
        """Remove every key of this namespace that starts with ``prefix``."""
        pattern = _glob_escape(self.namespace + prefix) + "*"
        batch: list[Any] = []
        for name in self.client.scan_iter(match=pattern, count=500):
            batch.append(name)
            if len(batch) >= 500:
                self.client.delete(*batch)
                batch.clear()
        if batch:
            self.client.delete(*batch)


_REDIS_MAX_TTL = 1e15  # seconds

# Redis replies about one key, not about the server: "WRONGTYPE Operation against a key
# holding the wrong kind of value", "string exceeds maximum allowed size", ...
_KEY_ERRORS = ("WRONGTYPE", "too large", "too big", "exceeds maximum")


def _scoped(exc: Exception, key: str) -> Exception:
    """Turn a redis-py error about one key into :class:`CacheRowError`; keep the others."""
    try:
        from redis import exceptions
    except ImportError:  # pragma: no cover - a Redis-like client without redis-py
        return exc
    if isinstance(exc, exceptions.DataError) or (
        type(exc) is exceptions.ResponseError and any(m in str(exc) for m in _KEY_ERRORS)
    ):
        return CacheRowError(f"Redis refused {key!r}: {exc}")
    return exc


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _redis_from_url(url: str, timeout: float = DEFAULT_REDIS_TIMEOUT) -> Any:
    import redis  # optional dependency: the `redis` extra
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # No retries: each retry would add another `timeout` to the user's call; the breaker
    # of @cached (and redis-py's reconnect on the next call) handle a server that is down.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=5,
    )


def _timeout_of(query: dict[str, list[str]], backend: str) -> float:
    raw = query.pop("timeout", [str(DEFAULT_REDIS_TIMEOUT)])[0]
    try:
        timeout = float(raw)
    except ValueError:
        timeout = math.nan
    if not (0 < timeout < math.inf):
        from llmwarm._core import ConfigError

        raise ConfigError(
            f"cached(backend={backend!r})",
            f"has timeout={raw!r}; accepted: a positive finite number of seconds "
            f"(default {DEFAULT_REDIS_TIMEOUT}).",
        )
    return timeout


def row_secret(backend: Any) -> bytes | None:
    """Return the secret a SQLite/Redis back-end object signs its rows with, else ``None``."""
    if isinstance(backend, (SQLiteBackend, RedisBackend)):
        return backend._secret
    return None


def resolve_backend(
    backend: Any, *, maxsize: int, ttl: float | None, secret: str | bytes | None = None
) -> Backend:
    """Turn ``backend=`` (None, a URL, a redis client, or a back end) into a back end.

    ``secret`` signs the rows of the persistent back ends built here (default
    ``$LLMWARM_CACHE_SECRET``).
    """
    if backend is None:
        return MemoryBackend(maxsize=maxsize, ttl=ttl)
    if isinstance(backend, str):
        scheme = urlsplit(backend).scheme
        if scheme == "memory":
            return MemoryBackend(maxsize=maxsize, ttl=ttl)
        if scheme == "sqlite":
            # sqlite:///relative.db or sqlite:////absolute/path.db, as SQLAlchemy writes them
            path = backend[len("sqlite:///") :] if backend.startswith("sqlite:///") else ""
            if not path:
                raise ValueError(
                    f"cached(backend={backend!r}) has no file path; write "
                    "'sqlite:///relative/cache.db' or 'sqlite:////absolute/cache.db'."
                )
            return SQLiteBackend(path, secret=secret)
        if scheme in ("redis", "rediss", "unix"):
            parts = urlsplit(backend)
            query = parse_qs(parts.query)
            namespace = query.pop("namespace", [DEFAULT_NAMESPACE])[0]
            timeout = _timeout_of(query, backend)
            rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
            return RedisBackend(
                urlunsplit(parts._replace(query=rest)),
                namespace=namespace,
                secret=secret,
                timeout=timeout,
            )
        raise ValueError(
            f"cached(backend={backend!r}) has an unknown scheme {scheme!r}; accepted: "
            "'memory://', 'sqlite:///path/cache.db', 'redis://host:port/db' (or 'rediss://'), "
            "a redis.Redis client, or an object with get/set/delete/clear and `inline`."
        )
    if isinstance(backend, Backend):
        return backend
    if hasattr(backend, "get") and hasattr(backend, "set") and hasattr(backend, "scan_iter"):
        return RedisBackend(backend, secret=secret)
    raise TypeError(
        f"cached(backend={backend!r}) is not a back end; accepted: None (memory), a URL "
        "('sqlite:///path/cache.db', 'redis://host:port/db'), a redis.Redis client, or an "
        "object with get/set/delete/clear and an `inline` attribute."
    )
