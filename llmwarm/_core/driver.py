"""The one place that knows sync from async: policies, steps, drivers and stacks.

The call record and the function spec are in :mod:`llmwarm._core.call`, stream observation in
:mod:`llmwarm._core.streams`, and ``safely``/the logger in :mod:`llmwarm._core.log`.

Every llmwarm decorator is a :class:`Policy`: an object whose :meth:`Policy.flow` is a
generator written once, for both paths. A flow yields the :class:`Call` it wants the rest
of the stack to run and is sent back the result (or has the exception thrown in); it may
yield several calls (fallback, retries), none (a cache hit), or a :class:`Step` that waits
or does blocking I/O. Two short drivers, :func:`_drive_sync` and :func:`_drive_async`, run
a pipeline of flows; this is httpx's ``auth_flow`` pattern, so no policy is written twice.

Background work (a warmer's pings, its fleet's Redis calls) is written the same way: a
generator of steps only, run by :func:`run_steps_sync` or :func:`run_steps_async` through
the very same drivers. :mod:`llmwarm._core.scheduler` only decides *when* it runs.

Decorating a function that llmwarm already wraps does not add a layer: the new policy joins
the existing pipeline in a new :class:`Stack` (outermost first), so a stack of five
decorators costs one ``wrapt`` layer. The function each policy was given is unchanged.

Each call through a stack runs inside a :class:`CallRecord` (a contextvar), opened by the
stack's entry; policies write facts into it and read them when the call ends, whatever
their order, without importing each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

import wrapt

from llmwarm._core.call import Call, CallRecord, FunctionSpec, _current, current_record
from llmwarm._core.log import logger
from llmwarm._core.streams import _stream_types, is_stream, observe_stream

#: Bound once: a module attribute lookup less on every call's path.
_perf_counter = time.perf_counter
#: The record's contextvar, its methods bound once (every call sets and resets it).
_enter = _current.set
_leave = _current.reset

__all__ = [
    "NO_ANSWER",
    "Call",
    "CallRecord",
    "FunctionSpec",
    "Offload",
    "Policy",
    "Stack",
    "StackState",
    "Step",
    "Warmth",
    "Work",
    "apply",
    "current_record",
    "invoke",
    "on_call_end",
    "run_steps_async",
    "run_steps_sync",
    "stack_state",
]


F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")

#: What a flow yields: a :class:`Call` to run through the rest of the stack, or a :class:`Step`.
Flow = Generator["Call | Step", Any, Any]
#: A unit of background work: a generator of steps only, returning ``R``.
Work = Generator["Step", Any, R]


# -------------------------------------------------------------------------------- steps


class Step:
    """Something a flow waits for that differs between the sync and the async path.

    A flow yields a step; the sync driver calls :meth:`run_sync`, the async driver awaits
    :meth:`run_async`, and the flow is sent the result. ``proceed`` runs a call through
    the rest of the stack (for steps such as hedging that start calls themselves).

    .. versionadded:: 0.1.0
    """

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        """Do the step on the calling thread and return its value."""
        raise NotImplementedError

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        """Do the step on the running event loop and return its value."""
        raise NotImplementedError


class Offload(Step):
    """Run a blocking function: inline on the sync path, in a worker thread on the async one.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("args", "function")

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function = function
        self.args = args

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        """Call the function here."""
        return self.function(*self.args)

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        """Call the function in the default executor, keeping the context."""
        return await asyncio.to_thread(self.function, *self.args)


# ------------------------------------------------------------------------------ policies


class _NoAnswer:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_ANSWER"


#: What :meth:`Policy.answer` returns to let its flow run.
NO_ANSWER: Any = _NoAnswer()


class Policy:
    """Base class of one decorator's behaviour. Subclasses override :meth:`flow`.

    .. versionadded:: 0.1.0
    """

    #: Attribute names this policy exposes on the decorated function (``.cache``, ...).
    handles: ClassVar[tuple[str, ...]] = ()
    #: Whether the drivers ask :meth:`skips` before running this policy's flow. A flow
    #: that would only pass the call through still costs a generator (about half a
    #: microsecond); a policy that is often idle (``@traced`` without an SDK) says so here.
    may_skip: ClassVar[bool] = False
    #: Whether the drivers ask :meth:`answer` before running this policy's flow. A flow
    #: that returns at once (``@cached`` on a hit) still costs a generator, its start and
    #: its ``StopIteration`` (about a quarter of a microsecond); a policy that often
    #: settles a call without running the rest of the stack answers it here instead.
    may_answer: ClassVar[bool] = False
    #: Whether this policy handles failed calls itself (falls back, retries): a client
    #: built further in should then raise on the first failure instead of retrying it,
    #: which ``@pooled`` reads from its stack (``max_retries=0`` for the SDKs it builds).
    handles_failures: bool = False
    #: Seconds this policy waits on one call before acting on its slowness (``@routed``'s
    #: ``hedge_after``), or None; timeouts further in should be no shorter.
    patience: float | None = None
    #: Whether this policy passes each call on at once and at most once (``@traced``), never
    #: again later (a fallback, a retry, a wait for a loading model): a policy further in
    #: may then take the record's start time as the time its own flow began, which
    #: ``@cached`` does to read its memory back end without a clock read of its own.
    passes_once: ClassVar[bool] = False
    #: Keyword arguments this policy adds to the calls it passes on (``@pooled``'s client):
    #: ``@cached`` warns when such a policy sits outside it (its keys cannot see them).
    injects: tuple[str, ...] = ()
    #: The :class:`CallRecord` facts this policy reads, and those it writes (attribute
    #: names, checked against :attr:`CallRecord.FACTS` by the tests). Policies share facts
    #: only through the record; a policy's private per-call state goes in a
    #: :class:`~llmwarm._core.call.SlotKey` slot instead, and is declared nowhere.
    reads: ClassVar[frozenset[str]] = frozenset()
    writes: ClassVar[frozenset[str]] = frozenset()
    #: Seconds a cold start of the model is predicted to take (``@warm``'s prediction), or
    #: None; like ``patience``, a timeout further in that is shorter would cut the calls
    #: that find the model cold, so ``@pooled`` raises its SDK client's timeout to it.
    expected_cold_start: float | None = None

    def skips(self, call: Call) -> bool:
        """Return True to let ``call`` bypass this policy (asked only when ``may_skip``)."""
        return False

    def answer(self, call: Call) -> Any:
        """Return ``call``'s value without a flow, or :data:`NO_ANSWER` to run :meth:`flow`.

        Asked only when :attr:`may_answer`, after :meth:`skips`; it may not yield (no step,
        no call further in): what needs either belongs in :meth:`flow`. An exception it
        raises is the call's, as if the flow had raised it.
        """
        return NO_ANSWER

    def bind(self, spec: FunctionSpec) -> None:
        """Check the policy against the function at decoration time (raise to refuse it)."""

    def attach(self, stack: Stack) -> None:
        """Learn the stack the policy runs in; called again for each stack built around it."""

    def flow(self, call: Call) -> Flow:
        """Run around one call: ``result = yield call`` runs the rest of the stack."""
        return (yield call)


@runtime_checkable
class Warmth(Protocol):
    """What ``@warm`` offers to the other policies of its stack (``@routed`` uses it).

    .. versionadded:: 0.1.0
    """

    def is_warm(self, model: str) -> bool:
        """Whether ``model`` is predicted warm right now."""
        ...

    def warm_up(self, model: str) -> None:
        """Warm ``model`` in the background as soon as possible."""
        ...


# ------------------------------------------------------------------------------- drivers


class _CarriedStopIteration(Exception):
    """A ``StopIteration`` from the function, on its way out through the flows.

    Thrown into a generator as is, PEP 479 would turn it into ``RuntimeError``; the stack's
    entry unwraps it, so the caller gets the function's own exception.
    """

    def __init__(self, original: StopIteration) -> None:
        super().__init__(original)
        self.original = original


def _carried(error: BaseException) -> BaseException:
    return _CarriedStopIteration(error) if isinstance(error, StopIteration) else error


def _uncarried(error: BaseException) -> BaseException:
    return error.original if type(error) is _CarriedStopIteration else error


# One loop steps every flow of a call, for each path: a flow that yields a call waits on a
# list while the next policy's flow runs, instead of each layer re-entering the driver (a
# frame per layer on the sync path; on the async one a coroutine per layer, and an await
# chain that every wake-up of the call's task climbed through again). Outcomes go back to
# the waiting flow by `send` (a value) or `throw` (an exception), exactly as when each
# layer had its own driver; a step's `proceed` still runs the policies further in with a
# driver of its own (a hedge races two such calls).


def _drive_sync(pipeline: tuple[Policy, ...], index: int, call: Call) -> Any:
    end = len(pipeline)
    # Flows that yielded a call, outermost first; made when one does (not on a cache hit).
    waiting: list[tuple[Flow, int]] | None = None
    flow: Flow | None = None
    value: Any = None
    error: BaseException | None = None
    while True:
        # `call` runs from `index`: the first policy that does not skip it, or the function.
        try:
            while index < end:
                policy = pipeline[index]
                if not (policy.may_skip and policy.skips(call)):
                    if policy.may_answer:
                        value = policy.answer(call)
                        if value is not NO_ANSWER:
                            break  # settled: the value goes to the waiting flow
                        value = None  # a flow starts on None
                    flow = policy.flow(call)
                    break
                index += 1
            else:
                value = call.target(*call.args, **call.kwargs)
        except BaseException as exc:  # handed to the waiting flow, which re-raises or recovers
            error = exc
        # Step the flows until one yields a call to run further in, or the outermost ends.
        while True:
            if flow is None:
                if not waiting:
                    if error is not None:
                        raise error
                    return value
                flow, index = waiting.pop()
            try:
                if error is None:
                    step = flow.send(value)
                else:
                    thrown, error = error, None
                    step = flow.throw(_carried(thrown))
            except StopIteration as stop:
                if not waiting:  # the outermost flow ended: the call's value
                    return stop.value
                value, flow = stop.value, None
                continue
            except BaseException as exc:
                if not waiting:
                    raise
                error, flow = exc, None
                continue
            if type(step) is Call:
                if waiting is None:
                    waiting = [(flow, index)]
                else:
                    waiting.append((flow, index))
                flow, value, call = None, None, step
                index += 1
                break
            try:
                proceed = functools.partial(_drive_sync, pipeline, index + 1)
                value = cast(Step, step).run_sync(proceed)
            except BaseException as exc:
                error = exc


async def _drive_async(pipeline: tuple[Policy, ...], index: int, call: Call) -> Any:
    # _drive_sync's loop, with the function and the steps awaited.
    end = len(pipeline)
    waiting: list[tuple[Flow, int]] | None = None
    flow: Flow | None = None
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            while index < end:
                policy = pipeline[index]
                if not (policy.may_skip and policy.skips(call)):
                    if policy.may_answer:
                        value = policy.answer(call)
                        if value is not NO_ANSWER:
                            break  # settled: the value goes to the waiting flow
                        value = None  # a flow starts on None
                    flow = policy.flow(call)
                    break
                index += 1
            else:
                value = call.target(*call.args, **call.kwargs)
                # An async generator function returns its stream without being awaited.
                if not call.spec.is_async_gen:
                    value = await value
        except BaseException as exc:
            error = exc
        while True:
            if flow is None:
                if not waiting:
                    if error is not None:
                        raise error
                    return value
                flow, index = waiting.pop()
            try:
                if error is None:
                    step = flow.send(value)
                else:
                    thrown, error = error, None
                    step = flow.throw(_carried(thrown))
            except StopIteration as stop:
                if not waiting:  # the outermost flow ended: the call's value
                    return stop.value
                value, flow = stop.value, None
                continue
            except BaseException as exc:
                if not waiting:
                    raise
                error, flow = exc, None
                continue
            if type(step) is Call:
                if waiting is None:
                    waiting = [(flow, index)]
                else:
                    waiting.append((flow, index))
                flow, value, call = None, None, step
                index += 1
                break
            try:
                proceed = functools.partial(_drive_async, pipeline, index + 1)
                value = await cast(Step, step).run_async(proceed)
            except BaseException as exc:
                error = exc


# ------------------------------------------------------------------- background work


class _Work(Policy):
    """A pipeline of one: its flow is a piece of background work, which yields steps only.

    Background work is driven by the calls' own drivers (one loop for both, and none of
    its cost on a call's path): a steps-only generator is a flow with no call to run.
    """

    def __init__(self, work: Work[Any]) -> None:
        self.work = work

    def flow(self, call: Call) -> Flow:
        """Return the work itself (there is no call: ``call`` is never read)."""
        return self.work


#: What the background drivers hand to `_drive_*`: no call exists, and none is read (a
#: `_Work` policy never skips, and its flow ignores the call).
_NO_CALL = cast(Call, None)


def run_steps_sync(work: Work[R]) -> R:
    """Drive ``work``, a generator of :class:`Step` only, on this thread; return its value.

    Each step is run as in a call's flow (``run_sync``): its value is sent back into the
    generator, its exception thrown in. The generator is closed however this ends.

    .. versionadded:: 0.2.0
    """
    try:
        return cast(R, _drive_sync((_Work(work),), 0, _NO_CALL))
    except _CarriedStopIteration as exc:  # a step's own StopIteration, unwrapped
        raise exc.original from None
    finally:
        work.close()


async def run_steps_async(work: Work[R]) -> R:
    """Drive ``work``, a generator of :class:`Step` only, on the running loop.

    Each step is awaited as in a call's flow (``run_async``). A cancellation is thrown into
    the generator at the step it waits on; the generator is closed however this ends.

    .. versionadded:: 0.2.0
    """
    try:
        return cast(R, await _drive_async((_Work(work),), 0, _NO_CALL))
    except _CarriedStopIteration as exc:
        raise exc.original from None
    finally:
        work.close()


# -------------------------------------------------------------------------------- stacks


_call_end_hooks: list[Callable[[CallRecord, Call], None]] = []


def on_call_end(hook: Callable[[CallRecord, Call], None]) -> Callable[[CallRecord, Call], None]:
    """Register a process-wide hook run when any stack's call ends (used by stats).

    .. versionadded:: 0.1.0
    """
    if hook not in _call_end_hooks:
        _call_end_hooks.append(hook)
    return hook


def _finish(record: CallRecord, call: Call, error: BaseException | None) -> None:
    record.duration = _perf_counter() - record.started
    if error is not None:
        record.error = error
    for hook in _call_end_hooks:
        try:  # inline rather than `safely()`: this runs on every call's path
            hook(record, call)
        except Exception:
            logger.exception("llmwarm: call-end hook failed; the call goes on")


class _Finisher:
    """Closes a record when its stream ends; measures time to the first chunk."""

    __slots__ = ("call", "first_chunk", "record")

    def __init__(self, record: CallRecord, call: Call) -> None:
        self.record = record
        self.call = call
        self.first_chunk = True

    def on_chunk(self, chunk: Any) -> None:
        if self.first_chunk:
            self.first_chunk = False
            self.record.time_to_first_chunk = time.perf_counter() - self.record.started

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        _finish(self.record, self.call, error)


class StackState:
    """The pipeline of one stack and what it knows of its function."""

    __slots__ = ("pipeline", "qualname", "spec")

    def __init__(self, spec: FunctionSpec, pipeline: tuple[Policy, ...]) -> None:
        self.spec = spec
        self.pipeline = pipeline
        self.qualname = spec.qualname  # read on every call: one attribute hop less

    def handle(self, name: str) -> Any:
        for policy in self.pipeline:
            if name in policy.handles:
                return getattr(policy, name)
        raise AttributeError(name)

    def leave(self, call: Call, result: Any) -> Any:
        """End the call when the stream it returned ends."""
        call.record.stream = True
        return observe_stream(result, _Finisher(call.record, call))

    def run_sync(
        self,
        wrapped: Any,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        record: CallRecord | None = None,
    ) -> Any:
        if record is None:
            record = CallRecord(self.qualname)
        call = Call(self.spec, wrapped, instance, args, kwargs, record)
        token = _enter(record)
        try:
            result = _drive_sync(self.pipeline, 0, call)
        except BaseException as exc:
            _leave(token)
            error = _uncarried(exc)
            _finish(record, call, error)
            if error is not exc:
                raise error from None
            raise
        _leave(token)
        # The answer per result type, without a call of is_stream() (this is every call).
        if _stream_types.get(type(result)) is False or not is_stream(result):
            # What _finish() does, inline: a frame less on every call's path.
            record.duration = _perf_counter() - record.started
            for hook in _call_end_hooks:
                try:
                    hook(record, call)
                except Exception:
                    logger.exception("llmwarm: call-end hook failed; the call goes on")
            return result
        return self.leave(call, result)

    async def run_async(
        self,
        wrapped: Any,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        record: CallRecord | None = None,
    ) -> Any:
        if record is None:
            record = CallRecord(self.qualname)
        call = Call(self.spec, wrapped, instance, args, kwargs, record)
        token = _enter(record)
        try:
            result = await _drive_async(self.pipeline, 0, call)
        except BaseException as exc:
            _leave(token)
            error = _uncarried(exc)
            _finish(record, call, error)
            if error is not exc:
                raise error from None
            raise
        _leave(token)
        # The answer per result type, without a call of is_stream() (this is every call).
        if _stream_types.get(type(result)) is False or not is_stream(result):
            # What _finish() does, inline: a frame less on every call's path.
            record.duration = _perf_counter() - record.started
            for hook in _call_end_hooks:
                try:
                    hook(record, call)
                except Exception:
                    logger.exception("llmwarm: call-end hook failed; the call goes on")
            return result
        return self.leave(call, result)

    def entry(self) -> Callable[..., Any]:
        """Return the ``wrapt`` wrapper for this stack, chosen once by the function's kind."""
        if not self.spec.is_async_gen:
            return self.run_async if self.spec.is_async else self.run_sync
        run_async = self.run_async

        async def asyncgen_entry(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> AsyncIterator[Any]:
            stream = await run_async(wrapped, instance, args, kwargs)
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    yield chunk

        return asyncgen_entry


class _BoundStack(wrapt.BoundFunctionWrapper[Any, Any]):
    """A stack bound to an instance or class (``obj.method``): exposes the same handles."""

    @property
    def llmwarm_policies(self) -> tuple[Policy, ...]:
        """The policies of the stack this method belongs to, outermost first."""
        pipeline: tuple[Policy, ...] = self._self_parent._self_llmwarm.pipeline
        return pipeline

    def __getattr__(self, name: str) -> Any:
        if not name.startswith(("_self_", "__")):
            try:
                return self._self_parent._self_llmwarm.handle(name)
            except AttributeError:
                pass
        return super().__getattr__(name)


class Stack(wrapt.FunctionWrapper[Any, Any]):
    """A function decorated by llmwarm: one ``wrapt`` layer whatever the number of policies.

    Policy handles (``.cache``, ``.warmer``, ...) are attributes of the stack.

    .. versionadded:: 0.1.0
    """

    __bound_function_wrapper__ = _BoundStack

    def __init__(self, wrapped: Any, state: StackState) -> None:
        entry = state.entry()
        super().__init__(wrapped, entry)
        self._self_llmwarm = state
        # wrapt's C __call__ looks up `wrapped.__self__` on every call (for a function
        # wrapping a bound method); on a plain function that lookup fails and raises,
        # measured at 300+ ns: most of wrapt's cost per call, a tenth of a cache hit.
        # The wrapped object never changes, so the answer is found once, here.
        instance = None
        if self._self_binding in ("function", "instancemethod", "callable", "classmethod"):
            instance = getattr(wrapped, "__self__", None)
        self._self_direct = (entry, wrapped, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the stack (what wrapt's own ``__call__`` does, without its per-call look-up)."""
        entry, wrapped, instance = self._self_direct
        return entry(wrapped, instance, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith(("_self_", "__")):
            try:
                return self._self_llmwarm.handle(name)
            except AttributeError:
                pass
        return super().__getattr__(name)

    @property
    def llmwarm_policies(self) -> tuple[Policy, ...]:
        """The policies of this stack, outermost first."""
        pipeline: tuple[Policy, ...] = self._self_llmwarm.pipeline
        return pipeline

    def find(self, kind: type[Any]) -> Any:
        """Return the first policy of this stack that is an instance of ``kind``, or None."""
        for policy in self._self_llmwarm.pipeline:
            if isinstance(policy, kind):
                return policy
        return None


def apply(target: F, policy: Policy) -> F:
    """Add ``policy`` to ``target``'s stack (outermost), or start a stack around ``target``.

    Raises :class:`TypeError` when ``target`` is not callable, or is a class.

    .. versionadded:: 0.1.0
    """
    if isinstance(target, Stack):
        inner = target._self_llmwarm
        wrapped = target.__wrapped__
        spec = inner.spec
        pipeline = (policy, *inner.pipeline)
    else:
        underlying = target.__func__ if isinstance(target, (classmethod, staticmethod)) else target
        if not callable(underlying):
            raise TypeError(
                f"llmwarm decorators wrap functions and methods; got {target!r}, "
                "which is not callable"
            )
        if inspect.isclass(underlying):  # a class's calls build instances, not requests
            raise TypeError(
                f"llmwarm decorators wrap functions and methods; got the class "
                f"{underlying.__qualname__}: decorate the method that calls the model instead"
            )
        wrapped, spec, pipeline = target, FunctionSpec(target), (policy,)
    policy.bind(spec)
    stack = Stack(wrapped, StackState(spec, pipeline))
    for member in pipeline:
        member.attach(stack)
    return cast(F, stack)


def stack_state(target: Any) -> StackState | None:
    """Return the state of the llmwarm stack ``target`` is (its spec and pipeline), or None.

    ``target`` is a decorated function, or a method of one bound to an instance.

    .. versionadded:: 0.2.0
    """
    if isinstance(target, Stack):
        state: StackState = target._self_llmwarm
        return state
    if isinstance(target, _BoundStack):
        parent: StackState = target._self_parent._self_llmwarm
        return parent
    return None


def invoke(stack: Any, *args: Any, _record: CallRecord, **kwargs: Any) -> Any:
    """Call ``stack`` with a record made by the caller (``@warm`` marks its pings so).

    Returns what the stack returns: a value for a sync function, a coroutine for an async one.

    .. versionadded:: 0.1.0
    """
    state: StackState = stack._self_llmwarm
    wrapped = stack.__wrapped__
    if state.spec.is_async:
        return state.run_async(wrapped, None, args, kwargs, _record)
    return state.run_sync(wrapped, None, args, kwargs, _record)
