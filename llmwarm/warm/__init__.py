"""``@warm``: keep a model warm; the policy, the warmer, learning, the fleet, ping adapters."""

from llmwarm._core import shutdown  # the same function as llmwarm.shutdown (llmwarm.close)
from llmwarm.warm._fleet import Fleet
from llmwarm.warm._handles import WarmDecorator, WarmedFunction
from llmwarm.warm._warm import (
    DEFAULT_AUTO_START,
    DEFAULT_BACKOFF_CAP,
    DEFAULT_COLD_START_BUDGET,
    DEFAULT_KEEP_ALIVE,
    FIRST_PING_SPREAD,
    MIN_INTERVAL,
    PING_MESSAGES,
    Warmer,
    WarmPolicy,
    warm,
)

__all__ = [
    "DEFAULT_AUTO_START",
    "DEFAULT_BACKOFF_CAP",
    "DEFAULT_COLD_START_BUDGET",
    "DEFAULT_KEEP_ALIVE",
    "FIRST_PING_SPREAD",
    "Fleet",
    "MIN_INTERVAL",
    "PING_MESSAGES",
    "WarmDecorator",
    "WarmPolicy",
    "WarmedFunction",
    "Warmer",
    "shutdown",
    "warm",
]
