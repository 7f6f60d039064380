"""The simulator's runtime: clock and time scale, seeded randomness, faults and sleeps.

It drives the pure :class:`~llmwarm.sim._model.ModelRegistry` from the event loop. Every
simulated duration becomes an ``asyncio`` timer (never a blocking sleep), and every sleep
ends early with :class:`SimulatorStopping` when the server stops.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping

from llmwarm.sim._config import ModelPolicy, SimConfig
from llmwarm.sim._model import ModelRegistry, Ticket

__all__ = ["Lease", "SimHTTPError", "SimulatedDisconnect", "Simulator", "SimulatorStopping"]


class SimulatorStopping(Exception):
    """Raised inside a request whose simulated wait was cut short by the server stopping."""


class SimulatedDisconnect(Exception):
    """Raised inside a response to close its connection abruptly (an injected fault)."""


class SimHTTPError(Exception):
    """An error response, rendered in the OpenAI or Ollama shape depending on the route."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        #: A body sent as is on every route (a provider's own shape, e.g. Hugging Face's).
        self.body = None if body is None else dict(body)


class Lease:
    """One admitted request on a loaded model; :meth:`release` it exactly once (idempotent)."""

    def __init__(self, sim: Simulator, ticket: Ticket, policy: ModelPolicy, disconnect: bool):
        self.sim = sim
        self.model = ticket.model
        self.cold = ticket.cold
        self.load_wait = ticket.wait
        self.policy = policy
        self.disconnect = disconnect
        self._released = False

    def release(
        self, keep_alive: float | None = None, *, tokens_in: int = 0, tokens_out: int = 0
    ) -> None:
        """End the request; the model stays loaded ``keep_alive`` (default: its policy's)."""
        if self._released:
            return
        self._released = True
        ka = self.policy.keep_alive if keep_alive is None else keep_alive
        self.sim.registry.release(
            self.model, self.sim.now(), ka, tokens_in=tokens_in, tokens_out=tokens_out
        )


class Simulator:
    """The state of one simulator instance; all methods run on the server's event loop.

    ``clock`` returns real seconds (monotonic); simulated time is real time divided by
    ``config.time_scale``.
    """

    def __init__(self, config: SimConfig, *, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._clock = clock
        self._t0 = clock()
        seed = config.seed
        self._jitter_rng = random.Random(seed)
        self._fault_rng = random.Random(None if seed is None else seed + 1)
        self.registry = ModelRegistry(
            self._draw_load_time,
            max_loaded=config.max_loaded_models,
            sleeps=lambda model: config.policy_for(model).cold_start_style == "sleep",
            wake_time=lambda model: self._draw_load_time(model, waking=True),
        )
        self._sleepers: set[asyncio.Future[None]] = set()
        self._stopped = False

    def now(self) -> float:
        """Return the current simulated time in seconds (since the simulator started)."""
        return (self._clock() - self._t0) / self.config.time_scale

    def wall_time_of(self, sim_time: float) -> float:
        """Return the Unix time at which simulated instant ``sim_time`` happens (or happened)."""
        return time.time() + (sim_time - self.now()) * self.config.time_scale

    def _draw_load_time(self, model: str, waking: bool = False) -> float:
        policy = self.config.policy_for(model)
        jitter = policy.cold_start_jitter
        base = policy.wake_time if waking else policy.cold_start
        return base * (1.0 + self._jitter_rng.uniform(-jitter, jitter))

    def check_model(self, model: str) -> None:
        """Raise a 404 :class:`SimHTTPError` if ``model`` is not served."""
        if not self.config.is_known(model):
            raise SimHTTPError(
                404,
                f"The model '{model}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )

    async def admit(self, model: str, *, allow_faults: bool = True) -> Lease:
        """Admit a request: maybe inject a fault, then wait for the model's load if needed."""
        self.check_model(model)
        policy = self.config.policy_for(model)
        fault = self._draw_fault(policy) if allow_faults else None
        if fault is not None and fault != "disconnect":
            self.registry.count_fault(model, fault)
            await self._fail(fault, model)
        if policy.cold_start_style in ("loading-503", "not-ready"):
            wait = self.registry.prepare(model, self.now(), policy.keep_alive)
            if wait > 0:
                raise self._not_ready(model, policy, wait)
        ticket = self.registry.acquire(model, self.now())
        if fault == "disconnect":
            self.registry.state(model).faults["disconnect"] += 1
        lease = Lease(self, ticket, policy, fault == "disconnect")
        try:
            await self.sleep(ticket.wait)
        except BaseException:
            lease.release()
            raise
        return lease

    def _draw_fault(self, policy: ModelPolicy) -> str | None:
        draw = self._fault_rng.random()
        for kind, rate in (
            ("429", policy.rate_429),
            ("500", policy.rate_500),
            ("503", policy.rate_503),
            ("hang", policy.rate_hang),
            ("disconnect", policy.rate_disconnect),
        ):
            if draw < rate:
                return kind
            draw -= rate
        return None

    def _not_ready(self, model: str, policy: ModelPolicy, wait: float) -> SimHTTPError:
        """Return the answer of a model still loading, in its provider's words (real seconds)."""
        real = wait * self.config.time_scale
        if policy.cold_start_style == "loading-503":  # Hugging Face Inference / TGI
            message = f"Model {model} is currently loading"
            body = {"error": message, "estimated_time": round(real, 6)}
            return SimHTTPError(503, message, type="server_error", body=body)
        return SimHTTPError(  # serverless scale-from-zero (Bedrock's ModelNotReadyException)
            policy.not_ready_status,
            f"Model {model} is not ready for inference: scaling up from zero replicas. "
            "Wait and try your request again.",
            type="model_not_ready",
            code="model_not_ready",
            headers={"retry-after": f"{real:g}", "retry-after-ms": str(round(real * 1000))},
        )

    async def _fail(self, fault: str, model: str) -> None:
        if fault == "hang":
            await self.sleep(self.config.hang_time)  # simulated seconds, as every option
            raise SimHTTPError(504, "Simulated hang ended.", type="server_error")
        if fault == "429":
            real = self.config.retry_after * self.config.time_scale
            raise SimHTTPError(
                429,
                f"Rate limit reached for {model} (simulated). Please try again in {real:g}s.",
                type="requests",
                code="rate_limit_exceeded",
                headers={"retry-after": f"{real:g}", "retry-after-ms": str(round(real * 1000))},
            )
        if fault == "500":
            raise SimHTTPError(
                500,
                "The server had an error processing your request (simulated).",
                type="server_error",
            )
        raise SimHTTPError(
            503, "The engine is currently overloaded (simulated).", type="server_error"
        )

    async def sleep(self, sim_seconds: float) -> None:
        """Sleep ``sim_seconds`` of simulated time; raise SimulatorStopping on server stop."""
        real = sim_seconds * self.config.time_scale
        if real <= 0:
            return
        if self._stopped:
            raise SimulatorStopping
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(real, _resolve, future)
        self._sleepers.add(future)
        try:
            await future
        finally:
            handle.cancel()
            self._sleepers.discard(future)

    def stop(self) -> None:
        """End every pending sleep with SimulatorStopping (call on the server's loop)."""
        self._stopped = True
        for future in list(self._sleepers):
            if not future.done():
                future.set_exception(SimulatorStopping())

    def reset(self) -> None:
        """Unload every model and zero the counters (the RNGs are re-seeded)."""
        self.registry.reset()
        seed = self.config.seed
        self._jitter_rng.seed(seed)
        self._fault_rng.seed(None if seed is None else seed + 1)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
