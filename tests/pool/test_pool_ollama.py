"""@pooled with the real ollama SDK against llmwarm.sim: one shared transport, reused."""

from __future__ import annotations

from typing import Any

import httpx
import ollama
import pytest

from llmwarm import ConfigError
from llmwarm.pool import pooled

MESSAGES = [{"role": "user", "content": "hello"}]
Relay = Any  # tests/pool/conftest.py: CountingRelay


def test_pooled_ollama_client_reuses_one_connection(relay: Relay) -> None:
    @pooled(ollama.Client, host=relay.url)
    def chat(*, client: Any = None) -> Any:
        return client, client.chat(model="llama3", messages=MESSAGES)

    results = [chat() for _ in range(4)]
    assert all(reply.message.content for _, reply in results)
    assert len({id(client) for client, _ in results}) == 1  # built once, kept
    assert relay.accepted == 1  # four calls, one TCP connection at the server
    transport = chat.pool.http_client()._transport
    assert isinstance(transport, httpx.HTTPTransport)
    assert results[0][0]._client._transport is transport  # the SDK's client uses the pool


async def test_pooled_async_ollama_client_reuses_one_connection(relay: Relay) -> None:
    @pooled(ollama.AsyncClient, host=relay.url)
    async def chat(*, client: Any = None, stream: bool = False) -> Any:
        return await client.chat(model="llama3", messages=MESSAGES, stream=stream)

    replies = [await chat() for _ in range(3)]
    assert all(reply.message.content for reply in replies)
    stream = await chat(stream=True)
    text = "".join([part.message.content async for part in stream])
    assert text
    assert relay.accepted == 1
    assert isinstance(chat.pool.http_client()._transport, httpx.AsyncHTTPTransport)


def test_pooled_ollama_gets_the_pool_timeout_unless_given_one(sim_server: Any) -> None:
    @pooled(ollama.Client, host=str(sim_server), timeout=12.0)
    def default(*, client: Any = None) -> Any:
        return client

    @pooled(ollama.Client, host=str(sim_server), timeout=12.0, http_options={"retries": 1})
    def other(*, client: Any = None) -> Any:
        return client

    # ollama's own default is no timeout at all; the pool's applies instead
    assert default()._client.timeout == httpx.Timeout(12.0)
    assert other()._client.timeout == httpx.Timeout(12.0)


def test_pooled_ollama_refuses_client_options_in_http_options() -> None:
    with pytest.raises(ConfigError, match=r"http_options=\{'headers'.*accepted:.*'verify'"):
        pooled(ollama.Client, http_options={"headers": {"x": "y"}})(lambda *, client=None: None)


def test_a_factory_that_takes_no_http_client_nor_kwargs_is_refused() -> None:
    def build(api_key: str) -> object:
        return object()

    with pytest.raises(ConfigError, match=r"factory=.*neither an `http_client`"):
        pooled(build, api_key="k")(lambda *, client=None: None)


def test_prewarm_opens_the_ollama_clients_connection(relay: Relay) -> None:
    @pooled(ollama.Client, host=relay.url)
    def chat(*, client: Any = None) -> Any:
        return client.chat(model="llama3", messages=MESSAGES)

    chat.pool.prewarm()  # the URL comes from the SDK client's own host
    assert relay.accepted == 1
    assert chat().message.content
    assert relay.accepted == 1  # the first call found the connection open
