"""``@routed``: pick a model tier per request, fall back on failure, prefer warm, hedge.

Tiers are ordered cheapest first. When the caller does not pass ``model``, a classifier
picks a tier; retryable failures (timeouts, connection errors, 429, 5xx) move the call to
the next tier and cool the failing model down for every call site in the process; with
``prefer_warm`` a call whose tier ``@warm`` predicts cold goes to the nearest warm tier;
with ``hedge_after`` a slow call races the next tier. See ``docs/routing.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

from llmwarm import _core, _loading, _log, _streams
from llmwarm._classify import Classifier, default_classifier
from llmwarm._core import Call, CallRecord, Flow, FunctionSpec, Policy, Stack, Warmth
from llmwarm._failures import attach_attempts, cooldowns, is_retryable, retry_after
from llmwarm._log import logger
from llmwarm._steps import FirstChunk, Race

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_FALLBACK",
    "DEFAULT_HEDGE_AFTER",
    "DEFAULT_PREFER_WARM",
    "Tier",
    "default_classifier",
    "routed",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Seconds a failing model is skipped when its error carries no ``Retry-After``.
DEFAULT_COOLDOWN = 30.0
#: Whether a retryable failure moves the call to another tier.
DEFAULT_FALLBACK = True
#: Whether a call predicted cold goes to a warm tier instead.
DEFAULT_PREFER_WARM = False
#: Seconds before a slow call races the next tier (None: never).
DEFAULT_HEDGE_AFTER: float | None = None

_RESERVED = frozenset({"name", "model"})


class Tier:
    """One routing tier: a ``name``, the ``model`` it calls and extra call arguments.

    ``Tier("small", "gpt-4o-mini", max_tokens=256)``: the overrides are passed to the call
    when this tier is chosen, unless the caller passed that argument itself. Frozen.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_overrides", "model", "name")

    name: str
    model: str
    _overrides: tuple[tuple[str, Any], ...]

    def __init__(self, name: str, model: str, **call_overrides: Any) -> None:
        for label, value in (("name", name), ("model", model)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"Tier {label} must be a non-empty string, got {value!r}.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "_overrides", tuple(call_overrides.items()))

    @property
    def overrides(self) -> dict[str, Any]:
        """The extra keyword arguments this tier passes to the call."""
        return dict(self._overrides)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Tier is frozen: cannot set {name!r}.")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return (self.name, self.model, self._overrides) == (
            other.name,
            other.model,
            other._overrides,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.model))

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self._overrides)
        return f"Tier({self.name!r}, {self.model!r}{extra})"


def _check_tiers(tiers: object) -> tuple[Tier, ...]:
    if isinstance(tiers, (str, Tier)) or not isinstance(tiers, Iterable):
        raise TypeError(f"tiers must be a list of Tier objects, cheapest first; got {tiers!r}.")
    checked = tuple(tiers)
    if not checked:
        raise ValueError("tiers must list at least one Tier, cheapest first; got none.")
    names: set[str] = set()
    for tier in checked:
        if not isinstance(tier, Tier):
            raise TypeError(f"tiers must hold Tier objects; got {tier!r}.")
        if tier.name in names:
            raise ValueError(f"tiers has two tiers named {tier.name!r}; tier names must be unique.")
        names.add(tier.name)
    return checked


def _check_seconds(name: str, value: object, *, allow_none: bool) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        accepted = "a number of seconds > 0, or None" if allow_none else "a number of seconds >= 0"
        raise TypeError(f"{name} must be {accepted}; got {value!r}.")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or (allow_none and seconds == 0):
        raise ValueError(f"{name} must be a number of seconds > 0; got {value!r}.")
    return seconds


class Router(Policy):
    """The ``@routed`` policy; exposed as ``decorated.router``.

    .. versionadded:: 0.1.0
    """

    handles: ClassVar[tuple[str, ...]] = ("router",)

    def __init__(
        self,
        tiers: tuple[Tier, ...],
        classify: Classifier,
        fallback: bool,
        prefer_warm: bool,
        hedge_after: float | None,
        cooldown: float,
    ) -> None:
        self.tiers = tiers
        self.classify = classify
        self.fallback = fallback
        self.prefer_warm = prefer_warm
        self.hedge_after = hedge_after
        self.cooldown = cooldown
        self.handles_failures = fallback  # the SDK under it must not retry what it reroutes
        self.patience = hedge_after
        self.warmth: Warmth | None = None
        self._index = {tier.name: i for i, tier in enumerate(tiers)}
        self._by_model = {tier.model: tier for tier in reversed(tiers)}

    @property
    def router(self) -> Router:
        """Return this policy: its ``tiers`` and :meth:`cooling`."""
        return self

    def cooling(self) -> dict[str, float]:
        """Return the seconds left for each of this router's models now cooling down."""
        models = {tier.model for tier in self.tiers}
        return {m: s for m, s in cooldowns.snapshot().items() if m in models}

    def bind(self, spec: FunctionSpec) -> None:
        """Refuse functions that take no ``model`` or an override, and sync hedging."""
        if not spec.accepts("model"):
            raise TypeError(
                f"@routed needs a function that accepts a `model` keyword argument; "
                f"{spec.qualname} does not. Add a `model` parameter (or **kwargs)."
            )
        for tier in self.tiers:
            for key in tier.overrides:
                if key in _RESERVED or not spec.accepts(key):
                    raise TypeError(
                        f"Tier {tier.name!r} passes {key}=..., which {spec.qualname} does not "
                        "accept as a keyword argument (and a tier cannot override name/model)."
                    )
        if self.hedge_after is not None and not spec.is_async:
            raise TypeError(
                f"hedge_after={self.hedge_after!r} needs an async function; {spec.qualname} "
                "is synchronous. Remove hedge_after or make the function async."
            )

    def attach(self, stack: Stack) -> None:
        """Find ``@warm`` (anything offering :class:`Warmth`) in the same stack."""
        self.warmth = cast("Warmth | None", stack.find(Warmth)) if self.prefer_warm else None

    # -- choosing --------------------------------------------------------------------------

    def _classified(self, call: Call) -> int:
        choice = self.classify(call.arguments)
        if isinstance(choice, str):
            if choice not in self._index:
                raise ValueError(
                    f"The classifier of @routed on {call.spec.qualname} returned {choice!r}, "
                    f"which is not a tier name; tier names are {list(self._index)}."
                )
            return self._index[choice]
        if isinstance(choice, int) and not isinstance(choice, bool):
            count = len(self.tiers)
            return min(max(choice if choice >= 0 else count + choice, 0), count - 1)
        raise TypeError(
            f"The classifier of @routed on {call.spec.qualname} returned {choice!r}; "
            "it must return a tier name (str) or a tier index (int)."
        )

    def _is_warm(self, model: str) -> bool | None:
        assert self.warmth is not None
        try:
            return bool(self.warmth.is_warm(model))
        except Exception:
            logger.exception("llmwarm: @routed could not ask @warm about %r", model)
            return None

    def _plan(self, chosen: int) -> tuple[list[int], list[int], str]:
        """Return the tiers to try in order, the hedge candidates, and the first's reason.

        Without ``fallback`` the plan is its first tier only, but a hedge still races the
        next ready tier: hedging is independent of fallback.
        """
        count = len(self.tiers)
        order = [chosen, *range(chosen + 1, count), *range(chosen - 1, -1, -1)]
        ready = [i for i in order if not cooldowns.cooling(self.tiers[i].model)]
        if not ready:  # every tier is cooling: the one that ends first, rather than failing
            ends = {i: cooldowns.ends(self.tiers[i].model) or -math.inf for i in order}
            ready = [min(order, key=lambda i: (ends[i], order.index(i)))]
        reason = "classified" if ready[0] == chosen else "fallback"
        if self.warmth is not None and len(ready) > 1:
            first = ready[0]
            if self._is_warm(self.tiers[first].model) is False:
                warm = [i for i in ready[1:] if self._is_warm(self.tiers[i].model)]
                if warm:
                    nearest = min(warm, key=lambda i: (abs(i - first), i))
                    ready = [nearest, *(i for i in ready if i != nearest)]
                    reason = "warm"
                    _log.safely("warm_up", self.warmth.warm_up, self.tiers[first].model)
        return (ready if self.fallback else ready[:1]), ready, reason

    def _call_for(self, call: Call, index: int, record: CallRecord | None = None) -> Call:
        tier = self.tiers[index]
        changes = {k: v for k, v in tier._overrides if not call.passed(k)}
        tier_call = call.with_arguments(model=tier.model, **changes)
        if record is not None:
            tier_call.record = record
        return tier_call

    def _note(self, record: CallRecord, index: int, reason: str) -> None:
        record.tier = self.tiers[index].name
        record.model = self.tiers[index].model
        record.route_reason = reason

    # -- the flow --------------------------------------------------------------------------

    def flow(self, call: Call) -> Flow:
        """Route one call: classify, try tiers in order, fall back, hedge."""
        record = call.record
        if record.warmup:  # a keep-warm ping goes exactly where it was sent
            return (yield call)
        if call.passed("model"):
            model = call.get("model")
            tier = self._by_model.get(model) if isinstance(model, str) else None
            record.tier = tier.name if tier is not None else None
            record.model = model if isinstance(model, str) else record.model
            record.route_reason = "explicit"
            return (yield call)
        plan, hedges, reason = self._plan(self._classified(call))
        attempts: list[tuple[str, str, BaseException]] = []
        tried: set[int] = set()
        index: int | None = plan[0]
        while index is not None:
            tried.add(index)
            second = self._next(hedges, tried) if self.hedge_after is not None else None
            failures: list[tuple[int, BaseException]] = []
            if second is None:
                self._note(record, index, reason)
                # With another tier to go to, a loading model is not waited for (_loading)
                _loading.mark_fallback(
                    record, self.fallback and self._next(plan, tried) is not None
                )
                try:
                    result = yield self._call_for(call, index)
                    if _streams.is_stream(result):
                        result = yield FirstChunk(result)
                    return result
                except Exception as exc:
                    failures.append((index, exc))
            else:
                assert self.hedge_after is not None
                legs = (index, second)
                records = (CallRecord(record.function), CallRecord(record.function))
                calls = (
                    self._call_for(call, index, records[0]),
                    self._call_for(call, second, records[1]),
                )
                won, value, errors = yield Race(calls, self.hedge_after)
                failures.extend((legs[i], error) for i, error in errors)
                if won is not None:
                    self._cool(failures)  # the losing leg failed first: its model cools too
                    _merge(record, records[won])
                    self._note(record, legs[won], "hedge" if won == 1 else reason)
                    return value
                if len(errors) > 1:
                    tried.add(second)
            for failed, error in failures:
                tier = self.tiers[failed]
                attempts.append((tier.name, tier.model, error))
                if not is_retryable(error):
                    attach_attempts(error, attempts)
                    raise error
            self._cool(failures)
            index = self._next(plan, tried) if self.fallback else None
            reason = "fallback"
        last = attempts[-1][2]
        attach_attempts(last, attempts)
        raise last

    def _cool(self, failures: list[tuple[int, BaseException]]) -> None:
        for failed, error in failures:
            if is_retryable(error):
                advised = _loading.advised_wait(error)  # a loading model's estimated_time
                seconds = _or(retry_after(error) if advised is None else advised, self.cooldown)
                cooldowns.cool(self.tiers[failed].model, seconds)

    def _next(self, plan: Sequence[int], tried: set[int]) -> int | None:
        for index in plan:
            if index not in tried and not cooldowns.cooling(self.tiers[index].model):
                return index
        return None


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _merge(record: CallRecord, leg: CallRecord) -> None:
    """Copy the winning leg's facts (written by inner policies) into the call's record."""
    for name, value in vars(leg).items():
        if name == "_extra":
            record.extra.update(value)
        elif name not in ("function", "started"):
            setattr(record, name, value)


def routed(
    tiers: Sequence[Tier],
    *,
    classify: Callable[[Mapping[str, Any]], str | int] | None = None,
    fallback: bool = DEFAULT_FALLBACK,
    prefer_warm: bool = DEFAULT_PREFER_WARM,
    hedge_after: float | None = DEFAULT_HEDGE_AFTER,
    cooldown: float = DEFAULT_COOLDOWN,
) -> Callable[[F], F]:
    """Route each call to a model tier; fall back, cool down, prefer warm and hedge.

    ``tiers``: :class:`Tier` objects, cheapest first. ``classify(arguments)`` returns a
    tier name or index for calls without an explicit ``model`` (default:
    :func:`default_classifier`). ``fallback``: a retryable failure moves to the next tier
    and cools the failing model down for its ``Retry-After`` or ``cooldown`` seconds.
    ``prefer_warm``: with ``@warm`` in the stack, a call predicted cold goes to the
    nearest warm tier. ``hedge_after``: seconds after which a slow async call also starts
    on the next tier; the first success wins and the other is cancelled.

    .. versionadded:: 0.1.0
    """
    checked = _check_tiers(tiers)
    if classify is not None and not callable(classify):
        raise TypeError(f"classify must be a function (arguments) -> tier name; got {classify!r}.")
    for name, flag in (("fallback", fallback), ("prefer_warm", prefer_warm)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False; got {flag!r}.")
    hedge = _check_seconds("hedge_after", hedge_after, allow_none=True)
    cool = cast(float, _check_seconds("cooldown", cooldown, allow_none=False))
    chosen_classifier = classify if classify is not None else default_classifier()

    def decorate(fn: F) -> F:
        policy = Router(checked, chosen_classifier, fallback, prefer_warm, hedge, cool)
        return _core.apply(fn, policy)

    return decorate
