"""llmwarm: composable decorators that remove cold-start latency from LLM API calls."""

from llmwarm import pings
from llmwarm._core import (
    AllTiersCooling,
    BatchSizeError,
    CacheRowError,
    ConfigError,
    CorruptCacheRow,
    LLMWarmError,
    LogFormatError,
    Stats,
    StreamAbandoned,
    UnknownOptionError,
    aclose,
    close,
    reset_stats,
    shutdown,
    stats,
)
from llmwarm._handles import (
    BatchedFunction,
    CachedFunction,
    Decorated,
    PooledFunction,
    RoutedFunction,
    StackedFunction,
    WarmedFunction,
)
from llmwarm._version import __version__
from llmwarm.batch import batched
from llmwarm.cache import cached
from llmwarm.config import from_config
from llmwarm.pool import pooled
from llmwarm.route import Tier, routed
from llmwarm.trace import traced
from llmwarm.warm import warm

__all__ = [
    "AllTiersCooling",
    "BatchSizeError",
    "BatchedFunction",
    "CacheRowError",
    "CachedFunction",
    "ConfigError",
    "CorruptCacheRow",
    "Decorated",
    "LLMWarmError",
    "LogFormatError",
    "PooledFunction",
    "RoutedFunction",
    "StackedFunction",
    "Stats",
    "StreamAbandoned",
    "Tier",
    "UnknownOptionError",
    "WarmedFunction",
    "__version__",
    "aclose",
    "batched",
    "cached",
    "close",
    "from_config",
    "pings",
    "pooled",
    "reset_stats",
    "routed",
    "shutdown",
    "stats",
    "traced",
    "warm",
]
