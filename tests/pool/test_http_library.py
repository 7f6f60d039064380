"""``llmwarm.pool.http_library``: the HTTP library ``@pooled`` builds a factory's client on."""

from __future__ import annotations

import importlib
from typing import Any

import ollama
import openai
import pytest

import llmwarm
from llmwarm.pool import http_library, pooled


def test_the_library_is_the_one_the_pooled_client_is_built_on() -> None:
    # What a user hands @pooled as a transport must be of this very library.
    for factory, kwargs in (
        (openai.OpenAI, {"api_key": "k", "base_url": "http://127.0.0.1:9/v1"}),
        (ollama.Client, {"host": "http://127.0.0.1:9"}),
    ):

        @pooled(factory, **kwargs)
        def complete(*, client: Any = None) -> Any:
            return client

        http = complete.pool.http_client()
        assert type(http).__module__.split(".")[0] == http_library(factory)
        assert isinstance(http, importlib.import_module(http_library(factory)).Client)
        complete.pool.close()


def test_each_sdk_gets_the_library_it_is_built_on() -> None:
    assert http_library(ollama.AsyncClient) == "httpx"  # its module imports httpx
    assert http_library(None) == "httpx"  # http_client functions: a plain httpx client
    # openai 3.x says httpx2 in its http_client annotation; an older one, httpx.
    assert http_library(openai.AsyncOpenAI) in ("httpx2", "httpx")


def test_a_factory_that_cannot_take_a_pool_is_refused() -> None:
    def factory(api_key: str) -> object:
        return object()

    with pytest.raises(llmwarm.ConfigError, match="cannot be given a pooled"):
        http_library(factory)
