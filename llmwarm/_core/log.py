"""The ``llmwarm`` logger, and the rule that an optimization's failure never breaks a call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["logger", "safely"]

logger = logging.getLogger("llmwarm")


def safely(what: str, hook: Callable[..., Any], *args: Any) -> None:
    """Call an observer hook; log and swallow its failure (an optimization never breaks a call).

    .. versionadded:: 0.1.0
    """
    try:
        hook(*args)
    except Exception:
        logger.exception("llmwarm: %s failed; the call goes on", what)
