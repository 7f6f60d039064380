"""100 processes started together: their first idle pings are spread, not in step.

Modelled in one process: 100 warmers (one per "process", each with its own seeded random
source) on one fake clock, all called at the same instant, then left idle.
"""

from __future__ import annotations

import importlib
import random

import pytest
from warmtools import FakeClock

from llmwarm import warm

WARM = importlib.import_module("llmwarm.warm._warm")  # the module (llmwarm.warm is the decorator)

PROCESSES = 100
INTERVAL = 240.0


def test_first_pings_of_processes_started_together_are_spread(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WARM, "FIRST_PING_SPREAD", 0.1)  # the default
    pinged: list[float] = []
    fns = []
    for seed in range(PROCESSES):

        @warm("m", interval=INTERVAL, ping=lambda m: pinged.append(clock.now), _clock=clock)
        def complete() -> str:
            return "ok"

        complete.warmer._rng = random.Random(seed)
        fns.append(complete)
    for fn in fns:
        fn()  # every process takes its first call at the same instant
    start = clock.now
    for _ in range(2400):  # one simulated second at a time, for 10 intervals
        clock.advance(1.0)
        for fn in fns:
            fn.warmer.run_due()
    first = sorted(pinged)[:PROCESSES]
    assert len(set(first)) >= 20  # today all 100 first pings fall on the same second
    assert min(first) >= start + INTERVAL * 0.9  # never more than 10 % early
    assert max(first) <= start + INTERVAL
    assert max(first) - min(first) >= INTERVAL * 0.05
    # each process then pings once per interval: never more than one per interval each
    assert len(pinged) <= PROCESSES * 10
