"""``@warm``: keep a model warm for the calls that come, at the fewest pings.

Every call that reaches the provider (a user's call or a ping) is activity. By default the
warming policy (:mod:`llmwarm.warm._policy`) decides, per model and per idle gap, whether
to keep the model warm (a ping just before ``keep_alive`` ends), to let it unload and
pre-warm it before the next call it predicts, or to stay quiet through a long silence,
within ``cold_start_budget`` (the fraction of user calls that may find it cold). A fixed
``interval`` overrides it: the next ping is due ``interval`` seconds after the last
activity, so steady traffic costs no ping and an idle model one per interval;
``interval="auto"`` learns the unload window (:mod:`llmwarm.warm._learn`). A ping is never sent
before a user's call (that would double the latency it means to hide): the schedule starts
on the first call or on :meth:`Warmer.start`. Failing pings back off (exponential, full
jitter, capped at ``10 x interval``); ``backend=`` shares activity and a ping lease across
a fleet (:mod:`llmwarm.warm._fleet`). A ping adapter that can set the provider's window
(:func:`llmwarm.pings.ollama_preload`) is asked for the whole predicted busy period at once.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from llmwarm._core import (
    Call,
    CallRecord,
    ConfigError,
    Flow,
    FunctionSpec,
    Ping,
    Policy,
    Stack,
    Stats,
    Work,
    apply,
    check_keywords,
    invoke,
    is_async_callable,
    is_stream,
    logger,
    observe_stream,
    stack_state,
)
from llmwarm._core import loading as _loading
from llmwarm._core import options as _numbers
from llmwarm._core import runtime as _runtime
from llmwarm._core import scheduler as _scheduler
from llmwarm.warm._fleet import Fleet, is_backend, leasing, publishing, reading, releasing
from llmwarm.warm._learn import SAFETY, Learner
from llmwarm.warm._policy import DEFAULT_BUDGET, WarmingPolicy
from llmwarm.warm._policy import DEFAULT_KEEP_ALIVE as _POLICY_KEEP_ALIVE
from llmwarm.warm._policy import DEFAULT_LEAD as _DEFAULT_LOAD

__all__ = [
    "DEFAULT_AUTO_START",
    "DEFAULT_BACKOFF_CAP",
    "DEFAULT_COLD_START_BUDGET",
    "DEFAULT_KEEP_ALIVE",
    "FIRST_PING_SPREAD",
    "MIN_INTERVAL",
    "PING_MESSAGES",
    "Warmer",
    "warm",
]

if TYPE_CHECKING:
    from llmwarm.warm._handles import WarmDecorator

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_COLD_START_BUDGET = DEFAULT_BUDGET
"""The fraction of user calls the warming policy lets find the model cold (1%).

.. versionadded:: 0.2.0
"""
DEFAULT_KEEP_ALIVE = _POLICY_KEEP_ALIVE
"""The provider's unload window the policy assumes when ``keep_alive`` is not given (300 s).

.. versionadded:: 0.2.0
"""
MIN_INTERVAL = 1.0
"""The shortest ``interval`` accepted, in seconds: no provider unloads a model sooner, and
a shorter one is a typo (``interval=1e-9`` would send thousands of pings a second).

.. versionadded:: 0.2.0
"""
DEFAULT_AUTO_START = 60.0
"""Where ``interval="auto"`` starts when ``keep_alive`` is not given."""
FIRST_PING_SPREAD = 0.1
"""The first idle ping comes up to this fraction of the interval early, at random: processes
started together (a deploy, an autoscaler) do not ping in step.

.. versionadded:: 0.2.0
"""
DEFAULT_BACKOFF_CAP = 10.0
"""The longest spacing between failing pings, in multiples of the interval."""
PING_MESSAGES: tuple[dict[str, str], ...] = ({"role": "user", "content": "ping"},)
"""The messages of the default ping (with ``max_tokens=1``)."""
_BACKOFF_BASE = 0.25  # first retry ceiling, in intervals; doubles per failure
_LOG_EVERY = 10  # while failing, one warning per this many failures
# Due times made in wall-clock time come back a rounding error late: within this, due.
_EPSILON = 1e-6


def _warmers() -> weakref.WeakSet[Warmer]:
    """Every warmer of the process: the runtime's ``"warmers"`` part."""
    return _runtime.runtime.part(
        "warmers",
        weakref.WeakSet,
        stage=_runtime.WARMERS,
        close=_close_all,
        aclose=_aclose_all,
        after_fork=_after_fork,
        reset=_reset_warmers,
        at_exit=_stop_all,
    )


def _threads() -> bool:
    # llmwarm.close() ends the threads that ran the warmers' work, last of all.
    return _runtime.runtime.part(
        "threads",
        lambda: True,
        stage=_runtime.THREADS,
        close=lambda _: _scheduler.close_threads(),
        aclose=lambda _: _scheduler.aclose_threads(),
        reset=lambda kept: kept,
        after_fork=lambda kept: kept,
    )


class _NoInstance(Exception):
    """A method's default ping has no live instance to call yet."""


# ------------------------------------------------------------------------------ options


def _models(model: object) -> tuple[str, ...]:
    names = (model,) if isinstance(model, str) else model
    if not isinstance(names, Sequence) or not names:
        raise TypeError(f"model must be a model name or a non-empty list of names, got {model!r}.")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"model names must be non-empty strings, got {name!r} in {model!r}.")
    return tuple(dict.fromkeys(cast(Sequence[str], names)))


def _budget(value: object) -> float:
    return _numbers.fraction(
        "cold_start_budget", value, what="a fraction of calls", example=", e.g. 0.01"
    )


@check_keywords
def warm(
    model: str | Sequence[str],
    interval: float | timedelta | str | None = None,
    *,
    cold_start_budget: float = DEFAULT_COLD_START_BUDGET,
    ping: Callable[..., Any] | None = None,
    keep_alive: float | timedelta | None = None,
    backend: Any = None,
    _clock: _scheduler.Clock | None = None,
) -> WarmDecorator:
    """Keep ``model`` warm for the calls that come, at the fewest pings.

    ``model`` is one name or a list; each call's ``model`` argument (defaults applied) says
    which model it used, and calls to other models are ignored. By default the warming
    policy learns each model's traffic (idle times, time of day) and decides when to ping,
    pre-warm or stay quiet so that at most ``cold_start_budget`` of user calls find the
    model cold (see ``docs/warming.md``). ``keep_alive`` is the provider's unload window
    (default 300 s, Ollama's). ``interval`` overrides the policy: the longest a model may
    sit idle, in seconds (or a ``timedelta``, shorter than ``keep_alive``, at least
    :data:`MIN_INTERVAL`), or ``"auto"`` to learn the unload window. ``ping`` is a sync or
    async callable taking the model name (see :mod:`llmwarm.pings`); by default the
    decorated function itself is called with ``model=``, ``messages=`` and
    ``max_tokens=1``, marked as a warm-up. ``backend`` (a
    Redis URL or client, or a :class:`~llmwarm.warm._fleet.Fleet` to set its timeout) shares
    activity and pings across a fleet of processes.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       The warming policy and ``cold_start_budget``; ``interval`` is an override.
    """
    models = _models(model)
    auto = isinstance(interval, str)
    if auto and interval != "auto":
        raise ConfigError(
            "interval",
            f'must be a number of seconds >= {MIN_INTERVAL:g}, "auto" or None; got {interval!r}.',
        )
    every = None
    if not auto and interval is not None:
        every = _numbers.seconds(
            "interval", interval, minimum=MIN_INTERVAL, inclusive=True, hint=' Or "auto".'
        )
    window = _numbers.seconds_or_none("keep_alive", keep_alive, none="None (unknown)")
    budget = _budget(cold_start_budget)
    if every is not None and window is not None and every >= window:
        raise ValueError(
            f"interval ({every:g} s) must be shorter than keep_alive ({window:g} s): the "
            f"model would go cold between pings; use e.g. interval={SAFETY * window:g}"
        )
    if ping is not None and not callable(ping):
        raise TypeError(f"ping must be a callable taking the model name, got {ping!r}.")
    if backend is not None and not is_backend(backend):
        raise TypeError(
            "backend must be a Redis URL (redis://, rediss://, unix://) or a redis client, "
            f"got {backend!r}."
        )
    # By default the runtime clock, whatever it is when asked (a test may install a fake one).
    clock = _clock if _clock is not None else _runtime.RuntimeClock()

    def decorate(function: F) -> F:
        fleet = None
        if backend is not None:
            fleet = backend if isinstance(backend, Fleet) else Fleet(backend)
        policy = None if interval is not None else budget
        warmer = Warmer(models, every, window, ping, fleet, clock, policy)
        return apply(function, WarmPolicy(warmer))

    return cast("WarmDecorator", decorate)


def _stop_all(warmers: weakref.WeakSet[Warmer] | None = None) -> None:
    # At interpreter exit and in tests: stop every warmer for good (as each `stop()`).
    for warmer in list(_warmers() if warmers is None else warmers):
        warmer.stop()


def _close_all(warmers: weakref.WeakSet[Warmer]) -> None:
    # llmwarm.close(): end every warmer's work now; the next call starts it afresh.
    for warmer in list(warmers):
        warmer._halt(reopen=True)


async def _aclose_all(warmers: weakref.WeakSet[Warmer]) -> None:
    # The same, then wait for the running loop's warmer tasks to end.
    for warmer in list(warmers):
        await warmer._ahalt(reopen=True)


# ------------------------------------------------------------------------------ policy


class WarmPolicy(Policy):
    """Reads each call's model, predicts cold starts and records activity."""

    handles: ClassVar[tuple[str, ...]] = ("warmer",)
    # `fallback_ready` and `cold_start_kind`: through `_loading.until_ready`.
    reads: ClassVar[frozenset[str]] = frozenset({"warmup", "cache_hit", "fallback_ready"})
    writes: ClassVar[frozenset[str]] = frozenset(
        {"model", "idle_s", "cold_start", "cold_start_kind"}
    )

    def __init__(self, warmer: Warmer) -> None:
        self.warmer = warmer

    def bind(self, spec: FunctionSpec) -> None:
        self.warmer._bind(spec)

    def attach(self, stack: Stack) -> None:
        self.warmer._stack = stack  # the last call is the outermost stack

    @property
    def expected_cold_start(self) -> float:  # type: ignore[override]
        """Seconds a cold start is predicted to take (read by ``@pooled`` for its timeout)."""
        return self.warmer.expected_cold_start

    def is_warm(self, model: str) -> bool:
        """Whether ``model`` is predicted warm now (the ``Warmth`` protocol)."""
        return self.warmer.is_warm(model)

    def warm_up(self, model: str) -> None:
        """Ping ``model`` in the background as soon as possible (the ``Warmth`` protocol)."""
        self.warmer.warm_up(model)

    def flow(self, call: Call) -> Flow:
        w = self.warmer
        model = call.get("model", w._only)
        st = w._state.get(model) if isinstance(model, str) else None
        if st is None or not st.listed:
            return (yield call)
        record = call.record
        clock = w._clock
        if type(clock) is _runtime.RuntimeClock:  # the clock it stands for: a frame less
            clock = _runtime.runtime.clock
        started = clock.monotonic()
        with w._lock:
            if st.active:  # another call is in flight: the model is busy, not idle
                idle: float | None = 0.0
            else:
                idle = None if st.last is None else max(0.0, started - st.last)
            st.active += 1
        record.model = model
        record.idle_s = idle
        record.cold_start = idle is None or idle > w._window(st)
        if call.instance is not None and w._ping is None:
            w._remember(call.instance)
        w._ensure_running()
        try:
            failed: Exception | None = None
            try:
                result = yield call
            except Exception as exc:
                failed = exc
            if failed is not None:
                # A "model loading" answer is waited out and the call run again (_loading);
                # the first attempt is made here, so a call that succeeds costs no generator.
                # Both waits of the clock: a sync sleep on the async path would block the loop.
                result = yield from _loading.until_ready(
                    call,
                    sleep=getattr(w._clock, "sleep", None),
                    asleep=getattr(w._clock, "asleep", None),
                    failed=failed,
                )
        except BaseException:
            w._end(st, record, None, None, ok=False)
            raise
        if is_stream(result):
            return observe_stream(result, _StreamEnd(w, st, record, started, idle))
        # Only pings teach the learner among non-streamed calls: a user's call lasts as long
        # as its answer, which says nothing of a cold start; a stream's first chunk does.
        latency = w._clock.monotonic() - started if record.warmup else None
        w._end(st, record, idle, latency, ok=True, started=started)
        return result


class _StreamEnd:
    """Ends a streamed call's activity; its latency is the time to its first chunk."""

    def __init__(self, w: Warmer, st: _Model, record: CallRecord, started: float, idle: Any):
        self.w, self.st, self.record, self.started, self.idle = w, st, record, started, idle
        self.latency: float | None = None

    def on_chunk(self, chunk: Any) -> None:
        if self.latency is None:
            self.latency = self.w._clock.monotonic() - self.started

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        ok = error is None and self.latency is not None
        self.w._end(self.st, self.record, self.idle, self.latency, ok=ok, started=self.started)


# ------------------------------------------------------------------------------ warmer


class _Model:
    """What a warmer knows of one model (guarded by the warmer's lock)."""

    def __init__(
        self, listed: bool, learner: Learner | None, policy: WarmingPolicy | None = None
    ) -> None:
        self.listed = listed
        self.learner = learner
        self.policy = policy  # the warming policy (None: a fixed or learned interval)
        self.extra: float | None = None  # the window the last activity (a ping) set, if any
        self.kept = False  # start() asked to keep it warm before any call reached it
        self.plan_key: tuple[Any, ...] | None = None  # what the cached plan was made from
        self.plan_due: float | None = None
        self.last: float | None = None  # last activity, on the warmer clock's monotonic scale
        self.active = 0  # calls in flight
        self.asap = False  # a ping was asked for now (start, warm_up)
        self.asked: float | None = None  # when warm_up last asked for one
        self.pinging = False  # its work (fleet update, ping) is in flight
        self.failures = 0
        self.retry_at = 0.0
        self.dirty = False  # activity not yet published to the fleet
        self.flush_at = 0.0
        self.early = 0.0  # seconds the first idle ping comes early (FIRST_PING_SPREAD)


class Warmer:
    """The handle of one ``@warm`` function: ``decorated.warmer``.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        models: tuple[str, ...],
        interval: float | None,
        keep_alive: float | None,
        ping: Callable[..., Any] | None,
        fleet: Fleet | None,
        clock: _scheduler.Clock,
        budget: float | None = None,
    ) -> None:
        if budget is not None and keep_alive is None:
            keep_alive = DEFAULT_KEEP_ALIVE
        self.models = models
        self.keep_alive = keep_alive
        self._interval = interval
        self._ping = ping
        self._fleet = fleet
        self._clock = clock
        self._lock = threading.Lock()
        start = DEFAULT_AUTO_START if keep_alive is None else SAFETY * keep_alive

        def model_state() -> _Model:
            if budget is not None:
                assert keep_alive is not None
                return _Model(True, None, WarmingPolicy(keep_alive, budget))
            return _Model(True, None if interval else Learner(start))

        self._budget = budget
        self._model_state = model_state  # llmwarm.testing.reset() makes each model afresh
        self._state = {m: model_state() for m in models}
        # An adapter that can set the provider's window is asked for the busy period at once.
        self._sets_window = bool(getattr(ping, "sets_window", False))
        self._adapter_async = is_async_callable(ping)
        self._only = models[0] if len(models) == 1 else None
        self._stopped = False
        self._reopen = False  # ended by llmwarm.close(): the next call starts it again
        self._scheduler: _scheduler.ThreadScheduler | None = None
        self._runner: _scheduler.AsyncRunner | None = None
        self._is_async = False
        self._ping_async = is_async_callable(ping)
        self._spec: FunctionSpec | None = None
        self._stack: Any = None
        self._instance: Callable[[], Any] | None = None
        self._method = False
        self._sent = 0
        self._failed = 0
        self._rng = random.Random()
        _warmers().add(self)
        _threads()

    # -- public handle

    @property
    def pings_sent(self) -> int:
        """Pings sent so far (failed ones included)."""
        return self._sent

    @property
    def ping_failures(self) -> int:
        """Pings that failed so far."""
        return self._failed

    @property
    def stats(self) -> Stats:
        """A snapshot: a :class:`~llmwarm.Stats` with ``warmup_pings`` and ``..._failures``.

        .. versionadded:: 0.2.0
        """
        return Stats(scope="warm", warmup_pings=self._sent, warmup_ping_failures=self._failed)

    @property
    def expected_cold_start(self) -> float:
        """Seconds a cold start of this warmer's models is predicted to take.

        The longest cold load a ping has measured (the warming policy keeps the last
        few), else 30 s (``DEFAULT_LEAD``), the longest over the models. ``@pooled`` under
        this ``@warm`` builds its client with a read timeout no shorter, when the stack
        is built: a call that finds the model cold is not cut while it loads.

        .. versionadded:: 0.2.0
        """
        with self._lock:
            loads = [st.policy.load for st in self._state.values() if st.policy is not None]
        return max(loads, default=_DEFAULT_LOAD)

    def interval(self, model: str) -> float:
        """Return the idle seconds allowed before pinging ``model`` (learned when "auto")."""
        return self._interval_of(self._state[model])

    def is_warm(self, model: str) -> bool:
        """Whether ``model`` is predicted warm now: active within its window."""
        st = self._state.get(model)
        if st is None or st.last is None:
            return False
        return st.active > 0 or self._clock.monotonic() - st.last <= self._window(st)

    def next_ping_at(self, model: str) -> float | None:
        """Return when ``model``'s next ping is due (its clock's monotonic scale), or None.

        The clock is the runtime clock (a ``llmwarm.testing.FakeClock`` in tests) unless
        the warmer was given its own.
        """
        st = self._state.get(model)
        if st is None or self._stopped:
            return None
        with self._lock:
            return self._due(st, self._clock.monotonic(), flush=False)

    def start(self) -> None:
        """Start warming now: ping every model at once, then keep them warm.

        Usable from sync and async code (e.g. a FastAPI lifespan); an async function's
        warmer starts on the running loop, or on its first call when there is none.
        """
        with self._lock:
            self._stopped = self._reopen = False
            for st in self._state.values():
                st.asap = st.kept = st.listed
        if self._fleet is not None:
            self._fleet.reopen()  # stop() closed it; a restarted warmer shares the fleet again
        self._ensure_running()
        self._wake()

    def warm_up(self, model: str) -> None:
        """Ping ``model`` in the background as soon as possible (any model, listed or not).

        Asking again does nothing while a ping is in flight or failing pings back off, nor
        more than once per interval: a router may ask on every call.
        """
        now = self._clock.monotonic()
        with self._lock:
            st = self._state.get(model)
            if st is None:
                policy = None
                if self._budget is not None and self.keep_alive is not None:
                    policy = WarmingPolicy(self.keep_alive, self._budget)
                st = self._state[model] = _Model(False, None, policy)
            if st.pinging or st.failures or st.asap:
                return
            if st.asked is not None and now - st.asked < self._interval_of(st):
                return
            st.asap, st.asked = True, now
        self._ensure_running()
        self._wake()

    def stop(self) -> None:
        """Stop warming; no ping starts after this returns. Calls do not restart it."""
        self._halt(reopen=False)

    def _halt(self, *, reopen: bool) -> None:
        """Stop warming; with ``reopen`` (``llmwarm.close()``) the next call starts it again."""
        with self._lock:
            self._stopped = True
            self._reopen = reopen
            for st in self._state.values():
                st.asap = False
            scheduler, self._scheduler = self._scheduler, None
            runner, self._runner = self._runner, None
        if scheduler is not None:
            scheduler.remove(self)
        if runner is not None:
            runner.cancel()
        if self._fleet is not None:
            self._fleet.close()

    def close(self) -> None:
        """Stop warming, as :meth:`stop` (the same ``close``/``aclose`` as every handle).

        .. versionadded:: 0.2.0
        """
        self.stop()

    def _forget(self) -> None:
        """Stop, and forget all it learned and counted, as in a new process (a reset).

        The next call starts it again, as after ``llmwarm.close()``.
        """
        self._halt(reopen=True)
        with self._lock:
            self._state = {m: self._model_state() for m in self.models}
            self._sent = self._failed = 0
            self._rng = random.Random()

    async def aclose(self) -> None:
        """Stop warming and wait for an async warmer's task to end."""
        await self._ahalt(reopen=False)

    async def _ahalt(self, *, reopen: bool) -> None:
        runner = self._runner
        self._halt(reopen=reopen)
        if runner is not None and runner.loop is asyncio.get_running_loop():
            await asyncio.wait([runner.task])

    # -- the Job protocol (driven by llmwarm._core.scheduler)

    @property
    def is_async(self) -> bool:
        """Whether the warmed function is async: its warmer's work runs on the event loop.

        .. versionadded:: 0.2.0
        """
        return self._is_async

    def delay(self) -> float | None:
        """Return seconds until due work (None: nothing scheduled)."""
        if self._stopped:
            return None
        now = self._clock.monotonic()
        with self._lock:
            dues = [self._due(st, now, flush=True) for st in self._state.values()]
        due = min((d for d in dues if d is not None), default=None)
        if due is None:
            return None
        wait = 0.0 if due - now <= _EPSILON else due - now
        # A test clock may run faster than real time (``speed``): runners wait real seconds.
        return wait / getattr(self._clock, "speed", 1.0)

    def run_due(self) -> None:
        """Do due pings and fleet updates on this thread, one model after the other."""
        for model in self._claim():
            _scheduler.run_claimed(self, model)

    async def arun_due(self) -> None:
        """Do due pings and fleet updates on the running loop, every due model at once.

        One after the other, a cold model's ping (a load of seconds) would hold back the
        others' pings past their keep-alive: each model's work is its own task.
        """
        works = [_scheduler.arun_claimed(self, model) for model in self._claim()]
        if len(works) == 1:
            await works[0]
        elif works:
            await asyncio.gather(*works)

    def _claim(self) -> list[str]:
        """Return the models with due work, marked in flight until :meth:`_release`."""
        now = self._clock.monotonic()
        with self._lock:
            if self._stopped:
                return []
            due = [
                m
                for m, st in self._state.items()
                if (d := self._due(st, now, flush=True)) is not None and d <= now + _EPSILON
            ]
            for m in due:
                self._state[m].pinging = True
        return due

    def _release(self, model: str) -> None:
        """End ``model``'s work in flight, however it ended (cancelled, interrupted too)."""
        with self._lock:
            self._state[model].pinging = False
        self._wake()  # its next due time may be sooner than the runner's sleep

    # -- internals

    def _bind(self, spec: FunctionSpec) -> None:
        self._spec = spec
        self._is_async = spec.is_async
        params = list(spec.parameters)
        self._method = bool(params) and params[0] in ("self", "cls")
        if self._only is None and not spec.accepts("model"):
            raise TypeError(
                f"@warm with several models needs {spec.qualname} to take a `model` "
                "argument, to know which model each call uses; decorate it once per model."
            )
        if self._ping is None:
            missing = [n for n in ("model", "messages", "max_tokens") if not spec.accepts(n)]
            if missing:
                raise TypeError(
                    f"@warm cannot ping through {spec.qualname}: it does not accept "
                    f"{', '.join(missing)} as keyword arguments; pass ping=, e.g. "
                    "ping=llmwarm.pings.openai_chat(client)."
                )
        # Every ping, an adapter's too, goes through the stack, on the function's path.
        self._ping_async = spec.is_async

    def _remember(self, instance: Any) -> None:
        ref = self._instance
        if ref is None or ref() is not instance:
            try:
                self._instance = weakref.ref(instance)
            except TypeError:  # no __weakref__ slot: keep it (documented)
                self._instance = lambda: instance

    def _interval_of(self, st: _Model) -> float:
        if self._interval is not None:
            return self._interval
        if st.policy is not None:
            return st.policy.spacing
        return st.learner.interval() if st.learner is not None else DEFAULT_AUTO_START

    def _window(self, st: _Model) -> float:
        if st.extra is not None:
            return st.extra
        learned = st.learner.window() if st.learner is not None else None
        if learned is not None:
            return learned
        if self.keep_alive is not None:
            return self.keep_alive
        return self._interval_of(st) / (SAFETY if st.learner is not None else 1.0)

    def _due(self, st: _Model, now: float, *, flush: bool, mine: bool = False) -> float | None:
        """Return when ``st``'s work is due; ``mine``: asked by its work in flight."""
        if st.pinging and not mine:
            return None
        due: float | None = None
        if st.failures:  # backing off: asking again (start, warm_up) does not bypass it
            due = st.retry_at
        elif st.asap:
            due = now
        elif st.listed and st.last is not None:
            if st.policy is None:
                due = st.last + self._interval_of(st) - st.early
            else:
                due = self._plan(st, now)
        if flush and st.dirty:
            due = st.flush_at if due is None else min(due, st.flush_at)
        return due

    def _plan(self, st: _Model, now: float) -> float | None:
        """Return when the policy pings ``st`` next (None: quiet); call under the lock.

        A plan is made once per state (last activity, window, last call), not on every look.
        """
        policy = st.policy
        assert policy is not None
        assert st.last is not None
        if not policy.calls and not st.kept:
            # Warm what traffic uses: a model no call has reached (a router's other tier,
            # pinged once by warm_up) is not kept warm on its own.
            return None
        key = (st.last, st.extra, len(policy.calls), policy.calls[-1] if policy.calls else None)
        if st.plan_key != key:
            offset = self._clock.time() - now  # the policy thinks in wall-clock time
            warm_until = st.last + self._window(st) + offset
            decision = policy.decide(now + offset, warm_until)
            st.plan_key = key
            st.plan_due = None if decision.at is None else decision.at - offset
        return st.plan_due

    def _ensure_running(self) -> None:
        if self._reopen:
            self._restart()
        if self._stopped:
            return
        clock = self._clock
        # RuntimeClock.manual asks the runtime's clock; asked here directly, every call.
        if (
            getattr(_runtime.runtime.clock, "manual", False)
            if type(clock) is _runtime.RuntimeClock
            else clock.manual
        ):
            watch = getattr(clock, "watch", None)
            if watch is not None:  # a clock that drives its warmers (llmwarm.testing)
                watch(self)
            return
        if self._is_async:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: the first call starts it
            runner = self._runner
            # runner.alive(loop), inline (every call): a running loop is not closed.
            if runner is None or runner.loop is not loop or runner.task.done():
                with self._lock:
                    if self._runner is runner and not self._stopped:
                        self._runner = _scheduler.AsyncRunner(self, loop)
            return
        scheduler = self._scheduler
        # `peek`, not `shared()`: a look-up with no arguments to pass, on every sync call; a
        # scheduler forgotten (a reset, a fork) is not the one peeked, and is made anew below.
        if (
            scheduler is None
            or scheduler.thread is None
            or scheduler is not _runtime.runtime.peek("scheduler")
        ):
            with self._lock:  # against stop(): a stopped warmer is never added back
                if self._stopped:
                    return
                self._scheduler = _scheduler.shared()
                self._scheduler.add(self)

    def _restart(self) -> None:
        """Undo ``llmwarm.close()`` on the next call, as pools reopen; not :meth:`stop`."""
        with self._lock:
            if not self._reopen:
                return
            self._reopen = False
            self._stopped = False
        if self._fleet is not None:
            self._fleet.reopen()

    def _wake(self) -> None:
        if self._scheduler is not None:
            self._scheduler.wake()
        if self._runner is not None:
            self._runner.wake()

    def _end(
        self,
        st: _Model,
        record: CallRecord,
        idle: float | None,
        latency: float | None,
        ok: bool,
        started: float | None = None,
    ) -> None:
        if record.cache_hit:  # the provider was not called: no activity, nothing learned
            with self._lock:
                st.active -= 1
            return
        clock = self._clock
        if type(clock) is _runtime.RuntimeClock:  # the clock it stands for: a frame less
            clock = _runtime.runtime.clock
        now = clock.monotonic()
        with self._lock:
            st.active -= 1
            if not ok:  # a failed call or ping is no evidence the model is loaded
                return
            if st.policy is not None and not record.warmup and started is not None:
                st.policy.observe_call(self._clock.time() - (now - started))
            first = st.last is None
            st.last = now if st.last is None else max(st.last, now)
            st.extra = None  # each request sets the provider's window anew (its default)
            if first and not self._sent:
                st.early = self._rng.uniform(0, FIRST_PING_SPREAD) * self._interval_of(st)
            if self._fleet is not None and not st.dirty:
                st.dirty, st.flush_at = True, now + self._interval_of(st) / 4
            if st.failures and not record.warmup:
                st.failures = 0
        if latency is not None and st.learner is not None:
            st.learner.observe(idle, latency)
        if first:  # the model's first due time: from none to one is earlier
            self._wake()

    def _work(self, model: str) -> Work[None]:
        """Do one model's due work: publish activity, consult the fleet, ping, back off.

        Written once as steps; the scheduler runs it when due, through the core's driver.
        """
        st, fleet, clock = self._state[model], self._fleet, self._clock
        now = clock.monotonic()
        with self._lock:
            if st.active:  # a long call in flight is activity
                st.last = now
            due = self._due(st, now, flush=False, mine=True)
            publish = st.dirty and fleet is not None
            st.dirty = False
            wall = clock.time() - (now - (st.last or now))
        if fleet is not None and publish:
            yield from publishing(fleet, model, wall)
        if due is None or due > now + _EPSILON or self._stopped:
            return
        interval = self._interval_of(st)
        leased = False
        if fleet is not None and st.listed:
            shared = yield from reading(fleet, model)
            now = clock.monotonic()
            with self._lock:
                if shared is not None:
                    seen = now - max(0.0, clock.time() - shared)
                    if st.last is None or seen > st.last:
                        st.last = seen
                busy = not st.asap and st.last is not None and st.last + interval > now
                if busy:  # another replica's traffic or ping counts: no ping needed
                    st.failures = 0
            if busy:
                return
            lease = interval / getattr(clock, "speed", 1.0)  # Redis expires it in real time
            if not (yield from leasing(fleet, model, lease)):
                with self._lock:  # another replica holds the lease: it pings
                    st.asap, st.last = False, now
                    if st.failures:  # ours failed: look again later, still backing off
                        st.retry_at = now + self._backoff(st.failures, interval)
                return
            leased = True
        with self._lock:
            if self._stopped:
                return
            st.asap = False
            gap = None if st.last is None else max(0.0, now - st.last)
            cold = gap is None or gap > self._window(st)
            self._sent += 1
        window = self._window_to_set(st, now)
        started = clock.monotonic()
        try:
            send = functools.partial(self._call_ping, model, window)
            yield Ping(send, self._ping_async)
        except _NoInstance:  # no instance to ping a method through: look again later
            with self._lock:
                self._sent -= 1
                st.last = clock.monotonic()
            if fleet is not None and leased:
                yield from releasing(fleet, model)
            return
        except Exception as exc:
            self._failure(st, model, exc, interval)
            if fleet is not None and leased:  # let this (or any) replica retry on backoff
                yield from releasing(fleet, model)
            return
        end = clock.monotonic()
        with self._lock:
            recovered, st.failures, st.early = st.failures, 0, 0.0
            st.last = end if st.last is None else max(st.last, end)
            if window is not None:
                st.extra = window
        if st.policy is not None:
            with self._lock:  # the scheduler may be planning with the same history
                st.policy.observe_ping(end - started, cold)
        if recovered:
            logger.info("llmwarm: keep-warm pings to %r work again (%d failed)", model, recovered)
        if fleet is not None:
            yield from publishing(fleet, model, clock.time())

    def _failure(self, st: _Model, model: str, exc: Exception, interval: float) -> None:
        now = self._clock.monotonic()
        with self._lock:
            st.failures += 1
            self._failed += 1
            n = st.failures
            st.retry_at = now + self._backoff(n, interval)
        if n == 1 or n % _LOG_EVERY == 0:
            logger.warning(
                "llmwarm: keep-warm ping to %r failed (%s: %s; %d in a row); backing off",
                model,
                type(exc).__name__,
                exc,
                n,
            )
        else:
            logger.debug("llmwarm: keep-warm ping to %r failed again: %r", model, exc)

    def _backoff(self, failures: int, interval: float) -> float:
        """Return a jittered delay before retry number ``failures`` (call under the lock)."""
        exponent = min(failures - 1, 62)
        ceiling = min(DEFAULT_BACKOFF_CAP, _BACKOFF_BASE * 2**exponent) * interval
        return max(interval / 100, self._rng.uniform(0, ceiling))

    def _window_to_set(self, st: _Model, now: float) -> float | None:
        """Return the keep-alive a window-setting ping asks for: the predicted busy period."""
        if st.policy is None or not self._sets_window or self.keep_alive is None:
            return None
        wall = self._clock.time()
        with self._lock:
            horizon = st.policy.horizon(wall, wall + self.keep_alive)
        return max(self.keep_alive, horizon - wall + st.policy.margin)

    def _call_ping(self, model: str, window: float | None = None) -> Any:
        if self._ping is not None:
            return self._adapter_ping(model, window)
        assert self._spec is not None
        kwargs = {"model": model, "messages": [dict(m) for m in PING_MESSAGES], "max_tokens": 1}
        record = CallRecord(self._spec.qualname, warmup=True)
        stack, ref = self._stack, self._instance
        if ref is None:
            if self._method:
                raise _NoInstance
            return invoke(stack, _record=record, **kwargs)
        instance = ref()
        if instance is None:
            raise _NoInstance
        target = stack.__wrapped__
        if isinstance(target, classmethod):
            bound = target.__get__(None, instance)
        else:
            bound = target.__get__(instance, type(instance))
        state = stack_state(stack)
        assert state is not None  # `_stack` is only ever set to a stack (by attach)
        run = state.run_async if self._spec.is_async else state.run_sync
        return run(bound, instance, (), kwargs, record)

    def _adapter_ping(self, model: str, window: float | None) -> Any:
        """Send an adapter's ping through the stack's policies, so it is counted and traced.

        The stack's own function is not called: the adapter takes its place, and the
        policies see a call marked as a warm-up (caches and routes let it through).
        """
        assert self._ping is not None
        ping = self._ping
        send = (
            functools.partial(ping, model)
            if window is None
            else functools.partial(ping, model, keep_alive=window)
        )
        op = Ping(send, self._adapter_async)
        stack, spec = self._stack, self._spec
        if stack is None or spec is None:
            return op.run_sync()
        record = CallRecord(spec.qualname, warmup=True)
        state = stack_state(stack)
        assert state is not None  # `_stack` is only ever set to a stack (by attach)
        if spec.is_async:

            async def atarget(*_args: Any, **_kwargs: Any) -> Any:
                return await op.run_async()

            return state.run_async(atarget, None, (), {"model": model}, record)

        def target(*_args: Any, **_kwargs: Any) -> Any:
            return op.run_sync()

        return state.run_sync(target, None, (), {"model": model}, record)


def _after_fork(warmers: weakref.WeakSet[Warmer]) -> weakref.WeakSet[Warmer]:
    """In a forked child: fresh locks, and no work in flight (its threads are gone)."""
    for warmer in list(warmers):
        warmer._lock = threading.Lock()
        warmer._scheduler = None
        warmer._runner = None
        # Its own random draws: children sharing the parent's rng state would all draw the
        # same first-ping spread and jitter, pinging in step (what the spread is against).
        warmer._rng = random.Random()
        for st in warmer._state.values():
            st.pinging = False
            # Calls in flight on the parent's other threads do not exist here; counted
            # still, they would make the model look busy (never idle, never pinged).
            st.active = 0
            if st.learner is not None:
                st.learner._lock = threading.Lock()
    return warmers  # the child's warmers are the parent's objects: keep them


def _reset_warmers(warmers: weakref.WeakSet[Warmer]) -> weakref.WeakSet[Warmer]:
    # Every warmer as new: stopped until its function's next call, with nothing learned or
    # counted. The set stays: its warmers belong to functions that outlive a reset.
    for warmer in list(warmers):
        warmer._forget()
    return warmers


def _reset() -> None:
    """Stop every warmer and forget the shared scheduler (tests; see llmwarm.testing.reset)."""
    _stop_all()
    _scheduler._reset()
