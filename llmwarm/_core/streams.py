"""Streams: telling a stream from a value, and watching one to its single end.

A call that returns a stream (a sync or async iterator, such as an OpenAI ``Stream``) ends
when the stream ends. :func:`observe_stream` wraps it in a proxy that forwards every other
attribute, shows each chunk to an observer, and reports exactly one end: exhaustion,
error, ``close()``/``aclose()``, context-manager exit, or collection while unfinished.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import wrapt

from llmwarm._core.errors import StreamAbandoned
from llmwarm._core.log import safely

__all__ = ["NOT_STREAMS", "StreamAbandoned", "StreamObserver", "is_stream", "observe_stream"]


def is_stream(value: Any) -> bool:
    """Whether a result is a stream of chunks: a sync or async iterator (not a list or str).

    .. versionadded:: 0.1.0
    """
    # Duck-typed on the type, as the Iterator ABCs are, and answered once per type: a
    # `hasattr` on a pydantic model class (every SDK response) goes through its metaclass
    # `__getattr__`, 3-5 us per miss, on the hot path of every call that returns one.
    kind = type(value)
    known = _stream_types.get(kind)
    if known is None:
        known = hasattr(kind, "__next__") or hasattr(kind, "__anext__")
        if len(_stream_types) < _MAX_TYPES:  # bounded: classes made per call stay uncached
            _stream_types[kind] = known
    return known


_NOT_STREAMS = frozenset({dict, list, tuple, str, bytes, int, float, bool, type(None)})
NOT_STREAMS = _NOT_STREAMS
"""Types whose values are never streams (a policy's fast check before :func:`is_stream`)."""
#: The answer per type (a type's dunder methods are fixed once it is in use).
_stream_types: dict[type, bool] = dict.fromkeys(_NOT_STREAMS, False)
_MAX_TYPES = 4096


class StreamObserver(Protocol):
    """Hooks called by :func:`observe_stream` as a stream is consumed.

    .. versionadded:: 0.1.0
    """

    def on_chunk(self, chunk: Any) -> None:
        """Look at one chunk, before the consumer sees it."""
        ...

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        """End the stream's call: once, at exhaustion, error, close, or abandonment."""
        ...


class _StreamProxy(wrapt.ObjectProxy[Any]):
    """Shared state of the two stream proxies: ends the observer exactly once."""

    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer
        self._self_ended = False

    def _self_end(self, error: BaseException | None, completed: bool) -> None:
        if not self._self_ended:
            self._self_ended = True
            safely("stream observer", self._self_observer.on_end, error, completed)

    def _self_chunk(self, chunk: Any) -> Any:
        safely("stream observer", self._self_observer.on_chunk, chunk)
        return chunk

    def __del__(self) -> None:
        if not self._self_ended:
            self._self_end(StreamAbandoned("the stream was collected before it ended"), False)


class _SyncStreamProxy(_StreamProxy):
    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self.__wrapped__)
        except StopIteration:
            self._self_end(None, True)
            raise
        except BaseException as exc:
            self._self_end(exc, False)
            raise
        return self._self_chunk(chunk)

    def close(self) -> None:
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            self._self_end(None, False)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _AsyncStreamProxy(_StreamProxy):
    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end(None, True)
            raise
        except BaseException as exc:
            self._self_end(exc, False)
            raise
        return self._self_chunk(chunk)

    async def aclose(self) -> None:
        try:
            # OpenAI's AsyncStream has `close()`; async generators have `aclose()`.
            closer = getattr(self.__wrapped__, "aclose", None) or getattr(
                self.__wrapped__, "close", None
            )
            if closer is not None:
                result = closer()
                if inspect.isawaitable(result):
                    await result
        finally:
            self._self_end(None, False)

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()


def observe_stream(stream: Any, observer: StreamObserver) -> Any:
    """Wrap a sync or async stream so that ``observer`` sees each chunk and its one end.

    The proxy forwards every other attribute (``response``, ``id``...) to the stream.

    .. versionadded:: 0.1.0
    """
    if isinstance(stream, AsyncIterator):
        return _AsyncStreamProxy(stream, observer)
    return _SyncStreamProxy(stream, observer)
