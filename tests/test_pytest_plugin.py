"""The ``llmwarm`` pytest plugin loads in every project with llmwarm installed: cheaply."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TEST = """
import sys

def test_collected_without_llmwarm():
    loaded = sorted(name for name in sys.modules if name.split(".")[0] == "llmwarm")
    assert loaded == []

def test_its_fixtures_import_llmwarm_when_used(fake_clock):
    assert "llmwarm.testing" in sys.modules
    assert fake_clock.now == 1000.0
"""


def test_pytest_start_up_imports_no_llmwarm_module(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_user=USER_TEST)
    # A new interpreter: this one has imported llmwarm already.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-q")
    result.assert_outcomes(passed=2)
