"""A fake clock drives any job of the scheduler's protocol, by the protocol's own names."""

from __future__ import annotations

from collections.abc import Iterator

from llmwarm.testing import FakeClock


class _Job:
    """A job due once, ``at`` seconds after its clock's start, sync or async."""

    def __init__(self, clock: FakeClock, at: float, *, is_async: bool) -> None:
        self.clock, self.due_at, self._async = clock, clock.now + at, is_async
        self.ran: list[tuple[str, float]] = []

    @property
    def is_async(self) -> bool:
        return self._async

    def delay(self) -> float | None:
        return None if self.ran else self.due_at - self.clock.now

    def run_due(self) -> None:
        self.ran.append(("thread", self.clock.now))

    async def arun_due(self) -> None:
        self.ran.append(("loop", self.clock.now))

    def _claim(self) -> list[str]:
        return []

    def _work(self, key: str) -> Iterator[None]:
        yield None

    def _release(self, key: str) -> None:
        pass


def test_an_async_job_runs_on_a_loop_and_a_sync_one_on_the_thread() -> None:
    clock = FakeClock()
    start = clock.now
    on_loop = _Job(clock, 10, is_async=True)
    on_thread = _Job(clock, 20, is_async=False)
    clock.watch(on_loop)
    clock.watch(on_thread)
    clock.advance(30)
    assert on_loop.ran == [("loop", start + 10)]
    assert on_thread.ran == [("thread", start + 20)]
