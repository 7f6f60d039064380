"""`llmwarm demo`: a short real run through the CLI, checked by its own accounting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmwarm.demo._run import percentile
from llmwarm.demo._traffic import QUESTIONS, make_traffic

REQUESTS = 30


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    plot = tmp_path_factory.mktemp("demo") / "latency.png"
    done = subprocess.run(
        [sys.executable, "-m", "llmwarm.cli", "demo", "--requests", str(REQUESTS), "--json",
         "--plot", str(plot)],
        capture_output=True, text=True, timeout=240, check=True,
    )  # fmt: skip
    return json.loads(done.stdout), plot, done.stderr


def test_json_is_the_only_thing_on_stdout_and_has_every_figure(demo: tuple) -> None:
    report, _, _ = demo
    assert set(report) == {"setups", "config"}
    assert [s["name"] for s in report["setups"]] == ["plain", "recipe", "llmwarm"]
    keys = {"name", "requests", "cold_starts", "cold_start_rate", "p50_s", "p95_s", "p99_s",
            "pings", "upstream_calls", "cache_hits"}  # fmt: skip
    for setup in report["setups"]:
        assert keys <= set(setup)
        assert setup["requests"] == REQUESTS
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


def test_the_plot_is_a_png(demo: tuple) -> None:
    _, plot, stderr = demo
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "latency chart written" in stderr


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--requests", "0", "--requests must be at least 1"),
     ("--time-scale", "2", "--time-scale must be in (0, 1]")],
)  # fmt: skip
def test_bad_options_are_refused_by_name(flag: str, value: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llmwarm.cli", "demo", flag, value],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert message in done.stderr


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
