"""`llmwarm replay FILE`: a real replay of a small log, its table and chart, and bad input."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from llmwarm.sim.traffic import poisson
from llmwarm.tools.cli import main
from llmwarm.tools.replay import _report, read_log

EPOCH = 1772409600  # Monday 2026-03-02 00:00 UTC


@pytest.fixture(scope="module")
def log_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "requests.csv"
    times = poisson(300, days=1, seed=5)
    path.write_text("ts,model\n" + "".join(f"{EPOCH + t:.3f},m\n" for t in times))
    return path


# Kept per process, so that the replay runs once: pytest-xdist (`make test`, `--dist
# loadfile`) may tear module fixtures down between the batches it hands a worker.
_REPLAYED: list[tuple[dict, Path]] = []


@pytest.fixture(scope="module")
def replayed(log_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    if not _REPLAYED:
        chart = tmp_path_factory.mktemp("chart") / "replay.png"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(
                ["replay", str(log_file), "--json", "--plot", str(chart), "--warm", "interval=240"]
            )
        assert code == 0
        _REPLAYED.append((json.loads(out.getvalue()), chart))
    return _REPLAYED[0]


def test_three_setups_replay_every_request(replayed: tuple[dict, Path], log_file: Path) -> None:
    report, _ = replayed
    requests = len(read_log(log_file).times)
    assert report["log"]["requests"] == requests
    none, cron, ours = report["setups"]
    assert [none["name"], ours["name"]] == ["none", "llmwarm"]
    assert cron["name"].startswith("cron ")
    for setup in report["setups"]:
        assert setup["requests"] == requests
        assert 0 <= setup["p50_s"] <= setup["p99_s"]
    # No warming: every gap longer than the keep-alive is a cold start, and no ping.
    assert none["pings"] == 0
    assert none["cold_start_rate"] > 0.2
    # The cron pings on its clock whatever the traffic: one ping per interval.
    assert cron["pings_per_day"] == pytest.approx(86400 / cron["cron_interval_s"], rel=0.02)
    assert cron["cold_start_rate"] <= max(0.01, ours["cold_start_rate"])
    assert ours["cold_start_rate"] < none["cold_start_rate"]
    # The default policy pings only while the model is idle: fewer pings than the cron
    # on memoryless traffic, at no more than 1% cold.
    assert ours["cold_start_rate"] <= 0.01
    assert ours["pings_per_day"] < cron["pings_per_day"]
    # Cost follows pings: tokens and dollars per ping are the same for both warmers.
    for setup in (cron, ours):
        assert setup["ping_tokens_per_day"] == pytest.approx(9 * setup["pings_per_day"], rel=0.01)


def test_the_chart_is_a_png(replayed: tuple[dict, Path]) -> None:
    assert replayed[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_table_fits_80_columns(replayed: tuple[dict, Path], log_file: Path) -> None:
    out = io.StringIO()
    args = argparse.Namespace(cold_start=14.0, keep_alive=300.0)
    summaries = replayed[0]["setups"]
    _report.render_table(summaries, read_log(log_file), args, Console(file=out, width=80))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for setup in summaries:
        assert setup["name"] in text
        assert f"{setup['pings_per_day']:.1f}" in text


def _replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "llmwarm replay: {path}: empty: no request to replay"),
        ("ts\n", "llmwarm replay: {path}: no request in it"),
        ("ts\n1772442900\nsoon\n",
         "llmwarm replay: {path}, line 3: column 'ts': 'soon' is not a timestamp"),
    ],
)  # fmt: skip
def test_bad_logs_exit_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    code, out, err = _replay(capsys, str(path))
    assert code == 2
    assert out == ""
    assert message.format(path=path) in err


def test_unsorted_logs_are_sorted_with_a_note_or_refused_with_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "merged.csv"
    path.write_text("ts\n1772442900\n1772443200\n1772443000\n")
    code, _, err = _replay(capsys, str(path), "--strict")
    assert code == 2
    assert f"{path}, line 4: earlier than the line before it" in err
    code, out, err = _replay(capsys, str(path), "--json", "--cron", "295")
    assert code == 0
    assert "1 timestamp(s) earlier than the one before them (first at line 4)" in err
    assert json.loads(out)["log"]["out_of_order"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep-alive", "0"], "--keep-alive must be > 0"),
        (["--cron", "-1"], "--cron must be > 0"),
        (["--budget", "1.5"], "--budget must be in [0, 1)"),
        (["--warm", "interval"], "--warm takes KEY=VALUE"),
    ],
)
def test_bad_options_are_refused_by_name(
    log_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit, match=message.replace("[", r"\[").replace(")", r"\)")):
        main(["replay", str(log_file), *args])


def test_a_bad_warm_option_is_reported_not_raised(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _replay(capsys, str(log_file), "--warm", "interval=-3", "--cron", "295")
    assert code == 2
    assert "llmwarm replay: " in err
    assert "interval" in err
