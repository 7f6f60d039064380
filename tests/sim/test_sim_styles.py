"""The simulator's cold-start styles, seen through the real openai and ollama SDKs."""

from __future__ import annotations

import argparse
import json
import time

import httpx
import ollama
import openai
import pytest

from llmwarm.sim import ModelPolicy, SimConfig, SimServer, serve
from llmwarm.sim.cli import add_arguments, config_from_args

MESSAGES = [{"role": "user", "content": "hi"}]


class FakeClock:
    """The simulator's clock, moved by hand: answers 'loading' until the test advances it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_loading_503_answers_the_hugging_face_shape_until_loaded(clock: FakeClock) -> None:
    with (
        serve(
            cold_start=20, cold_start_jitter=0, cold_start_style="loading-503", clock=clock
        ) as sim,
        openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client,
    ):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="m", messages=MESSAGES)
        error = caught.value
        assert error.status_code == 503
        assert error.response.json() == {
            "error": "Model m is currently loading",
            "estimated_time": 20.0,
        }
        clock.now += 5
        with pytest.raises(openai.InternalServerError) as again:
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert again.value.response.json()["estimated_time"] == pytest.approx(15.0)
        clock.now += 15
        raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
        assert raw.headers["x-sim-cold-start"] == "false"  # it did not wait: it was told
        stats = sim.stats()["models"]["m"]
        assert (stats["not_ready"], stats["loads"], stats["cold_starts"]) == (2, 1, 0)


def test_loading_503_over_ollama(clock: FakeClock) -> None:
    with serve(
        cold_start=8, cold_start_jitter=0, cold_start_style="loading-503", clock=clock
    ) as sim:
        client = ollama.Client(host=str(sim))
        with pytest.raises(ollama.ResponseError) as caught:
            client.chat(model="llama3.2", messages=MESSAGES)
        assert caught.value.status_code == 503
        assert caught.value.error == "Model llama3.2 is currently loading"
        # the SDK keeps the HTTP error as the context: its body still has the estimate
        body = json.loads(caught.value.__context__.response.text)  # type: ignore[union-attr]
        assert body["estimated_time"] == 8.0
        clock.now += 8
        assert client.chat(model="llama3.2", messages=MESSAGES, stream=False).done


@pytest.mark.parametrize("status", [503, 429])
def test_not_ready_sends_retry_after_until_a_replica_is_up(clock: FakeClock, status: int) -> None:
    options = {"cold_start": 30, "cold_start_jitter": 0, "cold_start_style": "not-ready"}
    with (
        serve(time_scale=0.5, not_ready_status=status, clock=clock, **options) as sim,
        openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client,
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="m", messages=MESSAGES)
        error = caught.value
        assert error.status_code == status
        assert error.response.headers["retry-after"] == "15"  # real seconds: 30 x 0.5
        assert error.response.headers["retry-after-ms"] == "15000"
        assert error.code == "model_not_ready"
        assert "not ready" in error.message
        clock.now += 15
        assert client.chat.completions.create(model="m", messages=MESSAGES).choices


def test_a_load_nobody_comes_back_for_still_unloads(clock: FakeClock) -> None:
    options = {"cold_start_style": "loading-503", "cold_start_jitter": 0, "keep_alive": 60}
    with serve(cold_start=10, clock=clock, **options) as sim:
        httpx.post(f"{sim}/api/generate", json={"model": "m", "prompt": "x"})  # 503, loads
        clock.now += 10 + 60 + 1
        stats = sim.stats()["models"]["m"]
        assert (stats["loads"], stats["unloads"], stats["loaded"]) == (1, 1, False)


def test_sleep_mode_wakes_fast_instead_of_a_full_load(clock: FakeClock) -> None:
    options = {"cold_start": 30, "wake_time": 2, "cold_start_jitter": 0, "keep_alive": 1e6}
    with (
        serve(cold_start_style="sleep", time_scale=0.001, **options) as sim,
        httpx.Client(base_url=str(sim)) as http,
    ):
        body = {"model": "m", "messages": MESSAGES, "max_tokens": 1}
        first = http.post("/v1/chat/completions", json=body)
        assert first.headers["x-sim-wait"].startswith("30.")  # a full load
        assert http.get("/is_sleeping").json() == {"is_sleeping": False}
        assert http.post("/sleep", params={"level": 1}).status_code == 200
        assert http.get("/is_sleeping").json() == {"is_sleeping": True}
        second = http.post("/v1/chat/completions", json=body)  # wakes on its own: 2 s
        assert second.headers["x-sim-cold-start"] == "true"
        assert 2.0 <= float(second.headers["x-sim-wait"]) < 3.0
        http.post("/sleep")
        assert http.post("/wake_up").headers["x-sim-cold-start"] == "true"
        assert http.get("/is_sleeping", params={"model": "m"}).json() == {"is_sleeping": False}
        stats = sim.stats()["models"]["m"]
        assert (stats["loads"], stats["sleeps"], stats["wakes"], stats["unloads"]) == (1, 2, 2, 0)


def test_an_idle_sleep_mode_model_falls_asleep_not_unloaded() -> None:
    with serve(cold_start_style="sleep", keep_alive=10, time_scale=0.001) as sim:
        httpx.post(f"{sim}/api/generate", json={"model": "m"})  # load only
        time.sleep(0.05)  # 50 simulated seconds: past the keep-alive
        total = sim.stats()["total"]
        assert total["sleeping_models"] == ["m"]
        assert total["unloads"] == 0


def test_styles_are_validated_and_set_per_model() -> None:
    with pytest.raises(ValueError, match="cold_start_style must be one of blocking"):
        SimConfig(cold_start_style="lazy")
    with pytest.raises(ValueError, match="not_ready_status must be 503 or 429"):
        ModelPolicy(not_ready_status=500)
    config = SimConfig(models={"tgi": {"cold_start_style": "loading-503"}})
    assert config.policy_for("tgi").cold_start_style == "loading-503"
    assert config.policy_for("other").cold_start_style == "blocking"


def test_cli_takes_a_style_globally_and_per_model() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--cold-start-style", "not-ready", "--not-ready-status", "429", "--model",
         "llama3.2:1b:cold_start_style=sleep,wake_time=3"]
    )  # fmt: skip
    config = config_from_args(args)
    assert (config.cold_start_style, config.not_ready_status) == ("not-ready", 429)
    llama = config.policy_for("llama3.2:1b")
    assert (llama.cold_start_style, llama.wake_time) == ("sleep", 3.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--cold-start-style", "lazy"])


def test_blocking_stays_the_default(sim_server: SimServer) -> None:
    assert sim_server.config.cold_start_style == "blocking"
    raw = httpx.post(f"{sim_server}/api/generate", json={"model": "m"})
    assert raw.status_code == 200
    assert raw.headers["x-sim-cold-start"] == "true"
