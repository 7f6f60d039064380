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

Each decorator's own Protocol lives beside it (``cache/_handles.py``, ...; re-exported by
its folder's face) and :class:`Decorated` in ``_core``; this module joins them into
:class:`StackedFunction` and types ``from_config``. The decorators name ``StackedFunction``
for type checkers only (their "applied to a stack" overload): the one reference upward,
never made at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from llmwarm._core.handles import Decorated
from llmwarm.batch import BatchDecorator, BatchedFunction
from llmwarm.cache import CacheDecorator, CachedFunction
from llmwarm.pool import PoolDecorator, PooledFunction
from llmwarm.route import RouteDecorator, RoutedFunction
from llmwarm.warm import WarmDecorator, WarmedFunction

__all__ = [
    "BatchDecorator",
    "BatchedFunction",
    "CacheDecorator",
    "CachedFunction",
    "Decorated",
    "PoolDecorator",
    "PooledFunction",
    "RouteDecorator",
    "RoutedFunction",
    "StackDecorator",
    "StackedFunction",
    "WarmDecorator",
    "WarmedFunction",
]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
R2 = TypeVar("R2")
S = TypeVar("S")


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


class StackDecorator(Protocol):
    """``from_config(...)``: a decorator applying a configured stack (every handle typed)."""

    def __call__(self, fn: Callable[P, R2], /) -> StackedFunction[P, R2]: ...
