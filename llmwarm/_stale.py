"""Retry, once, a request sent on a pooled connection the server had just closed.

A server closes idle keep-alive connections on its own schedule (uvicorn after 5 s, load
balancers after 60 s...). httpcore notices a connection closed while it sat idle, but not
one the server closes as the next request is being sent on it: that request fails with
``RemoteProtocolError: Server disconnected without sending a response``. Nothing of it was
answered, so sending it again, once, on a new connection is what browsers and urllib3 do.
Only requests whose body is in memory (every SDK request) are sent again.

:func:`install` wraps a pooled client's transport; every other attribute (its ``_pool``)
is the wrapped transport's.
"""

from __future__ import annotations

from typing import Any

import httpx

from llmwarm._log import logger

__all__ = ["install"]

_STALE = "without sending a response"


def _stale(exc: httpx.RemoteProtocolError, request: httpx.Request) -> bool:
    if _STALE not in str(exc) or not isinstance(request.stream, httpx.ByteStream):
        return False
    logger.debug("llmwarm: %s %s met a closed keep-alive connection; sending it again",
                 request.method, request.url)  # fmt: skip
    return True


class _Retry(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._inner.handle_request(request)
        except httpx.RemoteProtocolError as exc:
            if not _stale(exc, request):
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
        try:
            return await self._inner.handle_async_request(request)
        except httpx.RemoteProtocolError as exc:
            if not _stale(exc, request):
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
