"""What a runner drives: the protocol between background work and whoever runs it.

The scheduler (:mod:`llmwarm._core.scheduler`) runs a job on its thread or loop when it is
due; a manual test clock (:class:`~llmwarm._core.clock.FakeClock`) runs it as time
advances. Both import it from here, so neither needs the other.
"""

from __future__ import annotations

from typing import Protocol

from llmwarm._core.driver import Work

__all__ = ["Job"]


class Job(Protocol):
    """Work a runner drives: how long until it is due, and the due pieces of it.

    ``_claim()`` returns the keys of the work due now and marks them in flight (they are not
    due again until ``_release(key)``, which the runner calls however the work ended);
    ``_work(key)`` is that work, a generator of steps (see
    :func:`~llmwarm._core.driver.run_steps_sync`). A manual clock
    (:class:`~llmwarm._core.clock.FakeClock`) drives a job it watches through
    ``run_due()``, or ``arun_due()`` on a loop when ``is_async``.
    """

    @property
    def is_async(self) -> bool:
        """Whether the job's work runs on an event loop (``arun_due``), not a thread."""
        ...

    def delay(self) -> float | None:
        """Return seconds until the next due work (<= 0: now), or None when nothing is due."""
        ...

    def run_due(self) -> None:
        """Do the work due now on this thread."""
        ...

    async def arun_due(self) -> None:
        """Do the work due now on the running loop."""
        ...

    def _claim(self) -> list[str]: ...

    def _work(self, key: str) -> Work[None]: ...

    def _release(self, key: str) -> None: ...
