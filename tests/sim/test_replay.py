"""``llmwarm.sim.replay``: request times through the real ``@warm`` stack on virtual time."""

from __future__ import annotations

import math

import pytest

from llmwarm import ConfigError
from llmwarm.sim.replay import replay


def test_without_warming_a_call_after_a_long_gap_is_cold() -> None:
    # 0: first call, cold; 100: warm; 500 (idle 400 > 300): cold; 600: warm.
    result = replay([0, 100, 500, 600], keep_alive=300, cold_start=14)
    assert [r.cold for r in result.requests] == [True, False, True, False]
    assert [r.at for r in result.requests] == [0, 100, 500, 600]
    assert result.requests[0].latency_s > 14 > result.requests[1].latency_s
    assert result.pings == 0
    assert result.cold_rate == 0.5
    assert result.mode == "none"


def test_cron_pings_at_a_fixed_interval_whatever_the_traffic() -> None:
    result = replay([0, 100, 1000, 1001], keep_alive=300, cold_start=14, cron=250)
    assert result.ping_times == [250, 500, 750, 1000]
    assert [r.cold for r in result.requests] == [True, False, False, False]
    assert result.mode == "cron"
    assert result.pings_per_day == pytest.approx(4 / (result.duration_s / 86400))


def test_warm_pings_only_while_idle_and_keeps_the_model_loaded() -> None:
    result = replay([0, 100, 1000], keep_alive=300, cold_start=14, warm={"interval": 280})
    assert [r.cold for r in result.requests] == [True, False, False]
    # Idle from ~100.5 s: a ping every 280 s of idleness, at ~380, ~660 and ~940.
    assert len(result.ping_times) == 3
    assert all(100 < t < 1000 for t in result.ping_times)
    assert all(
        b - a == pytest.approx(280, abs=1)
        for a, b in zip(result.ping_times, result.ping_times[1:], strict=False)
    )


def test_until_extends_the_span_and_counts_pings_after_the_last_call() -> None:
    result = replay([0], keep_alive=300, cold_start=14, cron=100, until=1000)
    assert result.ping_times == [100 * k for k in range(1, 10)]  # the span is [0, 1000)
    assert result.duration_s == pytest.approx(1000)


@pytest.mark.parametrize(
    ("arrivals", "kwargs", "names"),
    [
        ([1, 0], {}, "arrivals must be sorted: [1] = 0"),
        ([0, math.nan], {}, "arrivals [1] must be finite"),
        ([0, "x"], {}, "arrivals [1] must be a number"),
        ([-1], {}, "arrivals [0] must be finite and >= 0"),
        ([0], {"keep_alive": 0}, "keep_alive must be"),
        ([0], {"cron": 10, "warm": {}}, "cron and warm= cannot both"),
        ([0], {"provider": "bedrock"}, "provider must be"),
    ],
)
def test_bad_input_is_a_clear_error(
    arrivals: list[object], kwargs: dict[str, object], names: str
) -> None:
    with pytest.raises(ConfigError) as info:
        replay(arrivals, **kwargs)  # type: ignore[arg-type]
    assert names in str(info.value)


def test_the_default_policy_with_ollama_sets_the_window_instead_of_pinging_it() -> None:
    # A call every ~100-250 s for two hours, then silence: the preload pings ask for the
    # busy period the policy predicts (more than one window), and the calls stay warm.
    arrivals = [float(t) for t in range(0, 7200, 100)] + [7450.0, 7700.0, 7950.0]
    result = replay(arrivals, keep_alive=300, cold_start=14, warm={}, provider="ollama")
    assert result.cold_starts == 1  # the first call only
    assert result.pings_sent
    assert all(p.window is not None and p.window >= 300 for p in result.pings_sent)


async def test_replay_refuses_to_run_inside_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="runs its own event loop"):
        replay([0.0])
