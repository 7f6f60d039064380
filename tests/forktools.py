"""Run a function in a forked child and bring back what it returned (JSON, over a pipe)."""

from __future__ import annotations

import json
import os
import select
import warnings
from collections.abc import Callable
from typing import Any


def in_child(report: Callable[[], Any]) -> Any:
    """Fork; return what ``report()`` gave in the child (which must answer within 60 s)."""
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+: "multi-threaded fork" (llmwarm's threads wait)
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
