"""@warm(backend=...) with a real redis-server: one ping per interval for a fleet, outages."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
import redis
from warmtools import FakeClock, FastClock, run_until

from llmwarm import warm
from llmwarm.warm._fleet import Fleet

REPLICA = textwrap.dedent(
    """
    import sys, time
    import redis, llmwarm
    from llmwarm._core import ScaledClock
    url, duration, interval, speed = sys.argv[1], *map(float, sys.argv[2:5])
    r = redis.Redis.from_url(url)
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    # The fleet's clock: `speed` times real time, equal to it at start_at in every replica.
    clock = ScaledClock(speed, origin=start_at)
    def ping(model):
        r.rpush("pings", repr(clock.time()))
    @llmwarm.warm("m", interval=interval, backend=url, ping=ping, _clock=clock)
    def complete():
        return "ok"
    time.sleep(max(0.0, start_at - time.time()))
    complete()
    time.sleep(duration / speed)
    llmwarm.shutdown()
    print(complete.warmer.pings_sent)
    """
)


def test_three_processes_send_one_ping_per_interval_between_them(redis_server: Any) -> None:
    interval, duration = 1.0, 6.0  # the shortest interval accepted, in simulated seconds
    speed = 4.0  # ... on a clock 4x real time: the run lasts 1.5 s
    args = [redis_server.url, repr(duration), repr(interval), repr(speed)]
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in replicas:  # every replica has imported: now all start together
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.2
    for p in replicas:
        assert p.stdin is not None
        p.stdin.write(f"{start_at!r}\n")
        p.stdin.flush()  # to all three before waiting on any (communicate closes stdin)
    sent = [int(p.communicate(timeout=60)[0].strip() or -1) for p in replicas]
    assert all(p.returncode == 0 for p in replicas)
    client = redis.Redis.from_url(redis_server.url)
    stamps = sorted(float(x) for x in client.lrange("pings", 0, -1))
    client.close()
    assert sum(sent) == len(stamps)
    window = [t for t in stamps if start_at + interval <= t <= start_at + duration]
    alone = (duration - interval) / interval  # what one replica sends in that window
    assert alone / 2 <= len(window) <= alone + 3  # not 3x: one ping per interval in total
    assert sum(1 for s in sent if s > 0) >= 1


def test_traffic_on_one_replica_counts_for_all(redis_server: Any, clock: FakeClock) -> None:
    # One fake clock for both replicas, their due work run in time order between the calls:
    # on real threads, a loaded machine's late wake-up (a 25 ms sleep against a 250 ms
    # interval) looked like a silent interval and made a replica ping.
    pinged: list[str] = []

    def replica(name: str) -> Any:
        @warm("m", interval=1.0, _clock=clock, backend=redis_server.url, ping=pinged.append)
        def complete() -> str:
            return name

        return complete

    busy, idle = replica("busy"), replica("idle")
    warmers = (busy.warmer, idle.warmer)

    def run_both_until(end: float) -> None:
        for _ in range(10_000):
            due = [(max(d, 0.0), w) for w in warmers if (d := w.delay()) is not None]
            due = [(d, w) for d, w in due if clock.now + d <= end]
            if not due:
                clock.now = end
                return
            delay, warmer = min(due, key=lambda item: item[0])
            clock.advance(delay)
            warmer.run_due()
        raise AssertionError("the warmers never went idle")

    busy()
    idle()
    for _ in range(40):  # 4 intervals of traffic on `busy` alone, 10 calls per interval
        run_both_until(clock.now + 0.1)  # (`idle` alone: 4 pings)
        busy()
    busy.warmer.stop()
    idle.warmer.stop()
    assert busy.warmer.pings_sent == 0
    assert idle.warmer.pings_sent <= 1  # it saw the other replica's activity
    assert len(pinged) <= 1


def test_a_redis_outage_falls_back_to_local_pings_and_recovers(
    redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "llmwarm")
    pinged: list[float] = []

    @warm(
        "m",
        interval=1,
        _clock=FastClock(10),
        backend=redis_server.url,
        ping=lambda m: pinged.append(time.time()),
    )
    def complete() -> str:
        return "ok"

    def wait_pings(count: int) -> None:
        deadline = time.monotonic() + 15
        target = len(pinged) + count
        while len(pinged) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(pinged) >= target

    complete()
    wait_pings(2)
    redis_server.stop()
    assert complete() == "ok"  # a user call never waits on Redis
    wait_pings(3)  # Redis is down: this process keeps its model warm alone
    down = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down) == 1
    assert down[0].levelno == logging.WARNING
    redis_server.start()
    deadline = time.monotonic() + 15  # Redis is tried again RETRY_AFTER_FAILURE after a fault
    while not any("reachable again" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wait_pings(3)
    complete.warmer.stop()
    assert sum("reachable again" in r.getMessage() for r in caplog.records) == 1
    client = redis.Redis.from_url(redis_server.url)
    last = client.get("llmwarm:warm:default:m:last")
    client.close()
    assert last is not None
    assert float(last) > time.time() - 10  # activity is shared again


def test_fleet_keys_and_lease(redis_server: Any) -> None:
    one, two = Fleet(redis_server.url, namespace="t"), Fleet(redis_server.url, namespace="t")
    one.publish("m", 100.0)
    two.publish("m", 50.0)  # older: ignored
    assert two.last("m") == 100.0
    assert one.acquire("m", 5)
    assert not two.acquire("m", 5)  # one replica pings per lease
    assert one.key("m", "last") == "llmwarm:warm:t:m:last"
    one.close()
    two.close()
    with pytest.raises(TypeError, match="backend must be a Redis URL"):
        Fleet("http://nope")


def test_a_closed_fleet_stays_closed_and_quiet(
    redis_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = Fleet(redis_server.url, namespace="closing")
    fleet.publish("m", 1000.0)
    assert fleet.last("m") == 1000.0
    fleet.close()
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        fleet.publish("m", 2000.0)  # a stopped warmer's work still in flight
        assert fleet.last("m") is None
        assert fleet.acquire("m", 1.0) is True  # local behaviour: this replica pings
    assert fleet._client is None  # no new client opened behind close()
    assert "unreachable" not in caplog.text


def test_a_warmer_started_again_after_stop_shares_the_fleet_again(redis_server: Any) -> None:
    @warm("m", interval=60, backend=redis_server.url, ping=lambda model: None)
    def f(*, model: str = "m") -> int:
        return 1

    fleet = f.warmer._fleet
    f.warmer.start()
    f.warmer.stop()  # closes the fleet's client
    f.warmer.start()
    try:
        other = Fleet(redis_server.url)
        other.publish("m", 9e9)  # another replica's activity (kept: newer than anything)
        assert fleet.last("m") == 9e9  # a closed fleet would answer None without asking
        other.close()
    finally:
        f.warmer.stop()


def test_a_fleet_retries_a_failed_ping_on_backoff(redis_server: Any, clock: FakeClock) -> None:
    calls: list[float] = []

    def ping(model: str) -> None:
        calls.append(clock.now)
        raise ConnectionError("transient 503")

    @warm("m", interval=100, ping=ping, backend=redis_server.url, _clock=clock)
    def complete(*, model: str = "m") -> str:
        return "ok"

    complete()
    run_until(complete.warmer, clock, clock.now + 300)
    state = complete.warmer._state["m"]
    assert len(calls) >= 3  # not one per lease (100 s): retried on backoff
    assert state.failures == len(calls) == complete.warmer.ping_failures
    complete.warmer.stop()


def test_the_lease_holder_may_take_it_again_and_gives_it_back(redis_server: Any) -> None:
    mine, theirs = Fleet(redis_server.url), Fleet(redis_server.url)
    try:
        assert mine.acquire("m", 60)
        assert mine.acquire("m", 60)  # ours already
        assert not theirs.acquire("m", 60)
        theirs.release("m")  # not theirs to give back
        assert not theirs.acquire("m", 60)
        mine.release("m")
        assert theirs.acquire("m", 60)
        client = redis.Redis.from_url(redis_server.url)
        assert client.get(mine.key("m", "lease")) == theirs.identity.encode()
        client.close()
    finally:
        mine.close()
        theirs.close()
