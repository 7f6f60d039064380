"""@warm fleets under hostile conditions: forked workers on a real Redis, a hung Redis."""

from __future__ import annotations

import os
import socket
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from warmtools import FakeClock, run_script

from llmwarm import warm
from llmwarm.warm._fleet import DEFAULT_TIMEOUT, Fleet

STEPS = 20  # intervals each forked worker lives through (a process alone: one ping each)

# The parent decorates (and calls) a fleet-backed function, then forks three workers, as a
# pre-fork server does. Each worker calls once, then lives STEPS intervals on its own fake
# clock (inherited from the parent: the workers agree on the time), running due work.
FORKED_WORKERS = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[3])
    import redis, llmwarm
    from warmtools import FakeClock
    url, steps = sys.argv[1], int(sys.argv[2])
    clock = FakeClock()
    r = redis.Redis.from_url(url)
    def ping(model):
        r.rpush("pings", os.getpid())
    @llmwarm.warm("m", interval=60, backend=url, ping=ping, _clock=clock)
    def complete():
        return "ok"
    complete()
    parent = complete.warmer._fleet.identity
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            renewed = complete.warmer._fleet.identity != parent
            complete()
            for _ in range(steps):
                clock.advance(60)
                complete.warmer.run_due()
            os._exit(0 if renewed else 7)
        children.append(pid)
    print([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children])
    """
)


def test_three_forked_workers_ping_about_as_one_process(redis_server: Any) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    out = run_script(FORKED_WORKERS, redis_server.url, str(STEPS), here, timeout=120)
    assert out.stdout.strip() == "[0, 0, 0]", out.stderr  # each child took a new identity
    client = redis.Redis.from_url(redis_server.url)
    pings = client.lrange("pings", 0, -1)
    client.close()
    # One process alone sends STEPS pings; three workers that each believed they held the
    # parent's lease sent 3 x STEPS. Together they must send about what one process does.
    assert STEPS * 0.7 <= len(pings) <= STEPS * 1.3, len(pings)


def test_a_fleet_in_a_forked_child_takes_a_new_identity() -> None:
    fleet = Fleet("redis://127.0.0.1:1/0")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, fleet.identity.encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child
    assert child != fleet.identity
    assert child.startswith(f"{pid}:")


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A loopback port that accepts connections and never answers (a hung Redis)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # never accepted: connects succeed, replies never come
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


@pytest.mark.parametrize("timeout", [None, 0.1])
def test_a_hung_redis_delays_a_ping_by_at_most_the_fleet_timeout(
    hung_redis: str, clock: FakeClock, timeout: float | None
) -> None:
    pinged: list[float] = []
    backend = hung_redis if timeout is None else Fleet(hung_redis, timeout=timeout)
    limit = DEFAULT_TIMEOUT if timeout is None else timeout

    def ping(model: str) -> None:
        pinged.append(time.monotonic())

    @warm("m", interval=60, backend=backend, ping=ping, _clock=clock)
    def complete() -> str:
        return "ok"

    complete()
    clock.advance(60)
    started = time.monotonic()
    complete.warmer.run_due()  # publish, read, lease, ping, publish: each would wait
    assert len(pinged) == 1
    # Today's main waited a full second per Redis operation (2 s and more per ping); the
    # bound is generous (a loaded machine) but far below that.
    assert pinged[0] - started < limit + 0.75
    assert complete.warmer._fleet is not None
    assert complete.warmer._fleet.down


def test_the_fleet_timeout_is_checked() -> None:
    with pytest.raises(ValueError, match=r"timeout must be a finite number of seconds > 0"):
        Fleet("redis://127.0.0.1:1/0", timeout=float("nan"))
