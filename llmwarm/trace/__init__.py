"""``@traced``: OpenTelemetry GenAI spans and metrics, and ``llmwarm.stats()``."""

from llmwarm._core.call_stats import reset_stats, stats
from llmwarm.trace._traced import DEFAULT_OPERATION, TracedPolicy, traced

__all__ = [
    "DEFAULT_OPERATION",
    "TracedPolicy",
    "reset_stats",
    "stats",
    "traced",
]
