"""Ping adapters for ``@warm(ping=...)``.

The code lives in ``llmwarm.warm.pings``; this path stays for users.
"""

from llmwarm.warm.pings import (
    DEFAULT_OLLAMA_KEEP_ALIVE,
    DEFAULT_OLLAMA_URL,
    DEFAULT_VLLM_URL,
    ollama_preload,
    openai_chat,
    vllm_wake_up,
)

__all__ = [
    "DEFAULT_OLLAMA_KEEP_ALIVE",
    "DEFAULT_OLLAMA_URL",
    "DEFAULT_VLLM_URL",
    "ollama_preload",
    "openai_chat",
    "vllm_wake_up",
]
