"""An async @warm function waits out a loading model on its loop, never blocking the loop."""

from __future__ import annotations

import asyncio
from typing import Any

from llmwarm import testing, warm


class Loading(Exception):
    """A 503 "currently loading" answer, as Hugging Face endpoints send it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f'{{"error": "Model m is currently loading", "estimated_time": {seconds}}}'
        )
        self.status_code = 503


def _loading_once(seconds: float) -> Any:
    calls: list[Any] = []

    async def complete(
        prompt: str | None = None,
        *,
        model: str = "m",
        messages: Any = None,
        max_tokens: int | None = None,
        timeout: float = 30,
    ) -> str:
        calls.append(max_tokens)
        if len(calls) == 1:
            raise Loading(seconds)
        return "ok"

    return complete, calls


def test_other_tasks_run_while_a_call_waits_for_a_loading_model() -> None:
    testing.reset()
    complete, calls = _loading_once(0.4)
    decorated = warm("m", interval=600)(complete)
    ticks = 0

    async def main() -> str:
        nonlocal ticks

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        task = asyncio.create_task(ticker())
        try:
            return str(await decorated("x"))
        finally:
            task.cancel()

    try:
        assert asyncio.run(main()) == "ok"
    finally:
        testing.reset()
    assert len(calls) == 2
    # A blocked loop gets no tick at all during the 0.4 s pause; a free one gets ~20.
    assert ticks >= 3


def test_a_loading_pause_on_the_fake_clock_advances_it_from_a_coroutine() -> None:
    complete, _calls = _loading_once(5.0)

    async def main() -> str:
        decorated = warm("m", interval=60)(complete)
        decorated.warmer.start()  # a ping is due now: the pause runs the warmer's work
        return str(await decorated("x"))

    with testing.fake_clock() as clock:
        start = clock.now
        assert asyncio.run(main()) == "ok"
        assert clock.slept  # the pause moved the fake clock rather than waiting
        assert clock.now >= start + sum(clock.slept)
