"""Clean-ups that run on an event loop just before it closes, however its owner closes it.

``asyncio.run`` cancels every task and finalizes async generators before it closes its
loop; a loop an application owns (``loop = asyncio.new_event_loop()``,
``loop.run_until_complete(...)``, ``loop.close()``) gets none of that. State llmwarm binds
to such a loop (a warmer's task, a pooled ``AsyncClient``) would then be destroyed pending,
its sockets never closed: "Task was destroyed but it is pending", "Event loop is closed"
and ``ResourceWarning`` at garbage collection.

:func:`on_loop_close` registers a coroutine function to run on the loop when its ``close()``
is called (the loop is stopped then, so llmwarm runs it to completion, bounded by
:data:`CLOSE_TIMEOUT`). The loop's ``close`` is wrapped once, on that loop object only;
a loop whose class forbids it (no instance ``__dict__``) is left as it is, and
``asyncio.run`` or ``llmwarm.aclose()`` remain the way to end it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from llmwarm._core import runtime as _runtime
from llmwarm._core.log import logger

__all__ = ["CLOSE_TIMEOUT", "on_loop_close"]

#: The longest a loop's ``close()`` waits for llmwarm's clean-ups (a ping in flight).
CLOSE_TIMEOUT = 2.0

Hook = Callable[[], Awaitable[Any]]

_hooks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Hook]] = (
    weakref.WeakKeyDictionary()
)


def _lock() -> threading.Lock:
    # A runtime part: a forked child gets a new lock (the parent's may be held by a thread
    # the child does not have); a reset keeps it.
    return _runtime.runtime.part("loop-close hooks lock", threading.Lock, reset=lambda lock: lock)


def on_loop_close(loop: asyncio.AbstractEventLoop, hook: Hook) -> None:
    """Run ``await hook()`` on ``loop`` right before the loop closes (at most once)."""
    with _lock():
        hooks = _hooks.get(loop)
        if hooks is not None:
            hooks.append(hook)
            return
        original = loop.close
        try:
            loop.close = _closing(weakref.ref(loop), original)  # type: ignore[method-assign]
        except (AttributeError, TypeError):  # a loop class without instance attributes
            return
        _hooks[loop] = [hook]


def _closing(ref: weakref.ref[asyncio.AbstractEventLoop], original: Callable[[], None]) -> Any:
    def close() -> None:
        loop = ref()
        with _lock():
            hooks = _hooks.pop(loop, []) if loop is not None else []
        if hooks and loop is not None and not loop.is_closed() and not loop.is_running():
            try:
                loop.run_until_complete(_run(hooks))
            except Exception:  # never stop the owner's close
                logger.debug("llmwarm: clean-up before the loop closed failed", exc_info=True)
        original()

    return close


async def _run(hooks: list[Hook]) -> None:
    async def one(hook: Hook) -> None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await hook()

    tasks = [asyncio.ensure_future(one(hook)) for hook in hooks]
    _, pending = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=CLOSE_TIMEOUT)
