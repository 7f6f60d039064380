"""The one lifecycle users see: :func:`close`, :func:`aclose` (and :func:`shutdown`).

They end the parts of the runtime (:mod:`llmwarm._core.runtime`) stage by stage, so the
lifecycle never imports a decorator (the decorators register their parts on first use).
:func:`on_close`, :func:`on_exit` and :func:`on_fork_child` register a stateless part for
code that has only a hook to give (telemetry's flush).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from llmwarm._core.runtime import BATCHERS, POOLS, TELEMETRY, THREADS, WARMERS, runtime

__all__ = [
    "BATCHERS",
    "POOLS",
    "TELEMETRY",
    "THREADS",
    "WARMERS",
    "aclose",
    "close",
    "on_close",
    "on_exit",
    "on_fork_child",
    "shutdown",
]


def _present() -> bool:
    return True  # a hook's part holds no state: only its callbacks matter


def _keep(value: bool) -> bool:
    return value


def on_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit (once, however often it is registered)."""
    runtime.part(("exit", hook), _present, reset=_keep, after_fork=_keep, at_exit=lambda _: hook())


def on_fork_child(hook: Callable[[], None]) -> None:
    """Run ``hook`` in a child process right after ``os.fork()`` (once per hook)."""

    def renew(value: bool) -> bool:
        hook()
        return value

    runtime.part(("fork", hook), _present, reset=_keep, after_fork=renew)


def on_close(
    stage: int,
    name: str,
    close: Callable[[], None],
    aclose: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Have :func:`close` call ``close`` (and :func:`aclose` await ``aclose``) at ``stage``.

    ``name`` makes registering again harmless: the first registration of a name stays.
    Without ``aclose``, :func:`aclose` calls ``close``.
    """

    async def aclose_part(_: bool) -> None:
        if aclose is not None:
            await aclose()
        else:
            close()

    runtime.part(
        name, _present, stage=stage, close=lambda _: close(), aclose=aclose_part,
        reset=_keep, after_fork=_keep,
    )  # fmt: skip


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
