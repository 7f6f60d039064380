"""The one place that knows sync from async: policies, stacks, drivers and the call record.

Every llmwarm decorator is a :class:`Policy`: an object whose :meth:`Policy.flow` is a
generator written once, for both paths. A flow yields the :class:`Call` it wants the rest
of the stack to run and is sent back the result (or has the exception thrown in); it may
yield several calls (fallback, retries), none (a cache hit), or a :class:`Step` that waits
or does blocking I/O. Two short drivers, :func:`_drive_sync` and :func:`_drive_async`, run
a pipeline of flows; this is httpx's ``auth_flow`` pattern, so no policy is written twice.

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
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping
from typing import Any, ClassVar, Protocol, TypeVar, cast, runtime_checkable

import wrapt

__all__ = [
    "Call",
    "CallRecord",
    "FunctionSpec",
    "Offload",
    "Policy",
    "Stack",
    "Step",
    "StreamAbandoned",
    "StreamObserver",
    "Warmth",
    "apply",
    "current_record",
    "invoke",
    "on_call_end",
    "is_stream",
    "logger",
    "observe_stream",
    "safely",
]

logger = logging.getLogger("llmwarm")

F = TypeVar("F", bound=Callable[..., Any])

#: What a flow yields: a :class:`Call` to run through the rest of the stack, or a :class:`Step`.
Flow = Generator["Call | Step", Any, Any]


# --------------------------------------------------------------------------- call record


class CallRecord:
    """The facts about one call through a stack, shared by its policies.

    The outermost policy's entry opens it; every policy may write its own fields and read
    the others' when the call ends. Unknown facts stay ``None``. (Defaults live on the
    class, so opening a record costs two attribute writes: this is on every call's path.)

    .. versionadded:: 0.1.0
    """

    function: str
    """Qualified name of the decorated function."""
    started: float
    """``time.perf_counter()`` when the call entered the stack."""
    warmup: bool = False
    """True when this call is a keep-warm ping sent by ``@warm``."""
    model: str | None = None
    """The model the call went to (after routing), when known."""
    cold_start: bool | None = None
    """Whether the call was predicted to hit a cold model."""
    idle_s: float | None = None
    """Seconds the model had been idle before the call."""
    cache_hit: bool | None = None
    """``True`` on a cache hit, ``False`` on a miss, ``None`` without ``@cached``."""
    tier: str | None = None
    """Name of the ``@routed`` tier that served the call."""
    route_reason: str | None = None
    """Why that tier: ``classified``, ``explicit``, ``fallback``, ``warm`` or ``hedge``."""
    connection_reused: bool | None = None
    """Whether ``@pooled`` could hand the call an already open connection."""
    stream: bool = False
    """Whether the call returned a stream."""
    time_to_first_chunk: float | None = None
    """Seconds from the start of the call to the first chunk of a stream."""
    duration: float | None = None
    """Seconds from the start of the call to its end (a stream's end for streams)."""
    error: BaseException | None = None
    """The exception the call ended with, if any."""

    def __init__(self, function: str, *, warmup: bool = False) -> None:
        self.function = function
        self.started = time.perf_counter()
        if warmup:
            self.warmup = True

    @property
    def extra(self) -> dict[str, Any]:
        """Facts that belong to no field above (a policy's own, namespaced by its name)."""
        extra: dict[str, Any] | None = self.__dict__.get("_extra")
        if extra is None:
            extra = self.__dict__["_extra"] = {}
        return extra

    def __repr__(self) -> str:
        facts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"CallRecord({facts})"


_current: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "llmwarm_call", default=None
)


def current_record() -> CallRecord | None:
    """Return the record of the llmwarm call running in this context, if any.

    .. versionadded:: 0.1.0
    """
    return _current.get()


# ------------------------------------------------------------------------ function spec


class _Binder:
    """Binds ``(args, kwargs)`` to parameter names, defaults applied, without ``inspect``.

    ``Signature.bind`` costs microseconds; a cache hit cannot afford it. This binder does
    not validate (the real call raises its own ``TypeError``); extra keyword arguments are
    merged flat, so ``f(x, model=m)`` binds alike whether ``model`` is named or in ``**kw``.
    """

    __slots__ = ("defaults", "index", "positional", "var_positional")

    def __init__(self, parameters: list[inspect.Parameter]) -> None:
        positional_kinds = (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
        self.positional = tuple(p.name for p in parameters if p.kind in positional_kinds)
        self.index = {name: i for i, name in enumerate(self.positional)}
        self.defaults = {
            p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty
        }
        self.var_positional = next(
            (p.name for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL), None
        )

    def bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        bound = self.defaults.copy()
        count = len(self.positional)
        if len(args) == 1 and count:  # the usual LLM call: `complete(messages, **options)`
            bound[self.positional[0]] = args[0]
        elif len(args) <= count:
            bound.update(zip(self.positional, args, strict=False))
        else:
            bound.update(zip(self.positional, args[:count], strict=True))
            if self.var_positional is not None:
                bound[self.var_positional] = args[count:]
        if kwargs:
            bound.update(kwargs)
        return bound


class FunctionSpec:
    """What llmwarm learns about a decorated function once, at decoration time.

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "function",
        "is_async",
        "is_async_gen",
        "kind",
        "method_binder",
        "parameters",
        "plain_binder",
        "qualname",
        "signature",
    )

    def __init__(self, target: Callable[..., Any]) -> None:
        function = target
        if isinstance(function, (classmethod, staticmethod)):
            function = function.__func__
        self.function: Callable[..., Any] = function
        self.qualname: str = getattr(function, "__qualname__", repr(function))
        self.is_async_gen: bool = inspect.isasyncgenfunction(function)
        self.is_async: bool = self.is_async_gen or inspect.iscoroutinefunction(function)
        self.kind: str = "asyncgen" if self.is_async_gen else "async" if self.is_async else "sync"
        try:
            self.signature: inspect.Signature | None = inspect.signature(function)
        except (TypeError, ValueError):  # builtins without a signature: bind nothing
            self.signature = None
        params = list(self.signature.parameters.values()) if self.signature else []
        self.parameters: Mapping[str, inspect.Parameter] = {p.name: p for p in params}
        self.plain_binder = _Binder(params)
        # For a method or classmethod, wrapt passes `self`/`cls` apart from the arguments.
        self.method_binder = _Binder(params[1:])

    def accepts(self, name: str) -> bool:
        """Whether a keyword argument ``name`` can be passed to the function."""
        if name in self.parameters:
            return self.parameters[name].kind not in (
                inspect.Parameter.POSITIONAL_ONLY,
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            )
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in self.parameters.values())


# -------------------------------------------------------------------------------- calls


class Call:
    """One invocation travelling down a stack: the target, its arguments and its record.

    Calls are immutable in practice: a policy that changes an argument makes a new call
    with :meth:`with_arguments` and yields that one.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_arguments", "args", "instance", "kwargs", "record", "spec", "target")

    def __init__(
        self,
        spec: FunctionSpec,
        target: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        record: CallRecord,
    ) -> None:
        self.spec = spec
        self.target = target
        self.instance = instance
        self.args = args
        self.kwargs = kwargs
        self.record = record
        self._arguments: dict[str, Any] | None = None

    @property
    def _binder(self) -> _Binder:
        # wrapt passes the instance (or class) apart from `args` for methods and
        # classmethods, however they were called; staticmethods get None.
        return self.spec.plain_binder if self.instance is None else self.spec.method_binder

    @property
    def arguments(self) -> Mapping[str, Any]:
        """The bound arguments by name, defaults applied; extra keywords are merged flat."""
        if self._arguments is None:
            self._arguments = self._binder.bind(self.args, self.kwargs)
        return self._arguments

    def get(self, name: str, default: Any = None) -> Any:
        """Return one bound argument (defaults applied), or ``default``."""
        if name in self.kwargs:
            return self.kwargs[name]
        return self.arguments.get(name, default)

    def passed(self, name: str) -> bool:
        """Whether the caller passed ``name`` itself (by keyword or by position)."""
        if name in self.kwargs:
            return True
        index = self._binder.index.get(name)
        return index is not None and index < len(self.args)

    def with_arguments(self, **changes: Any) -> Call:
        """Return a copy of this call with some arguments replaced or added.

        An argument the caller passed by position is replaced in place, so the function
        never receives it twice.
        """
        args = self.args
        kwargs = dict(self.kwargs)
        index = self._binder.index
        for name, value in changes.items():
            position = index.get(name)
            if position is not None and position < len(args):
                args = (*args[:position], value, *args[position + 1 :])
            else:
                kwargs[name] = value
        call = Call(self.spec, self.target, self.instance, args, kwargs, self.record)
        if self._arguments is not None:
            call._arguments = {**self._arguments, **changes}
        return call


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

    def skips(self, call: Call) -> bool:
        """Return True to let ``call`` bypass this policy (asked only when ``may_skip``)."""
        return False

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


# -------------------------------------------------------------------------------- streams


def is_stream(value: Any) -> bool:
    """Whether a result is a stream of chunks: a sync or async iterator (not a list or str).

    .. versionadded:: 0.1.0
    """
    # Duck-typed on the type, as the Iterator ABCs are, at a fifth of their cost.
    kind = type(value)
    if kind in _NOT_STREAMS:
        return False
    return hasattr(kind, "__next__") or hasattr(kind, "__anext__")


_NOT_STREAMS = frozenset({dict, list, tuple, str, bytes, int, float, bool, type(None)})


class StreamAbandoned(Exception):
    """The outcome given to stream observers when a stream was collected unfinished.

    .. versionadded:: 0.1.0
    """


class StreamObserver(Protocol):
    """Hooks called by :func:`observe_stream` as a stream is consumed.

    .. versionadded:: 0.1.0
    """

    def on_chunk(self, chunk: Any) -> None:
        """Look at one chunk, before the consumer sees it."""
        ...

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        """End the stream's call: once, at exhaustion, error, close, or abandonment."""
        ...


def safely(what: str, hook: Callable[..., Any], *args: Any) -> None:
    """Call an observer hook; log and swallow its failure (an optimization never breaks a call).

    .. versionadded:: 0.1.0
    """
    try:
        hook(*args)
    except Exception:
        logger.exception("llmwarm: %s failed; the call goes on", what)


class _StreamProxy(wrapt.ObjectProxy[Any]):
    """Shared state of the two stream proxies: ends the observer exactly once."""

    def __init__(self, wrapped: Any, observer: StreamObserver) -> None:
        super().__init__(wrapped)
        self._self_observer = observer
        self._self_ended = False

    def _self_end(self, error: BaseException | None, completed: bool) -> None:
        if not self._self_ended:
            self._self_ended = True
            safely("stream observer", self._self_observer.on_end, error, completed)

    def _self_chunk(self, chunk: Any) -> Any:
        safely("stream observer", self._self_observer.on_chunk, chunk)
        return chunk

    def __del__(self) -> None:
        if not self._self_ended:
            self._self_end(StreamAbandoned("the stream was collected before it ended"), False)


class _SyncStreamProxy(_StreamProxy):
    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self.__wrapped__)
        except StopIteration:
            self._self_end(None, True)
            raise
        except BaseException as exc:
            self._self_end(exc, False)
            raise
        return self._self_chunk(chunk)

    def close(self) -> None:
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            self._self_end(None, False)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _AsyncStreamProxy(_StreamProxy):
    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_end(None, True)
            raise
        except BaseException as exc:
            self._self_end(exc, False)
            raise
        return self._self_chunk(chunk)

    async def aclose(self) -> None:
        try:
            # OpenAI's AsyncStream has `close()`; async generators have `aclose()`.
            closer = getattr(self.__wrapped__, "aclose", None) or getattr(
                self.__wrapped__, "close", None
            )
            if closer is not None:
                result = closer()
                if inspect.isawaitable(result):
                    await result
        finally:
            self._self_end(None, False)

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()


def observe_stream(stream: Any, observer: StreamObserver) -> Any:
    """Wrap a sync or async stream so that ``observer`` sees each chunk and its one end.

    The proxy forwards every other attribute (``response``, ``id``...) to the stream.

    .. versionadded:: 0.1.0
    """
    if isinstance(stream, AsyncIterator):
        return _AsyncStreamProxy(stream, observer)
    return _SyncStreamProxy(stream, observer)


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


def _drive_sync(pipeline: tuple[Policy, ...], index: int, call: Call) -> Any:
    while True:
        if index == len(pipeline):
            return call.target(*call.args, **call.kwargs)
        policy = pipeline[index]
        if not (policy.may_skip and policy.skips(call)):
            break
        index += 1
    flow = policy.flow(call)
    try:
        step = flow.send(None)
        while True:
            try:
                if type(step) is Call:
                    value = _drive_sync(pipeline, index + 1, step)
                else:
                    proceed = functools.partial(_drive_sync, pipeline, index + 1)
                    value = cast(Step, step).run_sync(proceed)
            except BaseException as exc:  # handed to the flow, which re-raises or recovers
                step = flow.throw(_carried(exc))
            else:
                step = flow.send(value)
    except StopIteration as stop:
        return stop.value


async def _drive_async(pipeline: tuple[Policy, ...], index: int, call: Call) -> Any:
    while True:
        if index == len(pipeline):
            result = call.target(*call.args, **call.kwargs)
            # An async generator function returns its stream without being awaited.
            return result if call.spec.is_async_gen else await result
        policy = pipeline[index]
        if not (policy.may_skip and policy.skips(call)):
            break
        index += 1
    flow = policy.flow(call)
    try:
        step = flow.send(None)
        while True:
            try:
                if type(step) is Call:
                    value = await _drive_async(pipeline, index + 1, step)
                else:
                    proceed = functools.partial(_drive_async, pipeline, index + 1)
                    value = await cast(Step, step).run_async(proceed)
            except BaseException as exc:
                step = flow.throw(_carried(exc))
            else:
                step = flow.send(value)
    except StopIteration as stop:
        return stop.value


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
    record.duration = time.perf_counter() - record.started
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

    __slots__ = ("pipeline", "spec")

    def __init__(self, spec: FunctionSpec, pipeline: tuple[Policy, ...]) -> None:
        self.spec = spec
        self.pipeline = pipeline

    def handle(self, name: str) -> Any:
        for policy in self.pipeline:
            if name in policy.handles:
                return getattr(policy, name)
        raise AttributeError(name)

    def leave(self, call: Call, result: Any) -> Any:
        if is_stream(result):
            call.record.stream = True
            return observe_stream(result, _Finisher(call.record, call))
        _finish(call.record, call, None)
        return result

    def run_sync(
        self,
        wrapped: Any,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        record: CallRecord | None = None,
    ) -> Any:
        if record is None:
            record = CallRecord(self.spec.qualname)
        call = Call(self.spec, wrapped, instance, args, kwargs, record)
        token = _current.set(record)
        try:
            result = _drive_sync(self.pipeline, 0, call)
        except BaseException as exc:
            _current.reset(token)
            error = _uncarried(exc)
            _finish(record, call, error)
            if error is not exc:
                raise error from None
            raise
        _current.reset(token)
        if type(result) in _NOT_STREAMS:  # the common case, without a call of is_stream()
            _finish(record, call, None)
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
            record = CallRecord(self.spec.qualname)
        call = Call(self.spec, wrapped, instance, args, kwargs, record)
        token = _current.set(record)
        try:
            result = await _drive_async(self.pipeline, 0, call)
        except BaseException as exc:
            _current.reset(token)
            error = _uncarried(exc)
            _finish(record, call, error)
            if error is not exc:
                raise error from None
            raise
        _current.reset(token)
        if type(result) in _NOT_STREAMS:
            _finish(record, call, None)
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
        super().__init__(wrapped, state.entry())
        self._self_llmwarm = state

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

    Raises :class:`TypeError` when ``target`` is not callable.

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
        wrapped, spec, pipeline = target, FunctionSpec(target), (policy,)
    policy.bind(spec)
    stack = Stack(wrapped, StackState(spec, pipeline))
    for member in pipeline:
        member.attach(stack)
    return cast(F, stack)


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
