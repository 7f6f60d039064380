"""The pytest plugin's former path, for installs whose entry point still names it.

The plugin is the top-level module ``_llmwarm_pytest`` (importing it imports no llmwarm
module); the ``llmwarm`` pytest11 entry point names that one.
"""

from __future__ import annotations

from _llmwarm_pytest import _llmwarm_autoreset, fake_clock, llmwarm_reset, pytest_addoption

__all__ = ["_llmwarm_autoreset", "fake_clock", "llmwarm_reset", "pytest_addoption"]
