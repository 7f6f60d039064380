"""Fixtures of the provider-style tests: a fake clock shared by llmwarm and the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from providertools import SharedClock

from llmwarm._core import call_stats as _stats
from llmwarm._core import failures as _failures
from llmwarm.trace import _traced as trace
from llmwarm.warm._warm import _reset


@pytest.fixture
def clock() -> SharedClock:
    return SharedClock()


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    _stats._reset()
    _failures._reset()
    trace._bundles.clear()
    yield
    _reset()
    _stats._reset()
    _failures._reset()
    trace._bundles.clear()
