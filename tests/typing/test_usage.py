"""The typed usage file's handles exist at run time, and mypy --strict accepts the file."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx

import llmwarm

USAGE = Path(__file__).with_name("usage.py")


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llmwarm_typed_usage", USAGE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_handle_typed_in_the_usage_file_exists_at_run_time() -> None:
    usage = _load()
    try:
        seen = asyncio.run(usage.touch_every_handle())
    finally:
        llmwarm.close()
    assert seen["ask"] == "m-small: q"  # ask() ran through @cached
    assert seen["cache_key"].startswith("llmwarm_typed_usage:ask:")
    assert seen["info"].endswith("ask")
    assert seen["interval"] == 60.0
    assert seen["route_me"] == "m-large: p"  # the router kept the caller's model
    assert isinstance(seen["fetch_client"], httpx.Client)
    assert isinstance(seen["stack_client"], httpx.AsyncClient)
    assert seen["embed"] == 3.0
    assert seen["upper"] == "ABC"
    assert seen["embedded_items"] == 1
    assert seen["plain"] == 5
    assert seen["stack_models"] == ("m-small",)
    assert [tier.name for tier in seen["stack_tiers"]] == ["small", "large"]
    assert seen["stack_batch_size"] == 100
    assert seen["reply"] == "hi"
    assert seen["reply_misses"] == 1
    assert seen["warm_stats"] == llmwarm.Stats(scope="warm")  # one shape, no ping yet
    assert seen["process_stats"]["total_requests"] == seen["process_stats"].requests > 0
    assert seen["areply_models"] == ("m-small",)
    assert seen["areply"] == "hi"
    assert seen["configured_ttl"] == 60.0
    # A bound method lists its stack's policies, as the function does (the Protocols' marker).
    assert seen["bound_policies"] == seen["policies"]
    assert len(seen["policies"]) == 1


def test_mypy_strict_accepts_the_usage_file() -> None:
    # Incremental, in the project's own cache (`make typecheck` fills it with the same
    # files): a few seconds cold, about one warm; mypy rechecks whatever changed.
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(USAGE)],
        cwd=USAGE.parents[2], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
