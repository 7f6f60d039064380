"""Fixtures of the @cached tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmwarm.cache._cached
from llmwarm.testing import FakeClock


@pytest.fixture(autouse=True)
def _reset_cache_state() -> Iterator[None]:
    llmwarm.cache._cached._reset()
    yield
    llmwarm.cache._cached._reset()


@pytest.fixture
def clock() -> FakeClock:
    """The public fake clock; hand a back end ``clock.monotonic`` (SQLite: ``clock.time``)."""
    return FakeClock()
