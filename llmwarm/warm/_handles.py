"""The type of what ``@warm`` returns: the function's own signature plus its handle.

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
    from llmwarm.warm._warm import Warmer

__all__ = ["WarmDecorator", "WarmedFunction"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
R2 = TypeVar("R2")
S = TypeVar("S")


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


class WarmDecorator(Protocol):
    """``warm(...)``: a decorator returning a :class:`WarmedFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> WarmedFunction[P, R2]: ...
