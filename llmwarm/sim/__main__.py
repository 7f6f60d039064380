"""``python -m llmwarm.sim``: run the cold-start simulator (same options as ``llmwarm sim``)."""

from __future__ import annotations

import argparse
import sys

from llmwarm.sim.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the simulator until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m llmwarm.sim",
        description="A local OpenAI- and Ollama-compatible server that simulates cold starts.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
