"""Cold-start scenarios beyond sparse Poisson traffic: bursty traffic, and a fleet sharing Redis.

Both run against the simulator (``llmwarm.sim``) in its own process with a compressed
clock (``time_scale``), keep-alive 300 simulated seconds, a 14 s cold start, 0.3 s to the
first token and 16 tokens a request. Each strategy uses its own model name on the same
simulator, and all strategies replay the same arrival times at the same time:

- ``none``: no warmer;
- ``fixed``: the common recipe, a ping at start-up then every keep-alive seconds;
- ``warm``: ``@warm(interval=200, keep_alive=300)`` with its default ping, started at
  start-up with ``warmer.start()``.

**Bursty** (one process): bursts of 5-20 requests spread over 3 simulated seconds, sent
concurrently as they arrive, separated by idle gaps drawn from an exponential with a mean
of twice the keep-alive (600 s), over a simulated day (2 simulated hours in quick mode).

**Fleet** (three processes): a real ``redis-server`` on a free loopback port (started and
stopped here), one shared simulator, and three worker processes, each replaying every
third request of the same sparse Poisson traffic (mean gap 300 s for the fleet, so 900 s
for each process), all strategies at once. Besides ``none`` and ``fixed`` (each process
pings on its own), ``warm_local`` is ``@warm`` without a back end (each process keeps its
own schedule) and ``warm_redis`` is ``@warm(..., backend=<redis url>)``: activity and the
ping lease are shared, so the fleet should send about one ping per idle interval in total,
not three.

A request is cold when the simulator says so (``x-sim-cold-start: true``). Latencies are
what the simulator charges (its ``x-sim-wait`` header: load, first token and tokens), in
**simulated seconds**, not the real loopback time: at these time scales the real HTTP
overhead of a loaded machine would be magnified over a thousand times. Caveats: pings are
counted by the strategies themselves (``warmer.pings_sent``, the fixed loop's counter),
failed pings included; the time-scaled round trip eats into the 100 s margin between the
interval and the keep-alive, so on a very loaded machine a few warm requests may be cold.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._timing import percentile

# These scenarios run in real (time-scaled) time against a simulator process, so @warm
# gets a fixed interval with a margin for the magnified loopback round trip; the warming
# policy itself is measured on virtual time by bench_warm.
KEEP_ALIVE = 300.0  # simulated seconds, Ollama's default
INTERVAL = 200.0  # @warm: keep_alive minus a margin for the (time-scaled) round trip
COLD_START = 14.0
TTFT = 0.3
TOKEN_TIME = 0.02  # the simulator's default
TOKENS = 16  # max_tokens of each request
MESSAGES = [{"role": "user", "content": "Summarise the ticket in one line."}]
PING = [{"role": "user", "content": "ping"}]


def arrivals(span: float, mean_gap: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    times, t = [], rng.expovariate(1 / mean_gap)
    while t < span:
        times.append(t)
        t += rng.expovariate(1 / mean_gap)
    return times


def serve_in_subprocess(scale: float) -> tuple[subprocess.Popen[bytes], str]:
    """Run the simulator in its own process, so that it does not share our GIL."""
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "llmwarm.sim", "--port", str(port), "--seed", "0"]
    command += ["--time-scale", repr(scale), "--keep-alive", repr(KEEP_ALIVE)]
    command += ["--cold-start", repr(COLD_START), "--ttft", repr(TTFT)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{root}/sim/stats", timeout=1).raise_for_status()
            return process, root
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the simulator did not start")


ROOT = Path(__file__).resolve().parent.parent
BURST_SIZE = (5, 20)
BURST_SPREAD = 3.0  # simulated seconds over which a burst's requests arrive
BURST_GAP = 2 * KEEP_ALIVE  # mean idle gap between bursts
WORKERS = 3


def bursty_arrivals(span: float, seed: int) -> list[float]:
    """Arrival times (simulated seconds): bursts separated by exponential idle gaps."""
    rng = random.Random(seed)
    times: list[float] = []
    start = rng.expovariate(1 / BURST_GAP)
    for _ in range(100_000):  # bounded
        if start >= span:
            break
        size = rng.randint(*BURST_SIZE)
        times.extend(sorted(start + rng.uniform(0, BURST_SPREAD) for _ in range(size)))
        start = times[-1] + rng.expovariate(1 / BURST_GAP)
    return [t for t in times if t < span]


async def replay(call: Any, times: list[float], scale: float, t0: float) -> list[list[float]]:
    """Send each request at its time (``t0`` is epoch seconds), concurrently; return
    ``[cold, simulated latency, real seconds late]`` per request."""

    async def one(t: float) -> list[float]:
        delay = t0 + t * scale - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late = max(0.0, time.time() - t0 - t * scale)
        raw = await call()
        cold = raw.headers.get("x-sim-cold-start") == "true"
        wait = raw.headers.get("x-sim-wait")
        modelled = (COLD_START if cold else 0.0) + TTFT + TOKENS * TOKEN_TIME
        return [float(cold), float(wait) if wait is not None else modelled, late]

    return list(await asyncio.gather(*(one(t) for t in times)))


async def strategies(
    root: str, times: list[float], scale: float, t0: float, backend: str | None
) -> dict[str, Any]:
    """Replay ``times`` for every strategy at once; return per-strategy samples and pings."""
    import httpx

    from llmwarm import warm
    from llmwarm._core import ScaledClock

    clock = ScaledClock(1 / scale, origin=t0)  # the fleet's processes agree on the time
    # plain httpx, not the OpenAI SDK: its per-request CPU would lag the event loop
    # behind the compressed clock at these time scales
    headers = {"authorization": "Bearer sk-sim"}
    client = httpx.AsyncClient(base_url=f"{root}/v1", headers=headers, timeout=60)

    async def create(*, model: str, messages: Any, max_tokens: int) -> Any:
        body = {"model": model, "messages": messages, "max_tokens": max_tokens}
        response = await client.post("/chat/completions", json=body)
        response.raise_for_status()
        return response

    async def plain(model: str) -> Any:
        return await create(model=model, messages=MESSAGES, max_tokens=TOKENS)

    fixed_pings = 0

    async def fixed_warmer() -> None:  # the common recipe: a ping every keep-alive seconds
        nonlocal fixed_pings
        for _ in range(1_000_000):  # bounded; cancelled at the end
            fixed_pings += 1
            await create(model="fixed", messages=PING, max_tokens=1)
            await asyncio.sleep(KEEP_ALIVE * scale)

    def warmed(model: str, fleet: str | None) -> Any:
        # Simulated seconds on the simulator's clock (the shortest real interval is 1 s)
        @warm(model, interval=INTERVAL, keep_alive=KEEP_ALIVE, backend=fleet, _clock=clock)
        async def complete(messages: Any, *, model: str = model, max_tokens: int = 16) -> Any:
            return await create(model=model, messages=messages, max_tokens=max_tokens)

        return complete

    warmers = {"warm_local" if backend else "warm": warmed("warm", None)}
    if backend:
        warmers["warm_redis"] = warmed("warm-redis", backend)
    delay = t0 - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    # every warmer warms its model at start-up (e.g. in a FastAPI lifespan)
    pinger = asyncio.create_task(fixed_warmer())
    for fn in warmers.values():
        fn.warmer.start()
    try:
        calls: dict[str, Any] = {
            "none": lambda: plain("none"),
            "fixed": lambda: plain("fixed"),
            **{name: (lambda fn=fn: fn(MESSAGES)) for name, fn in warmers.items()},
        }
        samples = await asyncio.gather(*(replay(c, times, scale, t0) for c in calls.values()))
    finally:
        pinger.cancel()
        for fn in warmers.values():
            await fn.warmer.aclose()
        await client.aclose()
    pings = {"none": 0, "fixed": fixed_pings}
    pings.update({name: fn.warmer.pings_sent for name, fn in warmers.items()})
    return {
        name: {"samples": s, "pings": pings[name]} for name, s in zip(calls, samples, strict=True)
    }


def summarise(samples: list[list[float]], pings: int, span: float) -> dict[str, Any]:
    """Cold-start rate, simulated latency percentiles and pings per simulated day."""
    cold = int(sum(s[0] for s in samples))
    latencies = [s[1] for s in samples]
    return {
        "requests": len(samples),
        "cold_starts": cold,
        "cold_start_rate": round(cold / len(samples), 4) if samples else 0.0,
        "p50_s": round(percentile(latencies, 0.50), 2) if latencies else None,
        "p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
        "p99_s": round(percentile(latencies, 0.99), 2) if latencies else None,
        "sent_late_p95_ms": round(percentile([s[2] for s in samples], 0.95) * 1000, 1)
        if samples
        else None,
        "pings": pings,
        "pings_per_day": round(pings * 86400.0 / span),
    }


def bursty(span: float, scale: float) -> dict[str, Any]:
    """One process, bursty traffic, three strategies."""
    times = bursty_arrivals(span, seed=11)
    process, root = serve_in_subprocess(scale)
    try:
        raw = asyncio.run(strategies(root, times, scale, time.time() + 0.1, None))
    finally:
        process.terminate()
        process.wait(10)
    cases = [{"name": n, **summarise(r["samples"], r["pings"], span)} for n, r in raw.items()]
    by_name = {c["name"]: c for c in cases}
    return {
        "simulated_hours": span / 3600,
        "time_scale": scale,
        "bursts_of": list(BURST_SIZE),
        "mean_gap_s": BURST_GAP,
        "cases": cases,
        "target_warm_cold_rate_le_1pct": by_name["warm"]["cold_start_rate"] <= 0.01,
    }


class _Redis:
    """A throwaway ``redis-server`` on a free loopback port (as tests/conftest.py's)."""

    def __init__(self, directory: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make services`")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", directory]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def fleet(span: float, scale: float) -> dict[str, Any]:
    """Three worker processes sharing one simulator and one Redis."""
    times = arrivals(span, KEEP_ALIVE, seed=13)
    with tempfile.TemporaryDirectory() as directory:
        redis = _Redis(directory)
        try:
            process, root = serve_in_subprocess(scale)
            try:
                t0 = time.time() + 4.0  # time for the workers to start and import
                workers = []
                for index in range(WORKERS):
                    job = {
                        "root": root,
                        "times": times[index::WORKERS],
                        "scale": scale,
                        "t0": t0,
                        "backend": redis.url,
                    }
                    path = Path(directory, f"job{index}.json")
                    path.write_text(json.dumps(job))
                    command = [sys.executable, "-m", "benchmarks.bench_scenarios", "--worker"]
                    command.append(str(path))
                    workers.append(
                        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
                    )
                limit = 30 + span * scale * 2
                outputs = []
                for worker in workers:
                    try:
                        out, _ = worker.communicate(timeout=limit)
                    except subprocess.TimeoutExpired:
                        worker.kill()
                        raise
                    if worker.returncode:
                        raise RuntimeError(f"a fleet worker failed (exit {worker.returncode})")
                    outputs.append(json.loads(out))
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.kill()
                        worker.wait(10)
                process.terminate()
                process.wait(10)
        finally:
            redis.stop()
    cases = []
    for name in outputs[0]:
        samples = [s for out in outputs for s in out[name]["samples"]]
        pings = sum(out[name]["pings"] for out in outputs)
        cases.append({"name": name, **summarise(samples, pings, span)})
    by_name = {c["name"]: c for c in cases}
    local, shared = by_name["warm_local"]["pings"], by_name["warm_redis"]["pings"]
    return {
        "processes": WORKERS,
        "simulated_hours": span / 3600,
        "time_scale": scale,
        "mean_gap_s_fleet": KEEP_ALIVE,
        "cases": cases,
        "redis_pings_over_local": round(shared / local, 2) if local else None,
        "target_redis_cold_rate_le_1pct": by_name["warm_redis"]["cold_start_rate"] <= 0.01,
        "target_redis_fewer_pings_than_local": shared < local,
    }


def run(quick: bool) -> dict[str, Any]:
    """Return the bursty and fleet scenarios, three (four) strategies each."""
    started = time.perf_counter()
    if quick:
        result = {"bursty": bursty(2 * 3600.0, 0.001), "fleet": fleet(2 * 3600.0, 0.001)}
    else:
        result = {"bursty": bursty(86400.0, 0.001), "fleet": fleet(86400.0, 0.0007)}
    result["real_seconds"] = round(time.perf_counter() - started, 1)
    return result


def _worker() -> None:
    job = json.loads(Path(sys.argv[sys.argv.index("--worker") + 1]).read_text())
    out = asyncio.run(
        strategies(job["root"], job["times"], job["scale"], job["t0"], job["backend"])
    )
    print(json.dumps(out))


if __name__ == "__main__":
    if "--worker" in sys.argv:
        _worker()
    else:
        print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
