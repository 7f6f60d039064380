"""Calls and pings that meet a loading / not-ready model: waited out, tagged, routed away.

Each style runs against the simulator with the real openai and ollama SDKs. The simulator
and llmwarm share one fake clock: llmwarm's wait moves it, so the retry lands exactly
when the provider said the model would be ready (no wall-clock timing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import pytest
from oteltools import Otel
from providertools import SharedClock

from llmwarm import Tier, pings, routed, traced, warm
from llmwarm._core import NotReady, recognise
from llmwarm.sim import SimServer, aserve, serve

MODEL = "m"
MESSAGES = [{"role": "user", "content": "hi"}]
STYLES = ["loading-503", "not-ready"]
# 20 simulated seconds of load at time_scale 0.01: the answers advise 0.2 (real) seconds
ADVISED = 0.2


@pytest.fixture
def sim(request: pytest.FixtureRequest, clock: SharedClock) -> Iterator[SimServer]:
    options: dict[str, Any] = {"cold_start": 20, "cold_start_jitter": 0, "time_scale": 0.01}
    options.update(getattr(request, "param", {}))
    with serve(clock=clock, **options) as server:
        yield server


def warmed(client: openai.OpenAI, clock: SharedClock) -> Any:
    """A sync OpenAI call under @warm on the shared fake clock."""

    @warm(MODEL, interval=60, _clock=clock)
    def complete(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
        return client.chat.completions.create(model=model, messages=messages, **kw)

    return complete


def attributes(otel: Otel) -> list[dict[str, Any]]:
    return [dict(span.attributes or {}) for span in otel.spans()]


def coldstarts(otel: Otel) -> dict[str | None, int]:
    found: dict[str | None, int] = {}
    for point in otel.points("llmwarm.coldstarts"):
        kind = point.attributes.get("llmwarm.cold_start.kind")
        found[kind] = found.get(kind, 0) + point.value
    return found


def model_stats(sim: SimServer, model: str = MODEL) -> dict[str, Any]:
    stats: dict[str, Any] = sim.stats()["models"][model]
    return stats


# ------------------------------------------------------------------ a user's call waits


@pytest.mark.parametrize("sim", [{"cold_start_style": s} for s in STYLES], indirect=True)
def test_openai_call_waits_the_advised_time_and_is_served(
    sim: SimServer, clock: SharedClock, otel: Otel
) -> None:
    style = sim.config.cold_start_style
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client:
        complete = traced(**otel.providers)(warmed(client, clock))

        reply = complete(MESSAGES)
        assert reply.choices[0].message.content  # served: no error reached the caller
        assert clock.sleeps == [pytest.approx(ADVISED, abs=1e-6)]  # retried when advised
        (span,) = attributes(otel)
        assert span["llmwarm.cold_start"] is True
        assert span["llmwarm.cold_start.kind"] == style
        assert coldstarts(otel) == {style: 1}
        assert (model_stats(sim)["not_ready"], model_stats(sim)["loads"]) == (1, 1)
        complete(MESSAGES)  # now warm: no wait, no kind
        assert len(clock.sleeps) == 1
        assert "llmwarm.cold_start.kind" not in attributes(otel)[1]


@pytest.mark.parametrize("sim", [{"cold_start_style": s} for s in STYLES], indirect=True)
async def test_async_openai_call_waits_and_is_served(
    sim: SimServer, clock: SharedClock, otel: Otel
) -> None:
    async with openai.AsyncOpenAI(
        base_url=sim.openai_base_url, api_key="sk", max_retries=0
    ) as client:

        @traced(**otel.providers)
        @warm(MODEL, interval=60, _clock=clock)
        async def complete(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
            return await client.chat.completions.create(model=model, messages=messages, **kw)

        reply = await complete(MESSAGES)
        assert reply.choices[0].message.content
        assert clock.sleeps == [pytest.approx(ADVISED, abs=1e-6)]
        (span,) = attributes(otel)
        assert span["llmwarm.cold_start.kind"] == sim.config.cold_start_style


@pytest.mark.parametrize("sim", [{"cold_start_style": s} for s in STYLES], indirect=True)
def test_ollama_call_waits_and_is_served(sim: SimServer, clock: SharedClock, otel: Otel) -> None:
    client = ollama.Client(host=str(sim))

    @traced(**otel.providers)
    @warm(MODEL, interval=60, _clock=clock)
    def chat(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
        return client.chat(model=model, messages=messages, stream=False)

    assert chat(MESSAGES).message.content
    # ollama's error keeps only the message; its HTTP context still has the advised time
    assert clock.sleeps == [pytest.approx(ADVISED, abs=1e-6)]
    (span,) = attributes(otel)
    assert span["llmwarm.cold_start.kind"] == sim.config.cold_start_style


@pytest.mark.parametrize("sim", [{"cold_start_style": "loading-503"}], indirect=True)
def test_the_wait_is_bounded_by_the_calls_timeout(
    sim: SimServer, clock: SharedClock, otel: Otel
) -> None:
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client:
        complete = traced(**otel.providers)(warmed(client, clock))

        with pytest.raises(openai.InternalServerError):  # 0.2 s advised > 0.1 s allowed
            complete(MESSAGES, timeout=0.1)
        assert clock.sleeps == []
        failed = attributes(otel)[0]  # the caller got the 503, tagged with what it met
        assert failed["llmwarm.cold_start.kind"] == "loading-503"
        assert failed["error.type"] == "openai.InternalServerError"
        clock.advance(ADVISED)
        assert complete(MESSAGES, timeout=0.1).choices


@pytest.mark.parametrize("sim", [{"cold_start_style": "loading-503"}], indirect=True)
def test_estimates_that_move_are_followed_until_ready(sim: SimServer, clock: SharedClock) -> None:
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client:
        complete = warmed(client, clock)

        # another caller's request started the load 0.15 s ago: 0.05 s left
        httpx.post(
            f"{sim.openai_base_url}/chat/completions", json={"model": MODEL, "messages": MESSAGES}
        )
        clock.advance(0.15)
        assert complete(MESSAGES).choices
        assert clock.sleeps == [pytest.approx(0.05, abs=1e-6)]


def test_a_blocking_cold_start_is_tagged_blocking(
    sim_server: SimServer, clock: SharedClock, otel: Otel
) -> None:
    with openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk", max_retries=0) as client:
        complete = traced(**otel.providers)(warmed(client, clock))
        complete(MESSAGES)
        complete(MESSAGES)
    first, second = attributes(otel)
    assert (first["llmwarm.cold_start"], first["llmwarm.cold_start.kind"]) == (True, "blocking")
    assert second["llmwarm.cold_start"] is False
    assert "llmwarm.cold_start.kind" not in second
    assert coldstarts(otel) == {"blocking": 1}
    assert clock.sleeps == []


# ------------------------------------------------------------ routed away to a warm tier

ROUTED = {"models": {"tgi": {"cold_start_style": "loading-503"}, "big": {"cold_start": 0}}}


@pytest.mark.parametrize("outer", ["routed", "warm"])
@pytest.mark.parametrize("sim", [ROUTED], indirect=True)
def test_routed_goes_to_the_warm_tier_without_waiting(
    sim: SimServer, clock: SharedClock, otel: Otel, outer: str
) -> None:
    tiers = [Tier("small", "tgi"), Tier("big", "big")]
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client:

        def create(messages: Any, *, model: str = "tgi", **kw: Any) -> Any:
            return client.chat.completions.create(model=model, messages=messages, **kw)

        routing = routed(tiers, classify=lambda arguments: "small")
        warming = warm(["tgi", "big"], interval=60, _clock=clock)
        inner, outermost = (warming, routing) if outer == "routed" else (routing, warming)
        complete = traced(**otel.providers)(outermost(inner(create)))

        assert complete(MESSAGES).model == "big"
        assert clock.sleeps == []  # nobody waited for the loading tier
        (span,) = attributes(otel)
        assert (span["llmwarm.route.tier"], span["llmwarm.route.reason"]) == ("big", "fallback")
        # the loading tier cools down for its estimated time, not the 30 s default
        assert 0 < complete.router.cooling()["tgi"] <= ADVISED


# ------------------------------------------------------------------ warm-up pings


@pytest.mark.parametrize("sim", [{"cold_start_style": s} for s in STYLES], indirect=True)
def test_a_ping_meeting_a_loading_model_waits_one_cold_start_no_failure(
    sim: SimServer, clock: SharedClock, otel: Otel
) -> None:
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client:
        complete = traced(**otel.providers)(warmed(client, clock))

        warmer = complete.warmer
        warmer.start()
        warmer.run_due()
        assert (warmer.pings_sent, warmer.ping_failures) == (1, 0)
        assert clock.sleeps == [pytest.approx(ADVISED, abs=1e-6)]
        assert warmer.next_ping_at(MODEL) == pytest.approx(clock.now + 60)  # no backoff
        assert coldstarts(otel) == {sim.config.cold_start_style: 1}
        (span,) = attributes(otel)
        assert span["llmwarm.warmup"] is True
        assert model_stats(sim)["loads"] == 1


@pytest.mark.parametrize("sim", [{"cold_start_style": s} for s in STYLES], indirect=True)
def test_a_ping_adapter_meeting_a_loading_model_waits(sim: SimServer, clock: SharedClock) -> None:
    with openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client:

        @warm(MODEL, interval=60, ping=pings.openai_chat(client), _clock=clock)
        def complete(messages: Any) -> Any:
            return client.chat.completions.create(model=MODEL, messages=messages)

        complete.warmer.start()
        complete.warmer.run_due()
        assert (complete.warmer.pings_sent, complete.warmer.ping_failures) == (1, 0)
        assert clock.sleeps == [pytest.approx(ADVISED, abs=1e-6)]
        assert complete.warmer.next_ping_at(MODEL) == pytest.approx(clock.now + 60)


@pytest.mark.parametrize("sim", [{"cold_start_style": "loading-503"}], indirect=True)
async def test_an_async_ping_adapter_meeting_a_loading_model_waits(
    sim: SimServer, clock: SharedClock
) -> None:
    async with openai.AsyncOpenAI(
        base_url=sim.openai_base_url, api_key="sk", max_retries=0
    ) as client:

        @warm(MODEL, interval=60, ping=pings.openai_chat(client), _clock=clock)
        async def complete(messages: Any) -> Any:
            return await client.chat.completions.create(model=MODEL, messages=messages)

        complete.warmer.start()
        await complete.warmer.arun_due()
        assert (complete.warmer.pings_sent, complete.warmer.ping_failures) == (1, 0)
        assert clock.sleeps == [pytest.approx(ADVISED, abs=1e-6)]


# ----------------------------------------------------------------- vLLM sleep mode


def test_vllm_wake_up_ping_wakes_a_sleeping_model() -> None:
    options = {"cold_start": 30, "wake_time": 2, "cold_start_style": "sleep"}
    with serve(time_scale=0.001, **options) as sim:
        httpx.post(f"{sim}/api/generate", json={"model": MODEL})  # the first, full load
        httpx.post(f"{sim}/sleep")
        ping = pings.vllm_wake_up(sim.openai_base_url)  # the /v1 suffix is dropped
        assert ping(MODEL) == {"is_sleeping": False}
        stats = model_stats(sim)
        assert (stats["loads"], stats["wakes"]) == (1, 1)


async def test_async_vllm_wake_up_then_pings_the_model() -> None:
    with serve(time_scale=0.001, cold_start_style="sleep") as sim:
        async with httpx.AsyncClient() as http:
            await http.post(f"{sim}/api/generate", json={"model": MODEL})
            await http.post(f"{sim}/sleep")
        async with openai.AsyncOpenAI(
            base_url=sim.openai_base_url, api_key="sk", max_retries=0
        ) as client:
            ping = pings.vllm_wake_up(str(sim), ping=pings.openai_chat(client), asynchronous=True)
            reply = await ping(MODEL)
        assert reply.choices  # the chained ping's answer
        assert model_stats(sim)["wakes"] == 1
        assert model_stats(sim)["requests"] == 3  # load, wake, ping


def test_vllm_wake_up_refuses_a_bad_url() -> None:
    with pytest.raises(ValueError, match="base_url must be an http"):
        pings.vllm_wake_up("localhost:8000")


# ------------------------------------------------------------------ recognition


@pytest.mark.parametrize("sim", [{"rate_429": 1.0}, {"rate_503": 1.0}], indirect=True)
def test_rate_limits_and_overloads_are_not_loading(sim: SimServer) -> None:
    with (
        openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert recognise(caught.value) is None


@pytest.mark.parametrize("sim", [{"cold_start_style": "not-ready"}], indirect=True)
def test_an_httpx_status_error_is_recognised(sim: SimServer) -> None:
    response = httpx.post(f"{sim}/api/generate", json={"model": MODEL, "prompt": "x"})
    with pytest.raises(httpx.HTTPStatusError) as caught:
        response.raise_for_status()
    assert recognise(caught.value) == NotReady("not-ready", ADVISED, 503)


def test_a_botocore_model_not_ready_exception_is_recognised() -> None:
    class ClientError(Exception):  # botocore's shape: a dict response
        def __init__(self, response: dict[str, Any]) -> None:
            super().__init__("ModelNotReadyException")
            self.response = response

    error = ClientError(
        {
            "Error": {
                "Code": "ModelNotReadyException",
                "Message": "Model is not ready for inference. Wait and try your request again.",
            },
            "ResponseMetadata": {"HTTPStatusCode": 429, "HTTPHeaders": {"retry-after": "7"}},
        }
    )
    assert recognise(error) == NotReady("not-ready", 7.0, 429)
    assert recognise(ValueError("model not ready")) is None  # no HTTP answer, no SDK class


@pytest.mark.parametrize("sim", [{"cold_start_style": "not-ready"}], indirect=True)
async def test_async_ollama_call_waits_and_is_served(sim: SimServer, clock: SharedClock) -> None:
    client = ollama.AsyncClient(host=str(sim))

    @warm(MODEL, interval=60, _clock=clock)
    async def chat(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
        return await client.chat(model=model, messages=messages, stream=False)

    assert (await chat(MESSAGES)).message.content
    assert clock.sleeps == [pytest.approx(ADVISED, abs=1e-6)]


def test_a_wake_up_ping_spares_the_user_the_wake(clock: SharedClock) -> None:
    # sleep mode: the operator put the server to sleep; @warm's ping wakes it first
    options = {"cold_start": 30, "wake_time": 5, "keep_alive": 1e6, "time_scale": 0.001}
    with serve(cold_start_style="sleep", **options) as sim:
        oai = openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0)
        llama = ollama.Client(host=str(sim))
        ping = pings.vllm_wake_up(str(sim), ping=pings.openai_chat(oai))

        @warm(MODEL, interval=60, ping=ping, _clock=clock)
        def chat(messages: Any, *, model: str = MODEL) -> Any:
            return llama.chat(model=model, messages=messages, stream=False)

        chat(MESSAGES)  # the first call: a full load
        httpx.post(f"{sim}/sleep")
        assert httpx.get(f"{sim}/is_sleeping").json() == {"is_sleeping": True}
        clock.advance(60)  # idle for the interval: the ping is due
        chat.warmer.run_due()
        assert (chat.warmer.pings_sent, chat.warmer.ping_failures) == (1, 0)
        assert httpx.get(f"{sim}/is_sleeping").json() == {"is_sleeping": False}
        before = model_stats(sim)["cold_starts"]
        chat(MESSAGES)  # awake: the user does not wait for the wake
        stats = model_stats(sim)
        assert stats["cold_starts"] == before
        assert (stats["loads"], stats["wakes"]) == (1, 1)
        oai.close()


def test_with_the_real_clock_a_sync_call_sleeps_and_is_served() -> None:
    with (
        serve(cold_start=20, time_scale=0.01, cold_start_style="loading-503") as sim,
        openai.OpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client,
    ):

        @warm(MODEL, interval=60)
        def complete(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
            return client.chat.completions.create(model=model, messages=messages, **kw)

        assert complete(MESSAGES).choices
        stats = model_stats(sim)
        assert stats["not_ready"] >= 1  # it was told to wait...
        assert stats["requests"] - stats["not_ready"] == 1  # ...and served once ready
        complete.warmer.stop()


async def test_with_the_real_clock_an_async_call_sleeps_on_the_loop() -> None:
    async with (
        aserve(cold_start=20, time_scale=0.01, cold_start_style="not-ready") as sim,
        openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="sk", max_retries=0) as client,
    ):

        @warm(MODEL, interval=60)
        async def complete(messages: Any, *, model: str = MODEL, **kw: Any) -> Any:
            return await client.chat.completions.create(model=model, messages=messages, **kw)

        # the server runs on this loop: a blocking sleep would starve it
        assert (await complete(MESSAGES)).choices
        stats = (await sim.astats())["models"][MODEL]
        assert stats["not_ready"] >= 1
        await complete.warmer.aclose()
