"""The type of what ``@cached`` returns: the function's own signature plus its handle.

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
    from llmwarm.cache._cached import CacheHandle

__all__ = ["CacheDecorator", "CachedFunction"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R", covariant=True)
R2 = TypeVar("R2")
S = TypeVar("S")


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


class CacheDecorator(Protocol):
    """``cached(...)``: a decorator returning a :class:`CachedFunction`."""

    @overload
    def __call__(self, fn: Decorated[P, R2], /) -> StackedFunction[P, R2]: ...
    @overload
    def __call__(self, fn: Callable[P, R2], /) -> CachedFunction[P, R2]: ...
