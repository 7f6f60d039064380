"""One duration reader: the configuration, the simulator and its traffic shapes agree."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from llmwarm import ConfigError
from llmwarm._core.options import fraction, parse_duration
from llmwarm.config._schema import parse_duration as config_parse_duration
from llmwarm.sim import parse_duration as sim_parse_duration
from llmwarm.sim.traffic import periodic, poisson


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("500us", 0.0005),
        (".5s", 0.5),
        (" 2m 30s ", 150.0),
        (timedelta(minutes=5), 300.0),
        (12, 12.0),
    ],
)
def test_the_configuration_and_the_simulator_read_durations_alike(
    value: object, expected: float
) -> None:
    assert config_parse_duration(value) == pytest.approx(expected)
    assert sim_parse_duration(value) == pytest.approx(expected)
    assert parse_duration(value) == pytest.approx(expected)


def test_negative_means_forever_only_where_asked() -> None:
    assert parse_duration("-1m") == -60.0
    assert parse_duration("-1m", negative_is_forever=True) == math.inf
    assert sim_parse_duration(-1) == math.inf
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(math.inf)


def test_the_simulator_keeps_go_s_wording_for_its_http_answers() -> None:
    with pytest.raises(ValueError, match=r"^invalid duration '10x'$"):
        sim_parse_duration("10x")


def test_traffic_shapes_check_seconds_as_the_decorators_do() -> None:
    assert poisson(timedelta(minutes=1), days=0.01, seed=1) == poisson(60, days=0.01, seed=1)
    with pytest.raises(ConfigError, match=r"mean_gap must be a finite number of seconds > 0"):
        poisson(-1)
    with pytest.raises(TypeError, match="mean_gap must be"):
        poisson("60")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="offset must be a finite number of seconds >= 0"):
        periodic(600, offset=-5)


@pytest.mark.parametrize("value", [1, -0.1, "1%", True, math.nan])
def test_a_fraction_is_refused_by_name(value: object) -> None:
    with pytest.raises(ConfigError, match=r"budget must be a fraction of calls in \[0, 1\)"):
        fraction("budget", value, what="a fraction of calls")
    assert fraction("budget", 0.25) == 0.25
