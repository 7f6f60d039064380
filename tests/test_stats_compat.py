"""Code written for the dict ``llmwarm.stats()`` returned before 0.2 keeps working."""

from __future__ import annotations

import json
import warnings

import llmwarm
from llmwarm import Stats
from llmwarm.testing import reset


def test_the_mapping_methods_of_the_former_dict_answer() -> None:
    reset()
    stats = llmwarm.stats()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these is deprecated
        pairs = dict(stats.items())
        assert pairs["requests"] == 0
        assert list(stats.keys()) == list(pairs)
        assert list(stats.values()) == list(pairs.values())
        assert len(stats) == len(pairs)
        assert stats.get("total_requests") == 0  # a key of the former dict
        assert stats.get("no_such_figure") is None
        assert stats.get("no_such_figure", -1) == -1
        assert "total_requests" in stats
        assert "no_such_figure" not in stats


def test_json_takes_the_snapshots_dict() -> None:
    stats = Stats(requests=2, cache_hits=1)
    loaded = json.loads(json.dumps(stats.as_dict()))
    assert loaded["requests"] == 2
    assert loaded["cache_hits"] == 1
    assert dict(stats) == loaded


def test_the_former_handle_attributes_subscript_too() -> None:
    stats = Stats(scope="cache", cache_hits=4, cache_misses=3, batch_items=5)
    assert stats["hits"] == 4
    assert stats["misses"] == 3
    assert stats.get("hits") == 4
    assert "hits" in stats
    assert stats["items"] == 5  # BatchStats.items
