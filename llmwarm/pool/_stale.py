"""Retry, once, a request sent on a pooled connection the server had just closed.

A server closes idle keep-alive connections on its own schedule (uvicorn after 5 s, load
balancers after 60 s...). httpcore notices a connection closed while it sat idle, but not
one the server closes as the next request is being sent on it: that request fails with
``RemoteProtocolError: Server disconnected without sending a response``, or with a
connection reset (``ReadError``/``WriteError``) when the server's close met unread bytes.
When that happens on a *reused* connection before any response arrived, nothing was
answered: sending the request again, once, on a new connection is what browsers and
urllib3 do. Only requests whose body is in memory (every SDK request) are sent again; a
failure on a fresh connection (the server may have crashed on the request) is not retried.

:func:`install` turns a pooled client's transport into a retrying subclass of its own
class, in the client's own HTTP library (``httpx``, or ``httpx2`` under the openai SDK).
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any

from llmwarm._core import logger

__all__ = ["install"]


def _reusing(transport: Any, url: Any) -> bool:
    """Whether a request to ``url`` will go out on an idle pooled connection (else True)."""
    try:
        core = importlib.import_module(type(transport._pool).__module__.split(".")[0])
        origin = core.URL(str(url)).origin
        return any(
            c.is_idle() and c.can_handle_request(origin) for c in transport._pool.connections
        )
    except Exception:  # another transport or layout: the error's own kind decides
        return True


def _again(lib: ModuleType, exc: Exception, reused: bool, request: Any) -> bool:
    if not reused or not isinstance(request.stream, lib.ByteStream):
        return False
    if isinstance(exc, lib.RemoteProtocolError) and "without sending a response" not in str(exc):
        return False  # a malformed answer, not a closed connection
    logger.debug("llmwarm: %s %s met a closed keep-alive connection (%r); sending it again",
                 request.method, request.url, exc)  # fmt: skip
    return True


@functools.cache
def _retrying(cls: type) -> type:
    """Return a subclass of the transport class ``cls`` that sends a stale request again."""
    lib = importlib.import_module(cls.__module__.split(".")[0])
    stale = (lib.RemoteProtocolError, lib.ReadError, lib.WriteError)

    if hasattr(cls, "handle_async_request"):

        class AsyncRetrying(cls):  # type: ignore[misc]
            async def handle_async_request(self, request: Any) -> Any:
                reused = _reusing(self, request.url)
                try:
                    return await super().handle_async_request(request)
                except stale as exc:
                    if not _again(lib, exc, reused, request):
                        raise
                return await super().handle_async_request(request)

        return AsyncRetrying

    class Retrying(cls):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            reused = _reusing(self, request.url)
            try:
                return super().handle_request(request)
            except stale as exc:
                if not _again(lib, exc, reused, request):
                    raise
            return super().handle_request(request)

    return Retrying


def install(client: Any) -> None:
    """Make ``client``'s transport send a request again after a stale keep-alive connection.

    ``client`` is an ``httpx`` or ``httpx2`` client whose transport is the library's own
    (``HTTPTransport``/``AsyncHTTPTransport``): it becomes an instance of a subclass, so it
    is still that class for everyone holding it (an SDK given it as ``transport=``). Any
    other transport is left as it is.
    """
    transport: Any = getattr(client, "_transport", None)
    cls: Any = type(transport)
    library = cls.__module__.split(".")[0]
    if library not in ("httpx", "httpx2") or cls.__name__ not in (
        "HTTPTransport",
        "AsyncHTTPTransport",
    ):
        return
    transport.__class__ = _retrying(cls)
