"""The one lifecycle users see: :func:`close`, :func:`aclose` (and :func:`shutdown`).

They end the parts of the runtime (:mod:`llmwarm._core.runtime`) stage by stage, so the
lifecycle never imports a decorator (the decorators register their parts on first use).
"""

from __future__ import annotations

from llmwarm._core.runtime import BATCHERS, POOLS, TELEMETRY, THREADS, WARMERS, runtime

__all__ = [
    "BATCHERS",
    "POOLS",
    "TELEMETRY",
    "THREADS",
    "WARMERS",
    "aclose",
    "close",
    "shutdown",
]


def close() -> None:
    """End everything llmwarm runs in this process; calls afterwards start afresh.

    In order: end every warmer (no ping starts after this; a warmer starts again on its
    function's next call, unlike one ended by ``.warmer.stop()``), send the batches waiting for
    company, close the connection pools (a pool in use closes when its last call ends),
    flush telemetry set up by :func:`llmwarm.telemetry.setup`, and end llmwarm's idle
    threads. A part that fails is logged on the ``llmwarm`` logger and the others still
    close. Async pools on a live event loop other than the caller's close when their loop
    ends; use :func:`aclose` on a loop to close its own at once.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Also stops warmers, drains batchers, flushes telemetry and ends llmwarm's threads
       (it closed pools only).
    """
    runtime.close()


async def aclose() -> None:
    """Do :func:`close` from a coroutine, and wait for what runs on this event loop.

    Awaits the end of the loop's warmer tasks and of the batches it sends, and closes the
    loop's async pools at once.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Also stops warmers, drains batchers, flushes telemetry and ends llmwarm's threads.
    """
    await runtime.aclose()


def shutdown() -> None:
    """Alias of :func:`close`, kept for compatibility.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       An alias of :func:`llmwarm.close` (it stopped warmers only).
    """
    close()
