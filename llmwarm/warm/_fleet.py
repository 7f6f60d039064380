"""Shared state across processes and hosts (Redis): each model's last activity, and leases.

A :class:`Fleet` is what ``@warm(backend=...)`` uses so that replicas share activity (traffic
on any replica counts for all) and send one ping per model per interval in total:

- ``llmwarm:warm:{namespace}:{model}:last`` holds the last activity, as wall-clock epoch
  seconds, only ever moved forward (a Lua script keeps the maximum);
- ``llmwarm:warm:{namespace}:{model}:lease`` is a short lease (``SET NX PX``) that one
  replica takes before it pings; it holds the replica's identity, so the holder may take it
  again, and the holder gives it back when its ping fails (a compare-and-delete script), so
  the retry (of any replica) does not wait out the lease.

Redis is only used from the warmer's own thread or task, never on a call's path: the
warmer's work yields the steps of :func:`publishing`, :func:`reading`, :func:`leasing` and
:func:`releasing`, which the core's driver runs inline on a worker thread, or on llmwarm's
workers for an async warmer (never blocking its event loop). When Redis
is unreachable every operation falls back to local behaviour (a warning is logged once),
and the first operation that succeeds again logs the recovery. Each operation waits at most
``timeout`` seconds (:data:`DEFAULT_TIMEOUT`); after a failure Redis is left alone for
:data:`RETRY_AFTER_FAILURE` seconds, so a stopped or hung Redis delays a ping by at most one
``timeout``, not one per operation.

A forked child (a pre-fork server's worker) takes a new identity: the parent's identity,
and any lease held under it, is not the child's, so forked workers share one lease as
separate replicas do rather than each believing it holds the parent's.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from typing import Any

from llmwarm._core import Blocking, Work, logger
from llmwarm._core import options as _numbers
from llmwarm._core import runtime as _runtime

__all__ = [
    "DEFAULT_NAMESPACE",
    "DEFAULT_TIMEOUT",
    "RETRY_AFTER_FAILURE",
    "Fleet",
    "is_backend",
    "leasing",
    "publishing",
    "reading",
    "releasing",
]

DEFAULT_NAMESPACE = "default"
DEFAULT_TIMEOUT = 0.25
"""Seconds one Redis operation of a fleet may take (connect, or a reply) before the warmer
goes on locally. Loopback or same-zone Redis answers in about a millisecond.

.. versionadded:: 0.2.0
"""
RETRY_AFTER_FAILURE = 1.0
"""Seconds a fleet leaves Redis alone after an operation failed (then it tries again).

.. versionadded:: 0.2.0
"""


def _fleets() -> weakref.WeakSet[Fleet]:
    """Every fleet handle of the process: the runtime's ``"fleets"`` part."""
    return _runtime.runtime.part(
        "fleets", weakref.WeakSet, after_fork=_renew_after_fork, reset=_close_fleets
    )


_SCHEMES = ("redis://", "rediss://", "unix://")
_KEY_TTL_MS = 7 * 24 * 3600 * 1000

# Set KEYS[1] to ARGV[1] only if it is newer than what is there; keep keys for ARGV[2] ms.
_MAX_SET = """
local current = redis.call('GET', KEYS[1])
if (not current) or tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return current
"""

# Delete KEYS[1] only if it still holds ARGV[1] (our lease, not one taken since it expired).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def is_backend(value: object) -> bool:
    """Whether ``value`` is something ``Fleet`` accepts: a Redis URL, client or a Fleet."""
    if isinstance(value, Fleet):
        return True
    if isinstance(value, str):
        return value.startswith(_SCHEMES)
    return all(callable(getattr(value, name, None)) for name in ("get", "set", "eval"))


class Fleet:
    """Activity and leases shared by every replica using the same Redis and namespace.

    ``backend`` is a URL (``redis://``, ``rediss://``, ``unix://``) or a sync
    ``redis.Redis`` client. The client is created lazily, on first use, with ``timeout``
    (seconds, default :data:`DEFAULT_TIMEOUT`) as its connect and reply timeouts; a client
    passed in keeps its own timeouts. Pass ``backend=Fleet(url, timeout=0.1)`` to
    ``@warm`` to choose it.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``timeout``; a new identity in a forked child.
    """

    def __init__(
        self, backend: Any, *, namespace: str = DEFAULT_NAMESPACE, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        if not is_backend(backend) or isinstance(backend, Fleet):
            raise TypeError(
                f"backend must be a Redis URL (redis://, rediss://, unix://) or a redis "
                f"client, got {backend!r}."
            )
        self.timeout = _numbers.seconds("timeout", timeout)
        self.backend = backend
        self.namespace = namespace
        self.identity = _new_identity()
        self._client: Any = None if isinstance(backend, str) else backend
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0  # while down: when to try Redis again (runtime clock)
        self._closed = False  # stopped warmers' work still in flight must not reopen it
        _fleets().add(self)

    def _redis(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import redis  # an optional dependency, imported on first use
                    from redis.backoff import NoBackoff
                    from redis.retry import Retry

                    self._client = redis.Redis.from_url(
                        self.backend,
                        socket_connect_timeout=self.timeout,
                        socket_timeout=self.timeout,
                        retry=Retry(NoBackoff(), 0),  # one timeout, not one per retry
                    )
        return self._client

    def key(self, model: str, what: str) -> str:
        """Return the Redis key of ``what`` (``last`` or ``lease``) for ``model``."""
        return f"llmwarm:warm:{self.namespace}:{model}:{what}"

    def _run(self, what: str, fallback: Any, action: Any) -> Any:
        if self._closed:  # the warmer stopped: work still in flight goes local, quietly
            return fallback
        if self._down and _runtime.monotonic() < self._retry_at:  # one timeout per outage window
            return fallback
        try:
            value = action(self._redis())
        except Exception as exc:  # redis.RedisError, OSError...: never break the warmer
            if self._closed:  # closed under this very operation: not an outage
                return fallback
            self._retry_at = _runtime.monotonic() + RETRY_AFTER_FAILURE
            if not self._down:
                self._down = True
                logger.warning(
                    "llmwarm: the keep-warm fleet backend is unreachable (%s: %s); "
                    "this process keeps its models warm on its own until it returns",
                    what,
                    exc,
                )
            return fallback
        if self._down:
            self._down = False
            logger.info("llmwarm: the keep-warm fleet backend is reachable again")
        return value

    @property
    def down(self) -> bool:
        """Whether the last operation failed (the warmer is running locally)."""
        return self._down

    def publish(self, model: str, wall: float) -> None:
        """Record activity on ``model`` at epoch ``wall`` (kept only if newer)."""
        self._run(
            "publish",
            None,
            lambda r: r.eval(_MAX_SET, 1, self.key(model, "last"), repr(wall), _KEY_TTL_MS),
        )

    def last(self, model: str) -> float | None:
        """Return the fleet's last activity on ``model`` (epoch seconds), or None."""
        value = self._run("read", None, lambda r: r.get(self.key(model, "last")))
        return None if value is None else float(value)

    def acquire(self, model: str, seconds: float) -> bool:
        """Take the ping lease on ``model`` for ``seconds``; True if this replica may ping.

        A replica that already holds the lease gets it again (its expiry unchanged).
        """
        ms = max(1, int(seconds * 1000))
        key = self.key(model, "lease")

        def take(r: Any) -> bool:
            if r.set(key, self.identity, nx=True, px=ms):
                return True
            holder = r.get(key)
            if isinstance(holder, bytes):
                holder = holder.decode()
            return bool(holder == self.identity)

        return bool(self._run("lease", True, take))  # Redis down: ping locally

    def release(self, model: str) -> None:
        """Give back this replica's lease on ``model`` (after a failed ping); others' stay."""
        self._run(
            "release",
            None,
            lambda r: r.eval(_RELEASE, 1, self.key(model, "lease"), self.identity),
        )

    def _after_fork(self) -> None:
        """In a forked child: a new identity (the parent's leases are not ours), a new lock."""
        self.identity = _new_identity()
        self._lock = threading.Lock()

    def reopen(self) -> None:
        """Use Redis again after :meth:`close` (a warmer started again after ``stop()``)."""
        self._closed = False

    def close(self) -> None:
        """Close a client this fleet created (a client passed in is left to its owner).

        Later operations (a stopped warmer's work still in flight) then use no client at
        all, rather than quietly opening a new one that nothing would close.
        """
        if isinstance(self.backend, str):
            self._closed = True
        if isinstance(self.backend, str) and self._client is not None:
            client, self._client = self._client, None
            try:
                client.close()
            except Exception:
                logger.debug("llmwarm: closing the fleet's Redis client failed", exc_info=True)


# ------------------------------------------- the same operations, as steps of a warmer's work
# Each blocks on Redis (up to the fleet's timeout): the driver runs it where blocking is
# harmless, whichever kind of warmer yields it.


def publishing(fleet: Fleet, model: str, wall: float) -> Work[None]:
    """Yield the steps of :meth:`Fleet.publish` (``yield from`` them in a warmer's work)."""
    yield Blocking(fleet.publish, model, wall)


def reading(fleet: Fleet, model: str) -> Work[float | None]:
    """Yield the steps of :meth:`Fleet.last`; return the last activity on ``model``."""
    last: float | None = yield Blocking(fleet.last, model)
    return last


def leasing(fleet: Fleet, model: str, seconds: float) -> Work[bool]:
    """Yield the steps of :meth:`Fleet.acquire`; return whether this replica may ping."""
    taken: bool = yield Blocking(fleet.acquire, model, seconds)
    return taken


def releasing(fleet: Fleet, model: str) -> Work[None]:
    """Yield the steps of :meth:`Fleet.release`."""
    yield Blocking(fleet.release, model)


def _new_identity() -> str:
    return f"{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _renew_after_fork(fleets: weakref.WeakSet[Fleet]) -> weakref.WeakSet[Fleet]:
    for fleet in list(fleets):
        fleet._after_fork()
    return fleets


def _close_fleets(fleets: weakref.WeakSet[Fleet]) -> weakref.WeakSet[Fleet]:
    # Close the clients fleets made (a warmer's next start reopens its fleet); keep the set.
    for fleet in list(fleets):
        fleet.close()
    return fleets
