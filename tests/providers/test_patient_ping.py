"""``patient(ping)``: a ping that meets a loading model waits it out, through the one engine.

The waits are :class:`~llmwarm._core.Pause` steps of background work, driven by
``run_steps_sync``/``run_steps_async`` like every other step: never run by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from llmwarm._core import DEFAULT_MAX_WAIT, Pause, patient
from llmwarm.testing import FakeClock


class Loading(Exception):
    """A Hugging Face style answer: 503, the model is loading, ready in ``estimated_time``."""

    def __init__(self, estimate: float) -> None:
        body = f'{{"error": "Model m is currently loading", "estimated_time": {estimate}}}'
        super().__init__(body)
        self.status_code = 503
        self.response = _Response(503, body)


class _Response:
    def __init__(self, status: int, text: str) -> None:
        self.status_code = status
        self.text = text
        self.headers: dict[str, str] = {}


def loading_then(ready_after: int, estimate: float = 3.0) -> tuple[list[str], Callable[[str], str]]:
    sent: list[str] = []

    def ping(model: str) -> str:
        sent.append(model)
        if len(sent) <= ready_after:
            raise Loading(estimate)
        return f"{model} ready"

    return sent, ping


def test_a_ping_meeting_a_loading_model_waits_the_advised_time_and_is_served() -> None:
    clock = FakeClock()
    sent, ping = loading_then(2)
    assert patient(ping, clock.sleep)("m") == "m ready"
    assert sent == ["m", "m", "m"]
    assert clock.slept == [3.0, 3.0]


async def test_an_async_ping_meeting_a_loading_model_waits_on_the_loop() -> None:
    clock = FakeClock()
    sent, sync_ping = loading_then(1, estimate=5.0)

    async def ping(model: str) -> str:
        return sync_ping(model)

    assert await patient(ping, clock.sleep)("m") == "m ready"
    assert sent == ["m", "m"]
    assert clock.slept == [5.0]


def test_the_wait_is_bounded_then_the_error_goes_to_the_caller() -> None:
    clock = FakeClock()
    sent, ping = loading_then(10**6, estimate=DEFAULT_MAX_WAIT / 2 + 1)
    with pytest.raises(Loading):
        patient(ping, clock.sleep)("m")
    assert sum(clock.slept) <= DEFAULT_MAX_WAIT
    assert len(sent) == 2  # one wait fits in the bound, a second would not


def test_an_error_that_is_not_loading_is_raised_at_once() -> None:
    clock = FakeClock()
    sent: list[str] = []

    def ping(model: str) -> None:
        sent.append(model)
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        patient(ping, clock.sleep)("m")
    assert (sent, clock.slept) == (["m"], [])


def _spy(monkeypatch: pytest.MonkeyPatch, name: str, callers: list[str]) -> None:
    original: Callable[..., Any] = getattr(Pause, name)
    if name == "run_sync":

        def run_sync(self: Pause, proceed: Callable[..., Any]) -> Any:
            callers.append(sys._getframe(1).f_code.co_name)
            return original(self, proceed)

        monkeypatch.setattr(Pause, name, run_sync)
        return

    async def run_async(self: Pause, proceed: Callable[..., Awaitable[Any]]) -> Any:
        callers.append(sys._getframe(1).f_code.co_name)
        return await original(self, proceed)

    monkeypatch.setattr(Pause, name, run_async)


def test_a_sync_ping_waits_through_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    callers: list[str] = []
    _spy(monkeypatch, "run_sync", callers)
    _, ping = loading_then(1)
    assert patient(ping, FakeClock().sleep)("m") == "m ready"
    assert callers == ["_drive_sync"]


async def test_an_async_ping_waits_through_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    callers: list[str] = []
    _spy(monkeypatch, "run_async", callers)
    _, sync_ping = loading_then(1)

    async def ping(model: str) -> str:
        return sync_ping(model)

    assert await patient(ping, FakeClock().sleep)("m") == "m ready"
    assert callers == ["_drive_async"]
