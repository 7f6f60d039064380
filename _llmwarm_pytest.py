"""The pytest plugin of :mod:`llmwarm.testing` (registered as the ``llmwarm`` pytest11 plugin).

A top-level module, outside the ``llmwarm`` package: pytest imports every pytest11
plugin at start-up in each project that has llmwarm installed, and importing anything
inside ``llmwarm`` would import the whole library (its ``__init__``) there.

Fixtures: ``llmwarm_reset`` (a fresh runtime before and after the test) and
``fake_clock`` (a :class:`~llmwarm.testing.FakeClock` installed for the test, with the
same resets). The ini option ``llmwarm_reset = true`` resets around every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from llmwarm.testing import FakeClock

# llmwarm itself is imported by a fixture, never at module level: pytest loads this plugin
# in every run of a project that has llmwarm installed, before coverage tools start.


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``llmwarm_reset`` ini option."""
    parser.addini(
        "llmwarm_reset",
        "Reset llmwarm's runtime (warmers, pools, caches, statistics) around every test.",
        type="bool",
        default=False,
    )


@pytest.fixture
def llmwarm_reset() -> Iterator[None]:
    """Give llmwarm's runtime fresh state before the test, and again after it."""
    from llmwarm import testing

    testing.reset()
    yield
    testing.reset()


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    """Install a :class:`~llmwarm.testing.FakeClock` for the test (the runtime reset around it)."""
    from llmwarm import testing

    with testing.fake_clock() as clock:
        yield clock


@pytest.fixture(autouse=True)
def _llmwarm_autoreset(request: pytest.FixtureRequest) -> None:
    # Opt-in: a project that sets `llmwarm_reset = true` gets the reset around every test.
    if request.config.getini("llmwarm_reset"):
        request.getfixturevalue("llmwarm_reset")
