"""The cold-start state machine: pure, no I/O, every method takes ``now`` (simulated seconds).

Per model::

    unloaded --request--> loading --(cold_start elapsed)--> loaded --(idle keep_alive)--> unloaded
                             ^ requests arriving here wait for the same load

A model that *sleeps* (vLLM sleep mode) goes ``loaded --(idle keep_alive)--> asleep`` instead,
and its next load is a wake (``wake_time(model)``: seconds, not a full load).

Expiry is computed lazily from timestamps on every access, so no timer is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "ModelRegistry", "ModelState", "Ticket"]

FAULT_KINDS = ("429", "500", "503", "hang", "disconnect")


@dataclass
class ModelState:
    """What the simulator knows about one model: load state and counters."""

    name: str
    loaded: bool = False
    asleep: bool = False
    ready_at: float = 0.0
    expires_at: float = math.inf
    active: int = 0
    last_used: float = 0.0
    requests: int = 0
    cold_starts: int = 0
    loads: int = 0
    unloads: int = 0
    evictions: int = 0
    sleeps: int = 0
    wakes: int = 0
    not_ready: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    def is_loading(self, now: float) -> bool:
        """Whether a load is in progress at ``now``."""
        return self.loaded and now < self.ready_at

    def stats(self) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict."""
        return {
            "requests": self.requests,
            "cold_starts": self.cold_starts,
            "loads": self.loads,
            "unloads": self.unloads,
            "evictions": self.evictions,
            "sleeps": self.sleeps,
            "wakes": self.wakes,
            "not_ready": self.not_ready,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "faults": dict(self.faults),
            "loaded": self.loaded,
            "asleep": self.asleep,
            "active": self.active,
        }


@dataclass(frozen=True)
class Ticket:
    """The result of admitting a request: how long it waits for a load, and whether it did."""

    model: str
    wait: float
    cold: bool


class ModelRegistry:
    """Tracks every model's load state; the single source of truth for ps and stats.

    ``load_time(model)`` draws the duration of one load (simulated seconds); ``max_loaded``
    caps how many models stay loaded, evicting the least recently used idle model first
    (as Ollama does); ``sleeps(model)`` says whether an idle model sleeps rather than
    unloads, and ``wake_time(model)`` draws the duration of one wake from sleep.
    """

    def __init__(
        self,
        load_time: Callable[[str], float],
        *,
        max_loaded: int | None = None,
        sleeps: Callable[[str], bool] = lambda model: False,
        wake_time: Callable[[str], float] = lambda model: 0.0,
    ):
        self._load_time = load_time
        self._wake_time = wake_time
        self._max_loaded = max_loaded
        self._sleeps = sleeps
        self._models: dict[str, ModelState] = {}

    def state(self, model: str) -> ModelState:
        """Return the state of ``model``, creating an unloaded one on first use."""
        state = self._models.get(model)
        if state is None:
            state = self._models[model] = ModelState(model)
        return state

    def expire(self, now: float) -> None:
        """Unload every idle model whose keep-alive has elapsed by ``now``."""
        for state in self._models.values():
            if state.loaded and state.active == 0 and state.expires_at <= now:
                if self._sleeps(state.name):
                    self._sleep(state)
                else:
                    self._unload(state)

    def acquire(self, model: str, now: float) -> Ticket:
        """Admit a request for ``model`` at ``now``: load it if needed, count it as active.

        Every call must be paired with one :meth:`release`.
        """
        self.expire(now)
        state = self.state(model)
        state.requests += 1
        self._start_load(state, now)
        wait = max(0.0, state.ready_at - now)
        cold = wait > 0.0
        state.cold_starts += cold
        state.active += 1
        state.last_used = now
        return Ticket(model, wait, cold)

    def prepare(self, model: str, now: float, keep_alive: float) -> float:
        """Start loading ``model`` if needed without admitting a request; return the wait.

        For models that answer "not ready" while loading: a positive return is the
        simulated seconds until ready, and the request is counted as refused
        (``not_ready``); 0 means the model is ready and the request may be admitted.
        """
        self.expire(now)
        state = self.state(model)
        if self._start_load(state, now):  # nobody waits on this load: it expires on its own
            state.expires_at = state.ready_at + keep_alive
        wait = state.ready_at - now
        if wait > 1e-9:  # not a rounding error of the clock: really still loading
            state.requests += 1
            state.not_ready += 1
            state.last_used = now
            return wait
        return 0.0

    def _start_load(self, state: ModelState, now: float) -> bool:
        """Load (or wake) ``state`` if it is not loaded; return whether a load started."""
        if state.loaded:
            return False
        waking = state.asleep
        if not waking:
            self._make_room(state.name)
        state.loaded = True
        state.asleep = False
        state.loads += not waking
        state.wakes += waking
        draw = self._wake_time if waking else self._load_time
        state.ready_at = now + max(0.0, draw(state.name))
        return True

    def sleep(self, model: str, now: float) -> bool:
        """Put ``model`` to sleep now (vLLM ``/sleep``); False if it is not loaded or busy."""
        self.expire(now)
        state = self.state(model)
        if not state.loaded or state.active or now < state.ready_at:
            return False
        self._sleep(state)
        return True

    def release(
        self,
        model: str,
        now: float,
        keep_alive: float,
        *,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        """End a request at ``now``; the model then stays loaded for ``keep_alive`` seconds.

        ``keep_alive`` may be ``math.inf`` (forever) or 0 (unload as soon as idle).
        """
        state = self.state(model)
        state.active = max(0, state.active - 1)
        state.tokens_in += tokens_in
        state.tokens_out += tokens_out
        state.last_used = max(state.last_used, now)
        if state.loaded:
            state.expires_at = max(now, state.ready_at) + keep_alive
        self.expire(now)

    def unload(self, model: str, now: float) -> bool:
        """Unload ``model`` now (Ollama ``keep_alive: 0``); if busy, once its requests end."""
        self.expire(now)
        state = self.state(model)
        state.requests += 1
        state.asleep = False  # keep_alive 0 unloads fully, asleep or not
        if not state.loaded:
            return False
        state.expires_at = now
        if state.active == 0:
            self._unload(state)
        return True

    def count_fault(self, model: str, kind: str) -> None:
        """Count one request for ``model`` that failed with fault ``kind``."""
        state = self.state(model)
        state.requests += 1
        state.faults[kind] += 1

    def loaded(self, now: float) -> list[ModelState]:
        """Return the models loaded (or loading) at ``now``, most recently used first."""
        self.expire(now)
        models = [s for s in self._models.values() if s.loaded]
        return sorted(models, key=lambda s: s.last_used, reverse=True)

    def known(self) -> list[str]:
        """Return the names of every model seen so far."""
        return list(self._models)

    def stats(self, now: float) -> dict[str, Any]:
        """Return per-model counters and their totals (after applying expiry at ``now``)."""
        self.expire(now)
        models = {name: s.stats() for name, s in self._models.items()}
        keys = (
            "requests",
            "cold_starts",
            "loads",
            "unloads",
            "evictions",
            "sleeps",
            "wakes",
            "not_ready",
        )
        totals: dict[str, Any] = {k: sum(m[k] for m in models.values()) for k in keys}
        totals["tokens_in"] = sum(m["tokens_in"] for m in models.values())
        totals["tokens_out"] = sum(m["tokens_out"] for m in models.values())
        totals["faults"] = {k: sum(m["faults"][k] for m in models.values()) for k in FAULT_KINDS}
        totals["loaded_models"] = sorted(n for n, m in models.items() if m["loaded"])
        totals["sleeping_models"] = sorted(n for n, m in models.items() if m["asleep"])
        return {"models": models, "total": totals}

    def reset(self) -> None:
        """Forget every model: all unloaded, all counters zero."""
        self._models.clear()

    def _sleep(self, state: ModelState) -> None:
        state.loaded = False
        state.asleep = True
        state.sleeps += 1
        state.expires_at = math.inf

    def _unload(self, state: ModelState) -> None:
        state.loaded = False
        state.asleep = False
        state.unloads += 1
        state.expires_at = math.inf

    def _make_room(self, incoming: str) -> None:
        if self._max_loaded is None:
            return
        loaded = [s for s in self._models.values() if s.loaded and s.name != incoming]
        idle = sorted((s for s in loaded if s.active == 0), key=lambda s: s.last_used)
        excess = len(loaded) + 1 - self._max_loaded
        for state in idle[: max(0, excess)]:
            state.evictions += 1
            self._unload(state)
