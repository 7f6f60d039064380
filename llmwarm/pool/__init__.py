"""``@pooled``: long-lived HTTP pools and SDK clients injected into calls."""

from llmwarm.pool._handles import PoolDecorator, PooledFunction
from llmwarm.pool._pooled import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    FromEnv,
    Pool,
    Pooled,
    PooledPolicy,
    PoolHandle,
    aclose,
    close,
    from_env,
    pooled,
)
from llmwarm.pool._transports import http_library

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "FromEnv",
    "Pool",
    "PoolDecorator",
    "PoolHandle",
    "Pooled",
    "PooledFunction",
    "PooledPolicy",
    "aclose",
    "close",
    "from_env",
    "http_library",
    "pooled",
]
