"""Helpers of the @routed tests: a fake clock and a policy that captures call records."""

from __future__ import annotations

from typing import Any

from llmwarm._core import Call, CallRecord, Flow, Policy
from llmwarm._core import driver as _core


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Capture(Policy):
    """The outermost policy of a test stack: keeps every call's record, success or not."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def flow(self, call: Call) -> Flow:
        try:
            return (yield call)
        finally:
            self.records.append(call.record)

    @property
    def last(self) -> CallRecord:
        return self.records[-1]


def captured(fn: Any) -> tuple[Any, Capture]:
    capture = Capture()
    return _core.apply(fn, capture), capture
