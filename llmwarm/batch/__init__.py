"""``@batched``: callers pass one item; concurrent items become one call."""

from llmwarm._core.errors import BatchSizeError
from llmwarm.batch._batched import DEFAULT_MAX_SIZE, DEFAULT_MAX_WAIT, Batcher, BatchStats, batched

__all__ = [
    "BatchSizeError",
    "BatchStats",
    "Batcher",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MAX_WAIT",
    "batched",
]
