"""Fixtures of the @warm tests: a fake clock, and a reset of every warmer between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from warmtools import FakeClock

from llmwarm.warm import _reset


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _reset_warmers() -> Iterator[None]:
    yield
    _reset()
