"""llmwarm: composable decorators that remove cold-start latency from LLM API calls."""

from llmwarm import pings
from llmwarm._errors import (
    BatchSizeError,
    CacheRowError,
    ConfigError,
    CorruptCacheRow,
    LLMWarmError,
    LogFormatError,
    StreamAbandoned,
)
from llmwarm._stats import reset_stats, stats
from llmwarm._version import __version__
from llmwarm.batch import batched
from llmwarm.cache import cached
from llmwarm.config import from_config
from llmwarm.pool import aclose, close, pooled
from llmwarm.route import Tier, routed
from llmwarm.trace import traced
from llmwarm.warm import shutdown, warm

__all__ = [
    "BatchSizeError",
    "CacheRowError",
    "ConfigError",
    "CorruptCacheRow",
    "LLMWarmError",
    "LogFormatError",
    "StreamAbandoned",
    "Tier",
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
