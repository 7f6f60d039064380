"""The type of what ``@batched`` returns: the function's own signature plus its handle.

Read by type checkers only (the decorator names these types in annotations). A stack of
several decorators is typed by ``llmwarm.StackedFunction``, which joins every folder's
Protocol; that is the one name here taken from above (for type checkers only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from llmwarm._core.handles import Decorated

if TYPE_CHECKING:
    from llmwarm._handles import StackedFunction
    from llmwarm.batch._batched import Batcher

__all__ = ["BatchDecorator", "BatchedFunction"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
R2 = TypeVar("R2")
S = TypeVar("S")
T = TypeVar("T")


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
