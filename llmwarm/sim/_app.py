"""The ASGI application: routes, authentication, error shapes and the ``/sim`` control API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmwarm.sim._config import SimConfig, make_config
from llmwarm.sim._engine import SimHTTPError, Simulator, SimulatorStopping
from llmwarm.sim._http import COLD_HEADER, dumps, json_response
from llmwarm.sim._ollama import ollama_routes
from llmwarm.sim._openai import openai_routes
from llmwarm.sim._vllm import vllm_routes

__all__ = ["create_app"]

_PROTECTED = ("/v1/", "/api/")


def _error_body(path: str, status: int, error: SimHTTPError | None, message: str) -> bytes:
    if error is not None and error.body is not None:
        return dumps(error.body)
    if not path.startswith("/v1"):
        return dumps({"error": message})
    return dumps(
        {
            "error": {
                "message": message,
                "type": error.type if error else "invalid_request_error",
                "param": error.param if error else None,
                "code": error.code if error else None,
            }
        }
    )


async def _on_error(request: Request, exc: Exception) -> Response:
    path = request.url.path
    headers = {COLD_HEADER: "false"}
    if isinstance(exc, SimHTTPError):
        headers.update(exc.headers)
        body = _error_body(path, exc.status, exc, exc.message)
        return Response(body, exc.status, headers, media_type="application/json")
    if isinstance(exc, SimulatorStopping):
        body = _error_body(path, 503, None, "The simulator is shutting down.")
        return Response(body, 503, headers, media_type="application/json")
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = "Not found." if status == 404 else str(getattr(exc, "detail", "")) or "Error."
    if status == 404 and not path.startswith("/v1"):
        message = "404 page not found"
    return Response(
        _error_body(path, status, None, message), status, headers, media_type="application/json"
    )


class _SimMiddleware:
    """Checks the bearer token on provider routes and adds ``x-sim-cold-start`` everywhere."""

    def __init__(self, app: ASGIApp, sim: Simulator) -> None:
        self.app = app
        self.api_key = sim.config.api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.api_key is not None and path.startswith(_PROTECTED) and not self._authorised(scope):
            await self._deny(path, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == COLD_HEADER.encode() for k, _ in headers):
                    headers.append((COLD_HEADER.encode(), b"false"))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)

    def _authorised(self, scope: Scope) -> bool:
        expected = f"Bearer {self.api_key}".encode()
        return any(k == b"authorization" and v == expected for k, v in scope["headers"])

    async def _deny(self, path: str, send: Send) -> None:
        if path.startswith("/v1"):
            error = SimHTTPError(
                401,
                "Incorrect API key provided. You can set the key with --api-key.",
                code="invalid_api_key",
            )
            body = _error_body(path, 401, error, error.message)
        else:
            body = dumps({"error": "unauthorized"})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (COLD_HEADER.encode(), b"false"),
            (b"www-authenticate", b"Bearer"),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _stats(request: Request) -> Response:
    sim: Simulator = request.app.state.sim
    data: dict[str, Any] = sim.registry.stats(sim.now())
    data["sim_time"] = sim.now()
    data["time_scale"] = sim.config.time_scale
    return json_response(data)


async def _reset(request: Request) -> Response:
    sim: Simulator = request.app.state.sim
    sim.reset()
    return json_response({"status": "reset"})


def create_app(
    config: SimConfig | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    **options: Any,
) -> Starlette:
    """Build the simulator's ASGI app, to serve with any ASGI server.

    Pass a :class:`SimConfig`, or its options as keywords (not both). ``clock`` returns
    real monotonic seconds (inject a fake one in tests). The app's ``state.sim`` is the
    :class:`~llmwarm.sim._engine.Simulator` holding the models' state.
    """
    if config is not None and options:
        raise TypeError("Pass either a SimConfig or keyword options to create_app(), not both.")
    sim = Simulator(config or make_config(options), clock=clock)
    routes = [
        *openai_routes(),
        *ollama_routes(),
        *vllm_routes(),
        Route("/sim/stats", _stats, methods=["GET"]),
        Route("/sim/reset", _reset, methods=["POST"]),
    ]
    handlers: dict[Any, Any] = {
        SimHTTPError: _on_error,
        SimulatorStopping: _on_error,
        HTTPException: _on_error,
    }
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_SimMiddleware, sim=sim)],
        exception_handlers=handlers,
    )
    app.state.sim = sim
    return app
