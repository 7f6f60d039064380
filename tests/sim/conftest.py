"""Fixtures for the simulator's own tests: SDK clients bound to ``sim_server``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import ollama
import openai
import pytest

from llmwarm.sim import SimServer


@pytest.fixture
def oai(sim_server: SimServer) -> Iterator[openai.OpenAI]:
    """A sync OpenAI client on the simulator, without retries."""
    client = openai.OpenAI(base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0)
    with client:
        yield client


@pytest.fixture
async def aoai(sim_server: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    """An async OpenAI client on the simulator, without retries."""
    client = openai.AsyncOpenAI(
        base_url=sim_server.openai_base_url, api_key="sk-sim", max_retries=0
    )
    async with client:
        yield client


@pytest.fixture
def oll(sim_server: SimServer) -> Iterator[ollama.Client]:
    """An Ollama client on the simulator."""
    with ollama.Client(host=str(sim_server)) as client:
        yield client
