"""One shape for every statistic llmwarm reports: :class:`Stats`.

``llmwarm.stats()`` (every call of the process, over a window) and each handle's
``stats`` (``fn.cache.stats``, ``fn.warmer.stats``, ``fn.batcher.stats``) return the same
frozen snapshot. Its fields are named after the OpenTelemetry metrics ``@traced`` emits
(``trace/_semconv.py``): ``requests`` and the ``operation_duration_*`` figures summarise
``gen_ai.client.operation.duration``, ``coldstarts`` is ``llmwarm.coldstarts``,
``warmup_pings`` is ``llmwarm.warmup.pings``, ``cache_*`` split ``llmwarm.cache.lookups``.
A snapshot fills the fields that concern its source (``scope`` says which); the others
stay ``0`` (counters) or ``None`` (rates and latencies).

The earlier shapes stay readable: ``stats["total_requests"]``, ``stats.get(...)``,
``.items()`` (the keys and mapping methods of the dict ``llmwarm.stats()`` returned until
0.2) and ``stats.hits`` (the attributes of
``CacheStats`` and ``BatchStats``, deprecated) answer the new fields; ``["errors"]`` is
``request_errors`` as it was in the dict, ``.errors`` is ``cache_errors`` as it was on
``CacheStats``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
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
    "max_batch_size": "batch_max_size",
    "failed_batches": "batch_failures",
}
# BatchStats.items (now batch_items) is no attribute any more: `items()` is the mapping
# method the former dict had. `stats["items"]` still reads it.
# What `stats[key]` answers besides the fields: every former name, the dict's keys first
# (its "errors" were failed calls; CacheStats.errors, back-end failures, is `.errors`).
_OLD_NAMES = {**_OLD_ATTRIBUTES, "items": "batch_items", **_OLD_KEYS}


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
        """Read a field by name, or by a former name.

        Former names: the keys of the dict ``llmwarm.stats()`` returned before 0.2, the
        attributes of ``CacheStats`` and ``BatchStats``.
        """
        name = _OLD_NAMES.get(key, key)
        if name in _FIELDS:
            return getattr(self, name)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``stats[key]`` (any name ``[]`` reads), or ``default`` if none such."""
        try:
            return self[key]
        except KeyError:
            return default

    if not TYPE_CHECKING:  # type checkers refuse the old names; run time still answers

        def __getattr__(self, name: str) -> Any:
            # Only reached for a name that is not a field: the attributes of CacheStats and
            # BatchStats before 0.2 (`fn.cache.stats.hits`, `.errors` of a cache).
            new = _OLD_ATTRIBUTES.get(name)
            if new is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            warnings.warn(f"Stats.{name} is deprecated; read Stats.{new}.", DeprecationWarning, 2)
            return getattr(self, new)

    # The mapping methods of the dict llmwarm.stats() returned before 0.2. They list the
    # field names (the new names): dict(stats) and {**stats} give the fields.

    def keys(self) -> KeysView[str]:
        """Return the field names (so ``dict(stats)`` and ``{**stats}`` work)."""
        return self.as_dict().keys()

    def values(self) -> ValuesView[Any]:
        """Return the fields' values, in the order of :meth:`keys`."""
        return self.as_dict().values()

    def items(self) -> ItemsView[str, Any]:
        """Return ``(field name, value)`` pairs, in the order of :meth:`keys`."""
        return self.as_dict().items()

    def __contains__(self, key: object) -> bool:
        """Whether ``stats[key]`` answers (a field, or a former name)."""
        return isinstance(key, str) and _OLD_NAMES.get(key, key) in _FIELDS

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    def as_dict(self) -> dict[str, Any]:
        """Return every field in a plain dict (for JSON or logging).

        ``json.dumps`` takes this dict, not the snapshot itself.
        """
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in dataclasses.fields(Stats))
