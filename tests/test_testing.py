"""``llmwarm.testing``: one fake clock every policy obeys, one reset, the pytest fixtures.

Nothing here sleeps for real: schedules, TTLs and cool-downs are driven by ``advance`` and
asserted by the order and count of what happened.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from typing import Any

import pytest

import llmwarm
from llmwarm import batched, cached, pooled, routed, warm
from llmwarm._core import cooldowns
from llmwarm._core.runtime import POOLS, WARMERS, Runtime, runtime
from llmwarm.route import Tier
from llmwarm.testing import FakeClock, fake_clock, reset, set_clock
from tests.forktools import in_child

MODEL = "gpt-4o-mini"
WARM = importlib.import_module("llmwarm.warm._warm")  # the module (llmwarm.warm is the decorator)


def llmwarm_threads(besides: frozenset[threading.Thread] = frozenset()) -> list[str]:
    """llmwarm's threads, but those in ``besides`` (still ending after an earlier test)."""
    return [
        t.name for t in threading.enumerate() if t.name.startswith("llmwarm-") and t not in besides
    ]


@pytest.fixture(autouse=True)
def _fresh(llmwarm_reset: None) -> None:
    """Every test here starts and ends with a fresh runtime (the plugin's fixture)."""


# ------------------------------------------------------------------------ the fake clock


def test_the_fake_clock_drives_a_warm_ping_schedule_on_no_thread(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WARM, "FIRST_PING_SPREAD", 0.0)  # the first ping on time
    # A worker busy with an earlier test's ping when the runtime was reset ends after it.
    earlier = frozenset(threading.enumerate())
    events: list[tuple[str, float]] = []

    @warm(MODEL, interval=60, ping=lambda model: events.append(("ping", fake_clock.now)))
    def complete(prompt: str, *, model: str = MODEL) -> str:
        events.append(("call", fake_clock.now))
        return prompt

    start = fake_clock.now
    complete("hi")
    fake_clock.advance(150)
    complete("again")  # activity: the next ping is an interval after it
    fake_clock.advance(100)

    assert events == [
        ("call", start),
        ("ping", start + 60),
        ("ping", start + 120),
        ("call", start + 150),
        ("ping", start + 210),
    ]
    assert complete.warmer.pings_sent == 3
    assert complete.warmer.next_ping_at(MODEL) == start + 270
    assert llmwarm_threads(besides=earlier) == []  # a warmer on the fake clock starts none


async def test_the_fake_clock_drives_an_async_warmer_on_the_running_loop(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WARM, "FIRST_PING_SPREAD", 0.0)
    pinged: list[float] = []

    async def ping(model: str) -> None:
        pinged.append(fake_clock.now)

    @warm(MODEL, interval=60, ping=ping)
    async def complete(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    start = fake_clock.now
    await complete("hi")
    await fake_clock.aadvance(130)
    assert pinged == [start + 60, start + 120]
    assert [t for t in asyncio.all_tasks() if t.get_name() == "llmwarm-warm"] == []


def test_the_fake_clock_expires_cached_entries_at_their_ttl(fake_clock: FakeClock) -> None:
    computed: list[str] = []

    @cached(ttl=60)
    def ask(question: str) -> str:
        computed.append(question)
        return question.upper()

    assert ask("a") == "A"
    fake_clock.advance(59.5)
    assert ask("a") == "A"  # within the TTL: a hit
    fake_clock.advance(1)
    assert ask("a") == "A"  # past it: computed again
    assert computed == ["a", "a"]
    assert (ask.cache.stats.cache_hits, ask.cache.stats.cache_misses) == (1, 2)


def test_a_cache_decorated_before_the_fake_clock_expires_on_it() -> None:
    # The memory back end may read entries at the call's start time (a clock read less per
    # hit) only while the runtime clock is the system clock: decorated first, then a fake
    # clock installed, the TTL must follow the fake clock.
    computed: list[str] = []

    @cached(ttl=60)
    def ask(question: str) -> str:
        computed.append(question)
        return question.upper()

    assert ask("warm") == "WARM"  # the system clock's fast path, before the fake clock
    with fake_clock() as clock:
        assert ask("a") == "A"
        clock.advance(59.5)
        assert ask("a") == "A"
        clock.advance(1)
        assert ask("a") == "A"
    assert computed == ["warm", "a", "a"]


def test_the_fake_clock_ends_a_routed_cool_down_and_its_waits_move_it(
    fake_clock: FakeClock,
) -> None:
    seen: list[str] = []
    failing = {"s"}

    @routed([Tier("small", "s"), Tier("medium", "m")], classify=lambda args: 0, cooldown=30)
    def complete(prompt: str, *, model: str = "unused") -> str:
        seen.append(model)
        if model in failing:
            raise TimeoutError(model)
        return model

    assert complete("a") == "m"  # s fails: cooled down for 30 s, m answers
    assert complete("b") == "m"  # s is skipped while it cools
    fake_clock.advance(29)
    assert complete("c") == "m"
    fake_clock.advance(1)
    failing.clear()
    assert complete("d") == "s"  # 30 s on: s is tried again
    assert seen == ["s", "m", "m", "m", "s"]
    assert fake_clock.slept == []

    # Every tier cooling with max_wait: the wait is the fake clock's (it moves, at once).
    @routed([Tier("small", "s")], classify=lambda args: 0, cooldown=20, max_wait=60)
    def only(prompt: str, *, model: str = "unused") -> str:
        seen.append(model)
        if len(seen) == 6:
            raise TimeoutError(model)
        return model

    before = fake_clock.now
    with pytest.raises(TimeoutError):
        only("e")
    assert only("f") == "s"
    assert fake_clock.slept == [pytest.approx(20)]
    assert fake_clock.now == pytest.approx(before + 20)


async def test_the_fake_clock_sends_a_batch_at_its_max_wait(fake_clock: FakeClock) -> None:
    sent: list[list[int]] = []

    @batched(max_size=10, max_wait=5.0)
    async def double(items: list[int]) -> list[int]:
        sent.append(list(items))
        return [2 * i for i in items]

    waiting = [asyncio.create_task(double(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    await fake_clock.aadvance(4)
    await asyncio.sleep(0)
    assert sent == []  # not yet: it waits 5 s for company
    await fake_clock.aadvance(1)
    assert await asyncio.gather(*waiting) == [2, 4]
    assert sent == [[1, 2]]


def test_timers_run_in_time_order_and_a_cancelled_one_never_runs() -> None:
    clock = FakeClock()
    ran: list[tuple[str, float]] = []
    clock.call_later(3, lambda: ran.append(("c", clock.now)))
    clock.call_later(1, lambda: ran.append(("a", clock.now)))
    clock.call_later(2, lambda: ran.append(("cancelled", clock.now))).cancel()
    clock.call_later(1, lambda: ran.append(("b", clock.now)))  # same time: in order set
    clock.advance(2.5)
    assert ran == [("a", 1001.0), ("b", 1001.0)]
    assert clock.now == 1002.5
    clock.advance(1)
    assert ran[-1] == ("c", 1003.0)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)


def test_set_clock_and_the_context_manager_restore_the_clock() -> None:
    real = runtime.clock
    with fake_clock() as clock:
        assert runtime.clock is clock
        assert llmwarm._core.runtime.monotonic() == clock.now
    assert runtime.clock is real
    fake = FakeClock(start=5.0)
    previous = set_clock(fake)
    try:
        assert previous is real
        assert llmwarm._core.runtime.wall_time() == fake.time()
    finally:
        set_clock(None)
    assert not runtime.clock.manual


# ------------------------------------------------------------------------------ reset


def test_reset_gives_every_part_fresh_state() -> None:
    @warm(MODEL, interval=60, ping=lambda model: None)
    def idle(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    @pooled()
    def fetch(*, http_client: Any) -> Any:
        return http_client

    @cached(ttl=60)
    def ask(question: str) -> str:
        return question

    client = fetch()
    ask("a")
    idle("a")  # a call: its warmer runs on the scheduler thread
    cooldowns.cool("s", 300)
    assert llmwarm.stats()["total_requests"] >= 1
    scheduler = runtime.peek("scheduler")
    assert scheduler is not None
    assert {"warmers", "scheduler", "pools", "caches", "stats", "cool-downs"} <= set(
        runtime.names()
    )

    reset()

    assert idle.warmer.next_ping_at(MODEL) is None  # stopped
    assert client.is_closed
    assert not cooldowns.cooling("s")
    assert llmwarm.stats()["total_requests"] == 0
    assert runtime.peek("scheduler") is None  # the next use makes a new one
    assert fetch() is not client
    assert ask("a") == "a"


def test_reset_keeps_each_parts_first_callbacks_and_drops_what_it_is_not_told_to_keep() -> None:
    rt = Runtime()
    made: list[str] = []
    events: list[str] = []

    def make() -> list[str]:
        made.append("made")
        return []

    def forget(name: str) -> Any:
        def reset_part(value: list[str]) -> None:
            events.append(name)  # and return None: the part is made afresh on next use

        return reset_part

    first = rt.part("fresh", make, reset=forget("reset"))
    kept: list[str] = rt.part("kept", list, stage=WARMERS, reset=lambda v: v)
    rt.part("late", list, stage=POOLS, reset=forget("late"))
    rt.reset()
    assert events == ["late", "reset"]  # staged parts first, in stage order
    assert rt.part("fresh", make) is not first
    assert rt.part("kept", list) is kept
    assert made == ["made", "made"]


# ------------------------------------------------------------------------------- fork


def test_a_forked_child_sees_fresh_process_state_everywhere_at_once() -> None:
    @warm(MODEL, interval=60, ping=lambda model: None)
    def idle(prompt: str, *, model: str = MODEL) -> str:
        return prompt

    @pooled()
    def fetch(*, http_client: Any) -> Any:
        return http_client

    parent_client = fetch()
    idle("a")  # starts the scheduler thread
    parent_scheduler = runtime.peek("scheduler")
    assert parent_scheduler is not None
    cooldowns.cool("s", 300)

    report = in_child(
        lambda: {
            "scheduler_fresh": runtime.peek("scheduler") is None,
            "new_pool": fetch() is not parent_client,
            "schedule_kept": idle.warmer.next_ping_at(MODEL) is not None,
            "cooling_kept": cooldowns.cooling("s"),
            "new_scheduler": llmwarm._core.scheduler.shared() is not parent_scheduler,
        }
    )
    assert report == {
        "scheduler_fresh": True,
        "new_pool": True,
        "schedule_kept": True,
        "cooling_kept": True,  # knowledge is inherited; threads, sockets and flights are not
        "new_scheduler": True,
    }
    assert runtime.peek("scheduler") is parent_scheduler  # the parent's state is untouched


# ----------------------------------------------------------------------- the pytest plugin

pytest_plugins = ["pytester"]

USER_TESTS = """
from llmwarm import cached
from llmwarm._core import cooldowns


def test_the_fixture_drives_a_ttl(fake_clock):
    calls = []

    @cached(ttl=60)
    def ask(question):
        calls.append(question)
        return question

    ask("a")
    fake_clock.advance(61)
    ask("a")
    assert calls == ["a", "a"]


def test_leaves_a_cool_down_behind():
    cooldowns.cool("s", 3600)


def test_the_next_test_sees_it_only_without_the_reset():
    assert cooldowns.cooling("s") is {cooling}
"""


@pytest.mark.parametrize(("ini", "cooling"), [("", True), ("llmwarm_reset = true", False)])
def test_the_plugin_gives_user_tests_the_fixtures_and_an_opt_in_reset(
    pytester: pytest.Pytester, ini: str, cooling: bool
) -> None:
    pytester.makeini(f"[pytest]\nasyncio_default_fixture_loop_scope = function\n{ini}\n")
    pytester.makepyfile(test_user=USER_TESTS.replace("{cooling}", str(cooling)))
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
