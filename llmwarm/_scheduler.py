"""Where keep-warm work runs: one shared thread for sync warmers, one task per async warmer.

A *job* (a :class:`~llmwarm.warm.Warmer`) tells the runner how long until its next piece of
work (:meth:`Job.delay`) and does that work when asked. Activity only ever moves a job's due
time *later*, so a call never has to wake the runner: the runner wakes at the old due time,
finds nothing due, and sleeps again. Only work moved *earlier* (``start()``, ``warm_up()``,
``stop()``) wakes it.

Sync warmers share one daemon thread per process (it never keeps the interpreter alive,
it ends when the last warmer leaves, and a forked child makes its own lazily). Each async
warmer runs one task on the event loop of its function; the task ends with its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import os
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol

from llmwarm._core import is_stream, logger

__all__ = [
    "MAX_WAIT",
    "AsyncRunner",
    "Blocking",
    "Clock",
    "Job",
    "Op",
    "Ping",
    "SystemClock",
    "ThreadScheduler",
    "drive_async",
    "drive_sync",
    "is_async_callable",
    "shared",
]

#: The longest the runner sleeps before asking its jobs again (a bound, not a rhythm).
MAX_WAIT = 30.0


class Clock(Protocol):
    """Time as a warmer sees it; tests inject a fake one and step the warmer by hand."""

    manual: bool
    """True for a test clock: no thread or task is started, the test runs due work itself."""

    def monotonic(self) -> float:
        """Return seconds on a monotonic scale (scheduling)."""
        ...

    def time(self) -> float:
        """Return wall-clock seconds since the epoch (shared with other hosts)."""
        ...


class SystemClock:
    """The real clocks: ``time.monotonic`` and ``time.time``."""

    manual = False

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def time(self) -> float:
        """Return ``time.time()``."""
        return time.time()


class Job(Protocol):
    """Work a runner drives: how long until it is due, and doing it."""

    def delay(self) -> float | None:
        """Return seconds until the next due work (<= 0: now), or None when nothing is due."""
        ...

    def run_due(self) -> None:
        """Do the work that is due, on the calling thread."""
        ...

    def arun_due(self) -> Awaitable[None]:
        """Do the work that is due, on the running loop."""
        ...


class ThreadScheduler:
    """One daemon thread per process running every sync job when it is due.

    Jobs are few (one per decorated function), so each wake-up asks all of them for their
    delay rather than keeping a heap whose entries every call would invalidate.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._cond = threading.Condition()
        self._jobs: set[Job] = set()
        self._thread: threading.Thread | None = None
        self._woken = False

    @property
    def thread(self) -> threading.Thread | None:
        """The running thread, if any."""
        return self._thread

    def add(self, job: Job) -> None:
        """Run ``job`` from now on (starting the thread if needed)."""
        with self._cond:
            self._jobs.add(job)
            self._woken = True
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llmwarm-warm", daemon=True)
                self._thread.start()

    def remove(self, job: Job) -> None:
        """Stop running ``job``; the thread ends when no job is left."""
        with self._cond:
            self._jobs.discard(job)
            self._woken = True
            self._cond.notify_all()

    def wake(self) -> None:
        """Make the thread ask its jobs again (a due time moved earlier)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        """Wait for the thread to end (after its last job was removed)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._jobs:
                    self._thread = None
                    return
                jobs = list(self._jobs)
            wait = MAX_WAIT
            due: list[Job] = []
            for job in jobs:
                delay = job.delay()
                if delay is None:
                    continue
                if delay <= 0:
                    due.append(job)
                else:
                    wait = min(wait, delay)
            for job in due:
                try:
                    job.run_due()
                except Exception:  # a job guards itself; this is the last line
                    logger.exception("llmwarm: keep-warm work failed")
            if due:
                continue
            with self._cond:
                if not self._woken and self._jobs:
                    self._cond.wait(wait)
                self._woken = False


_shared: ThreadScheduler | None = None
_shared_lock = threading.Lock()


def shared() -> ThreadScheduler:
    """Return this process's scheduler (a forked child gets a fresh one)."""
    global _shared, _shared_lock
    scheduler = _shared
    if scheduler is not None and scheduler.pid == os.getpid():
        return scheduler
    if scheduler is not None:  # we are a forked child: the parent's lock may be held
        _shared_lock = threading.Lock()
    with _shared_lock:
        if _shared is None or _shared.pid != os.getpid():
            _shared = ThreadScheduler()
        return _shared


class AsyncRunner:
    """One task on one event loop driving one async job; ends when stopped or its loop ends."""

    def __init__(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self.job = job
        self.loop = loop
        self._event = asyncio.Event()
        self.task: asyncio.Task[None] = loop.create_task(self._run(), name="llmwarm-warm")

    def alive(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether this runner is still running on ``loop``."""
        return self.loop is loop and not self.task.done() and not loop.is_closed()

    def wake(self) -> None:
        """Make the task ask its job again, from any thread; a closed loop is ignored."""
        self._on_loop(self._event.set)

    def cancel(self) -> None:
        """End the task, from any thread."""
        self._on_loop(self.task.cancel)

    def _on_loop(self, action: Callable[[], Any]) -> None:
        if self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            action()
            return
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            self.loop.call_soon_threadsafe(action)

    async def _run(self) -> None:
        while True:
            delay = self.job.delay()
            if delay is not None and delay <= 0:
                try:
                    await self.job.arun_due()
                except Exception:
                    logger.exception("llmwarm: keep-warm work failed")
                continue
            wait = MAX_WAIT if delay is None else min(delay, MAX_WAIT)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), wait)
            self._event.clear()


def _reset() -> None:
    """Forget the shared scheduler (tests); its thread ends once its jobs are removed."""
    global _shared
    _shared = None


# --------------------------------------------------- work written once, run sync or async
# A warmer's work is a generator that yields operations; `drive_sync` runs them on the
# scheduler thread, `drive_async` on the loop (as llmwarm._core drives policy flows).


def is_async_callable(fn: Any) -> bool:
    """Whether calling ``fn`` returns a coroutine (an ``async def`` or async ``__call__``)."""
    return fn is not None and (
        inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
    )


class Op:
    """One operation a warmer's work waits on."""

    def run_sync(self) -> Any:
        """Do it on the calling thread."""
        raise NotImplementedError

    async def run_async(self) -> Any:
        """Do it on the running loop."""
        raise NotImplementedError


class Blocking(Op):
    """Blocking I/O (Redis): inline on the scheduler thread, in a worker thread on a loop."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def run_sync(self) -> Any:
        """Call the function here."""
        return self.fn(*self.args)

    async def run_async(self) -> Any:
        """Call the function in a worker thread."""
        return await asyncio.to_thread(self.fn, *self.args)


class Ping(Op):
    """One ping (``send()``); a stream it returns is read to its end and closed.

    ``is_async`` says ``send()`` returns an awaitable: it is awaited on the loop (or run
    with ``asyncio.run`` on the scheduler thread); a sync ``send`` runs in a worker thread
    when the warmer is async, so it never blocks the loop.
    """

    def __init__(self, send: Callable[[], Any], is_async: bool) -> None:
        self.send, self.is_async = send, is_async

    def run_sync(self) -> Any:
        """Send the ping from the scheduler thread."""
        result = self.send()
        if inspect.isawaitable(result) or hasattr(type(result), "__anext__"):
            return asyncio.run(_settle(result))
        return _drain(result)

    async def run_async(self) -> Any:
        """Send the ping from the running loop."""
        if not self.is_async:
            return await asyncio.to_thread(self.run_sync)
        return await _settle(self.send())


_MAX_CHUNKS = 10_000


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


def drive_sync(work: Generator[Op, Any, None]) -> None:
    """Run a warmer's work on this thread."""
    try:
        op = next(work)
        while True:
            try:
                value = op.run_sync()
            except Exception as exc:
                op = work.throw(exc)
            else:
                op = work.send(value)
    except StopIteration:
        pass


async def drive_async(work: Generator[Op, Any, None]) -> None:
    """Run a warmer's work on the running loop."""
    try:
        op = next(work)
        while True:
            try:
                value = await op.run_async()
            except Exception as exc:
                op = work.throw(exc)
            else:
                op = work.send(value)
    except StopIteration:
        pass
