"""Ping adapters for ``@warm(ping=...)``: the smallest request that keeps a model loaded.

Each factory returns a callable taking the model name: a plain function for a sync client,
an ``async def`` for an async one (``@warm`` awaits it on its loop)::

    @warm("gpt-4o-mini", interval=240, ping=pings.openai_chat(client))
    @warm("llama3.2", interval=240, ping=pings.ollama_preload("http://localhost:11434"))
    @warm("my-model", interval=240, ping=pings.vllm_wake_up("http://localhost:8000"))

Every ping waits out a "model loading" answer (it goes through ``@warm``'s own wait,
:func:`llmwarm._core.loading.until_ready`): a cold start in progress, not a failure.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

__all__ = [
    "DEFAULT_OLLAMA_KEEP_ALIVE",
    "DEFAULT_OLLAMA_URL",
    "DEFAULT_VLLM_URL",
    "ollama_preload",
    "openai_chat",
    "vllm_wake_up",
]

DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_OLLAMA_KEEP_ALIVE = "10m"
DEFAULT_VLLM_URL = "http://localhost:8000"
_TIMEOUT = 120.0  # a cold load can take a while; a ping is never on a user's path


def openai_chat(
    client: Any,
    *,
    prompt: str = "ping",
    token_parameter: str = "max_tokens",
    **create_kwargs: Any,
) -> Callable[[str], Any]:
    """Return a ping that asks ``client`` (``OpenAI`` or ``AsyncOpenAI``) for 1 output token.

    Works with any OpenAI-compatible server (Azure OpenAI, vLLM, Ollama's ``/v1``...).
    Newer OpenAI reasoning models take ``token_parameter="max_completion_tokens"``;
    ``create_kwargs`` are passed on to ``chat.completions.create``.

    .. versionadded:: 0.1.0
    """
    create = getattr(getattr(getattr(client, "chat", None), "completions", None), "create", None)
    if not callable(create):
        raise TypeError(
            f"client must be an OpenAI or AsyncOpenAI client (with chat.completions.create), "
            f"got {client!r}."
        )
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}.")
    options = {"messages": [{"role": "user", "content": prompt}], token_parameter: 1}
    options.update(create_kwargs)

    if _is_async(client, create):

        async def aping(model: str) -> Any:
            return await create(model=model, **options)

        return aping

    def ping(model: str) -> Any:
        return create(model=model, **options)

    return ping


def _is_async(client: Any, method: Any) -> bool:
    # SDK decorators can hide a coroutine function (openai's `create`): the class tells.
    return inspect.iscoroutinefunction(method) or type(client).__name__.startswith("Async")


def _keep_alive(value: object) -> str | float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(
            f'keep_alive must be a duration such as "10m", seconds or a timedelta, got {value!r}.'
        )
    if isinstance(value, str) and not value:
        raise ValueError('keep_alive must be a duration such as "10m", got an empty string.')
    return value


def ollama_preload(
    client: Any = DEFAULT_OLLAMA_URL,
    *,
    keep_alive: str | float | timedelta = DEFAULT_OLLAMA_KEEP_ALIVE,
    asynchronous: bool = False,
) -> Callable[[str], Any]:
    """Return a ping that loads a model in Ollama: the model name only, no prompt.

    ``client`` is an Ollama base URL (requests sent with ``httpx``; ``asynchronous=True``
    for an async ping), an ``ollama.Client`` or an ``ollama.AsyncClient``. ``keep_alive``
    (top level of the request) sets how long Ollama keeps the model loaded afterwards.
    The ping sets the window: ``@warm``'s policy passes ``keep_alive=`` seconds covering
    the busy period it predicts, one preload instead of a ping per window.

    .. versionchanged:: 0.2.0 the ping takes an optional ``keep_alive=`` (seconds).

    .. versionadded:: 0.1.0
    """
    alive = _keep_alive(keep_alive)
    if isinstance(client, str):
        if not client.startswith(("http://", "https://")):
            raise ValueError(f"client must be an http(s) URL or an Ollama client, got {client!r}.")
        return _http_preload(client.rstrip("/"), alive, asynchronous)
    generate = getattr(client, "generate", None)
    if not callable(generate):
        raise TypeError(
            f"client must be an Ollama base URL, ollama.Client or ollama.AsyncClient, "
            f"got {client!r}."
        )
    if _is_async(client, generate):

        async def aping(model: str, keep_alive: float | None = None) -> Any:
            return await generate(
                model=model, keep_alive=alive if keep_alive is None else keep_alive
            )

        return _sets_window(aping)

    def ping(model: str, keep_alive: float | None = None) -> Any:
        return generate(model=model, keep_alive=alive if keep_alive is None else keep_alive)

    return _sets_window(ping)


def _sets_window(ping: Callable[..., Any]) -> Callable[..., Any]:
    # `@warm` asks a ping marked so for the whole predicted busy period (``keep_alive=``
    # seconds) instead of one ping per window.
    ping.sets_window = True  # type: ignore[attr-defined]
    return ping


def _http_preload(url: str, alive: str | float, asynchronous: bool) -> Callable[..., Any]:
    import httpx

    endpoint = f"{url}/api/generate"

    def body(model: str, keep_alive: float | None) -> dict[str, Any]:
        window = alive if keep_alive is None else keep_alive
        return {"model": model, "keep_alive": window, "stream": False}

    if asynchronous:

        async def aping(model: str, keep_alive: float | None = None) -> Any:
            async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
                response = await http.post(endpoint, json=body(model, keep_alive))
                return response.raise_for_status().json()

        return _sets_window(aping)

    def ping(model: str, keep_alive: float | None = None) -> Any:
        with httpx.Client(timeout=_TIMEOUT) as http:
            return http.post(endpoint, json=body(model, keep_alive)).raise_for_status().json()

    return _sets_window(ping)


def vllm_wake_up(
    base_url: str = DEFAULT_VLLM_URL,
    *,
    ping: Callable[[str], Any] | None = None,
    api_key: str | None = None,
    asynchronous: bool = False,
) -> Callable[[str], Any]:
    """Return a ping that wakes a vLLM server in sleep mode: ``POST /wake_up``.

    A sleeping vLLM server (``--enable-sleep-mode``, put to sleep with ``POST /sleep``)
    wakes in seconds instead of a full load. ``base_url`` is the server's root (a trailing
    ``/v1`` is dropped: the sleep routes are not under it). ``ping``, if given (e.g.
    :func:`openai_chat` on the same server), is called after the wake with the model
    name, so the ping is also traffic for whatever puts the server to sleep when idle.
    ``api_key`` is sent as a bearer token. Returns ``GET /is_sleeping``'s answer (or
    ``ping``'s, when given).

    .. versionadded:: 0.2.0
    """
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}.")
    if ping is not None and not callable(ping):
        raise TypeError(f"ping must be a callable taking the model name, got {ping!r}.")
    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    import httpx

    if asynchronous:
        then_async = inspect.iscoroutinefunction(ping)

        async def aping(model: str) -> Any:
            async with httpx.AsyncClient(timeout=_TIMEOUT, headers=headers) as http:
                (await http.post(f"{root}/wake_up")).raise_for_status()
                state = (await http.get(f"{root}/is_sleeping")).raise_for_status().json()
            if ping is None:
                return state
            return await ping(model) if then_async else ping(model)

        return aping

    def wake(model: str) -> Any:
        with httpx.Client(timeout=_TIMEOUT, headers=headers) as http:
            http.post(f"{root}/wake_up").raise_for_status()
            state = http.get(f"{root}/is_sleeping").raise_for_status().json()
        return state if ping is None else ping(model)

    return wake
