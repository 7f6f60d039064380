"""The typed call context: declared facts, typed extension slots, and the core's seams.

Policies share facts through :class:`CallRecord`'s declared attributes only; each policy
class declares the facts it reads and writes, and a stack of each decorator, run with a
record that notes its writers, writes only what its policies declare.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterator
from types import FrameType, SimpleNamespace
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

import llmwarm
from llmwarm import Tier, batched, cached, pooled, routed, traced, warm
from llmwarm._core import (
    Call,
    CallContext,
    CallRecord,
    Flow,
    FunctionSpec,
    Policy,
    SlotKey,
    apply,
    current_record,
    enter_record,
    invoke,
    leave_record,
    stack_state,
)
from llmwarm.cache import SHARED_RESULT

# ------------------------------------------------------------------------- the record


def test_the_record_declares_its_facts_and_takes_no_other() -> None:
    record = CallRecord("f")
    assert CallContext is CallRecord
    assert not hasattr(record, "__dict__")  # slotted: a typo is an error, not a new fact
    with pytest.raises(AttributeError):
        record.cold_strat = True  # type: ignore[attr-defined]
    expected = {
        "function", "started", "warmup", "model", "cold_start", "cold_start_kind", "idle_s",
        "cache_hit", "tier", "route_reason", "fallback_ready", "connection_reused", "stream",
        "time_to_first_chunk", "duration", "error",
    }  # fmt: skip
    assert expected == CallRecord.FACTS
    unknown = {name: getattr(record, name) for name in expected - {"function", "started"}}
    assert unknown == dict.fromkeys(unknown, None) | {
        "warmup": False,
        "fallback_ready": False,
        "stream": False,
    }
    assert CallRecord("f", warmup=True).warmup is True


def test_a_slot_key_keeps_a_policys_own_state_per_record() -> None:
    mine: SlotKey[int] = SlotKey("mine", 0)
    same_name: SlotKey[int] = SlotKey("mine", 7)
    first, second = CallRecord("f"), CallRecord("f")
    assert first.get(mine) == 0  # the key's default until set
    first.set(mine, 3)
    assert (first.get(mine), second.get(mine), first.get(same_name)) == (3, 0, 7)
    assert "mine" in repr(mine)


def test_merge_brings_back_what_a_branch_learnt_and_never_erases() -> None:
    key: SlotKey[str] = SlotKey("leg", "")
    record = CallRecord("f")
    record.cache_hit = False  # written by a policy outside the branch
    leg = record.branch()
    assert type(leg) is CallRecord
    assert leg.function == "f"
    assert leg is not record
    leg.cold_start = False
    leg.connection_reused = True
    leg.set(key, "b")
    record.merge(leg)
    assert (record.cold_start, record.connection_reused, record.cache_hit) == (False, True, False)
    assert record.get(key) == "b"
    other = CallRecord("f")
    other.model, other.tier = "m", "small"
    record.merge(other, ["model"])  # only the facts named
    assert (record.model, record.tier) == ("m", None)
    assert "model='m'" in repr(record)
    assert "tier" not in repr(record)


def test_enter_and_leave_record_set_the_current_record() -> None:
    record = CallRecord("f")
    assert current_record() is None
    token = enter_record(record)
    assert current_record() is record
    leave_record(token)
    assert current_record() is None


# ------------------------------------------------------------------------ the seams


def test_stack_state_finds_the_stack_of_a_function_or_bound_method() -> None:
    def f(prompt: str) -> str:
        return prompt

    fn = apply(f, Policy())
    state = stack_state(fn)
    assert state is not None
    assert state.spec.qualname.endswith("f")
    assert stack_state(f) is None

    class Client:
        @cached
        def ask(self, prompt: str) -> str:
            return prompt

    bound_state = stack_state(Client().ask)
    assert bound_state is not None
    assert bound_state is stack_state(Client.__dict__["ask"])


def test_positional_names_and_get_bind_like_the_call() -> None:
    seen: list[Call] = []

    class Keep(Policy):
        def flow(self, call: Call) -> Flow:
            seen.append(call)
            return (yield call)

    def f(items: list[int], extra: int = 2, *rest: int, model: str = "m", **kw: Any) -> None:
        return None

    class Client:
        def method(self, items: list[int], model: str = "m") -> None:
            return None

    apply(f, Keep())([1], 5, 6, 7, model="x", seed=1)
    Client.method = apply(Client.__dict__["method"], Keep())  # type: ignore[method-assign]
    Client().method([1])
    call, method = seen
    assert call.positional_names == ("items", "extra")
    assert method.positional_names == ("items", "model")  # `self` is passed apart
    for name in ("items", "extra", "rest", "model", "seed", "absent"):
        assert call.get(name, "?") == call.arguments.get(name, "?"), name
    assert (method.get("model"), method.get("items")) == ("m", [1])


@given(
    args=st.lists(st.integers(), max_size=4),
    keywords=st.dictionaries(st.sampled_from(["c", "d", "extra", "rest"]), st.integers()),
    known=st.booleans(),
)
def test_get_agrees_with_the_bound_arguments(
    args: list[int], keywords: dict[str, int], known: bool
) -> None:
    def f(a: int, b: int = 2, /, c: int = 3, *rest: int, d: int = 4, **kw: int) -> None:
        return None

    try:
        inspect.signature(f).bind(*args, **keywords)
    except TypeError:
        return  # the real call would raise its own TypeError
    spec = FunctionSpec(f)
    call = Call(spec, f, None, tuple(args), dict(keywords), CallRecord("f"))
    bound = dict(Call(spec, f, None, tuple(args), dict(keywords), CallRecord("f")).arguments)
    if known:
        _ = call.arguments  # answered from the bound arguments once they exist
    for name in ("a", "b", "c", "d", "rest", "extra", "kw", "absent"):
        assert call.get(name, "?") == bound.get(name, "?"), name


class _Injects(Policy):
    injects = ("client",)


def test_cached_warns_of_a_policy_outside_it_that_declares_injects(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def f(prompt: str, client: Any = None) -> str:
        return prompt

    apply(cached(f), _Injects())
    assert any("outside @cached" in r.getMessage() for r in caplog.records)


def test_cached_says_nothing_of_a_policy_outside_it_that_injects_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def f(prompt: str, client: Any = None) -> str:
        return prompt

    apply(cached(f), Policy())
    assert not any("outside @cached" in r.getMessage() for r in caplog.records)


def test_pooled_declares_the_keyword_it_injects() -> None:
    @pooled()
    def f(prompt: str, *, http_client: Any = None) -> str:
        return prompt

    assert [p.injects for p in f.llmwarm_policies] == [("http_client",)]


# ------------------------------------------------------------ declared reads and writes


def _policy_classes() -> list[type[Policy]]:
    for info in pkgutil.walk_packages(llmwarm.__path__, "llmwarm."):
        if ".sim" in info.name or ".tools" in info.name:
            continue  # no policy lives there (and they need extras)
        importlib.import_module(info.name)
    found: list[type[Policy]] = []
    pending = [Policy]
    while pending:
        kind = pending.pop()
        for sub in kind.__subclasses__():
            if sub.__module__.startswith("llmwarm."):
                found.append(sub)
            pending.append(sub)
    return found


def test_every_policy_declares_only_real_facts() -> None:
    classes = _policy_classes()
    names = {kind.__name__ for kind in classes}
    assert {
        "PooledPolicy",
        "CachedPolicy",
        "RoutedPolicy",
        "BatchedPolicy",
        "TracedPolicy",
    } <= names
    for kind in classes:
        assert kind.reads <= CallRecord.FACTS, kind
        assert kind.writes <= CallRecord.FACTS, kind


#: What the stack's entry and the call-end hooks write (stats' own cold-start prediction).
CORE_WRITES = frozenset(
    {"duration", "error", "stream", "time_to_first_chunk", "cold_start", "idle_s"}
)
_MERGE = CallRecord.merge.__code__


class WatchedRecord(CallRecord):
    """A record that notes which policy read or wrote each fact (test only: walks frames)."""

    writes: ClassVar[list[tuple[str, str]]] = []
    reads: ClassVar[list[tuple[str, str]]] = []
    __slots__ = ("ready",)

    def __init__(self, function: str, *, warmup: bool = False) -> None:
        object.__setattr__(self, "ready", False)
        super().__init__(function, warmup=warmup)
        self.ready = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "ready", False) and name in CallRecord.FACTS:
            writer = _writer(sys._getframe(1))
            if writer is not None:
                WatchedRecord.writes.append((writer, name))
        object.__setattr__(self, name, value)

    def __getattribute__(self, name: str) -> Any:
        if name in CallRecord.FACTS and object.__getattribute__(self, "ready"):
            reader = _writer(sys._getframe(1))
            if reader is not None:
                WatchedRecord.reads.append((reader, name))
        return object.__getattribute__(self, name)


def _writer(frame: FrameType | None) -> str | None:
    """The policy class whose code (or whose callee) runs; "core" if none; None if merging."""
    while frame is not None:
        if frame.f_code is _MERGE:
            return None  # facts brought back from a branch: their writer declared them
        owner = frame.f_locals.get("self")
        if isinstance(owner, Policy):
            return type(owner).__qualname__
        frame = frame.f_back
    return "core"


@pytest.fixture
def watched() -> Iterator[list[tuple[str, str]]]:
    WatchedRecord.writes = []
    WatchedRecord.reads = []
    yield WatchedRecord.writes
    llmwarm.shutdown()


def _declared(fn: Any) -> dict[str, Policy]:
    state = stack_state(fn)
    assert state is not None
    return {type(p).__qualname__: p for p in state.pipeline}


def _check(writes: list[tuple[str, str]], declared: dict[str, Policy]) -> None:
    """Each policy wrote only facts it declares, and read only those it reads or writes."""
    assert writes, "the stack wrote nothing: the check would be vacuous"
    for writer, fact in writes:
        allowed = CORE_WRITES if writer == "core" else declared[writer].writes
        assert fact in allowed, f"{writer} writes {fact!r} without declaring it"
    assert WatchedRecord.reads, "the stack read nothing: the check would be vacuous"
    for reader, fact in WatchedRecord.reads:
        if reader != "core":  # the entry and the call-end hooks read every fact
            policy = declared[reader]
            assert fact in policy.reads | policy.writes, f"{reader} reads {fact!r} undeclared"


class Loading(Exception):
    """A provider's "model is loading" answer, with a zero-second advice."""

    status_code = 503
    response = SimpleNamespace(status_code=503, headers={"retry-after": "0"}, text="loading")

    def __init__(self) -> None:
        super().__init__("model is currently loading")


def test_a_sync_stack_of_every_decorator_writes_only_what_it_declares(
    watched: list[tuple[str, str]],
) -> None:
    failures = {"small": 1, "loading": 1}
    provider = TracerProvider()

    @traced(tracer_provider=provider)
    @cached
    @routed([Tier("small", "s"), Tier("large", "l")])
    @warm(["s", "l"], interval=60, ping=lambda model: None)
    @pooled()
    def complete(prompt: str, *, model: str = "", http_client: Any = None) -> str:
        if model == "s" and failures["small"]:
            failures["small"] -= 1
            raise TimeoutError("small is down")  # retryable: @routed falls back
        if failures["loading"]:
            failures["loading"] -= 1
            raise Loading()  # waited out by @warm (through _core.loading)
        return f"{model}:{prompt}"

    assert invoke(complete, "hi", _record=WatchedRecord("complete")) == "l:hi"
    assert invoke(complete, "hi", _record=WatchedRecord("complete")) == "l:hi"  # a hit
    facts = {fact for _, fact in watched}
    assert {"tier", "cache_hit", "cold_start_kind", "connection_reused", "duration"} <= facts
    _check(watched, _declared(complete))
    provider.shutdown()


async def test_an_async_stack_with_hedging_and_batching_writes_only_what_it_declares(
    watched: list[tuple[str, str]],
) -> None:
    @traced(tracer_provider=TracerProvider())
    @batched(max_size=2, max_wait=0.01)
    @pooled()
    async def embed(texts: list[str], *, http_client: Any = None) -> list[int]:
        return [len(t) for t in texts]

    @routed([Tier("s", "s"), Tier("l", "l")], hedge_after=0.01)
    @pooled()
    async def complete(prompt: str, *, model: str = "", http_client: Any = None) -> str:
        await asyncio.sleep(1.0 if model == "s" else 0)
        return model

    results = await asyncio.gather(
        invoke(embed, "a", _record=WatchedRecord("embed")),
        invoke(embed, "bb", _record=WatchedRecord("embed")),
    )
    assert list(results) == [1, 2]
    record = WatchedRecord("complete")
    assert await invoke(complete, "p", _record=record) == "l"
    assert record.connection_reused is not None  # merged back from the winning leg
    _check(watched, {**_declared(embed), **_declared(complete)})
    await llmwarm.aclose()


def test_a_shared_cache_result_is_told_in_cache_s_own_slot() -> None:
    records: list[CallRecord] = []

    class Keep(Policy):
        def flow(self, call: Call) -> Flow:
            try:
                return (yield call)
            finally:
                records.append(call.record)

    async def slow(prompt: str) -> str:
        await asyncio.sleep(0.05)
        return prompt

    fn = apply(cached(slow), Keep())

    async def both() -> list[str]:
        return list(await asyncio.gather(fn("x"), fn("x")))

    assert asyncio.run(both()) == ["x", "x"]
    assert sorted(r.get(SHARED_RESULT) for r in records) == [False, True]
    assert inspect.isclass(SlotKey)
