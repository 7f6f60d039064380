"""``@batched``: callers pass one item; concurrent items become one list-in/list-out call.

The decorated function takes a list (its first positional parameter) and returns a list
of the same length, as embedding endpoints do. Callers pass a single item in its place
and get a single result. Items that arrive on the same event loop with the same other
arguments are coalesced into calls of at most ``max_size`` items; a batch is sent when it
is full or ``max_wait`` seconds after its first item, whichever is first.

``@batched`` is a policy like the others, so ``@traced @batched @pooled(...)`` stays one
wrapper: the policies outside it see one call per item, those inside it see one call per
batch. See ``docs/batching.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import inspect
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, TypeVar, overload

from llmwarm._core import (
    BatchSizeError,
    Call,
    CallRecord,
    Flow,
    FunctionSpec,
    Policy,
    Stats,
    Step,
    check_keywords,
    enter_record,
)
from llmwarm._core import driver as _core
from llmwarm._core import options as _numbers
from llmwarm._core import runtime as _runtime

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MAX_WAIT",
    "BatchSizeError",
    "BatchStats",
    "BatchedPolicy",
    "batched",
]

if TYPE_CHECKING:
    from llmwarm._core.handles import Decorated
    from llmwarm._handles import StackedFunction
    from llmwarm.batch._handles import BatchDecorator, BatchedFunction

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: The most items sent in one call.
DEFAULT_MAX_SIZE = 16
#: Seconds the first item of a batch waits for company before the batch is sent.
DEFAULT_MAX_WAIT = 0.01

#: Facts of the batch call copied into each caller's record.
_SHARED_FACTS = ("model", "cold_start", "idle_s", "connection_reused")


BatchStats = Stats
"""Deprecated name of :class:`~llmwarm.Stats`, what ``fn.batcher.stats`` returns since 0.2.

.. deprecated:: 0.2.0 read :class:`llmwarm.Stats` (``batches``, ``batch_items``, ...).
"""


@dataclasses.dataclass
class _Counts:
    """What a batcher has done so far (read through :attr:`BatchedPolicy.stats`)."""

    batches: int = 0
    items: int = 0
    max_batch_size: int = 0
    failed_batches: int = 0


class _Pending:
    """A batch filling up: the first call (its other arguments), entries and timer."""

    __slots__ = ("call", "entries", "proceed", "timer")

    def __init__(self, call: Call, proceed: Callable[[Call], Awaitable[Any]]) -> None:
        self.call = call
        self.proceed = proceed
        self.entries: list[tuple[Any, asyncio.Future[Any], CallRecord]] = []
        self.timer: _runtime.Cancellable | None = None


class _LoopBatches:
    """The batches of one batcher on one event loop (futures never cross loops).

    It never references its loop (it only runs on it): it is the value of a
    ``WeakKeyDictionary`` keyed by the loop, so a strong reference would keep every loop
    the batcher ever ran on alive forever.
    """

    def __init__(self, batcher: BatchedPolicy) -> None:
        self.batcher = batcher
        self.pending: dict[Any, _Pending] = {}
        self.sending: set[asyncio.Task[None]] = set()

    async def submit(self, call: Call, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        name, item = self.batcher.item_of(call)
        key = _group_key(call, name)
        loop = asyncio.get_running_loop()
        batch = self.pending.get(key)
        if batch is None:
            batch = self.pending[key] = _Pending(call, proceed)
            batch.timer = _runtime.call_later(
                loop, self.batcher.max_wait, lambda: self.flush(key, batch)
            )
        future: asyncio.Future[Any] = loop.create_future()
        batch.entries.append((item, future, call.record))
        if len(batch.entries) >= self.batcher.max_size:
            self.flush(key, batch)
        try:
            return await future  # a caller cancelled here is dropped from its unsent batch
        except asyncio.CancelledError:
            if self.pending.get(key) is batch and all(f.done() for _, f, _ in batch.entries):
                self.flush(key, batch)  # nobody left: drop it now (its loop may be ending)
            raise

    def flush(self, key: Any, batch: _Pending) -> None:
        if self.pending.get(key) is batch:
            del self.pending[key]
        if batch.timer is not None:
            batch.timer.cancel()
        entries = [entry for entry in batch.entries if not entry[1].done()]
        if entries:
            task = asyncio.get_running_loop().create_task(self.send(batch, entries))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)

    def flush_all(self) -> None:
        """Send every batch now, without waiting for company (on the batches' loop)."""
        for key, batch in list(self.pending.items()):
            self.flush(key, batch)

    async def send(
        self, batch: _Pending, entries: list[tuple[Any, asyncio.Future[Any], CallRecord]]
    ) -> None:
        batcher = self.batcher
        name, _ = batcher.item_of(batch.call)
        items = [item for item, _, _ in entries]
        record = batch.call.record.branch()  # the batch call's own record, not a caller's
        enter_record(record)  # this task's own context: the batch call's record
        call = batch.call.with_arguments(**{name: items})
        call.record = record
        stats = batcher._counts
        stats.batches += 1
        stats.items += len(items)
        stats.max_batch_size = max(stats.max_batch_size, len(items))
        try:
            results = list(await batch.proceed(call))
            if len(results) != len(items):
                raise BatchSizeError(
                    f"{call.spec.qualname} returned {len(results)} results for a batch of "
                    f"{len(items)} items; a @batched function must return exactly one "
                    "result per item, in order. No caller gets a result from this batch."
                )
        except asyncio.CancelledError:
            stats.failed_batches += 1
            for _, future, _ in entries:
                future.cancel()
            raise
        except Exception as exc:
            stats.failed_batches += 1
            for _, future, _ in entries:
                if not future.done():
                    future.set_exception(_own_copy(exc) if len(entries) > 1 else exc)
            return
        for (_, future, caller), result in zip(entries, results, strict=True):
            caller.merge(record, _SHARED_FACTS)
            if not future.done():
                future.set_result(result)


def _own_copy(exc: Exception) -> Exception:
    """Return a copy of ``exc`` for one caller, caused by it (same type, own traceback).

    Raising the same instance in every caller would pile each caller's traceback frames
    and notes onto one object. An exception that cannot be copied is shared as is.
    """
    try:
        mine = copy.copy(exc)
    except Exception:
        return exc
    if type(mine) is not type(exc):
        return exc
    mine.__cause__ = exc
    mine.__traceback__ = None
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        mine.__notes__ = list(notes)  # type: ignore[attr-defined]  # 3.11+, set on demand
    return mine


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:  # an unhashable argument batches only with the very same object
        return ("llmwarm:id", id(value))
    return value


def _group_key(call: Call, item_name: str) -> Any:
    others = tuple(
        (name, _hashable(value))
        for name, value in sorted(call.arguments.items(), key=lambda pair: pair[0])
        if name != item_name
    )
    return (None if call.instance is None else id(call.instance), others)


class _Enqueue(Step):
    """Put the call's item in a batch of this loop and wait for its own result."""

    __slots__ = ("batcher", "call")

    def __init__(self, batcher: BatchedPolicy, call: Call) -> None:
        self.batcher = batcher
        self.call = call

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        raise TypeError("@batched needs an async function")  # refused at bind()

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        loop = asyncio.get_running_loop()
        batches = self.batcher._loops.get(loop)
        if batches is None:
            batches = self.batcher._loops[loop] = _LoopBatches(self.batcher)
        return await batches.submit(self.call, proceed)


class BatchedPolicy(Policy):
    """The ``@batched`` policy; exposed as ``decorated.batcher`` (with :attr:`stats`).

    .. versionadded:: 0.1.0
    """

    handles: ClassVar[tuple[str, ...]] = ("batcher",)
    # The batch call's facts reach each caller by `CallRecord.merge`, not as its own writes.
    reads: ClassVar[frozenset[str]] = frozenset({"warmup"})

    def __init__(self, max_size: int, max_wait: float) -> None:
        self.max_size = max_size
        self.max_wait = max_wait
        self._counts = _Counts()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBatches] = (
            weakref.WeakKeyDictionary()
        )
        _batchers().add(self)

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters: a :class:`~llmwarm.Stats` whose ``batch*`` are filled.

        .. versionchanged:: 0.2.0 a :class:`~llmwarm.Stats` (``batches``, ``batch_items``,
           ``batch_max_size``, ``batch_failures``), the shape of ``llmwarm.stats()``.
        """
        counts = self._counts
        return Stats(
            scope="batch",
            batches=counts.batches,
            batch_items=counts.items,
            batch_max_size=counts.max_batch_size,
            batch_failures=counts.failed_batches,
        )

    @property
    def batcher(self) -> BatchedPolicy:
        """Return this policy: its options and :attr:`stats`."""
        return self

    def close(self) -> None:
        """Send every waiting batch now, on its own event loop (drain; calls go on after).

        .. versionadded:: 0.2.0
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, batches in list(self._loops.items()):
            if loop is running:
                batches.flush_all()
            elif not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed meanwhile
                    loop.call_soon_threadsafe(batches.flush_all)

    async def aclose(self) -> None:
        """Drain as :meth:`close`, and wait until this loop's batches have been answered.

        .. versionadded:: 0.2.0
        """
        self.close()
        batches = self._loops.get(asyncio.get_running_loop())
        if batches is not None and batches.sending:
            await asyncio.wait(set(batches.sending))

    def bind(self, spec: FunctionSpec) -> None:
        """Refuse sync functions, async generators and functions without a list parameter."""
        if not spec.is_async or spec.is_async_gen:
            raise TypeError(
                f"@batched needs an async function (async def f(items: list) -> list); "
                f"{spec.qualname} is {spec.kind}."
            )
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if not any(p.kind in kinds for p in spec.parameters.values()):
            raise TypeError(
                f"@batched needs a function whose first positional parameter takes the list "
                f"of items; {spec.qualname} has none."
            )

    def item_of(self, call: Call) -> tuple[str, Any]:
        """Return the name of the item parameter and the caller's item."""
        name = call.positional_names[0]
        return name, call.arguments[name]

    def flow(self, call: Call) -> Flow:
        """Send the caller's item in a batch; a keep-warm ping passes straight through."""
        if call.record.warmup:
            return (yield call)
        return (yield _Enqueue(self, call))


def _batchers() -> weakref.WeakSet[BatchedPolicy]:
    """Every batcher of the process: the runtime's ``"batchers"`` part."""
    return _runtime.runtime.part(
        "batchers",
        weakref.WeakSet,
        stage=_runtime.BATCHERS,
        close=_drain,
        aclose=_adrain,
        after_fork=_keep,
        reset=_reset_batchers,
    )


def _drain(batchers: weakref.WeakSet[BatchedPolicy]) -> None:
    for batcher in list(batchers):
        batcher.close()


async def _adrain(batchers: weakref.WeakSet[BatchedPolicy]) -> None:
    for batcher in list(batchers):
        await batcher.aclose()


def _keep(batchers: weakref.WeakSet[BatchedPolicy]) -> weakref.WeakSet[BatchedPolicy]:
    return batchers  # a forked child's batchers are the parent's objects


def _reset_batchers(batchers: weakref.WeakSet[BatchedPolicy]) -> weakref.WeakSet[BatchedPolicy]:
    # Send what waits; the batchers belong to functions that outlive a reset.
    _drain(batchers)
    return batchers


def _check(max_size: object, max_wait: object) -> tuple[int, float]:
    size = _numbers.count("max_size", max_size)
    return size, _numbers.seconds("max_wait", max_wait, inclusive=True)


@overload
def batched(
    fn: Decorated[Concatenate[list[T], P], Awaitable[Sequence[R]]], /
) -> StackedFunction[Concatenate[T, P], Coroutine[Any, Any, R]]: ...
@overload
def batched(
    fn: Callable[Concatenate[list[T], P], Awaitable[Sequence[R]]], /
) -> BatchedFunction[Concatenate[T, P], Coroutine[Any, Any, R]]: ...
@overload
def batched(
    *, max_size: int = DEFAULT_MAX_SIZE, max_wait: float = DEFAULT_MAX_WAIT
) -> BatchDecorator: ...
@check_keywords
def batched(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    max_wait: float = DEFAULT_MAX_WAIT,
) -> Any:
    """Coalesce concurrent single-item calls into list calls of the decorated function.

    The function is ``async def f(items: list, ...) -> list`` (same length, same order);
    callers call ``await f(item, ...)`` and get that item's result. ``max_size``: most
    items per call (a full batch is sent at once). ``max_wait``: seconds the first item
    waits for company. Items go in the same batch only when their other arguments are
    equal (and, for methods, the instance is the same). A failing call fails each of its
    callers; a result of the wrong length fails all of them with :class:`BatchSizeError`.

    .. versionadded:: 0.1.0
    """
    size, wait = _check(max_size, max_wait)

    def decorate(target: Callable[..., Any]) -> Any:
        return _core.apply(target, BatchedPolicy(size, wait))

    return decorate if fn is None else decorate(fn)


Batcher = BatchedPolicy  # rename_policies: keep
"""The type of ``fn.batcher``: the ``@batched`` policy itself (:class:`BatchedPolicy`)."""
