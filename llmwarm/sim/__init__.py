"""A cold-start simulator: a local OpenAI- and Ollama-compatible LLM server.

Models start unloaded; the first request waits ``cold_start`` simulated seconds while the
model loads, later ones are warm until the model has been idle for ``keep_alive``. A
model's ``cold_start_style`` (:data:`STYLES`) says how it answers while not ready: it
blocks, answers ``503`` loading (Hugging Face), ``503``/``429`` not ready (serverless), or
sleeps and wakes fast (vLLM).
``time_scale`` compresses every duration, so tests run hours of traffic in seconds::

    from openai import OpenAI
    from llmwarm.sim import serve

    with serve(cold_start=14, time_scale=0.01) as base_url:
        client = OpenAI(base_url=f"{base_url}/v1", api_key="sk-sim")
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])  # ~0.14 s

Requires the ``sim`` extra (``pip install 'llmwarm[sim]'``). See ``docs/sim.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmwarm.sim._config import (
    DEFAULT_COLD_START,
    DEFAULT_COLD_START_JITTER,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_TOKENS,
    DEFAULT_TOKEN_TIME,
    DEFAULT_TTFT,
    DEFAULT_WAKE_TIME,
    STYLES,
    ModelPolicy,
    SimConfig,
    parse_duration,
)
from llmwarm.sim._engine import Simulator
from llmwarm.sim._model import ModelRegistry, ModelState, Ticket

if TYPE_CHECKING:
    from llmwarm.sim._app import create_app
    from llmwarm.sim._server import SimServer, aserve, serve
    from llmwarm.sim.traffic import diurnal, periodic, poisson, sessions

__all__ = [
    "DEFAULT_COLD_START",
    "DEFAULT_COLD_START_JITTER",
    "DEFAULT_KEEP_ALIVE",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_TOKEN_TIME",
    "DEFAULT_TTFT",
    "DEFAULT_WAKE_TIME",
    "ModelPolicy",
    "ModelRegistry",
    "ModelState",
    "STYLES",
    "SimConfig",
    "SimServer",
    "Simulator",
    "Ticket",
    "aserve",
    "create_app",
    "diurnal",
    "parse_duration",
    "periodic",
    "poisson",
    "serve",
    "sessions",
]

# The server side needs the ``sim`` extra (starlette, uvicorn): import it on first use, so
# that ``llmwarm --help`` and ``llmwarm.sim.cli`` work without it.
_LAZY = {
    "create_app": "llmwarm.sim._app",
    "SimServer": "llmwarm.sim._server",
    "serve": "llmwarm.sim._server",
    "aserve": "llmwarm.sim._server",
    # Traffic shapes need no extra; lazy only so that the server-less import stays small.
    "diurnal": "llmwarm.sim.traffic",
    "periodic": "llmwarm.sim.traffic",
    "poisson": "llmwarm.sim.traffic",
    "sessions": "llmwarm.sim.traffic",
}


def __getattr__(name: str) -> Any:
    """Import the server-side names on first use, with a hint when the extra is missing."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmwarm.sim' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ImportError(
            f"llmwarm.sim.{name} needs the 'sim' extra: pip install 'llmwarm[sim]' ({exc})"
        ) from exc
    globals()[name] = value
    return value
