"""Stop the warmers and pools that config-built stacks start, after each test."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _reset_warmers_and_pools() -> Iterator[None]:
    yield
    # `llmwarm.warm` is also the decorator's name in the package: import the module itself.
    importlib.import_module("llmwarm.warm._warm")._reset()
    importlib.import_module("llmwarm.pool._pooled")._reset()
