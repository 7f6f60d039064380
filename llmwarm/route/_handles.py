"""The type of what ``@routed`` returns: the function's own signature plus its handle.

Read by type checkers only (the decorator names these types in annotations). A stack of
several decorators is typed by ``llmwarm.StackedFunction``, which joins every folder's
Protocol; that is the one name here taken from above (for type checkers only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from llmwarm._core.handles import Decorated

if TYPE_CHECKING:
    from llmwarm._handles import StackedFunction
    from llmwarm.route._routed import Router

__all__ = ["RouteDecorator", "RoutedFunction"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
R2 = TypeVar("R2")
S = TypeVar("S")


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


class RouteDecorator(Protocol):
    """``routed(...)``: a decorator returning a :class:`RoutedFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> RoutedFunction[P, R2]: ...
