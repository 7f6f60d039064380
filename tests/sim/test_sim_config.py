"""Option validation, Ollama durations and the command line's errors."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys

import pytest

from llmwarm.sim import ModelPolicy, SimConfig, create_app, parse_duration, serve
from llmwarm.sim.cli import add_arguments, config_from_args


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"cold_start": -1}, "cold_start"),
        ({"keep_alive": -0.5}, "keep_alive"),
        ({"ttft": float("nan")}, "ttft"),
        ({"token_time": -1}, "token_time"),
        ({"rate_429": 1.5}, "rate_429"),
        ({"rate_hang": -0.1}, "rate_hang"),
        ({"cold_start_jitter": 2}, "cold_start_jitter"),
        ({"time_scale": 0}, "time_scale"),
        ({"time_scale": -1}, "time_scale"),
        ({"max_loaded_models": 0}, "max_loaded_models"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"api_key": ""}, "api_key"),
        ({"rate_500": 0.6, "rate_503": 0.6}, "sum"),
        ({"models": {"m": {"cold_start": -3}}}, "cold_start"),
    ],
)
def test_bad_options_raise_value_errors_naming_the_option(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        SimConfig(**options)  # type: ignore[arg-type]


def test_bad_types_raise_type_errors() -> None:
    with pytest.raises(TypeError, match="cold_start"):
        SimConfig(cold_start="14")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed"):
        SimConfig(seed=1.5)  # type: ignore[arg-type]


def test_unknown_model_policy_key_lists_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'cold'") as info:
        SimConfig(models={"gpt-4o-mini": {"cold": 10}})
    assert "gpt-4o-mini" in str(info.value)
    assert "cold_start, cold_start_jitter, keep_alive" in str(info.value)


def test_unknown_serve_option_lists_the_accepted_ones() -> None:
    with pytest.raises(TypeError, match=r"'cold_starts'.*accepted options are: cold_start"):
        create_app(cold_starts=3)
    with pytest.raises(TypeError, match="cold_starts"), serve(cold_starts=3):
        pass


def test_per_model_policy_overrides_the_defaults() -> None:
    config = SimConfig(cold_start=14, models={"small": {"cold_start": 2, "rate_429": 0.5}})
    assert config.policy_for("small") == ModelPolicy(cold_start=2, rate_429=0.5)
    assert config.policy_for("other").cold_start == 14
    assert config.policy_for("other") == config.default_policy
    with pytest.raises(TypeError):
        config.models["x"] = ModelPolicy()  # type: ignore[index]


def test_config_is_frozen() -> None:
    config = SimConfig()
    with pytest.raises(AttributeError):
        config.cold_start = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("300ms", 0.3),
        ("1.5h", 5400.0),
        ("2m3.5s", 123.5),
        ("45", 45.0),
        (30, 30.0),
        (0, 0.0),
        ("0", 0.0),
        (-1, math.inf),
        ("-1m", math.inf),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["10x", "", "m", "1h 30", None, True, [1]])
def test_parse_duration_rejects_garbage(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_options_map_to_the_config() -> None:
    args = parse(
        "--cold-start", "10", "--time-scale", "0.01", "--rate-429", "0.2", "--seed", "3",
        "--known-models", "a,b", "--model", "a:cold_start=2,rate-500=0.1", "--api-key", "k",
    )  # fmt: skip
    config = config_from_args(args)
    assert config.cold_start == 10
    assert config.time_scale == 0.01
    assert config.rate_429 == 0.2
    assert config.seed == 3
    assert config.known_models == ("a", "b")
    assert config.policy_for("a").cold_start == 2
    assert config.policy_for("a").rate_500 == 0.1
    assert config.api_key == "k"
    assert args.port == 8400


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cold-start", "-1"], "argument --cold-start: must be a number of seconds >= 0"),
        (["--time-scale", "0"], "argument --time-scale: must be > 0"),
        (["--rate-503", "2"], "argument --rate-503: must be a probability in [0, 1]"),
        (["--model", "m:cold=1"], "unknown model option 'cold'"),
    ],
)
def test_cli_rejects_bad_options(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_python_dash_m_fails_clearly_on_a_negative_cold_start() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmwarm.sim", "--cold-start", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "--cold-start: must be a number of seconds >= 0, got -1" in proc.stderr


def test_importing_the_cli_does_not_need_the_sim_extra() -> None:
    code = (
        "import sys, llmwarm.sim.cli, llmwarm.sim;"
        "assert 'starlette' not in sys.modules and 'uvicorn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_public_names_are_sorted_and_importable() -> None:
    import llmwarm.sim

    assert llmwarm.sim.__all__ == sorted(llmwarm.sim.__all__)
    for name in llmwarm.sim.__all__:
        assert getattr(llmwarm.sim, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        llmwarm.sim.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_model_overrides_keep_an_ollama_tag() -> None:
    config = config_from_args(parse("--model", "llama3.2:1b:cold_start=10"))
    assert config.policy_for("llama3.2:1b").cold_start == 10
    assert config.policy_for("llama3.2").cold_start != 10
