"""``python -m llmwarm.tools.demo --markdown [--write FILE ...]``: demo figures from a run.

Runs the default demo (virtual time: the same figures on any machine) and prints the
table as the README shows it, at 80 columns; with ``--write``, replaces the text between
the ``<!-- demo-figures:start -->`` and ``<!-- demo-figures:end -->`` markers of each
file. A test checks that the README's block is what a run prints, so published figures
never drift from the code. Without ``--markdown``, this is ``llmwarm demo``.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmwarm.tools.demo import add_arguments, run
from llmwarm.tools.demo._run import run_demo
from llmwarm.tools.demo._setups import DemoConfig

START = "<!-- demo-figures:start -->"
END = "<!-- demo-figures:end -->"
WIDTH = 80


def figures(config: DemoConfig | None = None) -> str:
    """Run the demo and return its table, rendered at 80 columns, in a ``text`` fence."""
    config = config or DemoConfig()
    return render(config, [r.summary() for r in run_demo(config)])


def render(config: DemoConfig, summaries: list[dict[str, Any]]) -> str:
    """Return the table of a run's ``summaries``, at 80 columns, in a ``text`` fence."""
    from rich.console import Console

    from llmwarm.tools.demo import _report

    out = io.StringIO()
    _report.render_table(summaries, config, Console(file=out, width=WIDTH, color_system=None))
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    return "```text\n" + "\n".join(lines) + "\n```"


def replace_block(text: str, block: str, name: str) -> str:
    """Return ``text`` with the part between the markers replaced by ``block``."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{name}: no {START} ... {END} markers to replace")
    return text[: start + len(START)] + "\n" + block + "\n" + text[end:]


def main(argv: Sequence[str] | None = None) -> int:
    """Print (or write) the docs' demo figures; without ``--markdown``, run the demo."""
    parser = argparse.ArgumentParser(prog="python -m llmwarm.tools.demo")
    parser.add_argument("--markdown", action="store_true", help="print the docs' figures")
    parser.add_argument(
        "--write", nargs="+", metavar="FILE", help="replace the figures between the markers"
    )
    known, rest = parser.parse_known_args(argv)
    if not known.markdown:
        demo = argparse.ArgumentParser(prog="python -m llmwarm.tools.demo")
        add_arguments(demo)
        return run(demo.parse_args(rest))
    block = figures()
    if not known.write:
        print(block)
        return 0
    for name in known.write:
        path = Path(name)
        path.write_text(replace_block(path.read_text(encoding="utf-8"), block, name), "utf-8")
        print(f"updated {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
