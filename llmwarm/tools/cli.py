"""The ``llmwarm`` command: ``demo``, ``replay``, ``probe``, ``sim``, ``check-config``, ``bench``.

Each subcommand lives in its own module, exposing ``add_arguments(parser)`` and
``run(args) -> int``; this module only mounts them. A subcommand's module (and the extras
it needs) is imported only when that subcommand runs, so ``llmwarm --help`` is instant and
works without the ``cli`` extra.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("llmwarm.tools.demo", "replay days of traffic through three set-ups on the simulator"),
    "replay": ("llmwarm.tools.replay", "replay your own request log: no warming, a cron, llmwarm"),
    "probe": ("llmwarm.tools.probe", "measure an endpoint's cold start and unload window"),
    "sim": ("llmwarm.sim.cli", "run the cold-start simulator (OpenAI- and Ollama-compatible)"),
    "check-config": ("llmwarm.config._from_config", "validate an llmwarm YAML configuration file"),
    "bench": ("llmwarm.tools.bench", "run the benchmarks (from a source checkout)"),
}


def _subcommand_parser(name: str, prog: str) -> argparse.ArgumentParser:
    module_name, description = SUBCOMMANDS[name]
    parser = argparse.ArgumentParser(prog=f"{prog} {name}", description=description)
    module = importlib.import_module(module_name)
    module.add_arguments(parser)
    parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``llmwarm`` command line and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = argparse.ArgumentParser(
        prog="llmwarm",
        description="Remove cold-start latency from LLM API calls.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="subcommands:\n"
        + "\n".join(f"  {name:<13} {help_}" for name, (_, help_) in SUBCOMMANDS.items())
        + "\n\nRun `llmwarm SUBCOMMAND --help` for its options.",
    )
    top.add_argument("--version", action="store_true", help="print the version and exit")
    top.add_argument("subcommand", nargs="?", choices=sorted(SUBCOMMANDS), metavar="SUBCOMMAND")
    known, rest = top.parse_known_args(argv[:1])
    if known.version:
        from llmwarm import __version__

        print(__version__)
        return 0
    if known.subcommand is None:
        top.print_help()
        return 2
    try:
        parser = _subcommand_parser(known.subcommand, top.prog)
    except ImportError as exc:
        missing = exc.name or str(exc)
        print(
            f"llmwarm {known.subcommand}: needs {missing!r}; install the extras with "
            "`pip install 'llmwarm[all]'`",
            file=sys.stderr,
        )
        return 2
    args = parser.parse_args(rest + argv[1:])
    code: int = args._run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
