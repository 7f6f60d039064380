"""Background work (a generator of steps only) runs through the calls' own driver."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from llmwarm._core import (
    Blocking,
    Call,
    Ping,
    Step,
    Work,
    run_steps_async,
    run_steps_sync,
)


class Give(Step):
    """A step whose value (or exception) is known in advance; it notes which path ran it."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error
        self.path: str | None = None

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        self.path = "sync"
        if self.error is not None:
            raise self.error
        return self.value

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        self.path = "async"
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return self.value


class Hang(Step):
    """A step that never ends on the async path (until cancelled)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        raise AssertionError("not used on the sync path")

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        self.started.set()
        await asyncio.Event().wait()


def run(work: Work[Any], mode: str) -> Any:
    if mode == "sync":
        return run_steps_sync(work)
    return asyncio.run(run_steps_async(work))


MODES = ["sync", "async"]


@pytest.mark.parametrize("mode", MODES)
def test_each_steps_value_is_sent_back_and_the_works_value_returned(mode: str) -> None:
    steps = [Give(2), Give(3)]

    def work() -> Work[int]:
        first = yield steps[0]
        second = yield steps[1]
        return int(first) * 10 + int(second)

    assert run(work(), mode) == 23
    assert [s.path for s in steps] == [mode, mode]


@pytest.mark.parametrize("mode", MODES)
def test_a_steps_exception_is_thrown_into_the_work_which_may_recover(mode: str) -> None:
    seen: list[str] = []

    def work() -> Work[str]:
        try:
            yield Give(error=ValueError("redis down"))
        except ValueError as exc:
            seen.append(str(exc))
        after = yield Give("after")
        return str(after)

    assert run(work(), mode) == "after"
    assert seen == ["redis down"]


@pytest.mark.parametrize("mode", MODES)
def test_an_exception_the_work_does_not_handle_reaches_the_caller_and_closes_it(
    mode: str,
) -> None:
    cleaned: list[bool] = []

    def work() -> Work[None]:
        try:
            yield Give(error=KeyError("gone"))
        finally:
            cleaned.append(True)

    gen = work()
    with pytest.raises(KeyError, match="gone"):
        run(gen, mode)
    assert cleaned == [True]
    assert inspect.getgeneratorstate(gen) == inspect.GEN_CLOSED


def test_a_sync_steps_stop_iteration_reaches_the_caller_as_itself() -> None:
    # Thrown into a generator as is, PEP 479 would turn it into RuntimeError. (A coroutine
    # cannot raise StopIteration at all: on the async path Python makes it RuntimeError.)
    def work() -> Work[None]:
        yield Give(error=StopIteration("exhausted"))

    with pytest.raises(StopIteration, match="exhausted"):
        run_steps_sync(work())


def test_a_work_yielding_no_step_returns_at_once() -> None:
    def work() -> Iterator[Step]:
        return
        yield  # a generator all the same

    assert run_steps_sync(work()) is None  # type: ignore[arg-type]


def test_cancelling_async_work_closes_it_where_it_waits() -> None:
    hang = Hang()
    events: list[str] = []

    def work() -> Work[None]:
        try:
            yield Give(1)
            events.append("waiting")
            yield hang
            events.append("never")  # the cancellation is not swallowed
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            events.append("closed")

    gen = work()

    async def main() -> None:
        task = asyncio.create_task(run_steps_async(gen))
        await hang.started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert events == ["waiting", "cancelled", "closed"]
    assert inspect.getgeneratorstate(gen) == inspect.GEN_CLOSED


# ------------------------------------------------------------------ background steps


def test_blocking_runs_inline_sync_and_on_llmwarms_own_workers_from_a_loop() -> None:
    def where() -> str:
        return threading.current_thread().name

    def work() -> Work[str]:
        name: str = yield Blocking(where)
        return name

    assert run_steps_sync(work()) == threading.current_thread().name

    async def main() -> str:
        return await run_steps_async(work())

    # Never the loop's default executor (asyncio.run waits for its shutdown).
    assert asyncio.run(main()).startswith("llmwarm-ping-")


@pytest.mark.parametrize("mode", MODES)
def test_a_ping_returning_a_stream_is_read_to_its_end_and_closed(mode: str) -> None:
    read: list[int] = []
    closed: list[bool] = []

    def stream() -> Iterator[int]:
        try:
            for i in range(3):
                read.append(i)
                yield i
        finally:
            closed.append(True)

    def work() -> Work[None]:
        yield Ping(stream, is_async=False)

    run(work(), mode)
    assert read == [0, 1, 2]
    assert closed == [True]
