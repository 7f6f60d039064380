"""Fixtures of the tracing tests: fresh stats per test (``otel`` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmwarm._core import call_stats as stats
from llmwarm.trace import _traced as trace


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    stats._reset()
    trace._bundles.clear()
    trace.forget_providers()
    yield
    stats._reset()
    trace._bundles.clear()
    trace.forget_providers()
