"""The cold-start state machine, driven with explicit (fake) simulated times: no I/O."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from llmwarm.sim import ModelRegistry


def registry(load: float = 10.0, max_loaded: int | None = None) -> ModelRegistry:
    return ModelRegistry(lambda model: load, max_loaded=max_loaded)


def test_first_request_is_cold_then_warm_until_keep_alive_elapses() -> None:
    reg = registry(load=10.0)
    first = reg.acquire("m", now=0.0)
    assert (first.cold, first.wait) == (True, 10.0)
    reg.release("m", now=11.0, keep_alive=300.0)
    second = reg.acquire("m", now=100.0)
    assert (second.cold, second.wait) == (False, 0.0)
    reg.release("m", now=101.0, keep_alive=300.0)
    assert not reg.acquire("m", now=400.0).cold  # 299 s idle: still loaded
    reg.release("m", now=400.0, keep_alive=300.0)
    late = reg.acquire("m", now=700.0)  # exactly keep_alive idle: unloaded
    assert late.cold
    stats = reg.stats(now=700.0)["models"]["m"]
    assert stats["loads"] == 2
    assert stats["unloads"] == 1
    assert stats["cold_starts"] == 2
    assert stats["requests"] == 4


def test_concurrent_requests_share_one_load() -> None:
    reg = registry(load=10.0)
    tickets = [reg.acquire("m", now=t) for t in (0.0, 2.0, 9.5)]
    assert [t.wait for t in tickets] == [10.0, 8.0, 0.5]
    assert all(t.cold for t in tickets)
    assert reg.stats(now=9.5)["models"]["m"]["loads"] == 1


def test_model_never_expires_while_a_request_is_in_flight() -> None:
    reg = registry(load=0.0)
    reg.acquire("m", now=0.0)
    reg.acquire("m", now=1.0)
    reg.release("m", now=2.0, keep_alive=5.0)
    assert [s.name for s in reg.loaded(now=100.0)] == ["m"]  # one request still active
    reg.release("m", now=100.0, keep_alive=5.0)
    assert [s.name for s in reg.loaded(now=104.0)] == ["m"]
    assert reg.loaded(now=105.0) == []


def test_keep_alive_is_counted_from_the_end_of_the_load() -> None:
    reg = registry(load=10.0)
    reg.acquire("m", now=0.0)
    reg.release("m", now=1.0, keep_alive=5.0)  # client gave up during the load
    assert reg.state("m").expires_at == 15.0


def test_keep_alive_zero_and_forever() -> None:
    reg = registry(load=1.0)
    reg.acquire("m", now=0.0)
    reg.release("m", now=1.0, keep_alive=0.0)
    assert reg.loaded(now=1.0) == []
    reg.acquire("m", now=2.0)
    reg.release("m", now=3.0, keep_alive=math.inf)
    assert [s.name for s in reg.loaded(now=1e12)] == ["m"]


def test_explicit_unload() -> None:
    reg = registry()
    assert reg.unload("m", now=0.0) is False
    reg.acquire("m", now=0.0)
    reg.release("m", now=10.0, keep_alive=300.0)
    assert reg.unload("m", now=11.0) is True
    assert reg.loaded(now=11.0) == []


def test_lru_eviction_keeps_at_most_max_loaded() -> None:
    reg = registry(load=1.0, max_loaded=2)
    for t, name in enumerate(["a", "b", "a", "c"]):
        reg.acquire(name, now=float(t * 10))
        reg.release(name, now=float(t * 10 + 1), keep_alive=1000.0)
    assert sorted(s.name for s in reg.loaded(now=50.0)) == ["a", "c"]  # b was the LRU
    assert reg.stats(now=50.0)["models"]["b"]["evictions"] == 1


def test_busy_models_are_not_evicted() -> None:
    reg = registry(load=1.0, max_loaded=1)
    reg.acquire("a", now=0.0)  # still in flight
    reg.acquire("b", now=1.0)
    assert sorted(s.name for s in reg.loaded(now=2.0)) == ["a", "b"]


def test_faults_reset_and_totals() -> None:
    reg = registry()
    reg.count_fault("m", "429")
    reg.acquire("m", now=0.0)
    reg.release("m", now=10.0, keep_alive=1.0, tokens_in=3, tokens_out=7)
    total = reg.stats(now=10.0)["total"]
    assert total["requests"] == 2
    assert total["faults"]["429"] == 1
    assert (total["tokens_in"], total["tokens_out"]) == (3, 7)
    assert total["loaded_models"] == ["m"]
    reg.reset()
    assert reg.stats(now=10.0)["models"] == {}


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=30),
    keep_alive=st.integers(min_value=0, max_value=500),
)
def test_a_model_reloads_exactly_when_the_idle_gap_reaches_keep_alive(
    gaps: list[int], keep_alive: int
) -> None:
    reg = registry(load=0.0)
    now = 0.0
    for gap in gaps:
        now += gap
        reg.acquire("m", now=now)
        reg.release("m", now=now, keep_alive=float(keep_alive))
        state = reg.state("m")
        assert state.loads - state.unloads == (1 if state.loaded else 0)
    expected_loads = 1 + sum(1 for gap in gaps[1:] if gap >= keep_alive)
    assert state.loads == expected_loads
