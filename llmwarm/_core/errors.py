"""The exception tree of llmwarm, drawn once here and exported from :mod:`llmwarm`.

::

    LLMWarmError                    every error llmwarm itself raises
    ├── ConfigError (ValueError)    a decorator option or a YAML value is wrong
    │   └── UnknownOptionError (TypeError) an unknown keyword or YAML key ("did you mean")
    ├── BatchSizeError (ValueError) a @batched function returned the wrong number of results
    ├── AllTiersCooling             every tier of a @routed call is cooling down: nothing sent
    ├── CacheRowError               a cache back end failed about one key (a miss for it)
    ├── CorruptCacheRow (ValueError) a stored cache row failed a check (never served)
    ├── LogFormatError (ValueError) a request log given to `llmwarm replay` cannot be read
    └── StreamAbandoned             a stream was collected unfinished (given to observers)

Errors from the provider or the user's own function are never wrapped: they reach the
caller as they were raised. The two cache errors are raised by back ends and handled by
``@cached`` (a miss); a back end of your own raises them too.
"""

from __future__ import annotations

__all__ = [
    "AllTiersCooling",
    "BatchSizeError",
    "CacheRowError",
    "ConfigError",
    "CorruptCacheRow",
    "LLMWarmError",
    "LogFormatError",
    "StreamAbandoned",
    "UnknownOptionError",
]


class LLMWarmError(Exception):
    """Base class of every exception llmwarm raises itself.

    .. versionadded:: 0.2.0
    """


class ConfigError(LLMWarmError, ValueError):
    """A configuration value is missing or wrong; ``path`` names it (``llm.openai.cache``).

    .. versionadded:: 0.1.0
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path} {message}")
        self.path = path
        self.message = message


class UnknownOptionError(ConfigError, TypeError):
    """An option that does not exist: a decorator keyword or a configuration key.

    The message names the closest known option (``did you mean 'ttl'?``) and lists the
    accepted ones. A ``TypeError`` too, as Python's own "unexpected keyword argument".

    .. versionadded:: 0.2.0
    """


class BatchSizeError(LLMWarmError, ValueError):
    """The batched function returned a result list whose length is not the batch's.

    .. versionadded:: 0.1.0
    """


class AllTiersCooling(LLMWarmError):
    """Every tier of a ``@routed`` call is cooling down, so the call was not sent anywhere.

    Raised at once (or after ``max_wait=``, when the first tier is not back by then).
    ``retry_after`` is the seconds until the first tier may be tried again; ``errors`` maps
    each tier's name to the last failure that cooled its model (None when it is not known
    here, e.g. a cool-down set by hand).

    .. versionadded:: 0.2.0
    """

    def __init__(
        self, function: str, retry_after: float, errors: dict[str, BaseException | None]
    ) -> None:
        causes = "; ".join(
            f"{tier}: {type(error).__name__}" if error is not None else f"{tier}: cooling"
            for tier, error in errors.items()
        )
        super().__init__(
            f"every tier of @routed {function} is cooling down; the first is back in "
            f"{retry_after:.3g} s ({causes}). Retry later, or pass max_wait= to wait for it."
        )
        self.function = function
        self.retry_after = retry_after
        self.errors = errors


class CacheRowError(LLMWarmError):
    """A cache back-end fault confined to one key (Redis ``WRONGTYPE``, a row too large).

    ``@cached`` treats it as a miss for that key only; its circuit breaker stays closed
    (only connection-level faults open it).

    .. versionadded:: 0.2.0
    """


class CorruptCacheRow(LLMWarmError, ValueError):
    """A stored cache row failed a check: signature, format, or a type off the allow-list.

    The back end deletes the row before raising; ``@cached`` treats it as a miss and
    counts it in ``corrupt_rows``.

    .. versionadded:: 0.2.0
    """


class LogFormatError(LLMWarmError, ValueError):
    """A request log cannot be read; ``path`` and ``line`` (or None) say where.

    .. versionadded:: 0.2.0
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(
            f"{path}: {message}" if line is None else f"{path}, line {line}: {message}"
        )
        self.path = path
        self.line = line
        self.message = message


class StreamAbandoned(LLMWarmError):
    """The outcome given to stream observers when a stream was collected unfinished.

    .. versionadded:: 0.1.0
    """
