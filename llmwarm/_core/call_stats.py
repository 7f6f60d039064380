"""Rolling in-process call statistics: cold-start rate and latency, no back end needed.

Every call through any llmwarm stack ends in :func:`record_call`, registered with the core's
``on_call_end`` when ``llmwarm`` is imported (a function appended to a list: no thread, no
socket). Memory is bounded: the last :data:`DEFAULT_MAX_SAMPLES` calls and warm-up pings,
and the last-call time of at most :data:`DEFAULT_MAX_MODELS` models (the one first seen
longest ago is forgotten first).

Whether a call was cold comes from ``@warm`` when it is in the stack (``record.cold_start``);
otherwise from the time since this process last called that model: a model idle longer
than :data:`DEFAULT_KEEP_ALIVE` seconds (Ollama's default keep-alive), or never called, is
predicted cold. ``@traced`` uses the same prediction, so spans and stats agree.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from llmwarm._core import runtime as _runtime
from llmwarm._core.clock import SystemClock
from llmwarm._core.driver import Call, CallRecord, on_call_end
from llmwarm._core.snapshot import Stats

__all__ = [
    "DEFAULT_KEEP_ALIVE",
    "DEFAULT_MAX_MODELS",
    "DEFAULT_MAX_SAMPLES",
    "DEFAULT_WINDOW",
    "count_corrupt_row",
    "predict",
    "record_call",
    "reset_stats",
    "same_clock",
    "stats",
]

DEFAULT_KEEP_ALIVE = 300.0
"""Seconds of idleness after which a model is predicted cold when ``@warm`` is absent."""
DEFAULT_MAX_SAMPLES = 10_000
"""Calls (and, separately, warm-up pings) kept for :func:`stats`; older ones are dropped."""
DEFAULT_MAX_MODELS = 1024
"""Models whose last-call time is remembered; the one first seen longest ago is forgotten."""
DEFAULT_WINDOW = 3600.0
"""Seconds of history :func:`stats` summarises by default."""

_clock: Callable[[], float] = _runtime.monotonic  # the runtime clock (a test's fake one)
_runtime_monotonic = _runtime.monotonic
_registered = False  # the runtime part is registered on the first call, not at import
# Whether the record's clock (perf_counter) can be the stats clock (monotonic): then a
# call's end is `record.started + record.duration`, read once by the stack's entry, instead
# of a clock read of its own. Both are CLOCK_MONOTONIC on Linux and macOS; a clock read
# costs 25 ns on a laptop but 140-200 ns on some virtual machines, twice a bare call.
_SAME_CLOCK = (
    time.get_clock_info("perf_counter").implementation
    == time.get_clock_info("monotonic").implementation
)
_REAL_MONOTONIC = time.monotonic
_keep_alive = DEFAULT_KEEP_ALIVE
_lock = threading.Lock()
# (ended, duration, cold, cache_hit, failed) per user call; ended on `_clock`.
_samples: deque[tuple[float, float, bool | None, bool, bool]] = deque(maxlen=DEFAULT_MAX_SAMPLES)
_pings: deque[float] = deque(maxlen=DEFAULT_MAX_SAMPLES)
_corrupt: deque[float] = deque(maxlen=DEFAULT_MAX_SAMPLES)
_last_call: dict[str, float] = {}


def same_clock() -> bool:
    """Whether ``CallRecord.started`` (``perf_counter``) reads the runtime clock right now.

    True when the runtime clock is the system clock (no test's fake clock installed, no
    virtual-time harness replacing ``time.monotonic``) on a platform where
    ``perf_counter`` and ``monotonic`` are one clock. Asked per call: a test may install a
    fake clock after a function was decorated.

    .. versionadded:: 0.2.0
    """
    return (
        _SAME_CLOCK
        and type(_runtime.runtime.clock) is SystemClock
        and time.monotonic is _REAL_MONOTONIC
    )


def _model_of(record: CallRecord, call: Call) -> str | None:
    """Return the call's model: routed (``record.model``), else its ``model`` argument."""
    model = record.model
    if model is None:
        model = call.get("model")  # binds no other argument: this runs on every call
    return model if isinstance(model, str) else None


def predict(record: CallRecord, call: Call, model: str | None = None) -> None:
    """Fill ``record.cold_start``/``idle_s`` from the last-call map when nothing else did.

    A cache hit never reaches the model, so it is not cold. Warm-up pings get no prediction.
    """
    if record.cold_start is not None or record.warmup:
        return
    if record.cache_hit:
        record.cold_start = False
        return
    if model is None:
        model = _model_of(record, call)
        if model is None:
            return
    last = _last_call.get(model)
    if last is None:
        record.cold_start = True
        return
    if _clock is _runtime_monotonic and same_clock():
        started = record.started
    else:
        started = _clock() - (time.perf_counter() - record.started)
    idle = started - last
    idle = idle if idle > 0.0 else 0.0
    record.idle_s = idle
    record.cold_start = idle > _keep_alive


def _touch(model: str, now: float) -> None:
    if model in _last_call:
        _last_call[model] = now  # one atomic store on the hot path
        return
    with _lock:
        _last_call[model] = now
        while len(_last_call) > DEFAULT_MAX_MODELS:
            del _last_call[next(iter(_last_call))]  # the model first seen longest ago


def record_call(record: CallRecord, call: Call) -> None:
    """Count one ended call (the core's call-end hook; cheap, thread-safe)."""
    if not _registered:
        _register()
    duration = record.duration
    # same_clock(), inline: this runs on every call, and the answer serves twice below.
    same = (
        duration is not None
        and _clock is _runtime_monotonic
        and _SAME_CLOCK
        and type(_runtime.runtime.clock) is SystemClock
        and time.monotonic is _REAL_MONOTONIC
    )
    # The entry's own reading when the clocks agree: no clock read here.
    now = record.started + duration if same else _clock()  # type: ignore[operator]
    failed = record.error is not None
    if record.cache_hit:
        # The hottest path: a hit never reached the model, so it is neither cold nor
        # activity, and needs no model lookup.
        if record.cold_start is None:
            record.cold_start = False
        _samples.append((now, duration or 0.0, record.cold_start, True, failed))
        return
    model = record.model  # _model_of(), inline
    if model is None:
        model = call.get("model")  # binds no other argument
    if not isinstance(model, str):
        model = None
    if record.warmup:
        _pings.append(now)
        if model is not None and not failed:
            _touch(model, now)
        return
    if record.cold_start is None and model is not None:
        if same:  # predict(), inline: the call started on the stats clock's own scale
            last = _last_call.get(model)
            if last is None:
                record.cold_start = True
            else:
                idle = record.started - last
                idle = idle if idle > 0.0 else 0.0
                record.idle_s = idle
                record.cold_start = idle > _keep_alive
        else:
            predict(record, call, model)
    _samples.append((now, duration or 0.0, record.cold_start, False, failed))
    if model is not None and not failed:
        if model in _last_call:  # _touch()'s common case, inline: every call that ran
            _last_call[model] = now
        else:
            _touch(model, now)


def count_corrupt_row() -> None:
    """Count one cache row refused as corrupt (by ``@cached``; shown as ``corrupt_rows``)."""
    _corrupt.append(_clock())


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * q // 100))  # nearest rank, ceil(n * q / 100)
    return ordered[int(rank) - 1]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def stats(window: float = DEFAULT_WINDOW) -> Stats:
    """Summarise the calls that ended in the last ``window`` seconds in this process.

    Cache hits and failed calls count as requests; warm-up pings do not (they are counted
    in ``warmup_pings``). Latencies are seconds; a figure with no call to measure is
    ``None``. ``operation_duration_cold_avg``/``_warm_avg`` cover calls that reached the
    model (no cache hits). ``coldstart_rate`` is cold starts over all requests.
    ``cache_corrupt_rows`` counts cache rows refused (bad signature, format or type).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 returns a :class:`~llmwarm.Stats` (fields named after the
       OpenTelemetry metrics); the keys of the dict it returned still read it
       (``stats()["total_requests"]``).
    """
    if not window > 0:
        raise ValueError(f"window must be a positive number of seconds; got {window!r}")
    since = _clock() - window
    # list(deque) copies in C without releasing the GIL, so it cannot race with the
    # hook's lock-free appends; iterating the deque in Python could ("deque mutated").
    samples = [s for s in list(_samples) if s[0] >= since]
    pings = sum(1 for t in list(_pings) if t >= since)
    corrupt = sum(1 for t in list(_corrupt) if t >= since)
    durations = sorted(s[1] for s in samples)
    cold = [s[1] for s in samples if s[2] is True and not s[3]]
    warm = [s[1] for s in samples if s[2] is False and not s[3]]
    total = len(samples)
    cold_starts = sum(1 for s in samples if s[2] is True)
    return Stats(
        scope="process",
        window=float(window),
        requests=total,
        request_errors=sum(1 for s in samples if s[4]),
        operation_duration_avg=_mean(durations),
        operation_duration_cold_avg=_mean(cold),
        operation_duration_warm_avg=_mean(warm),
        operation_duration_p50=_percentile(durations, 50),
        operation_duration_p95=_percentile(durations, 95),
        operation_duration_p99=_percentile(durations, 99),
        coldstarts=cold_starts,
        coldstart_rate=cold_starts / total if total else 0.0,
        warmup_pings=pings,
        cache_hits=sum(1 for s in samples if s[3]),
        cache_corrupt_rows=corrupt,
    )


def reset_stats() -> None:
    """Forget every recorded call, ping and last-call time.

    .. versionadded:: 0.1.0
    """
    with _lock:
        _samples.clear()
        _pings.clear()
        _corrupt.clear()
        _last_call.clear()


def _reset() -> None:
    """Restore the defaults (tests; see llmwarm.testing.reset)."""
    global _clock, _keep_alive
    reset_stats()
    _clock = _runtime.monotonic
    _keep_alive = DEFAULT_KEEP_ALIVE


def _register() -> None:
    # The samples stay module globals (the hot path reads them with no look-up); the
    # runtime's "stats" part is what resets them and renews their lock in a forked child.
    global _registered
    _runtime.runtime.part("stats", lambda: True, reset=_reset_part, after_fork=_after_fork)
    _registered = True


def _reset_part(kept: bool) -> bool:
    _reset()
    return kept


def _after_fork(kept: bool) -> bool:
    global _lock
    _lock = threading.Lock()  # the parent's may have been held by another thread
    return kept


# Importing this module (``import llmwarm`` does) appends one function to the core's list of
# call-end hooks: no thread, socket or I/O, and every stack's calls are counted from then on.
on_call_end(record_call)
