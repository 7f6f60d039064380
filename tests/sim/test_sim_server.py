"""serve(): overhead, concurrency, clean shutdown; the app with a fake clock; the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

from llmwarm.sim import SimConfig, SimServer, create_app, serve

MESSAGES = [{"role": "user", "content": "hi"}]


def sim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("llmwarm-sim")]


def test_serve_yields_a_root_url_usable_as_a_string() -> None:
    with serve(time_scale=0.01) as base_url:
        assert isinstance(base_url, str)
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.url == str(base_url)
        assert base_url.openai_base_url == f"{base_url}/v1"
        assert base_url.config.time_scale == 0.01
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk", max_retries=0)
        with client:
            client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[list-item]
        assert base_url.stats()["total"]["requests"] == 1
        base_url.reset()
        assert base_url.stats()["models"] == {}
        port = int(base_url.rsplit(":", 1)[1])
    assert sim_threads() == []
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_serve_accepts_a_config_object() -> None:
    with serve(SimConfig(cold_start=0, time_scale=0.5)) as url:
        assert url.config.cold_start == 0


@pytest.mark.sim(cold_start=0, ttft=0, token_time=0)
def test_warm_request_overhead_is_a_few_milliseconds(oai: openai.OpenAI) -> None:
    # Nagle's algorithm on the accepted socket would add ~40 ms to every request here.
    oai.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[list-item]
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        oai.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[list-item]
        timings.append(time.perf_counter() - start)
    # The fastest quarter of 20 (a loaded machine delays some): with Nagle, every one takes
    # ~40 ms, and a regression that slows most calls shows here too.
    assert sorted(timings)[5] < 0.030


def test_accepted_connections_have_tcp_nodelay(sim_server: SimServer) -> None:
    from llmwarm.sim._server import listen

    with listen() as server_sock:
        port = server_sock.getsockname()[1]
        server_sock.setblocking(True)
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = server_sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                assert accepted.proto == socket.IPPROTO_TCP


@pytest.mark.sim(cold_start=100, cold_start_jitter=0, ttft=10, token_time=0)
async def test_concurrent_requests_do_not_block_each_other(sim_server: SimServer) -> None:
    # 100 requests, each 1 s (load) + 0.1 s (ttft) at time_scale 0.01: ~1.1 s together,
    # 110 s if they were serialised. The bound is generous (a loaded machine is slow),
    # the simulator's own counts below say the rest.
    limits = httpx.Limits(max_connections=150)
    body = {"model": "m", "messages": MESSAGES}
    async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=30) as client:
        start = time.perf_counter()
        responses = await asyncio.gather(
            *(client.post(f"{sim_server}/v1/chat/completions", json=body) for _ in range(100))
        )
        elapsed = time.perf_counter() - start
    assert all(r.status_code == 200 for r in responses)
    assert elapsed < 55.0  # half the serialised time
    stats = sim_server.stats()["models"]["m"]
    assert stats["loads"] == 1  # one load shared by all, not 100
    assert stats["cold_starts"] == 100
    assert stats["requests"] == 100


def test_stop_ends_hung_requests_and_open_streams_promptly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors: list[BaseException] = []

    def call(url: str, stream: bool) -> None:
        body = {"model": "hang" if not stream else "slow", "messages": MESSAGES, "stream": stream}
        try:
            with httpx.Client(trust_env=False, timeout=60) as client:
                client.post(f"{url}/v1/chat/completions", json=body).read()
        except httpx.HTTPError as exc:
            errors.append(exc)

    models = {"hang": {"rate_hang": 1.0}, "slow": {"token_time": 1000}}
    with serve(time_scale=1.0, cold_start=0, ttft=0, models=models) as url:
        workers = [threading.Thread(target=call, args=(url, s)) for s in (False, True)]
        for worker in workers:
            worker.start()
        while url.stats()["total"]["requests"] < 2:
            time.sleep(0.01)
        start = time.perf_counter()
    stop_time = time.perf_counter() - start
    for worker in workers:
        worker.join(10)
        assert not worker.is_alive()
    assert stop_time < 5.0
    assert sim_threads() == []
    assert len(errors) == 1  # the stream was cut; the hung request got a 503
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_app_with_a_fake_clock_expires_models_without_waiting() -> None:
    now = [1000.0]
    app = create_app(
        cold_start=5, cold_start_jitter=0, keep_alive=300, time_scale=1e-6, clock=lambda: now[0]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        first = await client.post("/api/generate", json={"model": "m", "prompt": "x"})
        assert first.headers["x-sim-cold-start"] == "true"
        # The load ends at t=5 (simulated seconds); the keep-alive runs from there.
        now[0] += 304e-6
        assert [m["model"] for m in (await client.get("/api/ps")).json()["models"]] == ["m"]
        now[0] += 2e-6
        assert (await client.get("/api/ps")).json()["models"] == []
        stats = (await client.get("/sim/stats")).json()
        assert stats["models"]["m"]["unloads"] == 1
        again = await client.post("/api/generate", json={"model": "m", "prompt": "x"})
        assert again.headers["x-sim-cold-start"] == "true"


def test_seeded_jitter_is_repeatable() -> None:
    def load_durations() -> list[int]:
        with serve(cold_start=1, cold_start_jitter=0.5, time_scale=0.001, seed=42) as url:
            out = []
            for name in "abc":
                body = {"model": name, "prompt": "x", "stream": False}
                reply = httpx.post(f"{url}/api/generate", json=body, trust_env=False).json()
                out.append(reply["load_duration"])
            return out

    first = load_durations()
    assert first == load_durations()
    assert len(set(first)) == 3
    assert all(0.5e9 <= d <= 1.5e9 for d in first)


def test_python_dash_m_serves_until_interrupted() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmwarm.sim", "--port", str(port), "--time-scale", "0.001"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        reply = httpx.post(
            f"http://127.0.0.1:{port}/api/generate",
            json={"model": "m", "prompt": "x", "stream": False},
            trust_env=False,
        )
        assert reply.json()["done"] is True
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
