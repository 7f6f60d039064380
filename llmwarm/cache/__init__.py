"""``@cached``: results of LLM calls by a stable key, single-flight, stream replay."""

from llmwarm._core.errors import CacheRowError, CorruptCacheRow
from llmwarm.cache._cached import (
    BREAKER_BACKOFF,
    BREAKER_MAX_BACKOFF,
    DEFAULT_MAXSIZE,
    DEFAULT_TTL,
    SHARED_RESULT,
    Breaker,
    CachedPolicy,
    CacheHandle,
    CacheStats,
    cached,
)
from llmwarm.cache._handles import CacheDecorator, CachedFunction
from llmwarm.cache.allowlist import register_type
from llmwarm.cache.backends import Backend, MemoryBackend, RedisBackend, SQLiteBackend

__all__ = [
    "BREAKER_BACKOFF",
    "BREAKER_MAX_BACKOFF",
    "Backend",
    "Breaker",
    "CacheDecorator",
    "CacheHandle",
    "CacheRowError",
    "CacheStats",
    "CachedFunction",
    "CachedPolicy",
    "CorruptCacheRow",
    "DEFAULT_MAXSIZE",
    "DEFAULT_TTL",
    "MemoryBackend",
    "RedisBackend",
    "SHARED_RESULT",
    "SQLiteBackend",
    "cached",
    "register_type",
]
