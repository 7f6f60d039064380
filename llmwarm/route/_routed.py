"""``@routed``: pick a model tier per request, fall back on failure, prefer warm, hedge.

Tiers are ordered cheapest first. When the caller does not pass ``model``, a classifier
picks a tier; retryable failures (timeouts, connection errors, 429, 5xx) move the call to
the next tier and cool the failing model down for every call site in the process; with
``prefer_warm`` a call whose tier ``@warm`` predicts cold goes to the nearest warm tier;
with ``hedge_after`` a slow call races the next tier. A tier is never called while it cools
down: when every tier is cooling the call raises :class:`~llmwarm.AllTiersCooling` at once
(or waits up to ``max_wait`` for the first one back). See ``docs/routing.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from llmwarm._core import (
    AllTiersCooling,
    Call,
    CallRecord,
    Flow,
    FunctionSpec,
    Pause,
    Policy,
    Stack,
    Warmth,
    attach_attempts,
    check_keywords,
    cooldowns,
    is_retryable,
    logger,
    retry_after,
)
from llmwarm._core import driver as _core
from llmwarm._core import loading as _loading
from llmwarm._core import log as _log
from llmwarm._core import options as _numbers
from llmwarm._core import streams as _streams
from llmwarm.route._classify import Classifier, default_classifier
from llmwarm.route._steps import FirstChunk, Race

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_FALLBACK",
    "DEFAULT_HEDGE_AFTER",
    "DEFAULT_MAX_COOLDOWN",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_PREFER_WARM",
    "RoutedPolicy",
    "Tier",
    "default_classifier",
    "routed",
]

if TYPE_CHECKING:
    from llmwarm.route._handles import RouteDecorator

F = TypeVar("F", bound=Callable[..., Any])

#: Seconds a failing model is skipped when its error carries no ``Retry-After``.
DEFAULT_COOLDOWN = 30.0
#: Whether a retryable failure moves the call to another tier.
DEFAULT_FALLBACK = True
#: Whether a call predicted cold goes to a warm tier instead.
DEFAULT_PREFER_WARM = False
#: Seconds before a slow call races the next tier (None: never).
DEFAULT_HEDGE_AFTER: float | None = None
#: The longest cool-down a ``Retry-After`` may ask for (longer ones are clipped and logged).
DEFAULT_MAX_COOLDOWN = 600.0
#: Seconds a call waits for a tier when every tier is cooling (None: raise at once).
DEFAULT_MAX_WAIT: float | None = None

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


class RoutedPolicy(Policy):
    """The ``@routed`` policy; exposed as ``decorated.router``.

    .. versionadded:: 0.1.0
    """

    handles: ClassVar[tuple[str, ...]] = ("router",)
    reads: ClassVar[frozenset[str]] = frozenset({"warmup", "model"})
    writes: ClassVar[frozenset[str]] = frozenset(
        {"tier", "model", "route_reason", "fallback_ready"}
    )

    def __init__(
        self,
        tiers: tuple[Tier, ...],
        classify: Classifier,
        fallback: bool,
        prefer_warm: bool,
        hedge_after: float | None,
        cooldown: float,
        max_cooldown: float = DEFAULT_MAX_COOLDOWN,
        max_wait: float | None = DEFAULT_MAX_WAIT,
    ) -> None:
        self.fallback = fallback
        self.tiers = tiers  # through the setter: it checks them and builds the tables
        self.classify = classify
        self.prefer_warm = prefer_warm
        self.hedge_after = hedge_after
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.max_wait = max_wait
        self.handles_failures = fallback  # the SDK under it must not retry what it reroutes
        self.patience = hedge_after
        self.warmth: Warmth | None = None

    @property
    def tiers(self) -> tuple[Tier, ...]:
        """The tiers, cheapest first; assigning new ones rebuilds the routing tables."""
        return self._tiers

    @tiers.setter
    def tiers(self, tiers: tuple[Tier, ...]) -> None:
        tiers = _check_tiers(tiers)
        # Per chosen tier, the order its call tries the tiers in, and the plan `_plan`
        # returns while no tier cools down and no `@warm` is asked (most calls): made once
        # per set of tiers, not per call, so a new set must rebuild them all together.
        count = len(tiers)
        orders = tuple(
            (chosen, *range(chosen + 1, count), *range(chosen - 1, -1, -1))
            for chosen in range(count)
        )
        self._index = {tier.name: i for i, tier in enumerate(tiers)}
        self._by_model = {tier.model: tier for tier in reversed(tiers)}
        self._orders = orders
        # Both plans per tier (with and without fallback): `fallback` is read per call.
        self._plans = (
            tuple((order[:1], order, "classified") for order in orders),
            tuple((order, order, "classified") for order in orders),
        )
        self._tiers = tiers

    @property
    def router(self) -> RoutedPolicy:
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
        if type(choice) is int:  # the default classifier's answer: a tier index
            count = len(self.tiers)
            return min(max(choice if choice >= 0 else count + choice, 0), count - 1)
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

    def _plan(self, chosen: int) -> tuple[Sequence[int], Sequence[int], str]:
        """Return the tiers to try in order, the hedge candidates, and the first's reason.

        Without ``fallback`` the plan is its first tier only, but a hedge still races the
        next ready tier: hedging is independent of fallback. Empty: every tier is cooling.
        """
        if self.warmth is None and cooldowns.none_cooling():
            return self._plans[bool(self.fallback)][chosen]
        ready: Sequence[int] = [
            i for i in self._orders[chosen] if not cooldowns.cooling(self.tiers[i].model)
        ]
        if not ready:
            return [], [], "cooling"
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
        if tier._overrides:
            changes = {k: v for k, v in tier._overrides if not call.passed(k)}
            tier_call = call.with_arguments(model=tier.model, **changes)
        else:  # the usual tier: one argument changes, no dict of changes to build
            tier_call = call.with_argument("model", tier.model)
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
        chosen = self._classified(call)
        plan, hedges, reason = self._plan(chosen)
        waited = 0.0
        while not plan:  # every tier cooling: never call one; fail fast, or wait if allowed
            pause = self._all_cooling(call, waited)
            yield pause
            waited += pause.seconds
            plan, hedges, reason = self._plan(chosen)
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
                records = (record.branch(), record.branch())
                calls = (
                    self._call_for(call, index, records[0]),
                    self._call_for(call, second, records[1]),
                )
                won, value, errors = yield Race(calls, self.hedge_after)
                failures.extend((legs[i], error) for i, error in errors)
                if won is not None:
                    self._cool(failures)  # the losing leg failed first: its model cools too
                    record.merge(records[won])  # the facts inner policies wrote on it
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

    def _all_cooling(self, call: Call, waited: float) -> Pause:
        """Return the wait for the first tier back, or raise :class:`AllTiersCooling`."""
        now = cooldowns.clock()
        ends = [cooldowns.ends(tier.model) for tier in self.tiers]
        back_in = max(0.0, min((e for e in ends if e is not None), default=now) - now)
        if self.max_wait is None or waited + back_in > self.max_wait:
            errors = {t.name: cooldowns.last_error(t.model) for t in self.tiers}
            raise AllTiersCooling(call.spec.qualname, back_in, errors)
        return Pause(back_in, cooldowns.sleep, cooldowns.asleep)

    def _cool(self, failures: list[tuple[int, BaseException]]) -> None:
        for failed, error in failures:
            if is_retryable(error):
                model = self.tiers[failed].model
                advised = _loading.advised_wait(error)  # a loading model's estimated_time
                asked = retry_after(error) if advised is None else advised
                if asked is not None and asked > self.max_cooldown:
                    logger.warning(
                        "llmwarm: %r asked to be left alone for %g s (Retry-After); cooling "
                        "it down for max_cooldown=%g s instead",
                        model,
                        asked,
                        self.max_cooldown,
                    )
                    asked = self.max_cooldown
                cooldowns.cool(model, _or(asked, self.cooldown), error)

    def _next(self, plan: Sequence[int], tried: set[int]) -> int | None:
        if cooldowns.none_cooling():  # every call's question, asked without a look-up each
            for index in plan:
                if index not in tried:
                    return index
            return None
        for index in plan:
            if index not in tried and not cooldowns.cooling(self.tiers[index].model):
                return index
        return None


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


@check_keywords
def routed(
    tiers: Sequence[Tier],
    *,
    classify: Callable[[Mapping[str, Any]], str | int] | None = None,
    fallback: bool = DEFAULT_FALLBACK,
    prefer_warm: bool = DEFAULT_PREFER_WARM,
    hedge_after: float | None = DEFAULT_HEDGE_AFTER,
    cooldown: float | None = None,
    max_cooldown: float = DEFAULT_MAX_COOLDOWN,
    max_wait: float | None = DEFAULT_MAX_WAIT,
) -> RouteDecorator:
    """Route each call to a model tier; fall back, cool down, prefer warm and hedge.

    ``tiers``: :class:`Tier` objects, cheapest first. ``classify(arguments)`` returns a
    tier name or index for calls without an explicit ``model`` (default:
    :func:`default_classifier`). ``fallback``: a retryable failure moves to the next tier
    and cools the failing model down for its ``Retry-After`` or ``cooldown`` seconds
    (None: :data:`DEFAULT_COOLDOWN`, or ``max_cooldown`` when that is shorter).
    ``prefer_warm``: with ``@warm`` in the stack, a call predicted cold goes to the
    nearest warm tier. ``hedge_after``: seconds after which a slow async call also starts
    on the next tier; the first success wins and the other is cancelled.
    ``max_cooldown``: the longest cool-down a ``Retry-After`` may ask for (a longer one is
    clipped, and logged). A tier is never called while it cools down: when every tier is,
    the call raises :class:`~llmwarm.AllTiersCooling` at once, or, with ``max_wait``
    seconds, waits for the first tier back if it is back within that time.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``max_cooldown``, ``max_wait``; every tier cooling fails fast;
       ``cooldown=None`` (the default) is :data:`DEFAULT_COOLDOWN` capped at ``max_cooldown``.
    """
    checked = _check_tiers(tiers)
    if classify is not None and not callable(classify):
        raise TypeError(f"classify must be a function (arguments) -> tier name; got {classify!r}.")
    for name, flag in (("fallback", fallback), ("prefer_warm", prefer_warm)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False; got {flag!r}.")
    hedge = _numbers.seconds_or_none("hedge_after", hedge_after, none="None (never hedge)")
    most = _numbers.seconds("max_cooldown", max_cooldown)
    if cooldown is None:  # not chosen: the default must not veto a short max_cooldown
        cooldown = min(DEFAULT_COOLDOWN, most)
    cool = _numbers.seconds(
        "cooldown", cooldown, maximum=most, hint=" Raise max_cooldown to allow more."
    )
    wait = _numbers.seconds_or_none(
        "max_wait", max_wait, inclusive=True, none="None (fail fast: raise AllTiersCooling)"
    )
    chosen_classifier = classify if classify is not None else default_classifier()

    def decorate(fn: F) -> F:
        policy = RoutedPolicy(
            checked, chosen_classifier, fallback, prefer_warm, hedge, cool, most, wait
        )
        return _core.apply(fn, policy)

    return cast("RouteDecorator", decorate)


Router = RoutedPolicy  # rename_policies: keep
"""The type of ``fn.router``: the ``@routed`` policy itself (:class:`RoutedPolicy`)."""
