"""Helpers of the provider-style tests: a clock shared by llmwarm and the simulator."""

from __future__ import annotations


class SharedClock:
    """One fake clock for both sides: the simulator reads it, llmwarm sleeps on it.

    ``manual`` makes a warmer on it start no thread (the test runs its due work); a
    ``sleep`` moves the clock (so the simulator sees the time pass) and is recorded.
    """

    manual = True

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:  # the simulator's clock
        return self.now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
