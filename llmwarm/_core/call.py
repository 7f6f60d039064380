"""The data of one call: its record (the facts policies share), its function, its arguments.

:class:`CallRecord` lives in a contextvar for the duration of a call. :class:`FunctionSpec`
is what llmwarm learns about a decorated function once, at decoration time; :class:`Call`
is one invocation travelling down a stack, with its arguments bound by name cheaply.
"""

from __future__ import annotations

import contextvars
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

#: Bound once: a module attribute lookup less on every call's path.
_perf_counter = time.perf_counter

__all__ = ["Call", "CallRecord", "FunctionSpec", "current_record"]


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
        self.started = _perf_counter()
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
        arguments = self._arguments
        if arguments is None:
            spec = self.spec
            binder = spec.plain_binder if self.instance is None else spec.method_binder
            arguments = self._arguments = binder.bind(self.args, self.kwargs)
        return arguments

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
