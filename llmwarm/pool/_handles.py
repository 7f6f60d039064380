"""The type of what ``@pooled`` returns: the function's own signature plus its handle.

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
    from llmwarm.pool._pooled import PoolHandle

__all__ = ["PoolDecorator", "PooledFunction"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
R2 = TypeVar("R2")
S = TypeVar("S")


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


class PoolDecorator(Protocol):
    """``pooled(...)``: a decorator returning a :class:`PooledFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> PooledFunction[P, R2]: ...
