"""The shared core: one wrapper per stack, policy order, metadata, methods, streams, records."""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import pytest
import wrapt
from hypothesis import given
from hypothesis import strategies as st

from llmwarm._core import Call, Flow, Offload, Policy, Stack, apply, current_record
from llmwarm._core import driver as _core
from llmwarm._core import streams as _streams


class Tag(Policy):
    """A policy that logs when it runs, so tests can see the order of a stack."""

    handles: ClassVar[tuple[str, ...]] = ("log",)

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def flow(self, call: Call) -> Flow:
        self.log.append(f"{self.name}>")
        try:
            return (yield call)
        finally:
            self.log.append(f"<{self.name}")


def stack_of(fn: Any, *names: str) -> tuple[Any, list[str]]:
    log: list[str] = []
    for name in reversed(names):  # decorate bottom-up, as `@a @b @c` does
        fn = apply(fn, Tag(name, log))
    return fn, log


def test_a_stack_is_one_wrapper_running_policies_in_stacking_order() -> None:
    def base(x: int) -> int:
        return x * 2

    fn, log = stack_of(base, "outer", "middle", "inner")
    assert type(fn) is Stack
    assert fn.__wrapped__ is base  # one layer: the stack wraps the function directly
    assert not isinstance(fn.__wrapped__, wrapt.ObjectProxy)
    assert [p.name for p in fn.llmwarm_policies] == ["outer", "middle", "inner"]
    assert fn(21) == 42
    assert log == ["outer>", "middle>", "inner>", "<inner", "<middle", "<outer"]


async def test_an_async_stack_is_one_wrapper_running_policies_in_stacking_order() -> None:
    async def base(x: int) -> int:
        await asyncio.sleep(0)
        return x * 2

    fn, log = stack_of(base, "outer", "middle", "inner")
    assert fn.__wrapped__ is base
    assert await fn(21) == 42
    assert log == ["outer>", "middle>", "inner>", "<inner", "<middle", "<outer"]


def test_adding_a_policy_leaves_the_inner_stack_unchanged() -> None:
    log: list[str] = []
    inner = apply(lambda: 1, Tag("a", log))
    outer = apply(inner, Tag("b", log))
    inner()
    assert log == ["a>", "<a"]
    log.clear()
    outer()
    assert log == ["b>", "a>", "<a", "<b"]


def test_metadata_and_signature_are_kept() -> None:
    def complete(messages: list[str], *, model: str = "m", temperature: float = 0.0) -> str:
        """Complete a chat."""
        return model

    fn, _ = stack_of(complete, "a", "b")
    assert fn.__name__ == "complete"
    assert fn.__qualname__ == complete.__qualname__
    assert fn.__doc__ == "Complete a chat."
    assert inspect.signature(fn) == inspect.signature(complete)
    assert not inspect.iscoroutinefunction(fn)


def test_async_kinds_are_kept() -> None:
    async def coro() -> int:
        return 1

    async def agen() -> AsyncIterator[int]:
        yield 1

    assert inspect.iscoroutinefunction(stack_of(coro, "a")[0])
    assert inspect.isasyncgenfunction(stack_of(agen, "a")[0])
    assert not inspect.iscoroutinefunction(stack_of(agen, "a")[0])


class Seen(Policy):
    """Remembers the bound arguments and the instance of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def flow(self, call: Call) -> Flow:
        self.calls.append((call.instance, dict(call.arguments)))
        return (yield call)


def test_methods_classmethods_and_staticmethods() -> None:
    seen = Seen()

    class Client:
        scale = 10

        def __init__(self) -> None:
            self.offset = 1

        def method(self, x: int, model: str = "m") -> int:
            return x + self.offset

        @classmethod
        def klass(cls, x: int) -> int:
            return x * cls.scale

        @staticmethod
        def static(x: int) -> int:
            return -x

    Client.method = apply(Client.__dict__["method"], seen)  # type: ignore[method-assign]
    Client.klass = apply(Client.__dict__["klass"], seen)  # type: ignore[method-assign]
    Client.static = apply(Client.__dict__["static"], seen)  # type: ignore[method-assign]
    client = Client()
    assert client.method(2) == 3
    assert Client.method(client, 2) == 3  # called through the class, instance first
    assert Client.klass(3) == 30
    assert client.static(4) == -4
    assert seen.calls[0] == (client, {"x": 2, "model": "m"})
    assert seen.calls[1] == (client, {"x": 2, "model": "m"})
    assert seen.calls[2][1] == {"x": 3}
    assert seen.calls[3][1] == {"x": 4}


def test_handles_are_reachable_on_functions_and_bound_methods() -> None:
    log: list[str] = []

    class Thing:
        @staticmethod
        def _impl(self: Any) -> int:
            return 1

        def get(self) -> int:
            return 1

    Thing.get = apply(Thing.__dict__["get"], Tag("t", log))  # type: ignore[method-assign]
    fn = apply(apply(lambda: 1, Tag("t", log)), Seen())
    assert fn.log is log
    assert Thing().get.log is log
    with pytest.raises(AttributeError):
        _ = fn.nothing_like_this


def test_bound_arguments_apply_defaults_and_merge_extra_keywords() -> None:
    seen = Seen()

    def f(prompt: str, *rest: str, model: str = "m", **kw: Any) -> None:
        return None

    fn = apply(f, seen)
    fn("p", "r1", temperature=0.5)
    fn(prompt="p")
    assert seen.calls[0][1] == {"prompt": "p", "rest": ("r1",), "model": "m", "temperature": 0.5}
    assert seen.calls[1][1] == {"prompt": "p", "model": "m"}


@given(
    args=st.lists(st.integers(), max_size=4),
    keywords=st.dictionaries(st.sampled_from(["c", "d", "extra", "other"]), st.integers()),
)
def test_binder_agrees_with_inspect(args: list[int], keywords: dict[str, int]) -> None:
    def f(a: int, b: int = 2, /, c: int = 3, *rest: int, d: int = 4, **kw: int) -> None:
        return None

    signature = inspect.signature(f)
    try:
        expected = signature.bind(*args, **keywords)
    except TypeError:
        return  # the real call would raise its own TypeError: nothing for the binder to agree on
    expected.apply_defaults()
    flat = dict(expected.arguments)
    flat.update(flat.pop("kw"))
    if not flat["rest"]:
        flat.pop("rest")
    assert _core.FunctionSpec(f).plain_binder.bind(tuple(args), keywords) == flat


def test_with_arguments_replaces_a_positional_argument_in_place() -> None:
    class SetModel(Policy):
        def flow(self, call: Call) -> Flow:
            assert call.passed("model")
            return (yield call.with_arguments(model="big", extra=1))

    def f(prompt: str, model: str = "small", **kw: Any) -> tuple[str, str, dict[str, Any]]:
        return prompt, model, kw

    assert apply(f, SetModel())("p", "small") == ("p", "big", {"extra": 1})


class Retry(Policy):
    """Tries the call again once after a failure: a flow that yields twice."""

    def flow(self, call: Call) -> Flow:
        try:
            return (yield call)
        except ValueError:
            return (yield call.with_arguments(attempt=2))


class ShortCircuit(Policy):
    def flow(self, call: Call) -> Flow:
        if call.get("cached"):
            return "from policy"
        return (yield call)


def test_a_flow_can_recover_retry_and_short_circuit() -> None:
    calls = []

    def f(attempt: int = 1, cached: bool = False) -> str:
        calls.append(attempt)
        if attempt == 1:
            raise ValueError("first attempt fails")
        return f"attempt {attempt}"

    fn = apply(apply(f, Retry()), ShortCircuit())
    assert fn() == "attempt 2"
    assert calls == [1, 2]
    assert fn(cached=True) == "from policy"
    assert calls == [1, 2]


async def test_an_async_flow_can_recover_and_retry() -> None:
    calls = []

    async def f(attempt: int = 1) -> str:
        calls.append(attempt)
        if attempt == 1:
            raise ValueError("first attempt fails")
        return f"attempt {attempt}"

    assert await apply(f, Retry())() == "attempt 2"
    assert calls == [1, 2]


class Blocking(Policy):
    def __init__(self) -> None:
        self.threads: list[str] = []

    def flow(self, call: Call) -> Flow:
        self.threads.append((yield Offload(lambda: threading.current_thread().name)))
        return (yield call)


async def test_offload_runs_inline_on_sync_and_in_a_thread_on_async() -> None:
    policy = Blocking()
    apply(lambda: 1, policy)()

    async def coro() -> int:
        return 1

    await apply(coro, policy)()
    assert policy.threads[0] == threading.current_thread().name
    assert policy.threads[1] != threading.current_thread().name


def test_errors_reach_the_caller_unchanged() -> None:
    error = KeyError("boom")

    def f() -> None:
        raise error

    fn, log = stack_of(f, "a", "b")
    with pytest.raises(KeyError) as info:
        fn()
    assert info.value is error
    assert log == ["a>", "b>", "<b", "<a"]


# ----------------------------------------------------------------------------- records


class Facts(Policy):
    """Writes a fact at the start of a call and reads the record at its end."""

    def __init__(self) -> None:
        self.records: list[_core.CallRecord] = []

    def flow(self, call: Call) -> Flow:
        record = current_record()
        assert record is call.record
        record.model = call.get("model")
        result = yield call
        self.records.append(record)
        return result


def test_each_call_gets_its_own_record_across_threads() -> None:
    facts = Facts()
    barrier = threading.Barrier(8)

    def f(model: str) -> str | None:
        barrier.wait(timeout=10)  # all eight calls are in flight at once
        record = current_record()
        return record.model if record else None

    fn = apply(f, facts)
    results: dict[str, str | None] = {}
    threads = [
        threading.Thread(target=lambda m=m: results.__setitem__(m, fn(m))) for m in "abcdefgh"
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == {m: m for m in "abcdefgh"}
    assert current_record() is None


async def test_each_call_gets_its_own_record_across_tasks() -> None:
    facts = Facts()
    gate = asyncio.Event()

    async def f(model: str) -> str | None:
        await gate.wait()
        record = current_record()
        return record.model if record else None

    fn = apply(f, facts)
    tasks = [asyncio.create_task(fn(m)) for m in "abcdefgh"]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == list("abcdefgh")
    assert len({id(r) for r in facts.records}) == 8


def test_nested_decorated_functions_are_two_calls_with_two_records() -> None:
    inner_facts, outer_facts = Facts(), Facts()
    inner = apply(lambda model: current_record(), inner_facts)

    def outer(model: str) -> tuple[Any, Any]:
        mine = current_record()
        theirs = inner(model="inner-model")
        assert current_record() is mine  # restored after the inner call
        return mine, theirs

    mine, theirs = apply(outer, outer_facts)("outer-model")
    assert mine is not theirs
    assert (mine.model, theirs.model) == ("outer-model", "inner-model")


def test_the_call_end_hook_sees_duration_and_error(monkeypatch: pytest.MonkeyPatch) -> None:
    ended: list[_core.CallRecord] = []
    monkeypatch.setattr(_core, "_call_end_hooks", [lambda record, call: ended.append(record)])

    def fails() -> None:
        raise RuntimeError("x")

    apply(lambda: 1, Facts())()
    with pytest.raises(RuntimeError):
        apply(fails, Facts())()
    assert ended[0].error is None
    assert ended[0].duration is not None
    assert isinstance(ended[1].error, RuntimeError)


# ----------------------------------------------------------------------------- streams


class Watch(Policy):
    """Observes a returned stream: the chunks and how it ended."""

    def __init__(self) -> None:
        self.chunks: list[Any] = []
        self.ends: list[tuple[str | None, bool]] = []

    def flow(self, call: Call) -> Flow:
        result = yield call
        if _streams.is_stream(result):
            return _streams.observe_stream(result, self)
        return result

    def on_chunk(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        self.ends.append((type(error).__name__ if error else None, completed))


def test_a_sync_stream_is_observed_to_its_one_end() -> None:
    watch = Watch()

    def f() -> Iterator[int]:
        yield from range(3)

    fn = apply(f, watch)
    assert list(fn()) == [0, 1, 2]
    assert watch.chunks == [0, 1, 2]
    assert watch.ends == [(None, True)]


def test_a_closed_or_abandoned_stream_ends_once_as_incomplete() -> None:
    watch = Watch()
    fn = apply(lambda: iter(range(5)), watch)
    with fn() as stream:
        next(stream)
    stream.close()  # a second close does not end it twice
    abandoned = fn()
    next(abandoned)
    del abandoned
    gc.collect()
    assert watch.ends == [(None, False), ("StreamAbandoned", False)]


def test_a_failing_stream_reports_its_error() -> None:
    watch = Watch()

    def f() -> Iterator[int]:
        yield 1
        raise ConnectionError("dropped")

    with pytest.raises(ConnectionError):
        list(apply(f, watch)())
    assert watch.ends == [("ConnectionError", False)]


async def test_an_async_stream_returned_by_a_coroutine_is_observed() -> None:
    watch = Watch()

    async def chunks() -> AsyncIterator[str]:
        for c in "abc":
            yield c

    async def f() -> AsyncIterator[str]:
        return chunks()

    stream = await apply(f, watch)()
    assert [c async for c in stream] == ["a", "b", "c"]
    assert watch.ends == [(None, True)]


async def test_an_async_generator_function_is_a_stack_too() -> None:
    watch = Watch()

    async def f(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    fn = apply(f, watch)
    assert [c async for c in fn(3)] == [0, 1, 2]
    assert watch.chunks == [0, 1, 2]
    assert watch.ends == [(None, True)]


def test_the_record_measures_time_to_first_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    ended: list[_core.CallRecord] = []
    monkeypatch.setattr(_core, "_call_end_hooks", [lambda record, call: ended.append(record)])
    stream = apply(lambda: iter("ab"), Facts())()
    assert ended == []  # a stream's call ends with the stream, not when it is returned
    assert list(stream) == ["a", "b"]
    assert ended[0].stream
    assert ended[0].time_to_first_chunk is not None


def test_a_failing_observer_never_breaks_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Watch):
        def on_chunk(self, chunk: Any) -> None:
            raise RuntimeError("observer bug")

    assert list(apply(lambda: iter("ab"), Broken())()) == ["a", "b"]
    assert "observer bug" in caplog.text


def test_decorating_something_not_callable_is_refused() -> None:
    with pytest.raises(TypeError, match="not callable"):
        apply(42, Tag("a", []))  # type: ignore[arg-type]


def test_a_stop_iteration_from_the_function_reaches_the_caller_unchanged() -> None:
    error = StopIteration("the function's own")

    def f() -> None:
        raise error

    fn, _ = stack_of(f, "a", "b")  # two flows: PEP 479 would make it RuntimeError in each
    with pytest.raises(StopIteration) as info:
        fn()
    assert info.value is error


def test_is_stream_answers_once_per_type_without_the_metaclass() -> None:
    from openai import Stream
    from openai.types.chat import ChatCompletion

    calls: list[str] = []

    class Meta(type):  # as pydantic's model metaclass: an attribute miss runs Python code
        def __getattr__(cls, name: str) -> Any:
            calls.append(name)
            raise AttributeError(name)

    class Response(metaclass=Meta):
        pass

    assert not _streams.is_stream(Response())
    assert calls == ["__next__", "__anext__"]
    assert not _streams.is_stream(Response())
    assert calls == ["__next__", "__anext__"]  # the second answer comes from the cache
    completion = ChatCompletion.model_construct(id="c", choices=[], created=0, model="m")
    assert not _streams.is_stream(completion)
    assert _streams.is_stream(iter([1]))
    assert _streams.is_stream(Stream.__new__(Stream))  # an SDK stream still is one
