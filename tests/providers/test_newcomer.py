"""A newcomer's first hour: the install line and `make test`'s redis set-up work as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_getting_started_installs_from_the_checkout_with_real_extras() -> None:
    page = (ROOT / "docs" / "getting-started.md").read_text()
    project = (ROOT / "pyproject.toml").read_text()
    section = project.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([\w-]+) = \[", section, re.MULTILINE))
    assert "pip install -e '.[all]'" in page  # a checkout, not an unreleased PyPI name
    named = re.search(r"pick extras: ([\w, ]+)", page)
    assert named is not None
    assert {e.strip() for e in named.group(1).split(",")} <= extras
    assert "all" in extras


def _make_services(tmp_path: Path, uid: str, *, sudo: bool) -> subprocess.CompletedProcess[str]:
    """Run `make services` as if redis-server were missing, with apt-get replaced by echo.

    PATH holds only a directory of our own (make, env, echo, a fake `id` and `sudo`), so
    what the target finds is what the test says; `command -v` and `echo` are built in.
    """
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    if sudo:
        (fake / "sudo").write_text('#!/bin/sh\necho "[sudo]" "$@"\n')
    for tool in fake.iterdir():
        tool.chmod(0o755)
    for name in ("make", "env", "echo"):  # the real tools the target runs
        real = shutil.which(name)
        assert real is not None, f"{name} is needed by `make test` itself"
        (fake / name).symlink_to(real)
    env = {**os.environ, "PATH": str(fake)}
    return subprocess.run(
        [str(fake / "make"), "-s", "services", "REDIS_SERVER=no-such-redis-server",
         "APT_GET=echo apt-get"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_make_services_uses_sudo_when_not_root(tmp_path: Path) -> None:
    done = _make_services(tmp_path, "1000", sudo=True)
    assert done.returncode == 0, done.stderr
    assert "(with sudo)" in done.stdout
    assert "[sudo] echo apt-get update -qq" in done.stdout


def test_make_services_runs_apt_get_directly_as_root(tmp_path: Path) -> None:
    done = _make_services(tmp_path, "0", sudo=False)
    assert done.returncode == 0, done.stderr
    assert "apt-get update -qq" in done.stdout
    assert "sudo" not in done.stdout


def test_make_services_says_what_to_run_without_root_or_sudo(tmp_path: Path) -> None:
    done = _make_services(tmp_path, "1000", sudo=False)
    assert done.returncode != 0
    assert "installing it needs root. Run, as root:" in done.stderr
    assert "apt-get install -y redis-server" in done.stderr
