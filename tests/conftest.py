"""Shared fixtures: each module adds the fixtures and state resets it owns."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from oteltools import Otel

    from llmwarm.testing import FakeClock


class RedisServer:
    """A real ``redis-server`` on a free loopback port, stoppable and restartable by tests."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._pick_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._started = False

    def _pick_port(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # The port was free when picked, but another test process (pytest-xdist workers)
        # may take it before redis binds it: on the first start, try another port then.
        # A restart keeps its port: the test's clients hold the URL.
        for _ in range(1 if self._started else 5):
            if self._start_once():
                self._started = True
                return
            self._pick_port()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _start_once(self) -> bool:
        binary = shutil.which("redis-server")
        if binary is None:  # `make test` installs it; never skip silently
            raise RuntimeError("redis-server is not installed: run `make services`")
        process = self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                time.sleep(0.01)
        self.stop()  # it exited (the port was taken) or never answered
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: os.PathLike[str]) -> Iterator[RedisServer]:
    """A fresh real redis-server for one test; ``.url``, ``.stop()``, ``.start()``."""
    server = RedisServer(str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- llmwarm.sim: a running cold-start simulator (owned by the simulator's tests) ---

SIM_DEFAULTS: dict[str, object] = {"time_scale": 0.01, "seed": 0}
"""Options of the ``sim_server`` fixture: every duration 100x faster, repeatable jitter."""


def _small_trust_store() -> None:
    """Point ``SSL_CERT_FILE`` at a one-certificate CA bundle for this test process.

    Every httpx/httpx2 client (each SDK client) builds a TLS context that loads the CA
    bundle: ~60 ms each, a large share of the suite's time. The tests never verify a
    public certificate (TLS tests trust their own ``trustme`` CA explicitly), so a bundle
    holding one throwaway CA keeps verification on and costs nothing. Subprocesses
    inherit it.
    """
    import atexit
    import tempfile

    import trustme

    directory = tempfile.mkdtemp(prefix="llmwarm-tests-ca-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = os.path.join(directory, "ca.pem")
    trustme.CA().cert_pem.write_to_path(path)
    os.environ["SSL_CERT_FILE"] = path


# The files that take seconds, longest first (measured with --durations; about 2 s and
# up). `make test` runs files on two workers (pytest-xdist, --dist loadfile), which hand
# out one file at a time as they go; started first, these cannot be the last file left
# while the other worker idles. xdist's own order (most tests first) put several of them,
# each a single test of several seconds, at the very end.
SLOW_FILES_FIRST = (
    "tests/test_demo.py",
    "tests/probe/test_probe.py",
    "tests/cache/test_backends.py",
    "tests/trace/test_telemetry.py",
    "tests/warm/test_warm_sim.py",
    "tests/warm/test_warm_fleet.py",
    "tests/test_examples.py",
    "tests/sim/test_sim_openai.py",
    "tests/cache/test_rows.py",
    "tests/replay/test_cli.py",
    "tests/test_owned_loops.py",
    "tests/test_fault_injection.py",
    "tests/sim/test_sim_server.py",
    "tests/sim/test_replay_agrees.py",
    "tests/config/test_config_build.py",
    "tests/providers/test_loading.py",
    "tests/test_exported_members.py",
    "tests/route/test_route_calls.py",
    "tests/cache/test_keys.py",
    "tests/test_pytest_plugin.py",
    "tests/sim/test_sim_ollama.py",
    "tests/test_lifecycle.py",
    "tests/trace/test_traced.py",
    "tests/sim/test_sim_styles.py",
    # The next ones took 2.5 to 4.5 s each under load; last in the collection order
    # (tests/warm/ sorts last), several of them were the run's final files.
    "tests/warm/test_warm_runtime.py",
    "tests/sim/test_sim_config.py",
    "tests/warm/test_warm_interrupted_pings.py",
    "tests/warm/test_warm_fleet_faults.py",
    "tests/sim/test_replay.py",
    "tests/pool/test_pool_cold_start_timeout.py",
    "tests/test_boundaries.py",
    "tests/cache/test_faults.py",
    "tests/pool/test_pool.py",
    "tests/warm/test_warm_herd.py",
    # mypy: about 1 s on its incremental cache, but 15 s and up without one (a new
    # checkout that has not run `make typecheck`).
    "tests/typing/test_usage.py",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: two workers per core (four on two cores), a few more than cores at most.

    Most of the suite's time is waiting, not computing: time-scaled simulators' timers,
    subprocesses starting, servers answering. (Summed over a run, the CPU time of the test
    processes and their children is about a third of their wall time.) With one worker
    per core, a core idles while its worker waits; a second worker fills that time.
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still sets the number, as without this hook.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    return min(2 * cores, cores + 4)


def pytest_configure(config: pytest.Config) -> None:
    _small_trust_store()
    if getattr(config.option, "loadscopereorder", False):
        # Keep the collection order (below) as the order files are handed out in.
        config.option.loadscopereorder = False
    config.addinivalue_line(
        "markers",
        "sim(**options): options for the sim_server fixture, e.g. "
        "@pytest.mark.sim(cold_start=5, keep_alive=60)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slow files first (see ``SLOW_FILES_FIRST``); the rest keep their order."""
    rank = {path: index for index, path in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


@pytest.fixture
def sim_server(request: pytest.FixtureRequest) -> Iterator[object]:
    """A running ``llmwarm.sim`` simulator for one test, 100x faster than real time.

    Yields a ``llmwarm.sim.SimServer``: a ``str`` that is the root URL
    (``http://127.0.0.1:PORT``), with ``.openai_base_url`` (``<root>/v1``), ``.stats()``
    (the ``/sim/stats`` JSON) and ``.reset()``. Ollama clients use the root URL itself.

    Defaults: ``time_scale=0.01`` (a 14 s cold start takes 0.14 s), ``seed=0``, and the
    simulator's defaults for the rest. Change them per test with
    ``@pytest.mark.sim(cold_start=5, keep_alive=60, rate_429=0.5, ...)`` (simulated
    seconds) or with ``@pytest.mark.parametrize("sim_server", [{...}], indirect=True)``.
    The server stops, and its thread is joined, when the test ends.
    """
    from llmwarm.sim import serve

    options = dict(SIM_DEFAULTS)
    for marker in reversed(list(request.node.iter_markers("sim"))):
        options.update(marker.kwargs)
    options.update(getattr(request, "param", None) or {})
    with serve(**options) as server:
        yield server


@pytest.fixture
def manual_clock() -> FakeClock:
    """A :class:`llmwarm.testing.FakeClock` for ``@warm(_clock=...)`` in any folder's tests.

    A warmer on it starts no thread or task: the test sets ``now`` and runs the due work.
    """
    from llmwarm.testing import FakeClock

    return FakeClock()


# -- OpenTelemetry: in-memory SDK providers (the SDK is imported only by tests that ask)


@pytest.fixture
def otel() -> Iterator[Otel]:
    """An :class:`oteltools.Otel` recorder for one test, shut down at its end."""
    from oteltools import Otel  # the SDK is imported by the tests that use it only

    recorder = Otel()
    yield recorder
    recorder.shutdown()


@pytest.fixture
def make_otel() -> Iterator[Callable[..., Otel]]:
    """Build more recorders (``make_otel(sampler=...)``); all are shut down at the end."""
    from oteltools import Otel

    made: list[Otel] = []

    def make(**tracer_options: Any) -> Otel:
        made.append(Otel(**tracer_options))
        return made[-1]

    yield make
    for recorder in made:
        recorder.shutdown()
