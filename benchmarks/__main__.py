"""Run every benchmark: ``python -m benchmarks [--quick] [--only NAME ...]``.

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool) -> dict``. Every timing
it reports is a ratio against a reference measured in the same run (these machines are
shared and noisy), or a count. The results go to ``benchmarks/results/latest.json`` and,
as a Markdown table, ``benchmarks/results/latest.md``, which the docs include. A quick
run (CI) writes ``quick.json``/``quick.md`` instead, so it never overwrites the published
figures.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def discover() -> list[str]:
    """Names of the benchmark modules, in a stable order."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Turn nested results into ``(dotted.name, value)`` rows for the table."""
    if isinstance(value, dict) and set(value) == {"median", "min", "max"}:
        # A repeated measurement: one row, "median (min-max)".
        return [(prefix, f"{fmt(value['median'])} ({fmt(value['min'])}-{fmt(value['max'])})")]
    if isinstance(value, dict) and set(value) == {"median", "q1", "q3"}:
        # Paired ratios: one row, "median [interquartile range]".
        return [(prefix, f"{fmt(value['median'])} [{fmt(value['q1'])}-{fmt(value['q3'])}]")]
    if isinstance(value, dict):
        rows: list[tuple[str, Any]] = []
        for key, item in value.items():
            rows.extend(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        rows = []
        for index, item in enumerate(value):
            label = item.get("name") or item.get("case") or str(index)
            rows.extend(
                flatten(
                    {k: v for k, v in item.items() if k not in ("name", "case")},
                    f"{prefix}[{label}]",
                )
            )
        return rows
    return [(prefix, value)]


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    """The published table: one section per benchmark."""
    meta = report["machine"]
    lines = [
        f"Measured {report['date']} on {meta['cores']} cores ({meta['platform']}, "
        f"Python {meta['python']}), {'quick mode' if report['quick'] else 'full run'}, "
        f"with `{report['command']}`. Ratios are against a reference timed in the same run.",
        "",
    ]
    for name, result in report["benchmarks"].items():
        lines += [f"### {name.removeprefix('bench_')}", ""]
        if "error" in result and len(result) <= 2:
            lines += [f"failed: `{result['error']}`", ""]
            continue
        table = result.get("table")  # a benchmark's own table: a header row, then rows
        rest = {k: v for k, v in result.items() if k != "table"}
        lines += ["| measure | value |", "| --- | --- |"]
        lines += [f"| {key} | {fmt(value)} |" for key, value in flatten(rest)]
        lines.append("")
        if table:
            lines += ["| " + " | ".join(map(str, row)) + " |" for row in table[:1]]
            lines += ["|" + " --- |" * len(table[0])]
            lines += ["| " + " | ".join(map(str, row)) + " |" for row in table[1:]]
            lines.append("")
    return "\n".join(lines)


def render(stem: str) -> None:
    """Rewrite ``results/<stem>.md`` from ``results/<stem>.json`` (after a format change)."""
    report = json.loads((RESULTS / f"{stem}.json").read_text())
    (RESULTS / f"{stem}.md").write_text(markdown(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (CI)")
    parser.add_argument("--only", nargs="*", help="run only these (e.g. cache warm)")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite the Markdown table from the JSON"
    )
    args = parser.parse_args(argv)
    if args.render:
        render("quick" if args.quick else "latest")
        return 0
    names = discover()
    if args.only:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
        unknown = wanted - set(names)
        if unknown:
            parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {names}")
        names = [n for n in names if n in wanted]
    report: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
        "command": "make bench-quick" if args.quick else "make bench",
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "python": platform.python_version(),
        },
        "benchmarks": {},
    }
    failed = []
    for name in names:
        started = time.perf_counter()
        print(f"{name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            result = module.run(quick=args.quick)
        except Exception as exc:
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(name)
        result["seconds"] = round(time.perf_counter() - started, 1)
        report["benchmarks"][name] = result
        print(f"{name}: {result['seconds']} s", file=sys.stderr, flush=True)
    RESULTS.mkdir(exist_ok=True)
    stem = "quick" if args.quick else "latest"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    print(f"wrote {RESULTS / stem}.json and .md", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
