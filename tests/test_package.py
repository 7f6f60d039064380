"""The package's public face: what importing it does (nothing) and what it exports."""

from __future__ import annotations

import json
import subprocess
import sys

import llmwarm

HEAVY_MODULES = [
    "opentelemetry.sdk",
    "redis",
    "openai",
    "ollama",
    "uvicorn",
    "starlette",
    "llmwarm.sim",
    "matplotlib",
    "yaml",
]
# Not listed: `rich`. httpx, a core dependency, imports its own CLI (click, rich) whenever
# they are installed, so `import httpx` loads rich in any environment that has the `cli`
# extra; that is httpx's doing, not an llmwarm import.


def test_import_starts_no_thread_opens_no_socket_and_loads_nothing_heavy() -> None:
    probe = f"""
import json, socket, sys, threading
opened = []
real_socket = socket.socket.__init__
def spy(self, *a, **k):
    opened.append(a)
    real_socket(self, *a, **k)
socket.socket.__init__ = spy
before = threading.active_count()
import llmwarm
print(json.dumps({{
    "threads": threading.active_count() - before,
    "sockets": len(opened),
    "heavy": [m for m in {HEAVY_MODULES!r} if m in sys.modules],
}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == {"threads": 0, "sockets": 0, "heavy": []}


def test_version_matches_the_distribution() -> None:
    from importlib.metadata import version

    assert llmwarm.__version__ == version("llmwarm")
