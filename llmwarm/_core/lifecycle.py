"""Exit, fork and close hooks, registered lazily: importing llmwarm registers nothing.

A pool, a warmer or a cache that needs cleaning up at interpreter exit or in a forked
child calls :func:`on_exit` / :func:`on_fork_child` when it is first created. Whatever
:func:`close` / :func:`aclose` must end registers with :func:`on_close` the same way, so the
one lifecycle users see never imports a decorator (the decorators import this module).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable

from llmwarm._core.log import logger

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

# The stages of close(), in order: first what makes new work (pings), then what holds work
# back (batches waiting for company), then what carries it (pools), then what records it
# (telemetry), and last the threads that ran it.
WARMERS, BATCHERS, POOLS, TELEMETRY, THREADS = range(5)

_lock = threading.Lock()
_exit_hooks: list[Callable[[], None]] = []
_fork_hooks: list[Callable[[], None]] = []
_close_hooks: dict[str, tuple[int, Callable[[], None], Callable[[], Awaitable[None]] | None]] = {}
_atexit_registered = False
_fork_registered = False


def _run_exit_hooks() -> None:
    # Last registered, first run, as atexit itself does.
    for hook in reversed(_exit_hooks):
        with contextlib.suppress(Exception):  # the interpreter is going away anyway
            hook()


def _run_fork_hooks() -> None:
    # The child inherits the parent's locks in whatever state they were: make new ones.
    global _lock
    _lock = threading.Lock()
    for hook in _fork_hooks:
        hook()


def on_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit (once, however often it is registered)."""
    global _atexit_registered
    with _lock:
        if hook not in _exit_hooks:
            _exit_hooks.append(hook)
        if not _atexit_registered:
            atexit.register(_run_exit_hooks)
            _atexit_registered = True


def on_fork_child(hook: Callable[[], None]) -> None:
    """Run ``hook`` in a child process right after ``os.fork()`` (once per hook)."""
    global _fork_registered
    with _lock:
        if hook not in _fork_hooks:
            _fork_hooks.append(hook)
        if not _fork_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_run_fork_hooks)
            _fork_registered = True


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
    with _lock:
        _close_hooks.setdefault(name, (stage, close, aclose))


def _ordered() -> list[tuple[str, Callable[[], None], Callable[[], Awaitable[None]] | None]]:
    with _lock:
        hooks = sorted(_close_hooks.items(), key=lambda item: item[1][0])
    return [(name, close, aclose) for name, (_, close, aclose) in hooks]


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
    for name, hook, _ in _ordered():
        try:
            hook()
        except Exception:
            logger.exception("llmwarm: closing %s failed; closing the rest", name)


async def aclose() -> None:
    """Do :func:`close` from a coroutine, and wait for what runs on this event loop.

    Awaits the end of the loop's warmer tasks and of the batches it sends, and closes the
    loop's async pools at once.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Also stops warmers, drains batchers, flushes telemetry and ends llmwarm's threads.
    """
    for name, hook, ahook in _ordered():
        try:
            if ahook is not None:
                await ahook()
            else:
                hook()
        except Exception:
            logger.exception("llmwarm: closing %s failed; closing the rest", name)


def shutdown() -> None:
    """Alias of :func:`close`, kept for compatibility.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       An alias of :func:`llmwarm.close` (it stopped warmers only).
    """
    close()
