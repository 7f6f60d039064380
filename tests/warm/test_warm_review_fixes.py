"""Regressions of @warm found in the review after the package layout change."""

from __future__ import annotations

import sys

from llmwarm.warm import _warm


def test_no_dead_default_interval_constant() -> None:
    # DEFAULT_INTERVAL (300 s) was used by nothing since the policy became the default,
    # and its docstring described another constant: it misled readers of the API page.
    assert not hasattr(_warm, "DEFAULT_INTERVAL")
    assert "DEFAULT_INTERVAL" not in sys.modules["llmwarm.warm"].__all__
