"""Ollama-compatible routes: chat, generate (NDJSON or JSON), embed, ps, tags."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from llmwarm.sim._config import parse_duration
from llmwarm.sim._content import count_tokens, embed, generate_tokens, text_of
from llmwarm.sim._engine import Lease, SimHTTPError, SimulatedDisconnect, Simulator
from llmwarm.sim._http import TrackedStream, answer_or_drop, dumps, json_response, read_json

__all__ = ["ollama_routes"]

_FOREVER = datetime(2318, 1, 1, tzinfo=timezone.utc)
_SIZE = 2_000_000_000
_DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "llmwarm-sim",
    "families": ["llmwarm-sim"],
    "parameter_size": "1B",
    "quantization_level": "Q4_0",
}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _ns(sim_seconds: float) -> int:
    return round(sim_seconds * 1e9)


async def _parse(request: Request) -> tuple[Simulator, dict[str, Any], str, float]:
    sim: Simulator = request.app.state.sim
    body = await read_json(request)
    model = body.get("model")
    if not model:
        raise SimHTTPError(400, "model is required")
    if not isinstance(model, str):
        raise SimHTTPError(400, "invalid model name")
    if not sim.config.is_known(model):
        raise SimHTTPError(404, f"model '{model}' not found", code="model_not_found")
    if body.get("keep_alive") is None:
        keep_alive = sim.config.policy_for(model).keep_alive
    else:
        try:
            keep_alive = parse_duration(body["keep_alive"])
        except ValueError as exc:
            raise SimHTTPError(400, f"time: {exc}") from None
    return sim, body, model, keep_alive


def _num_predict(body: dict[str, Any], limit: int) -> tuple[int, str]:
    options = body.get("options")
    wanted = options.get("num_predict") if isinstance(options, dict) else None
    if isinstance(wanted, int) and not isinstance(wanted, bool) and 0 < wanted < limit:
        return wanted, "length"
    return limit, "stop"


async def chat(request: Request) -> Response:
    """``POST /api/chat``: streamed NDJSON by default; no messages only loads the model."""
    sim, body, model, keep_alive = await _parse(request)
    messages = body.get("messages")
    if messages is not None and not isinstance(messages, list):
        raise SimHTTPError(400, "messages must be an array")
    return await _respond(sim, body, model, keep_alive, text_of(messages or []), chat=True)


async def generate(request: Request) -> Response:
    """``POST /api/generate``: streamed NDJSON by default; no prompt only loads the model."""
    sim, body, model, keep_alive = await _parse(request)
    prompt = body.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise SimHTTPError(400, "prompt must be a string")
    return await _respond(sim, body, model, keep_alive, prompt or "", chat=False)


def _part(model: str, text: str, *, chat: bool, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"model": model, "created_at": _now_iso()}
    if chat:
        data["message"] = {"role": "assistant", "content": text}
    else:
        data["response"] = text
    data.update(extra)
    return data


async def _respond(
    sim: Simulator, body: dict[str, Any], model: str, keep_alive: float, prompt: str, *, chat: bool
) -> Response:
    stream = body.get("stream") is not False
    if not prompt:  # Ollama semantics: a model and no prompt only loads (or unloads) it
        if keep_alive == 0:
            sim.registry.unload(model, sim.now())
            return json_response(_part(model, "", chat=chat, done=True, done_reason="unload"))
        lease = await sim.admit(model)
        lease.release(keep_alive)
        data = _part(model, "", chat=chat, done=True, done_reason="load")
        return json_response(data, cold=lease.cold)

    n, reason = _num_predict(body, sim.config.max_tokens)
    tokens = generate_tokens(prompt, n)
    tokens_in = count_tokens(prompt)
    lease = await sim.admit(model)
    policy = lease.policy

    def final(sent: int) -> dict[str, Any]:
        eval_time = sent * policy.token_time
        total = lease.load_wait + policy.ttft + eval_time
        return _part(
            model,
            "",
            chat=chat,
            done=True,
            done_reason=reason,
            total_duration=_ns(total),
            load_duration=_ns(lease.load_wait),
            prompt_eval_count=tokens_in,
            prompt_eval_duration=_ns(policy.ttft),
            eval_count=sent,
            eval_duration=_ns(eval_time),
        )

    if stream:
        sent = [0]

        async def lines() -> AsyncIterator[bytes]:
            for i, token in enumerate(tokens):
                await sim.sleep((policy.ttft if i == 0 else 0.0) + policy.token_time)
                if lease.disconnect and i >= n // 2:
                    raise SimulatedDisconnect
                yield dumps(_part(model, token, chat=chat, done=False)) + b"\n"
                sent[0] += 1
            yield dumps(final(n)) + b"\n"

        return TrackedStream(
            lines(),
            cold=lease.cold,
            media_type="application/x-ndjson",
            on_close=lambda: lease.release(keep_alive, tokens_in=tokens_in, tokens_out=sent[0]),
        )
    try:
        await sim.sleep(policy.ttft + n * policy.token_time)
    except BaseException:
        lease.release(keep_alive, tokens_in=tokens_in)
        raise
    data = final(n)
    data["message" if chat else "response"] = (
        {"role": "assistant", "content": "".join(tokens)} if chat else "".join(tokens)
    )
    return _answer(lease, data, keep_alive, tokens_in=tokens_in, tokens_out=n)


def _answer(
    lease: Lease, data: dict[str, Any], keep_alive: float, *, tokens_in: int, tokens_out: int
) -> Response:
    """Release ``lease`` and answer ``data`` (or a truncated body, for a disconnect fault)."""
    return answer_or_drop(
        data,
        cold=lease.cold,
        disconnect=lease.disconnect,
        release=lambda: lease.release(keep_alive, tokens_in=tokens_in, tokens_out=tokens_out),
        abandon=lambda: lease.release(keep_alive, tokens_in=tokens_in),
    )


async def embed_route(request: Request) -> Response:
    """``POST /api/embed``: deterministic unit vectors, one per input."""
    sim, body, model, keep_alive = await _parse(request)
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise SimHTTPError(400, "invalid input type")
    dims = body.get("dimensions")
    dims = dims if isinstance(dims, int) and not isinstance(dims, bool) and dims > 0 else 768
    tokens_in = sum(count_tokens(text) for text in inputs)
    lease = await sim.admit(model)
    try:
        await sim.sleep(lease.policy.ttft)
    except BaseException:
        lease.release(keep_alive, tokens_in=tokens_in)
        raise
    data = {
        "model": model,
        "embeddings": [embed(text, dims) for text in inputs],
        "total_duration": _ns(lease.load_wait + lease.policy.ttft),
        "load_duration": _ns(lease.load_wait),
        "prompt_eval_count": tokens_in,
    }
    return _answer(lease, data, keep_alive, tokens_in=tokens_in, tokens_out=0)


def _model_entry(name: str) -> dict[str, Any]:
    return {"name": name, "model": name, "size": _SIZE, "digest": "0" * 64, "details": _DETAILS}


async def ps(request: Request) -> Response:
    """``GET /api/ps``: the loaded models and when each unloads (wall-clock time)."""
    sim: Simulator = request.app.state.sim
    now = sim.now()
    models = []
    for state in sim.registry.loaded(now):
        if state.active:
            expires = now + sim.config.policy_for(state.name).keep_alive
        else:
            expires = state.expires_at
        if math.isinf(expires):
            expires_at = _FOREVER
        else:
            expires_at = datetime.fromtimestamp(sim.wall_time_of(expires), timezone.utc)
        entry = _model_entry(state.name)
        entry.update(expires_at=expires_at.isoformat(), size_vram=_SIZE, context_length=4096)
        models.append(entry)
    return json_response({"models": models})


async def tags(request: Request) -> Response:
    """``GET /api/tags``: the known models, else every model configured or seen so far."""
    sim: Simulator = request.app.state.sim
    names = sim.config.known_models
    if names is None:
        names = tuple(dict.fromkeys([*sim.config.models, *sim.registry.known()]))
    entries = [{**_model_entry(n), "modified_at": _now_iso()} for n in names]
    return json_response({"models": entries})


async def root(request: Request) -> Response:
    """``GET /``: Ollama's liveness answer."""
    return PlainTextResponse("Ollama is running")


def ollama_routes() -> list[Route]:
    """Return the Ollama-compatible routes (mounted under ``/api``)."""
    return [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/embed", embed_route, methods=["POST"]),
        Route("/api/ps", ps, methods=["GET"]),
        Route("/api/tags", tags, methods=["GET"]),
    ]
