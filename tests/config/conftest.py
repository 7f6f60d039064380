"""Reset the pools that config-built stacks open, after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _reset_pools() -> Iterator[None]:
    yield
    from llmwarm import pool

    pool._reset()
