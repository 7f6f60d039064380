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


def _reused(exc: BaseException) -> bool:
    """Whether the request that raised ``exc`` went out on a connection that served before.

    Asked only after a failure, so that a request that succeeds pays nothing: checking the
    pool *before* each request (is an idle connection there?) walked every connection on
    every request, a cost that grew with the concurrency the pool had seen. The failed
    connection is the ``self`` of the connection's ``handle_request`` frame in the
    traceback of the library's own exception (httpx re-raises it as its ``__cause__``):
    an HTTP/1.1 connection counts its requests (``_request_count``); an HTTP/2 one gives
    each stream an odd id, 1 for its first. Unknown layouts answer True (the error's own
    kind decides, as before).
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback = error.__traceback__
        while traceback is not None:
            frame = traceback.tb_frame
            if frame.f_code.co_name in ("handle_request", "handle_async_request"):
                local = frame.f_locals
                count = getattr(local.get("self"), "_request_count", None)
                if isinstance(count, int):
                    stream_id = local.get("stream_id")
                    if isinstance(stream_id, int):  # HTTP/2: the connection's nth stream
                        return stream_id > 1
                    return count > 1
            traceback = traceback.tb_next
        error = error.__cause__ or error.__context__
    return True


def _again(lib: ModuleType, exc: Exception, request: Any) -> bool:
    if not isinstance(request.stream, lib.ByteStream) or not _reused(exc):
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
                try:
                    return await super().handle_async_request(request)
                except stale as exc:
                    if not _again(lib, exc, request):
                        raise
                return await super().handle_async_request(request)

        return AsyncRetrying

    class Retrying(cls):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            try:
                return super().handle_request(request)
            except stale as exc:
                if not _again(lib, exc, request):
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
