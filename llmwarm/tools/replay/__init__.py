"""``llmwarm replay FILE``: what llmwarm would save on your own traffic.

Reads the request times of your own log (CSV or JSON lines with a timestamp column, or an
OTLP/JSON span export) and replays them, in virtual time, against the built-in simulator
of a cold-starting provider three ways: no warming, the best fixed-interval cron, and
``@warm`` with its default policy. Prints cold-start rate, p50/p99 latency, pings, ping
tokens and ping cost per day for each; ``--plot`` draws them. See ``docs/replay.md``.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from llmwarm._core import ConfigError, LogFormatError
from llmwarm.tools.replay._compare import Costs, Outcome, compare
from llmwarm.tools.replay._parse import RequestLog, parse_timestamp, read_log

__all__ = [
    "Costs",
    "Outcome",
    "RequestLog",
    "add_arguments",
    "compare",
    "parse_timestamp",
    "read_log",
    "run",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``llmwarm replay`` options to ``parser``."""
    costs = Costs()
    parser.add_argument("file", metavar="FILE", help="request log: CSV, JSON lines or OTLP/JSON")
    parser.add_argument(
        "--column", metavar="NAME", help="timestamp column or key (default: detected)"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse out-of-order timestamps (default: sort them, and say so)",
    )
    parser.add_argument(
        "--keep-alive", type=float, default=300.0, metavar="S",
        help="provider unload window, seconds (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--cold-start", type=float, default=14.0, metavar="S",
        help="provider load time, seconds (%(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--cron", type=float, metavar="S",
        help="the cron's interval, seconds (default: the cheapest that does as well as "
        "llmwarm, from keep-alive - 5 s up)",
    )  # fmt: skip
    parser.add_argument(
        "--budget",
        type=float,
        default=0.01,
        metavar="RATE",
        help="cold-start rate a cron must meet to count as doing as well (%(default)s)",
    )
    parser.add_argument(
        "--warm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a @warm keyword argument (repeatable), e.g. --warm interval=240",
    )
    parser.add_argument(
        "--provider",
        choices=("openai", "ollama"),
        default="openai",
        help="API the pings use; ollama pings are preloads that may set the window",
    )
    for flag, kind, default, metavar, text in (
        ("--ping-input-tokens", int, costs.input_tokens, "N", "input tokens a ping costs"),
        ("--ping-output-tokens", int, costs.output_tokens, "N", "output tokens a ping costs"),
        ("--input-price", float, costs.input_price, "USD", "$ per million input tokens"),
        ("--output-price", float, costs.output_price, "USD", "$ per million output tokens"),
    ):
        parser.add_argument(
            flag, type=kind, default=default, metavar=metavar, help=f"{text} (%(default)s)"
        )
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    parser.add_argument("--plot", metavar="FILE.png", help="write a chart of the three replays")


def _warm_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"llmwarm replay: --warm takes KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value  # a plain string, e.g. interval=auto
    return options


def _check(args: argparse.Namespace) -> None:
    for flag in ("keep_alive", "cold_start"):
        value = getattr(args, flag)
        if not value > 0:
            raise SystemExit(f"llmwarm replay: --{flag.replace('_', '-')} must be > 0, got {value}")
    if args.cron is not None and not args.cron > 0:
        raise SystemExit(f"llmwarm replay: --cron must be > 0, got {args.cron}")
    if not 0 <= args.budget < 1:
        raise SystemExit(f"llmwarm replay: --budget must be in [0, 1), got {args.budget}")


def run(args: argparse.Namespace) -> int:
    """Run ``llmwarm replay`` with parsed arguments; return the exit code."""
    _check(args)
    warm = _warm_options(args.warm)
    costs = Costs(
        args.ping_input_tokens, args.ping_output_tokens, args.input_price, args.output_price
    )
    try:
        log = read_log(args.file, column=args.column, strict=args.strict)
    except LogFormatError as exc:
        print(f"llmwarm replay: {exc}", file=sys.stderr)
        return 2
    if log.out_of_order:
        print(
            f"llmwarm replay: note: {log.out_of_order} timestamp(s) earlier than the one "
            f"before them (first at line {log.first_out_of_order}); replaying them sorted",
            file=sys.stderr,
        )

    def step(name: str) -> None:
        if not args.json:
            print(f"replaying {len(log.times)} requests: {name} ...", file=sys.stderr)

    try:
        outcomes = compare(
            log.times,
            keep_alive=args.keep_alive,
            cold_start=args.cold_start,
            warm=warm,
            cron=args.cron,
            budget=args.budget,
            provider=args.provider,
            on_step=step,
        )
    except (ConfigError, TypeError, ValueError) as exc:
        print(f"llmwarm replay: {exc}", file=sys.stderr)
        return 2
    summaries = [o.summary(costs) for o in outcomes]
    if args.json:
        print(json.dumps({"log": _describe(log), "setups": summaries}))
    else:
        from llmwarm.tools.replay import _report

        _report.render_table(summaries, log, args)
    if args.plot:
        from llmwarm.tools.replay import _report

        _report.plot(outcomes, log, args.plot)
        print(f"chart written to {args.plot}", file=sys.stderr)
    return 0


def _describe(log: RequestLog) -> dict[str, Any]:
    return {
        "source": log.source,
        "format": log.format,
        "column": log.column,
        "requests": len(log.times),
        "origin": log.origin.isoformat(),
        "span_s": log.span_s,
        "out_of_order": log.out_of_order,
    }
