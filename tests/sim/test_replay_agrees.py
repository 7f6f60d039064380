"""Replay on virtual time and a real, time-scaled run against ``llmwarm.sim`` agree."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import httpx
import pytest

from llmwarm._core import ScaledClock
from llmwarm.sim import aserve
from llmwarm.sim.replay import replay
from llmwarm.warm import warm

# Gaps far from the window's edges (keep-alive 300 s), so that a few real milliseconds of
# jitter, magnified by the time scale, cannot flip a call between cold and warm.
ARRIVALS = [0.0, 100.0, 700.0, 760.0, 1500.0, 1540.0, 2400.0]
SCALE = 0.003  # 1 simulated second = 3 ms: the two runs take ~7 s, side by side


async def real_run(warmed: bool) -> tuple[list[bool], int]:
    """Play ARRIVALS in real time against a time-scaled simulator server."""
    async with aserve(
        cold_start=14, cold_start_jitter=0.0, keep_alive=300, time_scale=SCALE
    ) as url:
        user_calls = 0
        async with httpx.AsyncClient(base_url=str(url), timeout=30) as http:

            async def complete(messages: Any, *, model: str = "m", max_tokens: int = 8) -> Any:
                body = {"model": model, "messages": messages, "max_tokens": max_tokens}
                response = await http.post("/v1/chat/completions", json=body)
                return response.raise_for_status()

            call = complete
            if warmed:
                # simulated seconds on a clock as fast as the simulator's (1 s is the least)
                clock = ScaledClock(1 / SCALE)
                call = warm("m", interval=200, keep_alive=300, _clock=clock)(complete)
            t0 = time.perf_counter()
            colds = []
            for at in ARRIVALS:
                await asyncio.sleep(max(0.0, t0 + at * SCALE - time.perf_counter()))
                response = await call([{"role": "user", "content": "hi"}])
                user_calls += 1
                colds.append(response.headers["x-sim-cold-start"] == "true")
            if warmed:
                await call.warmer.aclose()  # type: ignore[attr-defined]
            stats = (await http.get("/sim/stats")).json()
    return colds, stats["total"]["requests"] - user_calls


def test_replay_and_a_real_time_scaled_run_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # both runs must keep the same schedule: no random early first ping in either
    monkeypatch.setattr(importlib.import_module("llmwarm.warm._warm"), "FIRST_PING_SPREAD", 0.0)

    async def both() -> list[tuple[list[bool], int]]:
        # Each run has its own simulator and clock: running them side by side halves the
        # wall time and moves no call (the loop is idle between arrivals).
        return await asyncio.gather(real_run(False), real_run(True))

    for warmed, (colds, pings) in zip((False, True), asyncio.run(both()), strict=True):
        result = replay(
            ARRIVALS,
            keep_alive=300,
            cold_start=14,
            warm={"interval": 200} if warmed else None,
        )
        assert [r.cold for r in result.requests] == colds
        assert result.pings == pings
    # And they differ where they should: warming removes the cold starts after long gaps.
    assert colds == [True, False, False, False, False, False, False]
