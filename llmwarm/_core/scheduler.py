"""*When* keep-warm work runs: one shared thread for sync warmers, one task per async warmer.

This module decides when background work runs and on which thread or loop; *how* it runs
is the calls' own engine: a piece of work is a generator of steps
(:class:`~llmwarm._core.driver.Step`), driven by :func:`~llmwarm._core.driver.run_steps_sync`
or :func:`~llmwarm._core.driver.run_steps_async` (its steps are in
:mod:`llmwarm._core.background`).

A *job* (a :class:`~llmwarm.warm.Warmer`) tells the runner how long until its next piece of
work (:meth:`Job.delay`) and does that work when asked. Activity only ever moves a job's due
time *later*, so a call never has to wake the runner: the runner wakes at the old due time,
finds nothing due, and sleeps again. Only work moved *earlier* (``start()``, ``warm_up()``,
``stop()``) wakes it.

Sync warmers share one daemon thread per process (it never keeps the interpreter alive,
it ends when the last warmer leaves, and a forked child makes its own lazily). It only
*dispatches*: each due piece of work runs on a worker (:func:`submit`, at most
``MAX_WORKERS`` daemon threads llmwarm owns), so one hung ping holds back no other model.
Each async warmer runs one task on the event loop of its function; each due piece of work is
a child task of it, and they all end with the loop (a cancelled piece of work is closed).
Blocking calls made for an async warmer (a sync ping, Redis) run on the same workers, never
in the loop's default executor (whose shutdown ``asyncio.run`` waits for). An async ping of
a sync warmer runs on one event loop llmwarm owns (:func:`run_on_ping_loop`), so clients
bound to a loop keep working; a stream a ping returns is read to its end and closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from llmwarm._core import loops as _loops
from llmwarm._core.clock import Clock, ScaledClock, SystemClock
from llmwarm._core.driver import run_steps_async, run_steps_sync
from llmwarm._core.jobs import Job
from llmwarm._core.log import logger
from llmwarm._core.runtime import runtime

__all__ = [
    "MAX_WAIT",
    "MAX_WORKERS",
    "AsyncRunner",
    "Clock",
    "Job",
    "ScaledClock",
    "SystemClock",
    "ThreadScheduler",
    "arun_claimed",
    "run_claimed",
    "run_on_ping_loop",
    "shared",
    "submit",
]

#: The longest the runner sleeps before asking its jobs again (a bound, not a rhythm).
MAX_WAIT = 30.0
#: The most worker threads running keep-warm work at once (more work waits in a queue).
MAX_WORKERS = 8


def run_claimed(job: Job, key: str) -> None:
    """Drive one claimed piece of ``job``'s work on this thread, then release it."""
    try:
        run_steps_sync(job._work(key))
    finally:
        job._release(key)


async def arun_claimed(job: Job, key: str) -> None:
    """Drive one claimed piece of ``job``'s work on the running loop, then release it."""
    try:
        await run_steps_async(job._work(key))
    finally:
        job._release(key)


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
            dispatched = 0
            for job in due:
                dispatched += self._dispatch(job)
            if dispatched:
                continue
            if due:  # due but nothing to claim (stopped meanwhile): look again soon
                wait = min(wait, 0.05)
            with self._cond:
                if not self._woken and self._jobs:
                    self._cond.wait(wait)
                self._woken = False

    @staticmethod
    def _dispatch(job: Job) -> int:
        try:
            keys = job._claim()
        except Exception:  # a job guards itself; this is the last line
            logger.exception("llmwarm: keep-warm work failed")
            return 0
        for key in keys:
            try:
                submit(_run_logged, job, key)
            except Exception:  # no thread can start (interpreter exit): give the key back
                job._release(key)
                logger.warning("llmwarm: could not start keep-warm work", exc_info=True)
        return len(keys)


def _run_logged(job: Job, key: str) -> None:
    try:
        run_claimed(job, key)
    except Exception:  # a job guards itself; this is the last line
        logger.exception("llmwarm: keep-warm work failed")


def _forget(_: object) -> None:
    return None  # a reset (or a forked child) makes a fresh one on next use


def shared() -> ThreadScheduler:
    """Return this process's scheduler (the runtime's ``"scheduler"`` part).

    A forked child or a :func:`llmwarm.testing.reset` gets a fresh one.
    """
    return runtime.part("scheduler", ThreadScheduler, reset=_forget)


class AsyncRunner:
    """One task on one event loop driving one async job; ends when stopped or its loop ends."""

    def __init__(self, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        self.job = job
        self.loop = loop
        self._event = asyncio.Event()
        self._children: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] = loop.create_task(self._run(), name="llmwarm-warm")
        # A loop its owner closes by hand (no asyncio.run) must not destroy the task pending.
        _loops.on_loop_close(loop, self._end)

    async def _end(self) -> None:
        """Cancel the task and wait for it (its pings too): the loop is about to close."""
        self.task.cancel()
        await asyncio.wait({self.task})

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
        try:
            while True:
                delay = self.job.delay()
                wait = MAX_WAIT if delay is None else min(delay, MAX_WAIT)
                if delay is not None and delay <= 0:
                    try:
                        keys = self.job._claim()
                    except Exception:
                        logger.exception("llmwarm: keep-warm work failed")
                        keys = []
                    for key in keys:  # each its own task: a slow ping holds back no other
                        child = self.loop.create_task(self._child(key), name="llmwarm-ping")
                        self._children.add(child)
                        child.add_done_callback(self._children.discard)
                    if keys:
                        continue
                    wait = 0.05  # due but nothing to claim (stopped meanwhile)
                await _wait_for_event(self._event, wait)
                self._event.clear()
        finally:
            children = list(self._children)
            for child in children:
                child.cancel()
            if children:
                await asyncio.gather(*children, return_exceptions=True)

    async def _child(self, key: str) -> None:
        try:
            await arun_claimed(self.job, key)
        except Exception:
            logger.exception("llmwarm: keep-warm work failed")
        finally:
            self._event.set()  # the key's next due time is known now


async def _wait_for_event(event: asyncio.Event, timeout: float) -> None:
    """Wait until ``event`` is set or ``timeout`` passes; a cancellation always propagates.

    Not ``asyncio.wait_for``: on Python 3.11 and older it swallows a cancellation that
    arrives as the awaited event is set. At loop shutdown every task is cancelled at once,
    the runner's pings set its event as they end, and the runner never stopped: the
    loop's close hung. Nor a helper task around ``event.wait()``: one left pending when
    its owner closes the loop is "destroyed but pending". A timer sets the event instead.
    """
    handle = asyncio.get_running_loop().call_later(timeout, event.set)
    try:
        await event.wait()
    finally:
        handle.cancel()


def _reset() -> None:
    """Forget the shared scheduler and stop the ping loop (tests); threads end by themselves."""
    _stop_ping_loop()
    runtime.forget("scheduler")


# ------------------------------------------------------------- threads and a loop we own


class _Workers:
    """Up to ``MAX_WORKERS`` daemon threads running submitted calls; idle ones end.

    Daemon threads, not a ``ThreadPoolExecutor`` (whose threads interpreter exit joins): a
    hung ping never delays the exit of the process.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[tuple[concurrent.futures.Future[Any], Callable[[], Any]]] = deque()
        self._threads = 0
        self._idle = 0
        self._names = itertools.count(1)
        self._closing = False  # close(): idle threads end instead of waiting for work

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cond:
            self._closing = False
            self._queue.append((future, fn))
            if self._idle > len(self._queue) - 1:
                self._cond.notify()
                return future
            if self._threads < MAX_WORKERS:
                name = f"llmwarm-ping-{next(self._names)}"
                thread = threading.Thread(target=self._loop, name=name, daemon=True)
                thread.start()  # may raise (interpreter exit): the caller handles it
                self._threads += 1
        return future

    def close(self) -> None:
        """End the idle threads now (each busy one ends after its work)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._closing:
                    self._idle += 1
                    self._cond.wait(MAX_WAIT)
                    self._idle -= 1
                if not self._queue:
                    self._threads -= 1
                    return
                future, fn = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                value = fn()
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)
            else:
                future.set_result(value)


def _end_workers(workers: _Workers) -> None:
    workers.close()  # idle ones end now; a reset (or a fork) makes a fresh set on next use


def submit(fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
    """Run ``fn(*args)`` on a worker thread llmwarm owns; return its future."""
    workers = runtime.part("workers", _Workers, reset=_end_workers)
    return workers.submit(lambda: fn(*args))


class _PingLoop:
    """One event loop on a daemon thread, where a sync warmer's async pings run."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._serve, args=(ready,), name="llmwarm-ping-loop", daemon=True
        )
        self.thread.start()
        ready.wait(5.0)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            self.loop.close()

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)


def _ping_loop() -> _PingLoop:
    return runtime.part("ping-loop", _PingLoop, at_exit=_PingLoop.stop, reset=_end_ping_loop)


def _end_ping_loop(loop: _PingLoop) -> None:
    loop.stop()  # its thread ends with the loop; the next use starts another


def run_on_ping_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` on llmwarm's ping loop (started on first use); wait for its result."""
    current = _ping_loop()
    if current.loop.is_closed():  # ended by close(): start another
        runtime.forget("ping-loop", current)
        current = _ping_loop()
    try:
        future = asyncio.run_coroutine_threadsafe(coro, current.loop)
    except RuntimeError:  # closed meanwhile
        coro.close()
        raise
    return future.result()


#: The names of the threads this module starts (the simulator's are the test's own).
_THREADS = ("llmwarm-warm", "llmwarm-ping")


def close_threads(timeout: float = 5.0) -> None:
    """End llmwarm's idle threads and wait for them, at most ``timeout`` seconds in all.

    The scheduler's thread ends once its last job is removed (stopped warmers), idle
    workers end when woken, the ping loop's thread when its loop stops. A thread still busy
    (a ping that hangs) is logged and left: it is a daemon thread.
    """
    _stop_ping_loop()
    workers = runtime.peek("workers")
    if workers is not None:
        workers.close()
    scheduler = runtime.peek("scheduler")
    if scheduler is not None:
        scheduler.wake()
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith(_THREADS) and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("llmwarm: thread %s is still busy after close()", thread.name)


async def aclose_threads(timeout: float = 5.0) -> None:
    """Do :func:`close_threads` on a thread of its own: joining threads never blocks the loop."""
    await in_own_thread(close_threads, timeout)


async def in_own_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Await ``fn(*args)`` run on a new daemon thread (closing work: joins, flushes).

    Not the loop's default executor, which llmwarm never uses (``asyncio.run`` waits for
    its shutdown), nor llmwarm's workers, which the work may be ending.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(error: BaseException | None, result: Any) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as error:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, error, None)
        else:
            loop.call_soon_threadsafe(settle, None, result)

    thread = threading.Thread(target=run, name="llmwarm-close", daemon=True)
    thread.start()
    result = await done
    # It has settled `done` and is returning: gone in microseconds, so that no llmwarm
    # thread is left once aclose() returns.
    thread.join(1.0)
    return result


def _stop_ping_loop() -> None:
    current = runtime.peek("ping-loop")
    if current is not None:
        runtime.forget("ping-loop", current)
        current.stop()
