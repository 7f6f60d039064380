"""``llmwarm demo``: see cold starts disappear, on the built-in simulator, with no API key.

The demo replays the same realistic traffic (sparse requests over three simulated working
days with quiet nights, repeated questions, a few bursts) through three set-ups, each with
its own simulator, in virtual time (the same seed gives the same figures on any machine):
a plain client, the common recipe (a pooled client and a ping every keep-alive seconds),
and an llmwarm stack. It ends with a table of cold starts, latency percentiles (in
simulated seconds), pings, upstream calls and cache hits. Every figure comes from the run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from llmwarm.tools.demo._run import SetupResult, run_demo
from llmwarm.tools.demo._setups import SETUP_NAMES, DemoConfig

__all__ = ["DemoConfig", "SetupResult", "add_arguments", "run", "run_demo"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``llmwarm demo`` options to ``parser``."""
    defaults = DemoConfig()
    parser.add_argument(
        "--requests", type=int, default=defaults.requests, help="user requests a day"
    )
    parser.add_argument(
        "--days",
        type=int,
        default=defaults.days,
        help="working days, with silent nights between (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the traffic")
    # Before virtual time, the clock was compressed by this factor; the option is still
    # accepted (and checked) so that existing scripts keep working, and has no effect.
    parser.add_argument("--time-scale", type=float, default=None, help=argparse.SUPPRESS)
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
    if args.days < 1:
        raise SystemExit(f"llmwarm demo: --days must be at least 1, got {args.days}")
    if args.time_scale is not None:
        if not 0 < args.time_scale <= 1:
            raise SystemExit(f"llmwarm demo: --time-scale must be in (0, 1], got {args.time_scale}")
        print(
            "llmwarm demo: --time-scale is ignored: the demo now runs in virtual time",
            file=sys.stderr,
        )
    return DemoConfig(requests=args.requests, seed=args.seed, days=args.days)


def run(args: argparse.Namespace) -> int:
    """Run ``llmwarm demo`` with parsed arguments; return the exit code."""
    from llmwarm.tools.demo import _report

    config = _validate(args)
    total = config.requests * config.days
    with _report.Progress(SETUP_NAMES, total, quiet=args.json) as progress:
        results = run_demo(config, on_done=progress.advance, traces=args.traces)
    summaries = [r.summary() for r in results]
    if args.json:
        print(json.dumps({"setups": summaries, "config": dataclasses.asdict(config)}))
    else:
        _report.render_table(summaries, config)
    if args.plot:
        _report.plot(results, args.plot)
        print(f"latency chart written to {args.plot}", file=sys.stderr)
    return 0
