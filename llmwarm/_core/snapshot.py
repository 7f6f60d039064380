"""One shape for every statistic llmwarm reports: :class:`Stats`.

``llmwarm.stats()`` (every call of the process, over a window) and each handle's
``stats`` (``fn.cache.stats``, ``fn.warmer.stats``, ``fn.batcher.stats``) return the same
frozen snapshot. Its fields are named after the OpenTelemetry metrics ``@traced`` emits
(``trace/_semconv.py``): ``requests`` and the ``operation_duration_*`` figures summarise
``gen_ai.client.operation.duration``, ``coldstarts`` is ``llmwarm.coldstarts``,
``warmup_pings`` is ``llmwarm.warmup.pings``, ``cache_*`` split ``llmwarm.cache.lookups``.
A snapshot fills the fields that concern its source (``scope`` says which); the others
stay ``0`` (counters) or ``None`` (rates and latencies).

The earlier shapes stay readable: ``stats["total_requests"]`` (the keys of the dict
``llmwarm.stats()`` returned until 0.2) and ``stats.hits`` (the attributes of
``CacheStats`` and ``BatchStats``, deprecated) answer the new fields; ``["errors"]`` is
``request_errors`` as it was in the dict, ``.errors`` is ``cache_errors`` as it was on
``CacheStats``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

__all__ = ["Stats"]

Scope = Literal["process", "cache", "warm", "batch"]

# The keys of the dict `llmwarm.stats()` returned before 0.2 (read with stats["key"]).
_OLD_KEYS = {
    "total_requests": "requests",
    "cold_starts": "coldstarts",
    "cold_start_rate": "coldstart_rate",
    "avg_latency": "operation_duration_avg",
    "avg_cold_latency": "operation_duration_cold_avg",
    "avg_warm_latency": "operation_duration_warm_avg",
    "p50_latency": "operation_duration_p50",
    "p95_latency": "operation_duration_p95",
    "p99_latency": "operation_duration_p99",
    "corrupt_rows": "cache_corrupt_rows",
    "errors": "request_errors",
}
# The attributes of CacheStats and BatchStats before 0.2 (read with stats.name).
_OLD_ATTRIBUTES = {
    "hits": "cache_hits",
    "misses": "cache_misses",
    "shared": "cache_shared",
    "uncacheable": "cache_uncacheable",
    "errors": "cache_errors",
    "bypassed": "cache_bypassed",
    "corrupt_rows": "cache_corrupt_rows",
    "items": "batch_items",
    "max_batch_size": "batch_max_size",
    "failed_batches": "batch_failures",
}


@dataclasses.dataclass(frozen=True)
class Stats:
    """A snapshot of what llmwarm counted: the process's calls, or one handle's counters.

    Returned by ``llmwarm.stats()`` (``scope="process"``), ``fn.cache.stats``
    (``"cache"``), ``fn.warmer.stats`` (``"warm"``) and ``fn.batcher.stats`` (``"batch"``).
    Fields a source does not measure stay ``0`` or ``None``. Read a field as an attribute;
    ``stats["cache_hits"]`` works too, as do the keys of the dict ``llmwarm.stats()``
    returned before 0.2 (``stats["total_requests"]``).

    .. versionadded:: 0.2.0
    """

    scope: Scope = "process"
    """Who filled the snapshot: ``"process"``, ``"cache"``, ``"warm"`` or ``"batch"``."""
    window: float | None = None
    """Seconds of history summarised (``llmwarm.stats(window=...)``); None: since the start."""

    # gen_ai.client.operation.duration (process)
    requests: int = 0
    """User calls ended (cache hits and failures included; warm-up pings are not)."""
    request_errors: int = 0
    """Calls that raised (``error.type`` on the duration metric)."""
    operation_duration_avg: float | None = None
    """Mean seconds per call."""
    operation_duration_cold_avg: float | None = None
    """Mean seconds of the cold calls that reached the model."""
    operation_duration_warm_avg: float | None = None
    """Mean seconds of the warm calls that reached the model."""
    operation_duration_p50: float | None = None
    """Median seconds per call (nearest rank)."""
    operation_duration_p95: float | None = None
    """95th percentile of seconds per call (nearest rank)."""
    operation_duration_p99: float | None = None
    """99th percentile of seconds per call (nearest rank)."""

    # llmwarm.coldstarts (process)
    coldstarts: int = 0
    """Calls predicted cold."""
    coldstart_rate: float | None = None
    """``coldstarts / requests``; None when no call ended (0.0 for the process: no calls)."""

    # llmwarm.warmup.pings (process, warm)
    warmup_pings: int = 0
    """Warm-up pings sent (failed ones included)."""
    warmup_ping_failures: int = 0
    """Warm-up pings that failed (``fn.warmer.stats`` only)."""

    # llmwarm.cache.lookups (cache; the process counts hits and corrupt rows)
    cache_hits: int = 0
    """Calls answered from the cache."""
    cache_misses: int = 0
    """Cacheable calls not in the cache (each led or joined a single flight)."""
    cache_shared: int = 0
    """Misses answered by another caller's upstream call (single-flight waiters)."""
    cache_uncacheable: int = 0
    """Calls or results that could not be cached (arguments, ``cacheable``, encoding)."""
    cache_errors: int = 0
    """Cache back-end failures (the call went upstream)."""
    cache_bypassed: int = 0
    """Back-end reads and writes skipped while its circuit breaker was open."""
    cache_corrupt_rows: int = 0
    """Stored rows refused (bad signature, format or type), deleted and treated as misses."""

    # @batched (batch)
    batches: int = 0
    """Batched upstream calls sent."""
    batch_items: int = 0
    """Items sent in those calls."""
    batch_max_size: int = 0
    """The largest batch sent."""
    batch_failures: int = 0
    """Batches whose call raised or returned a result of the wrong length."""

    def __getitem__(self, key: str) -> Any:
        """Read a field by name, or by a key of the dict ``llmwarm.stats()`` returned."""
        name = _OLD_KEYS.get(key, key)
        if name in _FIELDS:
            return getattr(self, name)
        raise KeyError(key)

    if not TYPE_CHECKING:  # type checkers refuse the old names; run time still answers

        def __getattr__(self, name: str) -> Any:
            # Only reached for a name that is not a field: the attributes of CacheStats and
            # BatchStats before 0.2 (`fn.cache.stats.hits`, `.errors` of a cache).
            new = _OLD_ATTRIBUTES.get(name)
            if new is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            warnings.warn(f"Stats.{name} is deprecated; read Stats.{new}.", DeprecationWarning, 2)
            return getattr(self, new)

    def keys(self) -> list[str]:
        """Return the field names (so ``dict(stats)`` and ``{**stats}`` work)."""
        return list(_FIELDS)

    def __contains__(self, key: object) -> bool:
        """Whether ``stats[key]`` answers (a field, or a key of the former dict)."""
        return isinstance(key, str) and _OLD_KEYS.get(key, key) in _FIELDS

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def as_dict(self) -> dict[str, Any]:
        """Return every field in a plain dict (for JSON or logging)."""
        return dataclasses.asdict(self)


_FIELDS = tuple(f.name for f in dataclasses.fields(Stats))
