"""llmwarm probe against the simulator, whose unload window (keep_alive) is known."""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from llmwarm.sim import SimServer, serve
from llmwarm.tools import probe as probe_module
from llmwarm.tools.probe import ProbeError, friendly_floor, probe

SCALE = 0.003  # 300 simulated seconds take 0.9 s
KEEP_ALIVE = 300.0


class SkippingClock:
    """The simulator's clock, real time plus every gap the probe was told to sleep.

    The probe's sweep idles for minutes of simulated time between its calls; slept for
    real, a sweep took about 9 s. Handed the probe as its ``sleep``, this moves the
    simulator's clock over each gap at once instead: the model still unloads after
    exactly its keep-alive of simulated idleness (the simulator reads its clock at each
    request), while the calls themselves, cold starts included, still take real time, so
    the probe measures them as it measures a real endpoint.
    """

    def __init__(self) -> None:
        self.skipped = 0.0
        self.server: SimServer | None = None

    def monotonic(self) -> float:
        """Real monotonic seconds, plus every gap skipped so far."""
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        """Pass ``seconds`` of the simulator's time without waiting for them."""
        # The client has read a streamed answer to its end a moment before the server
        # releases the model, and the keep-alive counts from that release: a jump made
        # first would be counted as time the model was busy. Wait for the release.
        if self.server is not None:
            models = self.server.app.state.sim.registry.state
            deadline = time.monotonic() + 30
            while models("m").active and time.monotonic() < deadline:
                time.sleep(0.001)
        self.skipped += seconds


@pytest.fixture
def skipping() -> SkippingClock:
    return SkippingClock()


@pytest.fixture
def sim(skipping: SkippingClock) -> Iterator[SimServer]:
    # A long cold start puts the cold threshold (the geometric mean of a cold and a warm
    # call) at about 25 ms of real time: a loaded machine's scheduling delay on a warm
    # call stays under it, where a 60 s cold start left only about 14 ms.
    with serve(
        cold_start=200,
        keep_alive=KEEP_ALIVE,
        ttft=0.3,
        time_scale=SCALE,
        seed=0,
        api_key="sk-probe-secret-123",
        known_models=["m"],
        clock=skipping.monotonic,
    ) as root:
        skipping.server = root
        yield root


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PROBE_TEST_KEY", "sk-probe-secret-123")
    return "PROBE_TEST_KEY"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    probe_module.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_sweep_recovers_the_keep_alive(
    sim: SimServer,
    key: str,
    kind: str,
    capsys: pytest.CaptureFixture[str],
    skipping: SkippingClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The command line runs probe() with time.sleep; the gaps are skipped here instead.
    monkeypatch.setattr(probe_module, "probe", functools.partial(probe, sleep=skipping.sleep))
    base = sim.openai_base_url if kind == "openai" else str(sim)
    code = probe_module.run(
        _args(
            "--model", "m", "--kind", kind, "--base-url", base, "--api-key-env", key,
            "--warm-calls", "3", "--sweep", "--gaps", "60,120,240,360,480",
            "--time-scale", str(SCALE), "--json",
        )
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)  # one JSON object and nothing else
    assert report["kind"] == kind
    window = report["sweep"]["window_s"]
    assert abs(window - KEEP_ALIVE) <= 0.2 * KEEP_ALIVE
    # The first call was cold, the warm ones far faster, in simulated seconds.
    assert report["first_call"]["total_s"] > 20
    assert report["warm"]["total_p50_s"] < report["threshold_s"] < report["first_call"]["total_s"]
    observations = report["sweep"]["observations"]
    assert [o["cold"] for o in observations[:3]] == [False, False, False]  # 60, 120, 240
    # The sweep stopped at the first cold gap (360 s); each cold verdict is confirmed by
    # the same gap again, then 2 bisection steps (300 and 270 or 330).
    assert {o["gap_s"] for o in observations} <= {60.0, 120.0, 240.0, 360.0, 300.0, 270.0, 330.0}
    assert observations[3:5] == [
        {**observations[3], "gap_s": 360.0, "cold": True},
        {**observations[4], "gap_s": 360.0, "cold": True},
    ]
    pairs = itertools.pairwise(observations)
    confirmed = [a for a, b in pairs if a["cold"] and b["cold"] and a["gap_s"] == b["gap_s"]]
    rec = report["recommendation"]
    assert rec["basis"] == "measured"
    assert rec["interval_s"] == friendly_floor(0.8 * window) < rec["keep_alive_s"] <= window
    assert rec["pings_per_day"] == pytest.approx(86400 / rec["interval_s"])
    assert rec["cost_per_day_usd"] == pytest.approx(rec["pings_per_day"] * 1 * 0.25 / 1e6)
    assert "sk-probe-secret-123" not in out + err
    # Each confirmed cold gap was two real cold starts (plus the first call's).
    assert sim.stats()["models"]["m"]["cold_starts"] >= 1 + 2 * len(confirmed)


def test_auto_detects_ollama_and_prints_a_human_report(
    sim: SimServer, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = probe_module.run(
        _args("--model", "m", "--base-url", str(sim), "--api-key-env", key,
              "--warm-calls", "2", "--time-scale", str(SCALE), "--price-per-mtok", "1")
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "(ollama)" in out
    assert "assuming a 300 s window" in out  # no sweep: the recommendation says so
    assert '@warm("m", interval=240, keep_alive=300)' in out
    assert "360 pings/day" in out
    assert "first call:" in err  # progress goes to standard error


def test_detects_openai_when_there_is_no_ollama_api(sim: SimServer, key: str) -> None:
    report = probe(
        model="m", base_url=sim.openai_base_url, api_key_env=key, warm_calls=1, time_scale=SCALE
    )
    assert report.kind == "openai"
    assert report.sweep == []
    assert report.window_s is None


def test_no_cold_gap_gives_a_lower_bound(sim: SimServer, key: str, skipping: SkippingClock) -> None:
    report = probe(
        model="m", kind="openai", base_url=sim.openai_base_url, api_key_env=key,
        warm_calls=2, sweep=True, gaps=[30, 60], time_scale=SCALE, sleep=skipping.sleep,
    )  # fmt: skip
    assert [o.cold for o in report.sweep] == [False, False]
    assert report.window_s is None
    assert report.longest_warm_gap_s == 60
    assert report.recommendation is not None
    assert report.recommendation.basis == "lower-bound"
    assert report.recommendation.interval_s == 45


# ------------------------------------------------------------------------------ errors


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = probe_module.run(_args(*argv))
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("llmwarm probe: error: ")
    return lines[0]


def test_unreachable_host(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens
    line = _error(capsys, "--model", "m", "--kind", "openai",
                  "--base-url", f"http://127.0.0.1:{port}/v1")  # fmt: skip
    assert f"Cannot reach http://127.0.0.1:{port}/v1" in line
    line = _error(capsys, "--model", "m", "--base-url", f"http://127.0.0.1:{port}")
    assert "Cannot reach" in line


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_wrong_key_names_the_variable_never_the_key(
    sim: SimServer, kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROBE_WRONG_KEY", "sk-wrong-value-999")
    base = sim.openai_base_url if kind == "openai" else str(sim)
    line = _error(capsys, "--model", "m", "--kind", kind, "--base-url", base,
                  "--api-key-env", "PROBE_WRONG_KEY")  # fmt: skip
    assert "refused the API key (401)" in line
    assert "PROBE_WRONG_KEY" in line
    assert "sk-wrong-value-999" not in line
    monkeypatch.delenv("PROBE_WRONG_KEY")
    line = _error(capsys, "--model", "m", "--kind", kind, "--base-url", base,
                  "--api-key-env", "PROBE_WRONG_KEY")  # fmt: skip
    assert "the environment variable PROBE_WRONG_KEY is not set" in line


@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_unknown_model(
    sim: SimServer, key: str, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = sim.openai_base_url if kind == "openai" else str(sim)
    line = _error(capsys, "--model", "nope", "--kind", kind, "--base-url", base,
                  "--api-key-env", key)  # fmt: skip
    assert "answered 404: the model 'nope' is unknown there" in line


def test_option_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _args("--model", "m", "--gaps", "30,abc")
    assert "--gaps takes seconds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _args("--model", "m", "--gaps", "30,-1")
    with pytest.raises(ProbeError, match="--warm-calls must be >= 1"):
        probe(model="m", warm_calls=0)
    with pytest.raises(ProbeError, match="--time-scale must be > 0"):
        probe(model="m", time_scale=0)
    with pytest.raises(ProbeError, match="--kind must be"):
        probe(model="m", kind="azure")


@pytest.mark.parametrize(
    ("seconds", "friendly"),
    [(0.2, 1), (3, 2), (7, 5), (50, 45), (60, 60), (228, 210), (299, 270), (599, 570),
     (600, 600), (3599, 3540), (3600, 3600), (10799, 10500), (91000, 90000)],
)  # fmt: skip
def test_friendly_floor(seconds: float, friendly: float) -> None:
    assert friendly_floor(seconds) == friendly
    assert friendly_floor(seconds) <= max(seconds, 1)


def test_module_entry_point_runs_without_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llmwarm.tools.probe", "--model", "m", "--kind", "openai",
         "--base-url", "http://127.0.0.1:9/v1", "--timeout", "5"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("llmwarm probe: error: Cannot reach http://127.0.0.1:9/v1")
    assert "Traceback" not in done.stderr


def test_every_recommendation_is_a_setting_warm_accepts() -> None:
    from types import SimpleNamespace

    import llmwarm

    # windows from 1.3 s to 4000 s: a shorter window (no real provider has one) would need
    # an interval under @warm's MIN_INTERVAL (1 s)
    for tenths in range(13, 40_000, 7):
        window = tenths / 10
        report = SimpleNamespace(window_s=window, longest_warm_gap_s=None)
        rec = probe_module._recommend(report, 0.25, 1)  # type: ignore[arg-type]
        assert 0 < rec.interval_s < rec.keep_alive_s <= window
        decorate = llmwarm.warm("m", rec.interval_s, keep_alive=rec.keep_alive_s, ping=print)
        decorate(lambda model="m": None)


# --------------------------------------------------------------- cold-start styles


@pytest.mark.parametrize(
    ("options", "kind", "style"),
    [
        ({"cold_start_style": "loading-503"}, "openai", "loading-503"),
        ({"cold_start_style": "loading-503"}, "ollama", "loading-503"),
        ({"cold_start_style": "not-ready"}, "openai", "not-ready"),
        ({"cold_start_style": "not-ready", "not_ready_status": 429}, "ollama", "not-ready"),
    ],
)
def test_a_loading_endpoint_is_waited_out_and_its_style_reported(
    options: dict[str, object], kind: str, style: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(cold_start=60, cold_start_jitter=0, time_scale=SCALE, **options) as sim:  # type: ignore[arg-type]
        base = sim.openai_base_url if kind == "openai" else str(sim)
        args = ("--model", "m", "--kind", kind, "--base-url", base, "--warm-calls", "2")
        code = probe_module.run(_args(*args, "--time-scale", str(SCALE), "--json"))
        out, err = capsys.readouterr()
        assert code == 0, err  # it used to exit 2 on the first 503
        report = json.loads(out)
        assert report["cold_start_style"] == style
        assert report["not_ready_answers"] == 1  # told 60 s, came back after 60 s: ready
        assert report["advised_wait_s"] == pytest.approx(60, rel=0.01)
        assert report["first_call"]["total_s"] >= 59  # the wait is part of the cold start
        assert sim.stats()["models"]["m"]["loads"] == 1


def test_human_report_names_the_style_and_the_ping_adapter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve(cold_start=60, time_scale=SCALE, cold_start_style="loading-503") as sim:
        code = probe_module.run(_args("--model", "m", "--base-url", sim.openai_base_url))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "cold-start style loading-503" in out
    assert "1 answer(s) waited out, first advised" in out
    assert "ping adapter: pings.openai_chat(client)" in out


def test_sleep_mode_and_blocking_are_told_apart() -> None:
    # A 200 s cold start (0.6 s real): a loaded machine's slow warm call is never taken
    # for one, as it could be for 60 s (0.18 s real).
    with serve(cold_start=200, time_scale=SCALE) as sim:
        blocking = probe(model="m", kind="openai", base_url=sim.openai_base_url,
                         warm_calls=2, time_scale=SCALE)  # fmt: skip
    assert blocking.cold_start_style == "blocking"
    assert blocking.ping_adapter == "pings.openai_chat(client)"
    with serve(cold_start=200, time_scale=SCALE, cold_start_style="sleep") as vllm:
        asleep = probe(model="m", kind="openai", base_url=vllm.openai_base_url,
                       warm_calls=2, time_scale=SCALE)  # fmt: skip
    assert asleep.cold_start_style == "sleep"
    assert asleep.ping_adapter.startswith("pings.vllm_wake_up(")


def test_a_model_that_never_gets_ready_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serve(cold_start=1e6, time_scale=SCALE, cold_start_style="not-ready") as sim:
        args = ("--model", "m", "--base-url", sim.openai_base_url, "--timeout", "2")
        code = probe_module.run(_args(*args))
    _, err = capsys.readouterr()
    assert code == 2
    assert "still answers that 'm' is not ready (not-ready)" in err or "not ready" in err


def test_an_overloaded_503_is_still_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with serve(rate_503=1.0, time_scale=SCALE) as sim:
        code = probe_module.run(_args("--model", "m", "--base-url", sim.openai_base_url))
    _, err = capsys.readouterr()
    assert code == 2
    assert "answered HTTP 503" in err
