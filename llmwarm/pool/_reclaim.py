"""Give back connection slots that a cancelled request left behind in an httpx pool.

httpcore (1.0.9 and older) assigns a new connection to a waiting request; if that request
is cancelled before it sends anything on it (before or just after it connected), the
connection stays in the pool for ever: new, so never idle, expired or closed, and owned
by no request (encode/httpcore#1093; ``httpcore2``, under ``httpx2``, reclaims them
itself). Each one holds a slot of ``max_connections`` until every call ends in
``PoolTimeout``. ``@pooled`` calls :func:`reclaim` when a call through its pool is
cancelled (a timeout, a hedge's loser, a client gone away).

It reads httpcore's private state, guardedly: on any other transport, or another layout,
it does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from llmwarm._core import logger

__all__ = ["reclaim"]

_closing: set[asyncio.Task[None]] = set()  # closes in flight (the loop holds tasks weakly)


def _never_used(connection: Any) -> bool:
    inner = getattr(connection, "_connection", True)
    if inner is None:  # not connected yet, and its connect did not fail
        return getattr(connection, "_connect_failed", True) is False
    state = getattr(getattr(inner, "_state", None), "name", None)
    return state == "NEW" and getattr(inner, "_request_count", 1) == 0


def reclaim(http_client: Any) -> int:
    """Drop (and close) new connections of the pool that no request owns; return how many.

    Call it on the client's event loop, after a request through it was cancelled.
    """
    try:
        pool = http_client._transport._pool
        connections: list[Any] = pool._connections
        with pool._optional_thread_lock:
            owned = {id(r.connection) for r in pool._requests if r.connection is not None}
            orphans = [c for c in connections if id(c) not in owned and _never_used(c)]
            for orphan in orphans:
                connections.remove(orphan)
    except Exception:  # not httpcore's pool, or its layout changed: leave it alone
        return 0
    if orphans:
        logger.debug("llmwarm: reclaimed %d connection(s) left by cancelled calls", len(orphans))
        task = asyncio.get_running_loop().create_task(_close(orphans))
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    return len(orphans)


async def _close(connections: list[Any]) -> None:
    for connection in connections:
        with contextlib.suppress(Exception):
            await connection.aclose()
