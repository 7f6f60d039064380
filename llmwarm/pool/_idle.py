"""Make the liveness check of an idle pooled connection cheap (async clients).

Before every request, and again as every response is closed, httpcore's pool asks each
idle connection whether the server has closed it (``has_expired``: is its socket
readable?). Under asyncio that question goes through anyio, which rebuilds a mapping of
every attribute of the stream, with a ``getpeername`` system call, just to find the raw
socket: about 10 µs per idle connection, twice per request. A pool that keeps connections
idle (as ``@pooled`` does, so that a burst does not pay new handshakes when it comes back)
paid that for every one of them on every request.

:func:`install` gives the pool's network backend a subclass of its own class whose
streams look the socket up once and then poll it directly: the same answer (a socket
that has data, an end of stream, or no file descriptor any more counts as closed), for
the cost of one ``poll``. The streams stay instances of the library's own class. Any
other backend or stream class (trio, a user's own, plain httpx's httpcore 1.x) is left as
it is.
"""

from __future__ import annotations

import contextlib
import functools
import select
from typing import Any

__all__ = ["install"]

# httpcore2 only (httpx2, the openai SDK's transport). Under httpcore 1.x (plain httpx)
# the faster check made a cancellation leak reachable: a call cancelled mid-request left
# its request active in the pool, one run in four of the cancellation sweep
# (tests/test_fault_injection.py), against none in thirty without it. Until that is
# understood, httpx pools keep the library's own check.
_LIBRARIES = ("httpcore2",)
_UNSET: Any = object()


def _readable(sock: Any) -> bool:
    """Whether ``sock`` has data (or its end) waiting, without reading it."""
    try:
        fd = sock.fileno()
    except Exception:  # not a socket we know: as the library does, call it closed
        return True
    if fd < 0:  # closed
        return True
    if getattr(select, "poll", None) is None:  # Windows; gevent/eventlet patched: as httpcore
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _library(cls: type) -> str:
    return cls.__module__.split(".")[0]


@functools.cache
def _probing(cls: type) -> type:
    """Return a subclass of the anyio stream class ``cls`` that finds its socket once."""

    class ProbingStream(cls):  # type: ignore[misc]
        def get_extra_info(self, info: str) -> Any:
            if info != "is_readable":
                return super().get_extra_info(info)
            sock = self.__dict__.get("_llmwarm_socket", _UNSET)
            if sock is _UNSET:
                sock = self._llmwarm_socket = super().get_extra_info("socket")
            if sock is None or not hasattr(sock, "fileno"):
                return super().get_extra_info(info)
            try:
                return _readable(sock)
            except Exception:  # never break a call: the library's own check
                return super().get_extra_info(info)

        async def start_tls(self, *args: Any, **kwargs: Any) -> Any:
            return _adopt(await super().start_tls(*args, **kwargs))

    return ProbingStream


def _adopt(stream: Any) -> Any:
    cls: type = type(stream)
    if cls.__name__ == "AnyIOStream" and _library(cls) in _LIBRARIES:
        # A layout this subclass cannot take (TypeError): leave the stream as it is.
        with contextlib.suppress(TypeError):
            stream.__class__ = _probing(cls)
    return stream


@functools.cache
def _adopting(cls: type) -> type:
    """Return a subclass of the backend class ``cls`` whose new streams probe cheaply."""

    class AdoptingBackend(cls):  # type: ignore[misc]
        async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            return _adopt(await super().connect_tcp(*args, **kwargs))

        async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
            return _adopt(await super().connect_unix_socket(*args, **kwargs))

    return AdoptingBackend


def install(client: Any) -> None:
    """Make the idle-connection checks of an async ``client``'s pool cheap; else nothing.

    ``client`` is an ``httpx`` or ``httpx2`` ``AsyncClient`` on the library's own transport
    and connection pool, whose network backend is httpcore's default (``AutoBackend``).
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    cls: Any = type(backend)
    if cls.__name__ != "AutoBackend" or _library(cls) not in _LIBRARIES:
        return
    # A layout this subclass cannot take (TypeError): keep the library's own check.
    with contextlib.suppress(TypeError):
        backend.__class__ = _adopting(cls)
