"""The types of decorated functions: the function's own signature plus its handles.

Each decorator returns a Protocol (as tenacity's ``_RetryDecorated``): ``__call__`` keeps the
function's parameters and return type (a ``ParamSpec`` and a ``TypeVar``), and a property
gives the decorator's handle, so ``complete.cache.clear()`` type-checks under
``mypy --strict`` in user code.

Python's types have no intersection, so a decorator cannot say "the function I was given,
plus my handle". The rule is therefore:

- applied to a plain function, a decorator returns its own Protocol (:class:`CachedFunction`
  has ``.cache`` and nothing else: ``.warmer`` there is a type error, as it is at run time);
- applied to a function llmwarm already decorated (anything with ``llmwarm_policies``), it
  returns :class:`StackedFunction`, which has every handle, so the handles of the inner
  decorators stay reachable (``@cached`` over ``@warm`` over ``@pooled``: ``.cache``,
  ``.warmer`` and ``.pool``). A handle whose decorator is not in the stack type-checks there
  and raises ``AttributeError`` when used.

``@traced`` has no handle and returns the very type it was given, so it keeps handles too.
Each Protocol has a ``__get__`` that drops the first parameter, so a decorated method called
on an instance type-checks as a bound method.

This module is read by type checkers only: the decorators name these types in annotations,
nothing imports it at run time but the package's face.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from llmwarm._core import Policy
    from llmwarm.batch import Batcher
    from llmwarm.cache import CacheHandle
    from llmwarm.pool import PoolHandle
    from llmwarm.route import Router
    from llmwarm.warm import Warmer

__all__ = [
    "BatchedFunction",
    "CachedFunction",
    "Decorated",
    "PooledFunction",
    "RoutedFunction",
    "StackedFunction",
    "WarmedFunction",
]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
R2 = TypeVar("R2")
S = TypeVar("S")
T = TypeVar("T")


class Decorated(Protocol[P, R]):
    """A function llmwarm decorated: called as the function; its policies are listed.

    .. versionadded:: 0.2.0
    """

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function through its policies."""
        ...

    @property
    def llmwarm_policies(self) -> tuple[Policy, ...]:
        """The policies of the stack, outermost first."""
        ...


class CachedFunction(Decorated[P, R], Protocol[P, R]):
    """What ``@cached`` returns: the function, with ``.cache`` and ``.cache_key()``.

    .. versionadded:: 0.2.0
    """

    @property
    def cache(self) -> CacheHandle:
        """Clear, invalidate and read the counters of this function's cache."""
        ...

    def cache_key(self, *args: Any, **kwargs: Any) -> str:
        """Return the key a call with these arguments would use."""
        ...

    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None, /
    ) -> CachedFunction[P, R]: ...

    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], R2], instance: S, owner: type[Any] | None = None, /
    ) -> CachedFunction[P2, R2]: ...


class WarmedFunction(Decorated[P, R], Protocol[P, R]):
    """What ``@warm`` returns: the function, with ``.warmer``.

    .. versionadded:: 0.2.0
    """

    @property
    def warmer(self) -> Warmer:
        """Start, stop and inspect the keep-warm pings of this function."""
        ...

    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None, /
    ) -> WarmedFunction[P, R]: ...

    @overload
    def __get__(
        self: WarmedFunction[Concatenate[S, P2], R2], instance: S, owner: type[Any] | None = None, /
    ) -> WarmedFunction[P2, R2]: ...


class RoutedFunction(Decorated[P, R], Protocol[P, R]):
    """What ``@routed`` returns: the function, with ``.router``.

    .. versionadded:: 0.2.0
    """

    @property
    def router(self) -> Router:
        """The tiers of this function and the models cooling down."""
        ...

    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None, /
    ) -> RoutedFunction[P, R]: ...

    @overload
    def __get__(
        self: RoutedFunction[Concatenate[S, P2], R2], instance: S, owner: type[Any] | None = None, /
    ) -> RoutedFunction[P2, R2]: ...


class BatchedFunction(Decorated[P, R], Protocol[P, R]):
    """What ``@batched`` returns: called with one item, with ``.batcher``.

    .. versionadded:: 0.2.0
    """

    @property
    def batcher(self) -> Batcher:
        """The options and counters of this function's batches."""
        ...

    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None, /
    ) -> BatchedFunction[P, R]: ...

    @overload
    def __get__(
        self: BatchedFunction[Concatenate[S, P2], R2],
        instance: S,
        owner: type[Any] | None = None,
        /,
    ) -> BatchedFunction[P2, R2]: ...


class PooledFunction(Decorated[P, R], Protocol[P, R]):
    """What ``@pooled`` returns: the function, with ``.pool``.

    .. versionadded:: 0.2.0
    """

    @property
    def pool(self) -> PoolHandle:
        """The pooled clients of this function, and pre-warming."""
        ...

    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None, /
    ) -> PooledFunction[P, R]: ...

    @overload
    def __get__(
        self: PooledFunction[Concatenate[S, P2], R2], instance: S, owner: type[Any] | None = None, /
    ) -> PooledFunction[P2, R2]: ...


class StackedFunction(
    CachedFunction[P, R],
    WarmedFunction[P, R],
    RoutedFunction[P, R],
    BatchedFunction[P, R],
    PooledFunction[P, R],
    Protocol[P, R],
):
    """What a decorator returns over a function llmwarm already decorated: every handle.

    .. versionadded:: 0.2.0
    """

    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None, /
    ) -> StackedFunction[P, R]: ...

    @overload
    def __get__(
        self: StackedFunction[Concatenate[S, P2], R2],
        instance: S,
        owner: type[Any] | None = None,
        /,
    ) -> StackedFunction[P2, R2]: ...


# The decorators' return types: what `@cached(...)`, `@warm(...)`, ... give back, overloaded
# so that a stack keeps every handle (see the module's docstring).


class CacheDecorator(Protocol):
    """``cached(...)``: a decorator returning a :class:`CachedFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> CachedFunction[P, R2]: ...


class WarmDecorator(Protocol):
    """``warm(...)``: a decorator returning a :class:`WarmedFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> WarmedFunction[P, R2]: ...


class RouteDecorator(Protocol):
    """``routed(...)``: a decorator returning a :class:`RoutedFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> RoutedFunction[P, R2]: ...


class PoolDecorator(Protocol):
    """``pooled(...)``: a decorator returning a :class:`PooledFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> PooledFunction[P, R2]: ...


class StackDecorator(Protocol):
    """``from_config(...)``: a decorator applying a configured stack (every handle typed)."""

    def __call__(self, fn: Callable[P, R2], /) -> StackedFunction[P, R2]: ...


class BatchDecorator(Protocol):
    """``batched(...)``: a decorator returning a :class:`BatchedFunction` taking one item."""

    @overload
    def __call__(
        self, fn: Decorated[Concatenate[list[T], P], Awaitable[Sequence[R2]]], /
    ) -> StackedFunction[Concatenate[T, P], Coroutine[Any, Any, R2]]: ...
    @overload
    def __call__(
        self, fn: Callable[Concatenate[list[T], P], Awaitable[Sequence[R2]]], /
    ) -> BatchedFunction[Concatenate[T, P], Coroutine[Any, Any, R2]]: ...
