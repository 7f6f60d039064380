"""At interpreter exit llmwarm ends its parts in the order ``llmwarm.close()`` does."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    from llmwarm._core.runtime import POOLS, THREADS, WARMERS, runtime

    def ending(name):
        return lambda value: print(name, flush=True)

    # Registered out of stage order, as a pool made before a warmer's first call.
    runtime.part("t-unstaged-1", list, at_exit=ending("unstaged-1"))
    runtime.part("t-threads", list, stage=THREADS, at_exit=ending("threads"))
    runtime.part("t-pools", list, stage=POOLS, at_exit=ending("pools"))
    runtime.part("t-warmers", list, stage=WARMERS, at_exit=ending("warmers"))
    runtime.part("t-unstaged-2", list, at_exit=ending("unstaged-2"))
    """
)


def test_parts_end_by_stage_at_exit_warmers_before_pools() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    # Warmers stop before the pools their pings use close; unstaged parts last made, first.
    assert out == ["warmers", "pools", "threads", "unstaged-2", "unstaged-1"]
