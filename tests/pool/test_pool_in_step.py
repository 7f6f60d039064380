"""@pooled in step with the policies around it: no SDK retries under @routed, timeouts.

The real openai SDK against llmwarm.sim: the primary tier always answers 429 with
``Retry-After: 3``; the SDK's default (two retries honouring Retry-After) would sleep
about 6 s before @routed saw the failure.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from llmwarm._core import Policy, apply
from llmwarm._core import failures as _failures
from llmwarm.pool import pooled
from llmwarm.route import Tier, routed

MESSAGES = [{"role": "user", "content": "hello"}]
TIERS = [Tier("primary", "gpt-primary"), Tier("fallback", "gpt-fallback")]


def primary(arguments: Any) -> str:
    return "primary"


#: 300 simulated seconds at the fixture's time scale of 0.01: a real Retry-After of 3 s.
RATE_LIMITED = pytest.mark.sim(retry_after=300, models={"gpt-primary": {"rate_429": 1.0}})
#: One Retry-After sleep: a fallback that answers sooner proves the SDK did not retry.
ONE_RETRY_S = 3.0


@pytest.fixture(autouse=True)
def _fresh_cooldowns() -> Iterator[None]:
    _failures._reset()
    yield
    _failures._reset()


def requests_to(sim_server: Any, model: str) -> int:
    return int(sim_server.stats()["models"].get(model, {}).get("requests", 0))


@RATE_LIMITED
def test_fallback_starts_on_the_first_429_sync(sim_server: Any) -> None:
    @routed(TIERS, classify=primary)
    @pooled(openai.OpenAI, base_url=sim_server.openai_base_url, api_key="sk")
    def complete(*, model: str = "", client: Any = None) -> Any:
        return client.chat.completions.create(model=model, messages=MESSAGES)

    started = time.monotonic()
    reply = complete()
    elapsed = time.monotonic() - started
    assert reply.model == "gpt-fallback"
    assert requests_to(sim_server, "gpt-primary") == 1  # no SDK retry
    assert elapsed < ONE_RETRY_S
    assert complete.pool.client().max_retries == 0


@RATE_LIMITED
async def test_fallback_starts_on_the_first_429_async(sim_server: Any) -> None:
    @routed(TIERS, classify=primary, hedge_after=None)
    @pooled(openai.AsyncOpenAI, base_url=sim_server.openai_base_url, api_key="sk")
    async def complete(*, model: str = "", client: Any = None) -> Any:
        return await client.chat.completions.create(model=model, messages=MESSAGES)

    started = time.monotonic()
    reply = await complete()
    elapsed = time.monotonic() - started
    assert reply.model == "gpt-fallback"
    assert requests_to(sim_server, "gpt-primary") == 1
    assert elapsed < ONE_RETRY_S


def test_explicit_max_retries_is_kept_and_no_router_means_sdk_defaults() -> None:
    @routed(TIERS)
    @pooled(openai.OpenAI, base_url="http://127.0.0.1:9/v1", api_key="sk", max_retries=5)
    def explicit(*, model: str, client: Any = None) -> Any:
        return client

    @pooled(openai.OpenAI, base_url="http://127.0.0.1:9/v1", api_key="sk")
    def alone(*, model: str, client: Any = None) -> Any:
        return client

    @routed(TIERS, fallback=False)
    @pooled(openai.OpenAI, base_url="http://127.0.0.1:9/v1", api_key="sk")
    def no_fallback(*, model: str, client: Any = None) -> Any:
        return client

    assert explicit.pool.client().max_retries == 5
    assert alone.pool.client().max_retries == openai.DEFAULT_MAX_RETRIES
    assert no_fallback.pool.client().max_retries == openai.DEFAULT_MAX_RETRIES


def test_a_callers_client_with_retries_is_warned_about_once(sim_server: Any) -> None:
    @routed(TIERS)
    @pooled(openai.OpenAI, base_url=sim_server.openai_base_url, api_key="sk")
    def complete(*, model: str, client: Any = None) -> Any:
        return client.chat.completions.create(model=model, messages=MESSAGES)

    with openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk") as mine:
        with pytest.warns(RuntimeWarning, match=r"max_retries=2.*max_retries=0"):
            complete(model="gpt-fallback", client=mine)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            complete(model="gpt-fallback", client=mine)  # once only
            complete(model="gpt-fallback", client=mine.with_options(max_retries=0))


async def test_the_sdk_timeout_is_no_shorter_than_the_hedge() -> None:
    @routed(TIERS, hedge_after=45.0)
    @pooled(openai.AsyncOpenAI, timeout=10.0, base_url="http://127.0.0.1:9/v1", api_key="sk")
    async def complete(*, model: str, client: Any = None) -> Any:
        return client

    timeout = complete.pool.client().timeout
    assert (timeout.read, timeout.pool) == (45.0, 45.0)
    assert timeout.connect == 10.0  # a dead host still fails fast, into the fallback
    assert complete.pool.http_client().timeout == timeout  # the SDK uses the pool's


def test_any_policy_that_handles_failures_turns_sdk_retries_off() -> None:
    class Retrying(Policy):  # a future retry policy: known by its capability, not its name
        handles_failures = True
        patience = 20.0

    @pooled(openai.OpenAI, base_url="http://127.0.0.1:9/v1", api_key="sk", timeout=5.0)
    def complete(*, client: Any = None) -> Any:
        return client

    wrapped = apply(complete, Retrying())
    assert wrapped.pool.client().max_retries == 0
    assert wrapped.pool.client().timeout.read == 20.0
