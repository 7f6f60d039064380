"""The engine's one-loop driver and the per-call fast paths of the core, @routed and @warm."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llmwarm import Tier, routed
from llmwarm._core import NO_ANSWER, Call, Flow, Policy, apply
from llmwarm._core.failures import CoolDowns
from llmwarm._core.loading import until_ready


class Note(Policy):
    """Notes the order its flow sees a call and its outcome."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def flow(self, call: Call) -> Flow:
        self.log.append(f"{self.name} in")
        try:
            result = yield call
        except ValueError as exc:
            self.log.append(f"{self.name} caught {exc}")
            raise
        self.log.append(f"{self.name} out {result}")
        return result


class Recover(Policy):
    """Turns a ValueError from further in into a value: an exception thrown in and handled."""

    def flow(self, call: Call) -> Flow:
        try:
            return (yield call)
        except ValueError:
            return "recovered"


def _stack(function: Any, *policies: Policy) -> Any:
    for policy in reversed(policies):  # the first one ends outermost
        function = apply(function, policy)
    return function


@pytest.mark.parametrize("is_async", [False, True])
def test_one_loop_runs_every_flow_in_order_and_back(is_async: bool) -> None:
    log: list[str] = []

    def f(x: int) -> int:
        log.append("function")
        return x + 1

    async def af(x: int) -> int:
        return f(x)

    stack = _stack(af if is_async else f, Note("a", log), Note("b", log), Note("c", log))
    result = asyncio.run(stack(1)) if is_async else stack(1)
    assert result == 2
    assert log == ["a in", "b in", "c in", "function", "c out 2", "b out 2", "a out 2"]


@pytest.mark.parametrize("is_async", [False, True])
def test_one_loop_throws_a_failure_up_to_the_flow_that_handles_it(is_async: bool) -> None:
    log: list[str] = []

    def f() -> str:
        raise ValueError("boom")

    async def af() -> str:
        return f()

    stack = _stack(af if is_async else f, Note("a", log), Recover(), Note("c", log))
    result = asyncio.run(stack()) if is_async else stack()
    assert result == "recovered"
    assert log == ["a in", "c in", "c caught boom", "a out recovered"]


def test_with_argument_replaces_one_argument_by_position_or_keyword() -> None:
    seen: list[Call] = []

    class SetModel(Policy):
        def flow(self, call: Call) -> Flow:
            seen.append(call)
            return (yield call.with_argument("model", "big"))

    def f(prompt: str, model: str = "small", **kw: Any) -> tuple[str, str, dict[str, Any]]:
        return prompt, model, kw

    stack = apply(f, SetModel())
    assert stack("p", "small") == ("p", "big", {})
    assert stack("p", model="small", extra=1) == ("p", "big", {"extra": 1})
    assert stack("p") == ("p", "big", {})
    assert seen[-1].kwargs == {}  # the caller's call is left as it was


def test_with_argument_keeps_bound_arguments_in_step() -> None:
    def f(prompt: str, model: str = "small") -> None:
        return None

    class Bind(Policy):
        def flow(self, call: Call) -> Flow:
            assert call.arguments["model"] == "small"
            changed = call.with_argument("model", "big")
            assert changed.arguments == {"prompt": "p", "model": "big"}
            assert call.arguments["model"] == "small"
            return (yield changed)

    apply(f, Bind())("p")


def test_none_cooling_answers_whether_any_model_cools() -> None:
    now = [0.0]
    cooldowns = CoolDowns(clock=lambda: now[0])
    assert cooldowns.none_cooling()
    cooldowns.cool("m", 5.0)
    assert not cooldowns.none_cooling()


def test_routed_plans_around_a_cooling_tier_after_taking_its_fast_path() -> None:
    from llmwarm._core.failures import cooldowns

    @routed([Tier("small", "fast-s"), Tier("large", "fast-l")], classify=lambda a: "small")
    def f(prompt: str, *, model: str = "") -> str:
        return model

    cooldowns.clear()  # the registry is process-wide: start from nothing cooling
    try:
        assert f("p") == "fast-s"  # nothing cooling: the plan made at decoration
        cooldowns.cool("fast-s", 60.0)
        assert f("p") == "fast-l"
    finally:
        cooldowns.clear()
    assert f("p") == "fast-s"


def test_until_ready_given_a_first_failure_does_not_run_the_call_again_for_it() -> None:
    def f() -> None:
        return None

    def record_only(call: Call) -> Flow:
        return (yield from until_ready(call, failed=ValueError("not a loading answer")))

    class First(Policy):
        def flow(self, call: Call) -> Flow:
            return (yield from record_only(call))

    with pytest.raises(ValueError, match="not a loading answer"):
        apply(f, First())()


class Answers(Policy):
    """Answers calls whose argument is even without its flow; runs the flow for odd ones."""

    may_answer = True

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def answer(self, call: Call) -> Any:
        x = call.get("x")
        if x < 0:
            raise ValueError("negative")
        if x % 2 == 0:
            self.log.append("answered")
            return "even"
        return NO_ANSWER

    def flow(self, call: Call) -> Flow:
        self.log.append("flow")
        return (yield call)


@pytest.mark.parametrize("is_async", [False, True])
def test_an_answer_settles_the_call_without_a_flow_or_the_rest_of_the_stack(
    is_async: bool,
) -> None:
    log: list[str] = []

    def f(x: int) -> str:
        log.append("function")
        return "odd"

    async def af(x: int) -> str:
        return f(x)

    stack = _stack(af if is_async else f, Note("outer", log), Answers(log), Note("inner", log))

    def run(x: int) -> Any:
        return asyncio.run(stack(x)) if is_async else stack(x)

    assert run(2) == "even"
    assert log == ["outer in", "answered", "outer out even"]
    log.clear()
    assert run(1) == "odd"  # NO_ANSWER: the flow runs, started as usual
    assert log == ["outer in", "flow", "inner in", "function", "inner out odd", "outer out odd"]
    log.clear()
    with pytest.raises(ValueError, match="negative"):
        run(-1)
    assert log == ["outer in", "outer caught negative"]


def test_a_policy_that_does_not_say_it_may_answer_is_not_asked() -> None:
    class Silent(Answers):
        may_answer = False

    log: list[str] = []
    assert apply(lambda x: "odd", Silent(log))(2) == "odd"
    assert log == ["flow"]
