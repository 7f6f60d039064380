"""The steps background work yields: blocking I/O on llmwarm's workers, and pings.

A piece of background work (a warmer's due work for one model, its fleet's Redis calls) is
a generator of :class:`~llmwarm._core.driver.Step`, driven by the calls' own drivers
(:func:`~llmwarm._core.driver.run_steps_sync` on a worker thread,
:func:`~llmwarm._core.driver.run_steps_async` on the owning loop); *when* it runs is the
scheduler's business (:mod:`llmwarm._core.scheduler`). The steps here differ from a call's
:class:`~llmwarm._core.driver.Offload` in one way: what blocks runs on llmwarm's own
worker threads (:func:`~llmwarm._core.scheduler.submit`), never in the loop's default
executor, whose shutdown ``asyncio.run`` waits for (a hung Redis or ping would hang it).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from llmwarm._core.call import Call
from llmwarm._core.driver import Offload, Step
from llmwarm._core.runtime import runtime
from llmwarm._core.scheduler import run_on_ping_loop, submit
from llmwarm._core.streams import is_stream

__all__ = ["Blocking", "Ping", "is_async_callable"]

#: The most chunks of a stream a ping reads before it closes it.
_MAX_CHUNKS = 10_000


class Blocking(Offload):
    """Blocking I/O (Redis): inline on a worker thread, on a llmwarm worker from a loop.

    .. versionadded:: 0.2.0
    """

    __slots__ = ()

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        """Call the function on a llmwarm worker thread; cancelling abandons the wait.

        On a test clock it is called here, on the loop: no thread starts.
        """
        if _on_test_clock():
            return self.function(*self.args)
        return await asyncio.wrap_future(submit(self.function, *self.args))


class Ping(Step):
    """One ping (``send()``); a stream it returns is read to its end and closed.

    ``is_async`` says ``send()`` returns an awaitable. On a loop (an async warmer) an async
    ``send`` is called and awaited there; any other runs on a worker thread (it may block),
    and an awaitable or async stream it returns all the same (a lambda returning a
    coroutine) is awaited back on the loop (on a test clock, a sync ``send`` runs on the loop
    too: no thread starts). On a worker (a sync warmer) a sync ``send`` runs inline; an
    async one, or what it returns, runs on llmwarm's ping loop, even on a test clock (a
    client bound to a loop keeps its loop from one ping to the next).

    ``proceed`` is never used (a ping starts no call of the stack's rest), so the step can
    also be run by hand, outside a driver.

    .. versionadded:: 0.2.0
    """

    __slots__ = ("is_async", "send")

    def __init__(self, send: Callable[[], Any], is_async: bool) -> None:
        self.send, self.is_async = send, is_async

    def run_sync(self, proceed: Callable[[Call], Any] | None = None) -> Any:
        """Send the ping from this (worker) thread."""
        if self.is_async:
            return run_on_ping_loop(_call_and_settle(self.send))
        result = self.send()
        if _is_async_result(result):
            return run_on_ping_loop(_settle(result))
        return _drain(result)

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]] | None = None) -> Any:
        """Send the ping from the running loop."""
        if self.is_async:
            return await _settle(self.send())
        if _on_test_clock():  # a test moves time itself: the sync ping runs here, no thread
            result = self._send_sync()
        else:
            result = await asyncio.wrap_future(submit(self._send_sync))
        if isinstance(result, _Deferred):
            return await _settle(result.value)
        return result

    def _send_sync(self) -> Any:
        result = self.send()
        return _Deferred(result) if _is_async_result(result) else _drain(result)


def _on_test_clock() -> bool:
    # A test clock (llmwarm.testing.FakeClock) starts no thread: what would block runs inline.
    return bool(getattr(runtime.clock, "manual", False))


def is_async_callable(fn: Any) -> bool:
    """Whether calling ``fn`` returns a coroutine (an ``async def`` or async ``__call__``)."""
    return fn is not None and (
        inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
    )


class _Deferred:
    """An awaitable a sync-looking ping returned, to be awaited back on the loop."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _is_async_result(result: Any) -> bool:
    return inspect.isawaitable(result) or hasattr(type(result), "__anext__")


async def _call_and_settle(send: Callable[[], Any]) -> Any:
    return await _settle(send())


def _drain(result: Any) -> Any:
    if is_stream(result):
        try:
            for _ in itertools.islice(result, _MAX_CHUNKS):
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return result


async def _settle(result: Any) -> Any:
    if inspect.isawaitable(result):
        result = await result
    if not hasattr(type(result), "__anext__"):
        return _drain(result)
    try:
        count = 0
        async for _ in result:
            count += 1
            if count >= _MAX_CHUNKS:
                break
    finally:
        closer = getattr(result, "aclose", None) or getattr(result, "close", None)
        if closer is not None:
            closed = closer()
            if inspect.isawaitable(closed):
                await closed
    return result
