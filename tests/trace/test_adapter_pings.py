"""Pings sent through an adapter are first-class: counted in stats() and traced as warm-ups."""

from __future__ import annotations

from typing import Any

import ollama
import pytest

from llmwarm import pings, traced
from llmwarm._core import call_stats as stats
from llmwarm.sim import SimServer
from llmwarm.warm._warm import _reset, warm


@pytest.fixture(autouse=True)
def _stop_warmers() -> Any:
    yield
    _reset()


@pytest.mark.parametrize("kind", ["url", "client"])
def test_an_ollama_preload_ping_is_counted_and_traced(
    otel: Any, sim_server: SimServer, kind: str, manual_clock: Any
) -> None:
    clock = manual_clock
    adapter = pings.ollama_preload(
        str(sim_server) if kind == "url" else ollama.Client(host=str(sim_server))
    )

    @traced(**otel.providers)
    @warm("llama3.2", interval=60, keep_alive=300, ping=adapter, _clock=clock)
    def chat(prompt: str, *, model: str = "llama3.2") -> str:
        return ollama.Client(host=str(sim_server)).generate(model=model, prompt=prompt).response

    chat("hi")
    clock.now += 60
    chat.warmer.run_due()  # type: ignore[attr-defined]
    assert chat.warmer.pings_sent == 1  # type: ignore[attr-defined]
    assert chat.warmer.ping_failures == 0  # type: ignore[attr-defined]
    figures = stats.stats()
    assert (figures["total_requests"], figures["warmup_pings"]) == (1, 1)
    spans = otel.spans()
    assert [s.attributes.get("llmwarm.warmup", False) for s in spans] == [False, True]
    assert spans[1].attributes["gen_ai.request.model"] == "llama3.2"
    assert sim_server.stats()["total"]["requests"] == 2  # the preload reached the simulator


async def test_an_async_adapter_ping_is_counted_and_traced(
    otel: Any, sim_server: SimServer, manual_clock: Any
) -> None:
    clock = manual_clock
    adapter = pings.ollama_preload(ollama.AsyncClient(host=str(sim_server)))
    client = ollama.AsyncClient(host=str(sim_server))

    @traced(**otel.providers)
    @warm("llama3.2", interval=60, keep_alive=300, ping=adapter, _clock=clock)
    async def chat(prompt: str, *, model: str = "llama3.2") -> str:
        return (await client.generate(model=model, prompt=prompt)).response

    await chat("hi")
    clock.now += 60
    await chat.warmer.arun_due()  # type: ignore[attr-defined]
    assert chat.warmer.pings_sent == 1  # type: ignore[attr-defined]
    assert stats.stats()["warmup_pings"] == 1
    assert [s.attributes.get("llmwarm.warmup", False) for s in otel.spans()] == [False, True]


def test_a_window_setting_ping_asks_for_the_predicted_busy_period(
    sim_server: SimServer, manual_clock: Any
) -> None:
    clock = manual_clock
    asked: list[Any] = []
    preload = pings.ollama_preload(str(sim_server))

    def ping(model: str, keep_alive: float | None = None) -> Any:
        asked.append(keep_alive)
        return preload(model, keep_alive=keep_alive)

    ping.sets_window = True  # type: ignore[attr-defined]

    @warm("llama3.2", ping=ping, _clock=clock)  # the default policy, keep_alive 300 s
    def chat(prompt: str, *, model: str = "llama3.2") -> str:
        return ollama.Client(host=str(sim_server)).generate(model=model, prompt=prompt).response

    chat("hi")
    due = chat.warmer.next_ping_at("llama3.2")  # type: ignore[attr-defined]
    assert due is not None
    assert 290 <= due - clock.now < 300  # a keep-warm ping a few seconds before the window ends
    clock.now = due
    chat.warmer.run_due()  # type: ignore[attr-defined]
    assert len(asked) == 1
    assert asked[0] is not None
    assert asked[0] >= 300  # at least one window; more when traffic is predicted
    assert chat.warmer.is_warm("llama3.2")  # type: ignore[attr-defined]
