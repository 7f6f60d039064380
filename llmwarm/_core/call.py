"""The data of one call: its record (the facts policies share), its function, its arguments.

:class:`CallRecord` is the typed call context: it lives in a contextvar for the duration of
a call, and policies share facts through its declared attributes, never through each
other's names. A policy's own per-call state goes in an extension slot, reached with a
typed :class:`SlotKey` (as a ``ContextVar`` is a key to a context). :class:`FunctionSpec`
is what llmwarm learns about a decorated function once, at decoration time; :class:`Call`
is one invocation travelling down a stack, with its arguments bound by name cheaply.
"""

from __future__ import annotations

import contextvars
import inspect
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar, cast

#: Bound once: a module attribute lookup less on every call's path.
_perf_counter = time.perf_counter

__all__ = [
    "Call",
    "CallContext",
    "CallRecord",
    "FunctionSpec",
    "SlotKey",
    "current_record",
    "enter_record",
    "leave_record",
]

T = TypeVar("T")


# --------------------------------------------------------------------------- call record


class SlotKey(Generic[T]):
    """A typed key to one policy's own per-call state in a :class:`CallRecord`.

    A policy that needs a fact of its own on each call (one no other policy reads) makes a
    key once, at import time, and reads and writes it with :meth:`CallRecord.get` and
    :meth:`CallRecord.set`; the record grows no field for it. Keys compare by identity,
    so two policies never collide even with the same ``name`` (which is for ``repr`` only).

    .. versionadded:: 0.2.0
    """

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: T) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"SlotKey({self.name!r}, default={self.default!r})"


class CallRecord:
    """The typed call context: the facts about one call through a stack, shared by its policies.

    The outermost policy's entry opens it; every policy may write the facts it declares
    (:attr:`Policy.writes <llmwarm._core.Policy.writes>`) and read the others' when the
    call ends. Unknown facts stay ``None``. A policy's private per-call state lives in an
    extension slot (:meth:`get`/:meth:`set` with a :class:`SlotKey`), not in a field.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Attributes are declared (``__slots__``); the free-form ``extra`` dict gave way to
       typed extension slots.
    """

    # Slotted: reads and writes of facts are the cheapest attribute accesses Python has,
    # and every call opens one. `_ext` holds the extension slots, made on first use.
    __slots__ = (
        "_ext",
        "cache_hit",
        "cold_start",
        "cold_start_kind",
        "connection_reused",
        "duration",
        "error",
        "fallback_ready",
        "function",
        "idle_s",
        "model",
        "route_reason",
        "started",
        "stream",
        "tier",
        "time_to_first_chunk",
        "warmup",
    )

    #: The names of the facts policies share (every declared attribute), for checks and
    #: :meth:`merge`.
    FACTS: ClassVar[frozenset[str]]

    function: str
    """Qualified name of the decorated function."""
    started: float
    """``time.perf_counter()`` when the call entered the stack."""
    warmup: bool
    """True when this call is a keep-warm ping sent by ``@warm``."""
    model: str | None
    """The model the call went to (after routing), when known."""
    cold_start: bool | None
    """Whether the call was predicted (or found) to hit a cold model."""
    cold_start_kind: str | None
    """How the cold start showed: the "not ready" answer waited out (``loading-503``...)."""
    idle_s: float | None
    """Seconds the model had been idle before the call."""
    cache_hit: bool | None
    """``True`` on a cache hit, ``False`` on a miss, ``None`` without ``@cached``."""
    tier: str | None
    """Name of the ``@routed`` tier that served the call."""
    route_reason: str | None
    """Why that tier: ``classified``, ``explicit``, ``fallback``, ``warm`` or ``hedge``."""
    fallback_ready: bool
    """Whether ``@routed`` has another tier ready for this attempt (then nobody waits)."""
    connection_reused: bool | None
    """Whether ``@pooled`` could hand the call an already open connection."""
    stream: bool
    """Whether the call returned a stream."""
    time_to_first_chunk: float | None
    """Seconds from the start of the call to the first chunk of a stream."""
    duration: float | None
    """Seconds from the start of the call to its end (a stream's end for streams)."""
    error: BaseException | None
    """The exception the call ended with, if any."""

    def __init__(self, function: str, *, warmup: bool = False) -> None:
        self.function = function
        self.started = _perf_counter()
        self.warmup = warmup
        self.model = None
        self.cold_start = None
        self.cold_start_kind = None
        self.idle_s = None
        self.cache_hit = None
        self.tier = None
        self.route_reason = None
        self.fallback_ready = False
        self.connection_reused = None
        self.stream = False
        self.time_to_first_chunk = None
        self.duration = None
        self.error = None
        self._ext: dict[SlotKey[Any], Any] | None = None

    # -- extension slots

    def get(self, key: SlotKey[T]) -> T:
        """Return this call's value for a policy's own ``key`` (the key's default if unset).

        .. versionadded:: 0.2.0
        """
        ext = self._ext
        if ext is None:
            return key.default
        return cast(T, ext.get(key, key.default))

    def set(self, key: SlotKey[T], value: T) -> None:
        """Set this call's value for a policy's own ``key``.

        .. versionadded:: 0.2.0
        """
        ext = self._ext
        if ext is None:
            ext = self._ext = {}
        ext[key] = value

    # -- sub-calls

    def branch(self) -> CallRecord:
        """Return a fresh record of the same class for a call made on this one's behalf.

        A hedge leg or a batch call runs with its own record, so its facts are its own;
        :meth:`merge` brings the ones that count back.

        .. versionadded:: 0.2.0
        """
        return type(self)(self.function, warmup=self.warmup)

    def merge(self, other: CallRecord, facts: Iterable[str] | None = None) -> None:
        """Copy into this record the ``facts`` (all by default) that ``other`` learnt.

        A fact still at its default (``None``, ``False``) was not learnt and is not copied,
        so a fact this record already holds is never erased; ``function`` and ``started``
        stay this call's own. ``other``'s extension slots come along with all facts.

        .. versionadded:: 0.2.0
        """
        names = _MERGED if facts is None else facts
        for name in names:
            value = getattr(other, name)
            if value is not _DEFAULTS.get(name):
                setattr(self, name, value)
        if facts is None and other._ext:
            if self._ext is None:
                self._ext = {}
            self._ext.update(other._ext)

    def __repr__(self) -> str:
        facts = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in _ORDER
            if name in ("function", "started") or getattr(self, name) is not _DEFAULTS.get(name)
        )
        return f"CallRecord({facts})"


#: The same class under the name the issue tracker and the docs of policies use.
CallContext = CallRecord

_ORDER = tuple(name for name in CallRecord.__annotations__ if name != "FACTS")
CallRecord.FACTS = frozenset(_ORDER)
_MERGED = tuple(name for name in _ORDER if name not in ("function", "started"))
#: Facts whose "not learnt" value is not ``None``.
_DEFAULTS: dict[str, Any] = {"warmup": False, "fallback_ready": False, "stream": False}


_current: contextvars.ContextVar[CallRecord | None] = contextvars.ContextVar(
    "llmwarm_call", default=None
)

enter_record: Callable[[CallRecord | None], contextvars.Token[CallRecord | None]] = _current.set
"""Make a record the current one in this context; returns the token :func:`leave_record` takes.

A step that runs a call in a task of its own (a hedge leg, a batch) enters that call's
record there; the task's context ends with it, so it need not leave.

.. versionadded:: 0.2.0
"""

leave_record: Callable[[contextvars.Token[CallRecord | None]], None] = _current.reset
"""Restore the record that was current before the :func:`enter_record` that gave ``token``.

.. versionadded:: 0.2.0
"""


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

    def receives(self, name: str) -> bool:
        """Whether a call's bound arguments can hold ``name`` (passed in any way).

        Unlike :meth:`accepts`, a positional-only parameter counts: a policy that only
        reads an argument (``@traced`` reading ``client``) sees it however it was passed.
        True when the signature is unknown (nothing is bound, so nothing is missed).
        """
        if self.signature is None:
            return True
        if name in self.parameters:
            return self.parameters[name].kind not in (
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

    @property
    def positional_names(self) -> tuple[str, ...]:
        """The names of the function's positional parameters, in order.

        For a method or classmethod, without ``self``/``cls`` (passed apart, as
        :attr:`instance`). ``@batched`` takes its items from the first.

        .. versionadded:: 0.2.0
        """
        return self._binder.positional

    def get(self, name: str, default: Any = None) -> Any:
        """Return one bound argument (defaults applied), or ``default``.

        Answers without binding the other arguments (a call-end hook asks on every call).
        """
        kwargs = self.kwargs
        if name in kwargs:
            return kwargs[name]
        arguments = self._arguments
        if arguments is not None:
            return arguments.get(name, default)
        binder = self._binder
        position = binder.index.get(name)
        if position is not None and position < len(self.args):
            return self.args[position]
        if name == binder.var_positional:
            return self.arguments.get(name, default)
        return binder.defaults.get(name, default)

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
        kwargs = self.kwargs.copy()
        index = (self.spec.plain_binder if self.instance is None else self.spec.method_binder).index
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

    def with_argument(self, name: str, value: Any) -> Call:
        """Return a copy of this call with one argument replaced or added.

        :meth:`with_arguments` for a single change (``@routed``'s ``model=``, on every call
        it routes), without building a dict of changes.

        .. versionadded:: 0.2.0
        """
        args = self.args
        kwargs = self.kwargs
        spec = self.spec
        position = (spec.plain_binder if self.instance is None else spec.method_binder).index.get(
            name
        )
        if position is not None and position < len(args):
            args = (*args[:position], value, *args[position + 1 :])
        else:
            kwargs = kwargs.copy()
            kwargs[name] = value
        call = Call(spec, self.target, self.instance, args, kwargs, self.record)
        arguments = self._arguments
        if arguments is not None:
            arguments = arguments.copy()
            arguments[name] = value
            call._arguments = arguments
        return call
