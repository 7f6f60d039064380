"""OpenAI-compatible routes: chat completions (JSON and SSE), embeddings, models."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmwarm.sim._content import count_tokens, embed, encode_base64, generate_tokens, text_of
from llmwarm.sim._engine import Lease, SimHTTPError, SimulatedDisconnect, Simulator
from llmwarm.sim._http import (
    TrackedStream,
    answer_or_drop,
    dumps,
    json_response,
    optional_int,
    read_json,
    require_str,
)

__all__ = ["DEFAULT_EMBEDDING_DIMENSIONS", "openai_routes"]

DEFAULT_EMBEDDING_DIMENSIONS = 1536


def _sim(request: Request) -> Simulator:
    sim: Simulator = request.app.state.sim
    return sim


def _chunk(cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    data = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }
    return b"data: " + dumps(data) + b"\n\n"


async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``: a completion after the simulated load and latency."""
    sim = _sim(request)
    body = await read_json(request)
    model = require_str(body, "model")
    messages = body.get("messages")
    if messages is None:
        raise SimHTTPError(400, "Missing required parameter: 'messages'.", param="messages")
    if not isinstance(messages, list) or not messages:
        raise SimHTTPError(422, "Invalid 'messages': expected a non-empty array.", param="messages")
    max_tokens = optional_int(body, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = optional_int(body, "max_tokens")
    stream = body.get("stream") is True
    options = body.get("stream_options")
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    prompt = text_of(messages)
    tokens_in = count_tokens(prompt)
    limit = sim.config.max_tokens
    n = limit if max_tokens is None else min(max_tokens, limit)
    finish = "length" if max_tokens is not None and max_tokens < limit else "stop"
    tokens = generate_tokens(prompt, n)
    usage = {"prompt_tokens": tokens_in, "completion_tokens": n, "total_tokens": tokens_in + n}
    cid = f"chatcmpl-sim{uuid.uuid4().hex[:24]}"
    created = int(time.time())

    lease = await sim.admit(model)
    policy = lease.policy
    if stream:
        sent = [0]

        async def events() -> AsyncIterator[bytes]:
            for i, token in enumerate(tokens):
                await sim.sleep((policy.ttft if i == 0 else 0.0) + policy.token_time)
                if lease.disconnect and i >= n // 2:
                    raise SimulatedDisconnect
                delta = {"role": "assistant", "content": token} if i == 0 else {"content": token}
                yield _chunk(cid, created, model, delta, None)
                sent[0] += 1
            yield _chunk(cid, created, model, {}, finish)
            if include_usage:
                final = {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": usage,
                }
                yield b"data: " + dumps(final) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return TrackedStream(
            events(),
            cold=lease.cold,
            media_type="text/event-stream",
            on_close=lambda: lease.release(tokens_in=tokens_in, tokens_out=sent[0]),
        )

    try:
        await sim.sleep(policy.ttft + n * policy.token_time)
    except BaseException:
        lease.release(tokens_in=tokens_in)
        raise
    payload = {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(tokens), "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": usage,
    }
    wait = lease.load_wait + policy.ttft + n * policy.token_time
    return _finish(lease, payload, tokens_in=tokens_in, tokens_out=n, wait=wait)


def _finish(
    lease: Lease,
    payload: dict[str, Any],
    *,
    tokens_in: int,
    tokens_out: int,
    wait: float | None = None,
) -> Response:
    """Release ``lease`` and answer ``payload`` (or a truncated body, for a disconnect fault)."""
    return answer_or_drop(
        payload,
        cold=lease.cold,
        disconnect=lease.disconnect,
        release=lambda: lease.release(tokens_in=tokens_in, tokens_out=tokens_out),
        abandon=lambda: lease.release(tokens_in=tokens_in),
        wait=wait,
    )


async def embeddings(request: Request) -> Response:
    """``POST /v1/embeddings``: deterministic unit vectors from a hash of each input."""
    sim = _sim(request)
    body = await read_json(request)
    model = require_str(body, "model")
    raw = body.get("input")
    if raw is None:
        raise SimHTTPError(400, "Missing required parameter: 'input'.", param="input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw:
        inputs = [item if isinstance(item, str) else dumps(item).decode() for item in raw]
        if all(isinstance(item, int) for item in raw):
            inputs = [dumps(raw).decode()]
    else:
        raise SimHTTPError(422, "Invalid 'input': expected a string or an array.", param="input")
    dims = optional_int(body, "dimensions") or DEFAULT_EMBEDDING_DIMENSIONS
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise SimHTTPError(
            422, "Invalid 'encoding_format': expected 'float' or 'base64'.", param="encoding_format"
        )
    tokens_in = sum(count_tokens(text) for text in inputs)
    lease = await sim.admit(model)
    try:
        await sim.sleep(lease.policy.ttft)
    except BaseException:
        lease.release(tokens_in=tokens_in)
        raise
    data = []
    for index, text in enumerate(inputs):
        vector = embed(text, dims)
        encoded: object = encode_base64(vector) if fmt == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    payload = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens_in, "total_tokens": tokens_in},
    }
    return _finish(lease, payload, tokens_in=tokens_in, tokens_out=0)


async def list_models(request: Request) -> Response:
    """``GET /v1/models``: the known models, else every model configured or seen so far."""
    sim = _sim(request)
    names = sim.config.known_models
    if names is None:
        names = tuple(dict.fromkeys([*sim.config.models, *sim.registry.known()]))
    data = [{"id": n, "object": "model", "created": 0, "owned_by": "llmwarm-sim"} for n in names]
    return json_response({"object": "list", "data": data})


def openai_routes() -> list[Route]:
    """Return the OpenAI-compatible routes (mounted under ``/v1``)."""
    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
    ]
