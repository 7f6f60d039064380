"""The path-specific steps of ``@routed``: stream peeking and the hedge race.

``@routed`` falls back when a stream fails *before* its first chunk; to know, it pulls the
first chunk itself (:class:`FirstChunk`). The proxies returned yield that chunk first, then
the rest, and forward every other attribute (``response``, ``close()``...) to the SDK's
stream. :class:`Race` runs two calls of a hedged request on the async path (a cooling
tier is waited for with the core's :class:`~llmwarm._core.Pause`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import wrapt

from llmwarm._core import Call, Step, enter_record
from llmwarm._core import runtime as _runtime
from llmwarm._core import streams as _streams

__all__ = ["FirstChunk", "Race", "peek_async", "peek_sync"]

_NOTHING: Any = object()


class _SyncPeeked(wrapt.ObjectProxy[Any]):
    def __init__(self, wrapped: Any, first: Any) -> None:
        super().__init__(wrapped)
        self._self_first = first

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        first = self._self_first
        if first is not _NOTHING:
            self._self_first = _NOTHING
            return first
        return next(self.__wrapped__)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        close = getattr(self.__wrapped__, "close", None)
        if close is not None:
            close()


class _AsyncPeeked(wrapt.ObjectProxy[Any]):
    def __init__(self, wrapped: Any, first: Any) -> None:
        super().__init__(wrapped)
        self._self_first = first

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        first = self._self_first
        if first is not _NOTHING:
            self._self_first = _NOTHING
            return first
        return await self.__wrapped__.__anext__()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await _aclose(self.__wrapped__)


async def _aclose(stream: Any) -> None:
    closer = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if closer is not None:
        result = closer()
        if inspect.isawaitable(result):
            await result


def peek_sync(stream: Any) -> Any:
    """Pull the first chunk of a sync stream; return a stream that yields it first.

    An error before the first chunk closes the stream and propagates.
    """
    if not hasattr(type(stream), "__next__"):
        return stream  # an async stream on the sync path: nothing to peek safely
    try:
        first = next(stream)
    except StopIteration:
        return stream
    except BaseException:
        close = getattr(stream, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # the first error is the one that matters
                close()
        raise
    return _SyncPeeked(stream, first)


async def peek_async(stream: Any) -> Any:
    """Pull the first chunk of a stream on the async path; return a stream yielding it first."""
    if not hasattr(type(stream), "__anext__"):
        return peek_sync(stream)
    try:
        first = await stream.__anext__()
    except StopAsyncIteration:
        return stream
    except BaseException:
        with contextlib.suppress(Exception):
            await _aclose(stream)
        raise
    return _AsyncPeeked(stream, first)


class FirstChunk(Step):
    """A step that peeks a stream: ``stream = yield FirstChunk(stream)``."""

    __slots__ = ("stream",)

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        """Pull the first chunk on this thread."""
        return peek_sync(self.stream)

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        """Await the first chunk."""
        return await peek_async(self.stream)


class Race(Step):
    """Start ``calls[0]``; after ``delay`` also ``calls[1]``; keep the first success.

    Returns ``(winner, value, errors)``: the index of the winning call (None if both
    failed), its result (a stream is peeked: the race is to the first chunk), and the
    ``(index, error)`` of the legs that failed. The loser is cancelled.
    """

    def __init__(self, calls: tuple[Call, Call], delay: float) -> None:
        self.calls = calls
        self.delay = delay

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        raise TypeError("hedge_after needs an async function")  # refused at bind()

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        async def leg(call: Call) -> Any:
            enter_record(call.record)  # this task's own context: each leg its record
            result = await proceed(call)
            return await peek_async(result) if _streams.is_stream(result) else result

        legs = [asyncio.ensure_future(leg(self.calls[0]))]
        errors: list[tuple[int, BaseException]] = []
        winner: int | None = None
        try:
            if not await _finished_within(legs[0], self.delay):
                legs.append(asyncio.ensure_future(leg(self.calls[1])))
            pending = set(legs)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=legs.index):
                    error = task.exception()
                    if error is None:
                        winner = legs.index(task)
                        return winner, task.result(), errors
                    errors.append((legs.index(task), error))
            return None, None, errors
        finally:
            await _cancel_losers(legs, winner)


async def _finished_within(task: asyncio.Future[Any], delay: float) -> bool:
    """Wait for ``task`` at most ``delay`` seconds of the runtime clock; say if it is done.

    The runtime clock's own timer, not ``asyncio.wait``'s real-time timeout: on a test's
    fake clock (``llmwarm.testing``) the hedge starts when the clock is advanced past it.
    """
    loop = asyncio.get_running_loop()
    due: asyncio.Future[None] = loop.create_future()

    def fire() -> None:
        if not due.done():
            due.set_result(None)

    timer = _runtime.call_later(loop, delay, fire)
    try:
        await asyncio.wait((task, due), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        due.cancel()
    return task.done()


async def _cancel_losers(legs: Sequence[asyncio.Future[Any]], winner: int | None) -> None:
    """Cancel the legs still running; close every stream a leg returned but nobody got.

    That is every successful leg but the ``winner`` returned to the caller: a leg that
    finished together with the winner, or any leg when the race itself was cancelled.
    """
    for task in legs:
        if not task.done():
            task.cancel()
    for index, task in enumerate(legs):
        with contextlib.suppress(BaseException):
            await task
        if index == winner or task.cancelled() or task.exception() is not None:
            continue
        await _close(task.result())


async def _close(value: Any) -> None:
    closer = getattr(value, "aclose", None) or getattr(value, "close", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            result = closer()
            if asyncio.iscoroutine(result):
                await result
