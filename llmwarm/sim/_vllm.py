"""vLLM's sleep-mode routes: ``POST /sleep``, ``POST /wake_up``, ``GET /is_sleeping``.

A vLLM server serves one model; the simulator serves many, so each route acts on the
model named by ``?model=`` or, without it, on every model whose style is ``sleep``. As on a
vLLM server without sleep mode, the routes answer 404 when no model has that style.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from llmwarm.sim._engine import SimHTTPError, Simulator
from llmwarm.sim._http import cold_headers, json_response

__all__ = ["vllm_routes"]


def _targets(request: Request) -> tuple[Simulator, list[str]]:
    sim: Simulator = request.app.state.sim
    config = sim.config
    policies = [config.default_policy, *config.models.values()]
    if all(p.cold_start_style != "sleep" for p in policies):
        raise SimHTTPError(404, "Not Found")
    model = request.query_params.get("model")
    if model is not None:
        sim.check_model(model)
        if sim.config.policy_for(model).cold_start_style != "sleep":
            raise SimHTTPError(
                400, f"Model {model!r} has no sleep mode (its cold_start_style is not 'sleep')."
            )
        return sim, [model]
    known = dict.fromkeys([*sim.config.models, *sim.registry.known()])
    return sim, [m for m in known if sim.config.policy_for(m).cold_start_style == "sleep"]


async def sleep(request: Request) -> Response:
    """``POST /sleep?level=1``: put the idle, loaded sleep-mode models to sleep now."""
    sim, models = _targets(request)
    for model in models:
        sim.registry.sleep(model, sim.now())
    return Response(status_code=200)


async def wake_up(request: Request) -> Response:
    """``POST /wake_up``: wake the sleeping models; answers once they are awake."""
    sim, models = _targets(request)
    cold = False
    for model in models:
        if sim.registry.state(model).asleep:
            lease = await sim.admit(model, allow_faults=False)
            cold = cold or lease.cold
            lease.release()
    return Response(status_code=200, headers=cold_headers(cold))


async def is_sleeping(request: Request) -> Response:
    """``GET /is_sleeping``: ``{"is_sleeping": true}`` while a targeted model sleeps."""
    sim, models = _targets(request)
    sim.registry.expire(sim.now())
    asleep = any(sim.registry.state(m).asleep for m in models)
    return json_response({"is_sleeping": asleep})


def vllm_routes() -> list[Route]:
    """Return vLLM's sleep-mode routes (at the root, as vLLM serves them)."""
    return [
        Route("/sleep", sleep, methods=["POST"]),
        Route("/wake_up", wake_up, methods=["POST"]),
        Route("/is_sleeping", is_sleeping, methods=["GET"]),
    ]
