"""Which failures are worth another tier, and the process-wide cool-down of failing models.

A failure is *retryable* when another attempt (elsewhere, or later) may succeed: a timeout,
a connection error, HTTP 408, 429 or any 5xx. It is recognised without importing any SDK:

- builtin :class:`TimeoutError` / :class:`ConnectionError` (and ``asyncio.TimeoutError``);
- ``httpx`` transport errors (timeouts, network errors, a server that hung up) and
  ``httpx.HTTPStatusError`` by its response's status;
- SDK errors by duck typing: a ``status_code`` attribute (openai's ``APIStatusError``,
  ollama's ``ResponseError``) or a class in the exception's MRO named like a timeout or a
  connection error (openai's ``APITimeoutError``/``APIConnectionError``, built on
  ``httpx2``, whose exception classes are not ``httpx``'s).

Everything else (400, 401, 403, 404, 422, a bug in the caller's code) is not retryable.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from llmwarm._core import runtime as _runtime

__all__ = [
    "CoolDowns",
    "attach_attempts",
    "cooldowns",
    "describe",
    "is_retryable",
    "retry_after",
    "status_of",
]

#: Status codes worth another attempt besides 5xx: request timeout, too many requests.
RETRYABLE_STATUS = frozenset({408, 429})

_RETRYABLE_CLASS_NAMES = frozenset(
    {
        "APITimeoutError",
        "APIConnectionError",
        "TimeoutException",
        "NetworkError",
        "RemoteProtocolError",
        "ProxyError",
    }
)
_BUILTIN_RETRYABLE = (TimeoutError, ConnectionError, asyncio.TimeoutError)


def _httpx_retryable() -> tuple[type[BaseException], ...]:
    # Never imported here: `import httpx` loads its CLI (rich, pygments) when installed.
    # An httpx exception cannot exist unless httpx was imported.
    httpx: Any = sys.modules.get("httpx")
    if httpx is None:
        return ()
    return (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError)


def status_of(exc: BaseException) -> int | None:
    """Return the HTTP status an exception carries (its own or its response's), if any."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int) or isinstance(status, bool):
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return status
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure that another tier may not have: timeout, 408/429, 5xx."""
    if not isinstance(exc, Exception):  # CancelledError, KeyboardInterrupt...
        return False
    status = status_of(exc)
    if status is not None:
        return status in RETRYABLE_STATUS or status >= 500
    if isinstance(exc, (*_BUILTIN_RETRYABLE, *_httpx_retryable())):
        return True
    return any(kind.__name__ in _RETRYABLE_CLASS_NAMES for kind in type(exc).__mro__)


def retry_after(
    exc: BaseException, *, now: Callable[[], float] = _runtime.wall_time
) -> float | None:
    """Return the seconds a failed response asked to wait (``Retry-After``), if it said.

    Honours ``retry-after-ms`` (OpenAI's) and ``Retry-After`` in seconds or as an HTTP date.
    """
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        raw_ms = headers.get("retry-after-ms")
        if raw_ms is not None:
            return _non_negative(float(raw_ms) / 1000)
        raw = headers.get("retry-after")
        if raw is None:
            return None
        try:
            return _non_negative(float(raw))
        except ValueError:
            when = email.utils.parsedate_to_datetime(str(raw))
            return max(0.0, when.timestamp() - now())
    except (TypeError, ValueError, AttributeError):
        return None


def _non_negative(seconds: float) -> float | None:
    return max(0.0, seconds) if math.isfinite(seconds) else None


class CoolDowns:
    """When each failing model may be tried again: one registry per process, all call sites.

    ``clock`` is a monotonic clock in seconds; ``sleep`` and ``asleep`` wait on it (a
    ``@routed(max_wait=)`` call waiting for a tier). All three default to the runtime
    clock (:mod:`llmwarm.testing` installs a fake one) and stay injectable.
    """

    def __init__(
        self,
        clock: Callable[[], float] = _runtime.monotonic,
        sleep: Callable[[float], None] = _runtime.sleep,
        asleep: Callable[[float], Awaitable[None]] = _runtime.asleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.asleep = asleep
        self._until: dict[str, float] = {}
        self._errors: dict[str, BaseException] = {}
        self._lock = threading.Lock()

    def cool(self, model: str, seconds: float, error: BaseException | None = None) -> None:
        """Skip ``model`` for ``seconds`` from now (extending, never shortening, a cool-down).

        ``error`` is the failure that cooled it, kept for :meth:`last_error`.
        """
        if self is cooldowns and not _registered:
            _register()
        until = self.clock() + seconds
        with self._lock:
            if error is not None:
                self._errors[model] = error
            if until > self._until.get(model, -math.inf):
                self._until[model] = until

    def last_error(self, model: str) -> BaseException | None:
        """Return the last failure that cooled ``model`` down, if one was given."""
        return self._errors.get(model)

    def ends(self, model: str) -> float | None:
        """Return the clock time the model's cool-down ends, or None when it is not cooling."""
        until = self._until.get(model)
        if until is None:
            return None
        if until <= self.clock():
            with self._lock:
                if self._until.get(model) == until:
                    del self._until[model]
            return None
        return until

    def none_cooling(self) -> bool:
        """Whether no model is cooling down.

        Free while nothing has cooled (the usual call). Once every cool-down on record has
        ended, the ended ones are dropped here: a model nobody asks about again (another
        router's tier) must not keep every router off its fast path for good.
        """
        if not self._until:
            return True
        now = self.clock()
        with self._lock:  # the slow path: something has cooled (and cool() may write now)
            if any(until > now for until in self._until.values()):
                return False
            self._until.clear()
            return True

    def cooling(self, model: str) -> bool:
        """Whether ``model`` is cooling down now."""
        return self.ends(model) is not None

    def snapshot(self) -> dict[str, float]:
        """Return the seconds left for each model cooling down now."""
        now = self.clock()
        with self._lock:
            return {m: until - now for m, until in self._until.items() if until > now}

    def clear(self) -> None:
        """Forget every cool-down."""
        with self._lock:
            self._until.clear()
            self._errors.clear()


#: The registry shared by every ``@routed`` in the process.
cooldowns = CoolDowns()


def _reset(
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    asleep: Callable[[float], Awaitable[None]] | None = None,
) -> None:
    """Forget every cool-down and set the registry's clock and waits (tests).

    Without arguments they are the runtime clock's again (see llmwarm.testing).
    """
    cooldowns.clear()
    cooldowns.clock = clock if clock is not None else _runtime.monotonic
    cooldowns.sleep = sleep if sleep is not None else _runtime.sleep
    cooldowns.asleep = asleep if asleep is not None else _runtime.asleep


_registered = False  # the runtime part is registered on the first cool-down, not at import


def _register() -> None:
    # The registry stays one object (imported by name); the runtime's "cool-downs" part
    # is what clears it on a reset and renews its lock in a forked child.
    global _registered
    _runtime.runtime.part("cool-downs", lambda: cooldowns, reset=_fresh, after_fork=_renewed)
    _registered = True


def _fresh(registry: CoolDowns) -> CoolDowns:
    _reset()
    return registry


def _renewed(registry: CoolDowns) -> CoolDowns:
    # A forked child knows what its parent knew of failing models; the lock is its own.
    registry._lock = threading.Lock()
    return registry


def describe(exc: BaseException) -> str:
    """Return a one-line description of an exception for notes and logs."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def attach_attempts(exc: BaseException, attempts: list[tuple[str, str, BaseException]]) -> None:
    """Attach the earlier failed attempts to the error raised: notes and ``llmwarm_attempts``."""
    others = [(tier, model, error) for tier, model, error in attempts if error is not exc]
    with contextlib.suppress(AttributeError):  # a type with __slots__: notes only
        exc.llmwarm_attempts = list(attempts)  # type: ignore[attr-defined]
    for tier, model, error in others:
        note = f"llmwarm: tier {tier!r} (model {model!r}) failed first: {describe(error)}"
        add_note: Any = getattr(exc, "add_note", None)
        if add_note is not None:
            add_note(note)
        else:  # Python 3.10: keep the same attribute 3.11 uses
            notes = getattr(exc, "__notes__", None)
            if not isinstance(notes, list):
                notes = []
                exc.__notes__ = notes  # type: ignore[attr-defined]
            notes.append(note)
