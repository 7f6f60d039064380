"""Exit and fork hooks, registered lazily: importing llmwarm registers nothing.

A pool, a warmer or a cache that needs cleaning up at interpreter exit or in a forked
child calls :func:`on_exit` / :func:`on_fork_child` when it is first created.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable

__all__ = ["on_exit", "on_fork_child"]

_lock = threading.Lock()
_exit_hooks: list[Callable[[], None]] = []
_fork_hooks: list[Callable[[], None]] = []
_atexit_registered = False
_fork_registered = False


def _run_exit_hooks() -> None:
    # Last registered, first run, as atexit itself does.
    for hook in reversed(_exit_hooks):
        with contextlib.suppress(Exception):  # the interpreter is going away anyway
            hook()


def _run_fork_hooks() -> None:
    # The child inherits the parent's locks in whatever state they were: make new ones.
    global _lock
    _lock = threading.Lock()
    for hook in _fork_hooks:
        hook()


def on_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit (once, however often it is registered)."""
    global _atexit_registered
    with _lock:
        if hook not in _exit_hooks:
            _exit_hooks.append(hook)
        if not _atexit_registered:
            atexit.register(_run_exit_hooks)
            _atexit_registered = True


def on_fork_child(hook: Callable[[], None]) -> None:
    """Run ``hook`` in a child process right after ``os.fork()`` (once per hook)."""
    global _fork_registered
    with _lock:
        if hook not in _fork_hooks:
            _fork_hooks.append(hook)
        if not _fork_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_run_fork_hooks)
            _fork_registered = True
