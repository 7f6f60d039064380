"""`llmwarm demo`: a short real run through the CLI, checked by its own accounting."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from llmwarm.tools import cli
from llmwarm.tools.demo import __main__ as figures_script
from llmwarm.tools.demo import _report
from llmwarm.tools.demo._run import SetupResult, percentile, run_demo
from llmwarm.tools.demo._setups import DemoConfig
from llmwarm.tools.demo._traffic import QUESTIONS, make_traffic, working_days

REQUESTS = 30
# Under pytest-xdist (`make test`, `--dist loadfile`) this file runs on one worker, and
# the runs are kept per process: xdist may tear module fixtures down between the batches
# of tests it hands a worker, and they must run once.
_RUNS: dict[str, Any] = {}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    if "cli" not in _RUNS:
        plot = tmp_path_factory.mktemp("demo") / "latency.png"
        done = subprocess.run(
            [sys.executable, "-m", "llmwarm.tools.cli", "demo", "--requests", str(REQUESTS),
             "--days", "1", "--json", "--plot", str(plot)],
            capture_output=True, text=True, timeout=240, check=True,
        )  # fmt: skip
        _RUNS["cli"] = (json.loads(done.stdout), plot, done.stderr)
    result: tuple[dict, Path, str] = _RUNS["cli"]
    return result


def test_json_is_the_only_thing_on_stdout_and_has_every_figure(demo: tuple) -> None:
    report, _, _ = demo
    assert set(report) == {"setups", "config"}
    assert [s["name"] for s in report["setups"]] == ["plain", "recipe", "llmwarm"]
    keys = {"name", "requests", "cold_starts", "cold_start_rate", "p50_s", "p95_s", "p99_s",
            "pings", "upstream_calls", "cache_hits"}  # fmt: skip
    for setup in report["setups"]:
        assert keys <= set(setup)
        assert setup["requests"] == REQUESTS  # --days 1
        assert setup["errors"] == 0
        assert setup["cold_start_rate"] == pytest.approx(setup["cold_starts"] / REQUESTS)
        assert 0 <= setup["p50_s"] <= setup["p95_s"] <= setup["p99_s"]
    assert report["config"]["requests"] == REQUESTS


def test_upstream_calls_add_up_from_the_simulators_own_counts(demo: tuple) -> None:
    plain, recipe, ours = demo[0]["setups"]
    # The simulator counts every request it served; each set-up's own counters must
    # explain them exactly: user requests that reached it, plus pings.
    assert (plain["pings"], plain["cache_hits"], plain["upstream_calls"]) == (0, 0, REQUESTS)
    assert recipe["cache_hits"] == 0
    assert recipe["upstream_calls"] == REQUESTS + recipe["pings"]
    assert ours["upstream_calls"] == REQUESTS - ours["cache_hits"] + ours["pings"]


def test_llmwarm_removes_cold_starts_that_the_plain_client_pays(demo: tuple) -> None:
    report = demo[0]
    plain, _, ours = report["setups"]
    ttl = report["config"]["cache_ttl"]

    def hits_with_ttl(seconds: float) -> int:
        # A miss stores the answer; a repeat is a hit until that answer is `seconds` old
        # (hits do not refresh it), then the next repeat misses and stores again.
        stored: dict[str, float] = {}
        hits = 0
        for request in make_traffic(REQUESTS, seed=report["config"]["seed"]):
            when = stored.get(request.question)
            if when is not None and request.at - when < seconds:
                hits += 1
            else:
                stored[request.question] = request.at
        return hits

    # Give or take the first answer's own latency (at most a cold start) at the boundary.
    low, high = hits_with_ttl(ttl - 20), hits_with_ttl(ttl + 20)
    assert 0 < low <= ours["cache_hits"] <= high
    assert plain["cold_starts"] > ours["cold_starts"]
    assert plain["p95_s"] > ours["p95_s"]
    assert ours["pings"] > 0


def test_llmwarm_has_the_lowest_cold_start_rate_and_p99(demo: tuple) -> None:
    plain, recipe, ours = demo[0]["setups"]
    assert ours["cold_starts"] <= min(plain["cold_starts"], recipe["cold_starts"])
    assert ours["p99_s"] <= min(plain["p99_s"], recipe["p99_s"])
    # And fewer calls reach the provider, pings included: the cache answers repeats.
    assert ours["upstream_calls"] < recipe["upstream_calls"]


def test_the_plot_is_a_png(demo: tuple) -> None:
    _, plot, stderr = demo
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "latency chart written" in stderr


def test_the_table_fits_an_80_column_terminal_without_cutting_a_cell(demo: tuple) -> None:
    summaries = demo[0]["setups"]
    out = io.StringIO()
    config = DemoConfig(requests=REQUESTS, days=1)
    _report.render_table(summaries, config, Console(file=out, width=80))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for word in ("set-up", "upstream", "recipe", "llmwarm", "hits"):
        assert word in text
    for setup in summaries:  # every figure is printed whole
        assert f"{setup['p99_s']:.2f}" in text
        assert str(setup["upstream_calls"]) in text


def test_a_narrow_terminal_folds_cells_instead_of_eliding_them(demo: tuple) -> None:
    out = io.StringIO()
    _report.render_table(demo[0]["setups"], DemoConfig(), Console(file=out, width=60))
    assert "…" not in out.getvalue()


SEEDED = DemoConfig(requests=25, seed=11, days=1)


@pytest.fixture(scope="module")
def seeded_results() -> list[SetupResult]:
    """A short demo run (:data:`SEEDED`) on a quiet machine, shared by the tests below."""
    if "seeded" not in _RUNS:
        _RUNS["seeded"] = run_demo(SEEDED)
    results: list[SetupResult] = _RUNS["seeded"]
    return results


def test_the_same_seed_gives_the_same_figures_whatever_the_machine_does(
    seeded_results: list[SetupResult],
) -> None:
    # Virtual time: CPU time costs no simulated time, so a busy machine changes nothing.
    # Burn CPU in a thread during one of the runs to show that load cannot move a figure.
    quiet = [r.summary() for r in seeded_results]
    stop = threading.Event()

    def burn() -> None:
        while not stop.is_set():
            sum(range(10_000))

    burner = threading.Thread(target=burn, daemon=True)
    burner.start()
    try:
        busy = [r.summary() for r in run_demo(SEEDED)]
    finally:
        stop.set()
        burner.join(timeout=10)
    assert busy == quiet
    assert quiet[2]["cache_hits"] > 0
    assert [r.summary() for r in run_demo(DemoConfig(requests=25, seed=12, days=1))] != quiet


def test_the_chart_labels_cache_answers_apart_from_warm_and_cold_calls(
    seeded_results: list[SetupResult],
) -> None:
    import matplotlib.pyplot as plt

    results = [r for r in seeded_results if r.name == "llmwarm"]
    (ours,) = results
    assert sum(ours.cached) == ours.cache_hits > 0  # per-request flags match the counter
    figure = _report.chart(results)
    try:
        labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    finally:
        plt.close(figure)
    assert labels[:2] == ["warm", "cold start"]
    assert labels[2].startswith("answered by the cache")


@pytest.fixture(scope="module")
def default_results() -> list[SetupResult]:
    """The demo as `llmwarm demo` runs it: the default config (three working days)."""
    if "default" not in _RUNS:
        _RUNS["default"] = run_demo(DemoConfig())
    results: list[SetupResult] = _RUNS["default"]
    return results


@pytest.fixture(scope="module")
def default_run(default_results: list[SetupResult]) -> list[dict]:
    """The summaries of :func:`default_results`."""
    return [r.summary() for r in default_results]


def test_by_default_llmwarm_pings_less_than_the_recipe_and_is_never_colder(
    default_run: list[dict],
) -> None:
    plain, recipe, ours = default_run
    assert ours["pings"] < recipe["pings"]  # it learns the quiet nights; the recipe cannot
    assert ours["cold_starts"] <= min(plain["cold_starts"], recipe["cold_starts"])
    assert ours["p99_s"] <= min(plain["p99_s"], recipe["p99_s"])
    assert ours["upstream_calls"] == ours["requests"] - ours["cache_hits"] + ours["pings"]


def test_readme_and_docs_figures_are_those_of_a_real_run(default_run: list[dict]) -> None:
    block = figures_script.render(DemoConfig(), default_run)
    root = Path(__file__).resolve().parent.parent
    for name in ("README.md", "docs/demo.md"):
        text = (root / name).read_text(encoding="utf-8")
        assert figures_script.replace_block(text, block, name) == text, (
            f"{name}: the demo figures are stale; run `python -m llmwarm.tools.demo --markdown "
            "--write README.md docs/demo.md`"
        )


def test_the_figures_script_replaces_only_the_marked_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default_results: list[SetupResult]
) -> None:
    # The script runs the default demo; the module already ran it (virtual time: the
    # same figures every run), so hand it that run instead of repeating it.
    def run_default(config: DemoConfig) -> list[SetupResult]:
        assert config == DemoConfig()
        return default_results

    monkeypatch.setattr(figures_script, "run_demo", run_default)
    page = tmp_path / "page.md"
    page.write_text(f"before\n{figures_script.START}\nstale figures\n{figures_script.END}\nafter\n")
    assert figures_script.main(["--markdown", "--write", str(page)]) == 0
    text = page.read_text()
    assert text.startswith(f"before\n{figures_script.START}\n```text\n")
    assert text.endswith(f"```\n{figures_script.END}\nafter\n")
    assert "llmwarm:" in text
    assert "stale figures" not in text
    with pytest.raises(SystemExit, match="no <!-- demo-figures:start -->"):
        figures_script.replace_block("no markers", "x", "page.md")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--requests", "0", "--requests must be at least 1"),
     ("--days", "0", "--days must be at least 1"),
     ("--time-scale", "2", "--time-scale must be in (0, 1]")],
)  # fmt: skip
def test_bad_options_are_refused_by_name(flag: str, value: str, message: str) -> None:
    # In this process: `python -m llmwarm.tools.cli` is run once above (the `demo`
    # fixture), and the interpreter prints a SystemExit's message to stderr and exits 1.
    with pytest.raises(SystemExit) as refused:
        cli.main(["demo", flag, value])
    assert refused.value.code not in (0, None)
    assert message in str(refused.value.code)


def test_working_days_repeat_the_rhythm_with_silent_nights() -> None:
    days = working_days(50, days=3, seed=3)
    assert len(days) == 150
    assert [r.at for r in days] == sorted(r.at for r in days)
    assert [r.at for r in days[:50]] == [r.at for r in make_traffic(50, seed=3)]
    assert [round(r.at - 86_400, 3) for r in days[50:100]] == [
        r.at for r in make_traffic(50, seed=4)
    ]
    assert days[50].at - days[49].at > 6 * 3600  # a night with no request


def test_traffic_is_seeded_sparse_and_repeats_questions() -> None:
    first, again = make_traffic(200, seed=3), make_traffic(200, seed=3)
    assert first == again
    assert all(r.question in QUESTIONS for r in first)
    assert [r.at for r in first] == sorted(r.at for r in first)
    assert len({r.question for r in first}) < 200  # popular questions come back
    assert make_traffic(200, seed=4) != first


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(range(101)), 99) == 99
