"""HTTP helpers shared by the OpenAI and Ollama routes: bodies, responses, field checks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from llmwarm.sim._engine import SimHTTPError, SimulatedDisconnect, SimulatorStopping

__all__ = ["COLD_HEADER", "TrackedStream", "dumps", "json_response", "optional_int", "read_json"]

COLD_HEADER = "x-sim-cold-start"
#: Simulated seconds the server waited before answering (load, then for a complete
#: response also time to first token and tokens): lets a client that runs the simulator
#: with a compressed clock tell simulated waiting from its own real overhead.
WAIT_HEADER = "x-sim-wait"


def dumps(data: object) -> bytes:
    """Serialise ``data`` as compact JSON bytes."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def cold_headers(cold: bool) -> dict[str, str]:
    """Return the ``x-sim-cold-start`` header for a response."""
    return {COLD_HEADER: "true" if cold else "false"}


def json_response(
    data: object, *, cold: bool = False, status: int = 200, wait: float | None = None
) -> Response:
    """Return a JSON response carrying the cold-start header (and the wait, when given)."""
    headers = cold_headers(cold)
    if wait is not None:
        headers[WAIT_HEADER] = f"{wait:.6f}"
    return Response(dumps(data), status, headers, media_type="application/json")


async def read_json(request: Request) -> dict[str, Any]:
    """Parse the request body as a JSON object, or raise a 400 naming the problem."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise SimHTTPError(
            400, f"We could not parse the JSON body of your request: {exc}."
        ) from None
    if not isinstance(body, dict):
        raise SimHTTPError(400, "The request body must be a JSON object.")
    return body


def require_str(body: dict[str, Any], name: str) -> str:
    """Return the required, non-empty string field ``name`` or raise 400/422."""
    if name not in body or body[name] is None:
        raise SimHTTPError(400, f"Missing required parameter: '{name}'.", param=name)
    value = body[name]
    if not isinstance(value, str) or not value:
        raise SimHTTPError(
            422, f"Invalid type for '{name}': expected a non-empty string.", param=name
        )
    return value


def optional_int(body: dict[str, Any], name: str, *, minimum: int = 1) -> int | None:
    """Return the optional integer field ``name`` (>= ``minimum``) or raise 422."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SimHTTPError(
            422, f"Invalid '{name}': expected an integer >= {minimum}, got {value!r}.", param=name
        )
    return value


async def _abort_on_stop(content: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Turn a stop mid-stream into a plain disconnect (the response has already started)."""
    try:
        async for chunk in content:
            yield chunk
    except SimulatorStopping:
        raise SimulatedDisconnect from None


class TrackedStream(StreamingResponse):
    """A streaming response that always runs ``on_close`` once it ends, however it ends."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        cold: bool,
        media_type: str,
        on_close: Callable[[], None],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            content, headers={**cold_headers(cold), **(headers or {})}, media_type=media_type
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the stream, then run ``on_close``."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()


def answer_or_drop(
    data: object,
    *,
    cold: bool,
    disconnect: bool,
    release: Callable[[], None],
    abandon: Callable[[], None],
    wait: float | None = None,
) -> Response:
    """Answer ``data`` as JSON, or, for a disconnect fault, half of it and a dropped socket.

    ``release`` ends the request normally; ``abandon`` ends it when the body is cut short.
    """
    if not disconnect:
        release()
        return json_response(data, cold=cold, wait=wait)
    body = dumps(data)

    async def truncated() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise SimulatedDisconnect

    return TrackedStream(
        truncated(),
        cold=cold,
        media_type="application/json",
        headers={"content-length": str(len(body))},
        on_close=abandon,
    )
