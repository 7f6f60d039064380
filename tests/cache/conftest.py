"""Fixtures of the @cached tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmwarm.cache._cached


@pytest.fixture(autouse=True)
def _reset_cache_state() -> Iterator[None]:
    llmwarm.cache._cached._reset()
    yield
    llmwarm.cache._cached._reset()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
