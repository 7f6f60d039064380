"""Fixtures of the @routed tests: a fake clock for cool-downs, reset around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from routing_helpers import FakeClock

from llmwarm._core import failures as _failures


@pytest.fixture(autouse=True)
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    _failures._reset(clock=fake)
    yield fake
    _failures._reset()
