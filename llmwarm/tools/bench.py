"""``llmwarm bench``: run the benchmarks of a source checkout (``python -m benchmarks``).

The benchmarks are not installed with the package: they live in the repository's
``benchmarks/`` folder next to ``pyproject.toml``. This subcommand finds that folder from
the current directory upwards and runs it with the same interpreter.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

__all__ = ["add_arguments", "find_checkout", "run"]


def find_checkout(start: Path) -> Path | None:
    """Return the nearest folder at or above ``start`` holding ``benchmarks/__main__.py``."""
    for folder in (start, *start.parents):
        if (folder / "benchmarks" / "__main__.py").is_file():
            return folder
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``llmwarm bench`` options to ``parser``."""
    parser.add_argument("--quick", action="store_true", help="a run of seconds (as in CI)")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these benchmarks")


def run(args: argparse.Namespace) -> int:
    """Run the benchmarks; return their exit code."""
    root = find_checkout(Path.cwd())
    if root is None:
        print(
            "llmwarm bench: no benchmarks/ folder here or above; run it from a source "
            "checkout of llmwarm",
            file=sys.stderr,
        )
        return 2
    command = [sys.executable, "-m", "benchmarks"]
    if args.quick:
        command.append("--quick")
    if args.only:
        command += ["--only", *args.only]
    return subprocess.call(command, cwd=root)
