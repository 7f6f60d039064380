"""@pooled under @warm: the SDK client's timeout is no shorter than the predicted cold start.

A cold model answers only once it has loaded; an SDK timeout shorter than the load cuts
every call that finds the model cold, the very calls ``@warm`` predicts. The real openai
SDK against ``llmwarm.sim``: a model whose cold start (1 s real) is longer than the
timeout the user gave ``@pooled`` (0.3 s) still answers, because ``@warm`` predicts a
cold start of 30 s (none measured yet) and ``@pooled`` raises its read timeout to it.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from llmwarm.pool import pooled
from llmwarm.warm import warm

MESSAGES = [{"role": "user", "content": "hello"}]
#: 100 simulated seconds at the fixture's time scale of 0.01: a 1 s load, every time.
COLD_1S = pytest.mark.sim(cold_start=100, cold_start_jitter=0)
SHORT = 0.3  # the user's timeout: shorter than the load


@COLD_1S
def test_a_cold_start_is_not_cut_by_the_sdk_timeout_sync(
    sim_server: Any, manual_clock: Any
) -> None:
    @warm("gpt-cold", _clock=manual_clock)
    @pooled(
        openai.OpenAI,
        timeout=SHORT,
        base_url=sim_server.openai_base_url,
        api_key="sk",
        max_retries=0,
    )
    def complete(
        *,
        model: str = "gpt-cold",
        messages: Any = MESSAGES,
        max_tokens: int = 8,
        client: Any = None,
    ) -> Any:
        return client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens)

    predicted = complete.warmer.expected_cold_start
    timeout = complete.pool.client().timeout
    assert predicted >= 1.0  # longer than this model's load, and than the user's timeout
    assert timeout.read >= predicted
    assert timeout.connect == SHORT  # a dead host still fails fast
    assert complete().model == "gpt-cold"  # waited out the 1 s load
    assert sim_server.stats()["models"]["gpt-cold"]["cold_starts"] == 1


@COLD_1S
async def test_a_cold_start_is_not_cut_by_the_sdk_timeout_async(
    sim_server: Any, manual_clock: Any
) -> None:
    @warm("gpt-cold", _clock=manual_clock)
    @pooled(
        openai.AsyncOpenAI,
        timeout=SHORT,
        base_url=sim_server.openai_base_url,
        api_key="sk",
        max_retries=0,
    )
    async def complete(
        *,
        model: str = "gpt-cold",
        messages: Any = MESSAGES,
        max_tokens: int = 8,
        client: Any = None,
    ) -> Any:
        return await client.chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens
        )

    assert complete.pool.client().timeout.read >= complete.warmer.expected_cold_start
    assert (await complete()).model == "gpt-cold"


@COLD_1S
def test_without_warm_the_users_timeout_stands_and_cuts_the_cold_start(
    sim_server: Any,
) -> None:
    @pooled(
        openai.OpenAI,
        timeout=SHORT,
        base_url=sim_server.openai_base_url,
        api_key="sk",
        max_retries=0,
    )
    def complete(*, model: str = "gpt-cold", client: Any = None) -> Any:
        return client.chat.completions.create(model=model, messages=MESSAGES)

    assert complete.pool.client().timeout.read == SHORT
    with pytest.raises(openai.APITimeoutError):
        complete()
