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

:func:`install` wraps a pooled client's transport; every other attribute (its ``_pool``)
is the wrapped transport's.
"""

from __future__ import annotations

from typing import Any

import httpx

from llmwarm._log import logger

__all__ = ["install"]

#: What a closed keep-alive connection looks like when a request is sent on it.
STALE_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def _reusing(transport: Any, request: httpx.Request) -> bool:
    """Whether ``request`` will go out on an idle pooled connection (best effort: True)."""
    try:
        import httpcore

        origin = httpcore.URL(str(request.url)).origin
        return any(
            c.is_idle() and c.can_handle_request(origin) for c in transport._pool.connections
        )
    except Exception:  # another transport or layout: the error's own kind decides
        return True


def _again(exc: Exception, reused: bool, request: httpx.Request) -> bool:
    if not reused or not isinstance(request.stream, httpx.ByteStream):
        return False
    if isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" not in str(exc):
        return False  # a malformed answer, not a closed connection
    logger.debug("llmwarm: %s %s met a closed keep-alive connection (%r); sending it again",
                 request.method, request.url, exc)  # fmt: skip
    return True


class _Retry(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reused = _reusing(self._inner, request)
        try:
            return self._inner.handle_request(request)
        except STALE_ERRORS as exc:
            if not _again(exc, reused, request):
                raise
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _AsyncRetry(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reused = _reusing(self._inner, request)
        try:
            return await self._inner.handle_async_request(request)
        except STALE_ERRORS as exc:
            if not _again(exc, reused, request):
                raise
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install(client: httpx.Client | httpx.AsyncClient) -> None:
    """Make ``client``'s default transport send a request again after a stale connection."""
    transport: Any = client._transport
    if isinstance(client, httpx.AsyncClient):
        client._transport = _AsyncRetry(transport)
    else:
        client._transport = _Retry(transport)
