"""Read what ``@traced`` needs from clients and responses, without importing any SDK.

Everything here is duck-typed: OpenAI pydantic objects (chat completions, chunks, the
Responses API), Ollama 0.6 responses (pydantic ``ChatResponse``/``GenerateResponse``) and
plain dicts of the same shapes all read alike. Nothing here ever reads a credential: only
class names, module names and the client's ``base_url`` host and port are looked at.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

import orjson

from llmwarm._core import base_url_of

__all__ = [
    "NO_ENDPOINT",
    "Endpoint",
    "Facts",
    "ResponseFacts",
    "endpoint_of",
    "facts_of",
    "messages_json",
    "provider_of_result",
]

_HOST_PROVIDERS = (
    (".openai.azure.com", "azure.ai.openai"),
    ("api.openai.com", "openai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.anthropic.com", "anthropic"),
    ("api.cohere.com", "cohere"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.moonshot.ai", "moonshot_ai"),
)


class Endpoint:
    """Provider name and server address/port learnt from a client object."""

    __slots__ = ("address", "port", "provider")

    def __init__(self, provider: str | None, address: str | None, port: int | None) -> None:
        self.provider = provider
        self.address = address
        self.port = port


NO_ENDPOINT = Endpoint(None, None, None)
"""What a call with no client tells (shared: an Endpoint is never changed)."""
_endpoints: weakref.WeakKeyDictionary[Any, Endpoint] = weakref.WeakKeyDictionary()


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _infer(client: Any) -> Endpoint:
    kind = type(client)
    module = kind.__module__ or ""
    names = {k.__name__ for k in kind.__mro__}
    address: str | None = None
    port: int | None = None
    url = base_url_of(client)
    if url is not None:
        address = getattr(url, "host", None) or None
        port = getattr(url, "port", None)
        if port is None:
            scheme = getattr(url, "scheme", "")
            port = 443 if scheme == "https" else 80 if scheme == "http" else None
    provider: str | None = None
    if "AzureOpenAI" in names or "AsyncAzureOpenAI" in names:
        provider = "azure.ai.openai"
    elif module.startswith("ollama"):
        provider = "ollama"
    if provider is None and address:
        for suffix, name in _HOST_PROVIDERS:
            if address.endswith(suffix):
                provider = name
                break
        if provider is None and port == 11434:  # Ollama's own port, OpenAI-compatible API
            provider = "ollama"
    if provider is None and module.startswith("openai"):
        provider = "openai"
    return Endpoint(provider, address, port)


def endpoint_of(client: Any) -> Endpoint:
    """Return what the class and ``base_url`` of ``client`` tell (cached per client)."""
    if client is None:
        return NO_ENDPOINT
    try:
        found = _endpoints.get(client)
    except TypeError:  # not weak-referenceable or not hashable
        return _infer(client)
    if found is None:
        found = _infer(client)
        with contextlib.suppress(TypeError):
            _endpoints[client] = found
    return found


def provider_of_result(result: Any) -> str | None:
    """Guess the provider from the module of a response object (``openai``, ``ollama``)."""
    module = type(result).__module__ or ""
    if module.startswith("openai"):
        return "openai"
    if module.startswith("ollama"):
        return "ollama"
    return None


#: What a traced call learns from its response: model, id, finish reasons, input and output
#: tokens, answer text (``None`` unless content is captured).
Facts = tuple[str | None, str | None, list[str], int | None, int | None, list[str] | None]


def facts_of(response: Any, content: bool) -> Facts:
    """Read what ``@traced`` records from a whole response (not a stream).

    Every traced call that returns a value reads it here. An OpenAI chat completion (an
    object whose ``choices`` is a non-empty list and whose ``usage``, if any, has
    ``prompt_tokens``/``completion_tokens``) is read into locals with no per-call object;
    any other shape (a dict, Ollama, the Responses API), or a call that captures content,
    goes through :meth:`ResponseFacts.read`, which gives the same answers.
    """
    choices = None if content or isinstance(response, dict) else getattr(response, "choices", None)
    if type(choices) is list and choices:
        usage = getattr(response, "usage", None)
        tin = tout = None
        if usage is not None:  # a dict, or the Responses API's names, go the long way
            tin = getattr(usage, "prompt_tokens", None)
            tout = getattr(usage, "completion_tokens", None)
        if usage is None or (tin is not None and tout is not None):
            model = getattr(response, "model", None)
            rid = getattr(response, "id", None)
            reasons = []
            for choice in choices:
                reason = (
                    choice.get("finish_reason")
                    if isinstance(choice, dict)
                    else getattr(choice, "finish_reason", None)
                )
                if isinstance(reason, str) and reason:
                    reasons.append(reason)
            return (
                model if isinstance(model, str) and model else None,
                rid if isinstance(rid, str) and rid else None,
                reasons,
                tin if isinstance(tin, int) else None,
                tout if isinstance(tout, int) else None,
                None,
            )
    facts = ResponseFacts()
    facts.read(response, content=content)
    return facts.facts()


class ResponseFacts:
    """Response model, id, finish reasons, token usage and text, from a value or a stream."""

    __slots__ = ("finish_reasons", "id", "input_tokens", "model", "output_tokens", "text")

    def __init__(self) -> None:
        self.model: str | None = None
        self.id: str | None = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.text: list[str] = []

    def facts(self) -> Facts:
        """Return what was read so far, as :func:`facts_of` returns it."""
        return (
            self.model, self.id, self.finish_reasons, self.input_tokens, self.output_tokens,
            self.text,
        )  # fmt: skip

    def read(self, response: Any, *, chunk: bool = False, content: bool = False) -> None:
        """Merge what ``response`` (a whole response or one stream chunk) says."""
        if response is None:
            return
        # Every traced call reads its response: plain getattr/dict.get calls here, not a
        # helper per field (a closure and seven calls were 1.5 us of a ChatCompletion).
        is_dict = isinstance(response, dict)
        if is_dict:
            model = response.get("model")
            rid = response.get("id")
            usage = response.get("usage")
            choices = response.get("choices")
        else:
            model = getattr(response, "model", None)
            rid = getattr(response, "id", None)
            usage = getattr(response, "usage", None)
            choices = getattr(response, "choices", None)
        if isinstance(model, str) and model:
            self.model = model
        if isinstance(rid, str) and rid:
            self.id = rid
        if usage is not None:
            if isinstance(usage, dict):
                tin = usage.get("prompt_tokens")
                tout = usage.get("completion_tokens")
            else:
                tin = getattr(usage, "prompt_tokens", None)
                tout = getattr(usage, "completion_tokens", None)
            tin = _get(usage, "input_tokens") if tin is None else tin
            tout = _get(usage, "output_tokens") if tout is None else tout
            if isinstance(tin, int):
                self.input_tokens = tin
            if isinstance(tout, int):
                self.output_tokens = tout
        if choices:
            for choice in choices:
                reason = (
                    choice.get("finish_reason")
                    if isinstance(choice, dict)
                    else getattr(choice, "finish_reason", None)
                )
                if isinstance(reason, str) and reason:
                    self.finish_reasons.append(reason)
                if content:
                    holder = _get(choice, "delta" if chunk else "message")
                    text = _get(holder, "content") if holder is not None else None
                    if isinstance(text, str):
                        self.text.append(text)
            return
        if choices is not None:  # an OpenAI object (a usage-only final chunk): done
            return
        # Ollama: done_reason, prompt_eval_count, eval_count; message.content or response.
        # The accessor is made only here, off the OpenAI path every chat call takes.
        if is_dict:
            get: Any = response.get
        else:

            def get(name: str, _r: Any = response) -> Any:
                return getattr(_r, name, None)

        reason = get("done_reason")
        if isinstance(reason, str) and reason:
            self.finish_reasons.append(reason)
        elif get("status") == "completed":  # OpenAI Responses API
            self.finish_reasons.append("stop")
        tin = get("prompt_eval_count")
        tout = get("eval_count")
        if isinstance(tin, int):
            self.input_tokens = tin
        if isinstance(tout, int):
            self.output_tokens = tout
        if content:
            message = get("message")
            text = _get(message, "content") if message is not None else None
            if text is None:
                text = get("response")
            if text is None:
                text = get("output_text")
            if isinstance(text, str):
                self.text.append(text)


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        parts: list[dict[str, Any]] = []
        for part in content:
            text = _get(part, "text")
            if isinstance(text, str):
                parts.append({"type": "text", "content": text})
            else:
                parts.append({"type": str(_get(part, "type") or "unknown")})
        return parts
    return []


def messages_json(messages: Any) -> str | None:
    """Format chat messages (or a prompt string) as ``gen_ai.input.messages`` JSON."""
    if isinstance(messages, str):
        out = [{"role": "user", "parts": _parts(messages)}]
    elif isinstance(messages, (list, tuple)):
        out = []
        for message in messages:
            role = _get(message, "role")
            out.append(
                {
                    "role": role if isinstance(role, str) else "user",
                    "parts": _parts(_get(message, "content")),
                }
            )
    else:
        return None
    return orjson.dumps(out).decode()


def output_json(text: list[str], finish_reasons: list[str]) -> str:
    """Format the collected answer text as ``gen_ai.output.messages`` JSON."""
    message: dict[str, Any] = {
        "role": "assistant",
        "parts": [{"type": "text", "content": "".join(text)}],
    }
    if finish_reasons:
        message["finish_reason"] = finish_reasons[-1]
    return orjson.dumps([message]).decode()
