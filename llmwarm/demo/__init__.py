"""``llmwarm demo``: see cold starts disappear, on the built-in simulator, with no API key.

The demo runs each of three set-ups in its own process, each with its own simulator on a
compressed clock, and replays the same realistic traffic (sparse requests over a
simulated working day, repeated questions, a few bursts) through all three at once: a
plain client, the common recipe (a pooled client and a ping every keep-alive seconds),
and an llmwarm stack. It ends with a table of requests, cold starts, latency percentiles
(in simulated seconds), pings, upstream calls and cache hits. Every figure comes from
the run itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from llmwarm.demo._run import SetupResult, run_demo
from llmwarm.demo._setups import SETUP_NAMES, DemoConfig

__all__ = ["DemoConfig", "SetupResult", "add_arguments", "run", "run_demo"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``llmwarm demo`` options to ``parser``."""
    defaults = DemoConfig()
    parser.add_argument(
        "--requests", type=int, default=defaults.requests, help="user requests to replay"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the traffic")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="real seconds per simulated second (default %(default)s: a simulated hour "
        "takes 3.6 s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    parser.add_argument("--plot", metavar="FILE.png", help="write a latency chart")
    parser.add_argument(
        "--traces",
        action="store_true",
        help="export spans: over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else to stderr",
    )


def _validate(args: argparse.Namespace) -> DemoConfig:
    if args.requests < 1:
        raise SystemExit(f"llmwarm demo: --requests must be at least 1, got {args.requests}")
    if not 0 < args.time_scale <= 1:
        raise SystemExit(f"llmwarm demo: --time-scale must be in (0, 1], got {args.time_scale}")
    return DemoConfig(requests=args.requests, seed=args.seed, time_scale=args.time_scale)


def run(args: argparse.Namespace) -> int:
    """Run ``llmwarm demo`` with parsed arguments; return the exit code."""
    from llmwarm.demo import _report

    config = _validate(args)
    with _report.Progress(SETUP_NAMES, config.requests, quiet=args.json) as progress:
        results = run_demo(config, on_done=progress.advance, traces=args.traces)
    summaries = [r.summary() for r in results]
    if args.json:
        print(json.dumps({"setups": summaries, "config": dataclasses.asdict(config)}))
    else:
        _report.print_table(summaries, config)
    if args.plot:
        _report.plot(results, args.plot)
        print(f"latency chart written to {args.plot}", file=sys.stderr)
    return 0
