"""A forked child (a prefork worker) has its own random draws and its own locks."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest

from llmwarm import warm
from llmwarm._core import loops
from llmwarm.cache import allowlist
from llmwarm.testing import fake_clock
from tests.forktools import in_child

MODEL = "m"


def test_forked_workers_spread_their_first_pings_differently() -> None:
    with fake_clock():

        @warm(MODEL, interval=600, ping=lambda model: None)
        def complete(prompt: str, *, model: str = MODEL) -> str:
            return prompt

        def first_ping() -> Any:
            complete("hi")  # the first call draws the first ping's random early start
            return complete.warmer.next_ping_at(MODEL)

        # Two children, as two workers of a prefork server made after the decoration.
        children = [in_child(first_ping), in_child(first_ping)]
        assert children[0] != children[1]


def _on_a_loop_close() -> None:
    loop = asyncio.new_event_loop()
    try:
        loops.on_loop_close(loop, asyncio.sleep)  # type: ignore[arg-type]
    finally:
        loop.close()


@pytest.mark.parametrize(
    ("lock", "use"),
    [
        pytest.param(
            allowlist._lock,
            lambda: allowlist.register_type(_Row, name="tests:Row"),
            id="allow-list",
        ),
        pytest.param(loops._lock, _on_a_loop_close, id="loop-close hooks"),
    ],
)
def test_a_child_forked_while_a_lock_was_held_does_not_hang(
    lock: Callable[[], Any], use: Callable[[], Any]
) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:  # a parent thread inside llmwarm when the fork happens
        with lock():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)

        def finishes() -> bool:
            worker = threading.Thread(target=use, daemon=True)
            worker.start()
            worker.join(5)
            return not worker.is_alive()

        assert in_child(finishes) is True
    finally:
        release.set()
        holder.join()


@dataclasses.dataclass
class _Row:
    text: str
