"""@pooled with SDK factories (the real openai SDK against llmwarm.sim), and its errors."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
import httpx2
import openai
import pytest

from llmwarm._core import current_record
from llmwarm.pool import DEFAULT_LIMITS, DEFAULT_TIMEOUT, from_env, pooled
from llmwarm.pool import _pooled as pool

MESSAGES = [{"role": "user", "content": "hello"}]


def test_openai_factory_builds_one_client_around_the_pooled_httpx2_client(sim_server: Any) -> None:
    @pooled(openai.OpenAI, base_url=sim_server.openai_base_url, api_key="sk-one", max_retries=0)
    def complete(*, client: Any = None, stream: bool = False) -> Any:
        record = current_record()
        assert record is not None
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=stream
        )
        return client, record.connection_reused, reply

    first, reused_first, reply = complete()
    second, reused_second, _ = complete()
    assert reply.choices[0].message.content
    assert first is second  # authenticated once, kept
    # openai 3.x is built on httpx2: the pooled client is of that library, not plain httpx
    assert isinstance(first._client, httpx2.Client)
    assert first._client is complete.pool.http_client()
    assert (reused_first, reused_second) == (False, True)
    _, _, chunks = complete(stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert sim_server.stats()["total"]["requests"] == 3


async def test_async_openai_factory_talks_to_the_simulator(sim_server: Any) -> None:
    @pooled(openai.AsyncOpenAI, base_url=sim_server.openai_base_url, api_key="sk-a", max_retries=0)
    async def complete(*, client: Any = None, stream: bool = False) -> Any:
        return await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=stream
        )

    replies = await asyncio.gather(complete(), complete(), complete())
    assert all(r.choices[0].message.content for r in replies)
    stream = await complete(stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text
    client = complete.pool.client()
    assert isinstance(client, openai.AsyncOpenAI)
    assert client._client is complete.pool.http_client()
    assert isinstance(client._client, httpx2.AsyncClient)


def test_async_openai_factory_works_across_successive_asyncio_run(sim_server: Any) -> None:
    @pooled(openai.AsyncOpenAI, base_url=sim_server.openai_base_url, api_key="sk-a", max_retries=0)
    async def complete(*, client: Any = None) -> Any:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return client

    clients = [asyncio.run(complete()) for _ in range(3)]
    assert len({id(c) for c in clients}) == 3  # one SDK client per loop's pool
    assert all(c._client.is_closed for c in clients)


def test_sdk_clients_are_cached_per_credential(
    sim_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMWARM_TEST_KEY", "sk-first")

    @pooled(
        openai.OpenAI,
        base_url=sim_server.openai_base_url,
        api_key=from_env("LLMWARM_TEST_KEY"),
        max_retries=0,
    )
    def complete(*, client: Any = None) -> Any:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return client

    first = complete()
    assert complete() is first
    assert first.api_key == "sk-first"
    monkeypatch.setenv("LLMWARM_TEST_KEY", "sk-rotated")
    rotated = complete()
    assert rotated is not first
    assert rotated.api_key == "sk-rotated"
    assert rotated._client is first._client  # one connection pool for both credentials
    (shared,) = pool._sync_pools.values()
    assert "sk-first" not in repr(shared.sdk_clients.keys())  # only a hash of the credential


def test_caller_supplied_sdk_client_is_used_as_is(sim_server: Any) -> None:
    @pooled(openai.OpenAI, base_url=sim_server.openai_base_url, api_key="sk", max_retries=0)
    def complete(*, client: Any = None) -> Any:
        return client

    with openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk") as mine:
        assert complete(client=mine) is mine
    assert complete() is complete.pool.client()


def test_from_env_missing_variable_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMWARM_TEST_MISSING", raising=False)
    key = from_env("LLMWARM_TEST_MISSING")
    assert repr(key) == "from_env('LLMWARM_TEST_MISSING')"

    @pooled(openai.OpenAI, api_key=key)
    def complete(*, client: Any = None) -> Any:
        return client

    with pytest.raises(LookupError, match=r"LLMWARM_TEST_MISSING.*'api_key'.*default="):
        complete()

    @pooled(openai.OpenAI, api_key=from_env("LLMWARM_TEST_MISSING", default="sk-default"))
    def with_default(*, client: Any = None) -> Any:
        return client

    assert with_default().api_key == "sk-default"


# ------------------------------------------------------------- decoration errors


def test_a_function_without_the_injected_parameter_is_refused() -> None:
    with pytest.raises(TypeError, match=r"injects the keyword argument 'http_client'.*f\(\)"):

        @pooled()
        def f(x: int) -> int:
            return x

    with pytest.raises(TypeError, match="injects the keyword argument 'client'"):

        @pooled(openai.OpenAI)
        def g(*, http_client: Any = None) -> None: ...

    @pooled()  # **kwargs accepts it
    def h(**kwargs: Any) -> Any:
        return kwargs["http_client"]

    assert isinstance(h(), httpx.Client)


def test_sync_and_async_sdk_classes_must_match_the_function() -> None:
    with pytest.raises(TypeError, match="use the async client class"):

        @pooled(openai.OpenAI)
        async def f(*, client: Any = None) -> None: ...

    with pytest.raises(TypeError, match="use the sync client class"):

        @pooled(openai.AsyncOpenAI)
        def g(*, client: Any = None) -> None: ...


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": "long"}, "timeout must be a finite number of seconds > 0"),
        ({"limits": 10}, "limits must be an httpx.Limits"),
        ({"http2": "yes"}, "http2 must be True or False"),
        ({"api_key": "sk"}, r"client keyword arguments \(api_key\) but no factory"),
        ({"http_options": {"timeout": 3}}, "http_options cannot set 'timeout'"),
        ({"http_options": ["verify"]}, "http_options must be a mapping"),
    ],
)
def test_bad_options_fail_at_decoration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        pooled(**options)


def test_bad_factories_fail_at_decoration() -> None:
    with pytest.raises(TypeError, match="factory must be a class or callable"):
        pooled(42)  # type: ignore[arg-type]

    async def forgot_parentheses(*, http_client: Any = None) -> None: ...

    with pytest.raises(TypeError, match=r"did you mean @pooled\(\)"):
        pooled(forgot_parentheses)


def test_http2_without_h2_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h2", None)
    with pytest.raises(ImportError, match=r"pip install 'llmwarm\[http2\]'"):
        pooled(http2=True)


def test_timeout_and_limits_accept_httpx_objects_and_numbers() -> None:
    @pooled(timeout=12.5, limits=httpx.Limits(max_connections=3))
    def f(*, http_client: Any = None) -> Any:
        return http_client

    client = f()
    assert client.timeout == httpx.Timeout(12.5)
    assert client._transport._pool._max_connections == 3

    @pooled()
    def defaults(*, http_client: Any = None) -> Any:
        return http_client

    assert defaults().timeout == DEFAULT_TIMEOUT
    assert DEFAULT_TIMEOUT.read == 600.0
    assert DEFAULT_LIMITS.keepalive_expiry == 300.0
