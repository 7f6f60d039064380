"""The warming policy keeps its counts in step with each call, as a rebuild would find them.

Planning once per call used to recount the whole history (O(history) per call, quadratic
over a run); the counts are now updated per call. These tests hold the update to the
rebuild: the same decisions, call by call, whether calls leave the history by age or by
its size bound, and through a change of the predicted load (which recounts).
"""

from __future__ import annotations

import random
from collections import deque

import pytest

from llmwarm.warm._policy import WarmingPolicy

_START = 1_700_000_000.0


def _traffic(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    t, out = _START, []
    for _ in range(count):
        t += rng.choice([0.0, 1, 5, 30, 400, 1000, 7200, 60, 90_000]) * rng.random()
        out.append(t)
    return out


def _decisions(policy: WarmingPolicy, calls: list[float], *, rebuild: bool) -> list[object]:
    rng = random.Random(7)
    out: list[object] = []
    for i, at in enumerate(calls):
        policy.observe_call(at)
        if i % 9 == 4:  # pings move the margin and, when cold, the predicted load
            policy.observe_ping(rng.random() * 3, cold=rng.random() < 0.3)
        if rebuild:
            policy._stale = True  # the reference: every count made from scratch
        decision = policy.decide(at + 1.0, at + policy.keep_alive)
        out.append((decision, sorted(policy._gaps), dict(policy._profile), policy._burst))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("bound", [None, 40])
def test_counts_updated_per_call_match_a_rebuild(seed: int, bound: int | None) -> None:
    calls = _traffic(seed, 400)
    incremental, reference = WarmingPolicy(keep_alive=300.0), WarmingPolicy(keep_alive=300.0)
    if bound is not None:  # a small size bound: calls leave the history on every append
        incremental.calls = deque(maxlen=bound)
        reference.calls = deque(maxlen=bound)
    got = _decisions(incremental, calls, rebuild=False)
    want = _decisions(reference, calls, rebuild=True)
    assert got == want
    # The traffic exercises what is counted: idle calls, and calls that wait on a load.
    assert any(d[2] for d in got)
    assert any(d[3] > 1.0 for d in got)


def test_a_call_after_an_idle_spell_is_counted_and_forgotten() -> None:
    policy = WarmingPolicy(keep_alive=300.0)
    for at in (_START, _START + 1000.0, _START + 1001.0):
        policy.observe_call(at)
    policy.plan(_START + 1002.0, _START + 1300.0)
    assert sorted(policy._gaps) == [1.0, 1000.0]
    assert sum(policy._profile.values()) == 1.0  # one call found the model idle
    assert policy._burst == 2.0  # ... and one more arrived during its load
    # Eight days on, the history has forgotten all three calls' gaps but the newest's.
    later = _START + 8 * 86_400.0
    policy.observe_call(later)
    policy.plan(later + 1.0, later + 300.0)
    assert list(policy.calls) == [later]
    assert policy._gaps == []
    assert policy._profile == {}
    assert policy._burst == 1.0
