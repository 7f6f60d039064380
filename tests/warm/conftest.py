"""Fixtures of the @warm tests: a fake clock, and a reset of every warmer between tests."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from warmtools import FakeClock

from llmwarm.warm._warm import _reset

WARM = importlib.import_module("llmwarm.warm._warm")  # the module (llmwarm.warm is the decorator)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _reset_warmers() -> Iterator[None]:
    yield
    _reset()


@pytest.fixture(autouse=True)
def _first_ping_on_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests pin the schedule to the second; the random early first ping (against
    # processes pinging in step) has its own test, which sets FIRST_PING_SPREAD back.
    monkeypatch.setattr(WARM, "FIRST_PING_SPREAD", 0.0)
