"""The type of a function llmwarm decorated, shared by every decorator's own Protocol.

Read by type checkers: each decorator's folder types its own decorated function (with its
handle) over :class:`Decorated`; ``llmwarm._handles`` joins them into ``StackedFunction``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

if TYPE_CHECKING:
    from llmwarm._core.driver import Policy

__all__ = ["Decorated"]

P = ParamSpec("P")
R = TypeVar("R", covariant=True)


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
