"""Validated, frozen configuration of the simulator: global options and per-model policies."""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmwarm._core import options as _options

__all__ = [
    "DEFAULT_COLD_START",
    "DEFAULT_COLD_START_JITTER",
    "DEFAULT_KEEP_ALIVE",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_TOKEN_TIME",
    "DEFAULT_TTFT",
    "DEFAULT_WAKE_TIME",
    "ModelPolicy",
    "STYLES",
    "SimConfig",
    "make_config",
    "parse_duration",
]

DEFAULT_COLD_START = 14.0
DEFAULT_COLD_START_JITTER = 0.1
DEFAULT_KEEP_ALIVE = 300.0
DEFAULT_TTFT = 0.3
DEFAULT_TOKEN_TIME = 0.02
DEFAULT_MAX_TOKENS = 16
DEFAULT_WAKE_TIME = 2.0
STYLES = ("blocking", "loading-503", "not-ready", "sleep")
"""How a model answers while it is not ready (``cold_start_style``):

- ``blocking``: the request waits for the load (Ollama, vLLM on a first request);
- ``loading-503``: ``503`` with ``{"error": "Model <m> is currently loading",
  "estimated_time": <s>}`` until loaded (Hugging Face Inference Endpoints, TGI);
- ``not-ready``: ``503`` (or ``429``, ``not_ready_status``) with ``Retry-After`` until a
  replica is up (serverless scale-from-zero, e.g. Bedrock's ``ModelNotReadyException``);
- ``sleep``: the first load is a full cold start; an idle model then *sleeps* instead of
  unloading and wakes in ``wake_time`` (vLLM sleep mode: ``/sleep``, ``/wake_up``,
  ``/is_sleeping``).
"""
NOT_READY_STATUSES = (503, 429)

_DURATIONS = ("cold_start", "keep_alive", "ttft", "token_time", "wake_time")
_RATES = ("rate_429", "rate_500", "rate_503", "rate_hang", "rate_disconnect")


def _check_duration(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds (a float >= 0), got {value!r}.")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}.")
    return seconds


def _check_style(style: object, status: object) -> None:
    if style not in STYLES:
        raise ValueError(f"cold_start_style must be one of {', '.join(STYLES)}; got {style!r}.")
    if status not in NOT_READY_STATUSES or isinstance(status, bool):
        raise ValueError(f"not_ready_status must be 503 or 429; got {status!r}.")


def _check_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a probability (a float in [0, 1]), got {value!r}.")
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}.")
    return rate


@dataclass(frozen=True)
class ModelPolicy:
    """How one simulated model behaves: its latencies (simulated seconds) and fault rates.

    Durations are in simulated seconds (multiplied by ``SimConfig.time_scale`` for the
    real sleeps); rates are probabilities per request, in [0, 1], and their sum must not
    exceed 1.
    """

    cold_start: float = DEFAULT_COLD_START
    cold_start_jitter: float = DEFAULT_COLD_START_JITTER
    keep_alive: float = DEFAULT_KEEP_ALIVE
    ttft: float = DEFAULT_TTFT
    token_time: float = DEFAULT_TOKEN_TIME
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_hang: float = 0.0
    rate_disconnect: float = 0.0
    cold_start_style: str = "blocking"
    wake_time: float = DEFAULT_WAKE_TIME
    not_ready_status: int = 503

    def __post_init__(self) -> None:
        _check_style(self.cold_start_style, self.not_ready_status)
        for name in _DURATIONS:
            object.__setattr__(self, name, _check_duration(name, getattr(self, name)))
        for name in (*_RATES, "cold_start_jitter"):
            object.__setattr__(self, name, _check_rate(name, getattr(self, name)))
        total = sum(getattr(self, name) for name in _RATES)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"The fault rates ({', '.join(_RATES)}) add up to {total:g}; "
                "their sum must be at most 1."
            )

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Return the option names a policy accepts (also accepted per model)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def with_overrides(self, model: str, overrides: Mapping[str, Any]) -> ModelPolicy:
        """Return a copy with ``overrides`` applied; unknown keys raise a ValueError."""
        accepted = self.field_names()
        unknown = sorted(set(overrides) - set(accepted))
        if unknown:
            raise ValueError(
                f"models[{model!r}] has unknown option(s) {', '.join(map(repr, unknown))}; "
                f"accepted options are: {', '.join(accepted)}."
            )
        return dataclasses.replace(self, **dict(overrides))


def _freeze_models(
    defaults: ModelPolicy, models: Mapping[str, Mapping[str, Any] | ModelPolicy]
) -> Mapping[str, ModelPolicy]:
    frozen: dict[str, ModelPolicy] = {}
    for name, value in models.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"models keys must be non-empty model names, got {name!r}.")
        if isinstance(value, ModelPolicy):
            frozen[name] = value
        elif isinstance(value, Mapping):
            frozen[name] = defaults.with_overrides(name, value)
        else:
            raise TypeError(
                f"models[{name!r}] must be a dict of options or a ModelPolicy, got {value!r}."
            )
    return types.MappingProxyType(frozen)


@dataclass(frozen=True)
class SimConfig:
    """All the options of a simulator: global settings plus the default model policy.

    The policy fields (``cold_start`` ... ``not_ready_status``) are the defaults of every
    model; ``models`` overrides them per model name, e.g.
    ``models={"tgi-model": {"cold_start": 10, "cold_start_style": "loading-503"}}``.
    Build one with keywords; every value is validated and a bad one raises
    ``ValueError``/``TypeError`` naming the option.
    """

    cold_start: float = DEFAULT_COLD_START
    cold_start_jitter: float = DEFAULT_COLD_START_JITTER
    keep_alive: float = DEFAULT_KEEP_ALIVE
    ttft: float = DEFAULT_TTFT
    token_time: float = DEFAULT_TOKEN_TIME
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_hang: float = 0.0
    rate_disconnect: float = 0.0
    cold_start_style: str = "blocking"
    wake_time: float = DEFAULT_WAKE_TIME
    not_ready_status: int = 503
    time_scale: float = 1.0
    seed: int | None = None
    api_key: str | None = None
    max_loaded_models: int | None = None
    known_models: tuple[str, ...] | None = None
    models: Mapping[str, Any] = field(default_factory=dict)
    max_tokens: int = DEFAULT_MAX_TOKENS
    retry_after: float = 1.0
    hang_time: float = 86400.0
    # Built and validated once: every request of a model without overrides asks for it.
    _default_policy: ModelPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ts = self.time_scale
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not ts > 0:
            raise ValueError(
                f"time_scale must be a number > 0 (1.0 = real time, 0.01 = 100x faster), "
                f"got {ts!r}."
            )
        object.__setattr__(self, "time_scale", float(ts))
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise TypeError(f"seed must be an int or None, got {self.seed!r}.")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ValueError(f"api_key must be a non-empty string or None, got {self.api_key!r}.")
        mlm = self.max_loaded_models
        if mlm is not None and (isinstance(mlm, bool) or not isinstance(mlm, int) or mlm < 1):
            raise ValueError(
                f"max_loaded_models must be an int >= 1, or None for no limit, got {mlm!r}."
            )
        if self.known_models is not None:
            known = self.known_models
            if isinstance(known, str) or not isinstance(known, Iterable):
                raise TypeError(f"known_models must be a list of model names, got {known!r}.")
            object.__setattr__(self, "known_models", tuple(known))
        mt = self.max_tokens
        if isinstance(mt, bool) or not isinstance(mt, int) or mt < 1:
            raise ValueError(f"max_tokens must be an int >= 1, got {mt!r}.")
        for name in ("retry_after", "hang_time"):
            object.__setattr__(self, name, _check_duration(name, getattr(self, name)))
        if not isinstance(self.models, Mapping):
            raise TypeError(f"models must be a dict of model name -> options, got {self.models!r}.")
        defaults = ModelPolicy(  # validates the policy fields
            **{name: getattr(self, name) for name in ModelPolicy.field_names()}
        )
        object.__setattr__(self, "_default_policy", defaults)
        object.__setattr__(self, "models", _freeze_models(defaults, self.models))

    @property
    def default_policy(self) -> ModelPolicy:
        """The policy of a model that has no entry in ``models``."""
        return self._default_policy

    def policy_for(self, model: str) -> ModelPolicy:
        """Return the policy of ``model``: its override in ``models``, else the defaults."""
        policy = self.models.get(model)
        return policy if isinstance(policy, ModelPolicy) else self.default_policy

    def is_known(self, model: str) -> bool:
        """Whether requests for ``model`` are served (always true without ``known_models``)."""
        return self.known_models is None or model in self.known_models

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Return the keyword options accepted by ``SimConfig`` (and ``serve()``)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def parse_duration(value: object) -> float:
    """Parse an Ollama ``keep_alive``: seconds, or a Go duration string such as ``"1h30m"``.

    Returns seconds; a negative value means "forever" and is returned as ``math.inf``.
    Raises ``ValueError`` for anything else, worded as Go's ``time`` package words it
    (``invalid duration '10x'``), since the server answers with that message. The reading
    itself is llmwarm's one duration parser (it also takes a ``timedelta`` and days).
    """
    try:
        return _options.parse_duration(value, negative_is_forever=True)
    except ValueError:
        raise ValueError(f"invalid duration {value!r}") from None


def make_config(options: Mapping[str, Any]) -> SimConfig:
    """Build a :class:`SimConfig` from keyword options, naming any unknown option."""
    accepted = SimConfig.option_names()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"Unknown simulator option(s) {', '.join(map(repr, unknown))}; "
            f"accepted options are: {', '.join(accepted)}."
        )
    return SimConfig(**options)
