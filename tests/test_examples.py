"""The examples stay runnable: each is run as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_runs_against_the_simulator() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4
    assert lines[-1].startswith("3 requests, ")
    assert "1 from the cache" in lines[-1]  # the repeated question
    assert lines[1].split("->")[1] == lines[2].split("->")[1]  # the same answer, replayed


def test_ollama_example_runs_against_the_simulator() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "ollama_pooled.py")],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all("->" in line for line in lines[:2])
    assert lines[-1] == "one client: True"
