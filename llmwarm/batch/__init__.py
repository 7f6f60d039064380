"""``@batched``: callers pass one item; concurrent items become one call."""

from llmwarm._core.errors import BatchSizeError
from llmwarm.batch._batched import (
    DEFAULT_MAX_SIZE,
    DEFAULT_MAX_WAIT,
    BatchedPolicy,
    Batcher,
    BatchStats,
    batched,
)
from llmwarm.batch._handles import BatchDecorator, BatchedFunction

__all__ = [
    "BatchDecorator",
    "BatchSizeError",
    "BatchStats",
    "BatchedFunction",
    "BatchedPolicy",
    "Batcher",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MAX_WAIT",
    "batched",
]
