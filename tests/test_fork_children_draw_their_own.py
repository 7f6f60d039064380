"""A forked child (a prefork worker) has its own random draws and its own locks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import select
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from llmwarm import warm
from llmwarm._core import loops
from llmwarm.cache import allowlist
from llmwarm.testing import fake_clock

MODEL = "m"


def _in_child(report: Callable[[], Any]) -> Any:
    """Fork; return what ``report()`` gave in the child (run within 30 s)."""
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+: "multi-threaded fork"
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report, and leave at once (no test machinery runs here)
        code = 1
        try:
            os.write(write, json.dumps(report()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)
        assert ready, "the child never reported"
        answer = json.loads(os.read(read, 4096).decode())
    finally:
        os.close(read)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return answer


def test_forked_workers_spread_their_first_pings_differently() -> None:
    with fake_clock():

        @warm(MODEL, interval=600, ping=lambda model: None)
        def complete(prompt: str, *, model: str = MODEL) -> str:
            return prompt

        def first_ping() -> Any:
            complete("hi")  # the first call draws the first ping's random early start
            return complete.warmer.next_ping_at(MODEL)

        # Two children, as two workers of a prefork server made after the decoration.
        children = [_in_child(first_ping), _in_child(first_ping)]
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

        assert _in_child(finishes) is True
    finally:
        release.set()
        holder.join()


@dataclasses.dataclass
class _Row:
    text: str
