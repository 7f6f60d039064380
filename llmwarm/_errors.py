"""The exception tree of llmwarm, drawn once here and exported from :mod:`llmwarm`.

::

    LLMWarmError                    every error llmwarm itself raises
    ├── ConfigError (ValueError)    a decorator option or a YAML value is wrong
    ├── BatchSizeError (ValueError) a @batched function returned the wrong number of results
    ├── LogFormatError (ValueError) a request log given to `llmwarm replay` cannot be read
    └── StreamAbandoned             a stream was collected unfinished (given to observers)

Errors from the provider or the user's own function are never wrapped: they reach the
caller as they were raised.
"""

from __future__ import annotations

__all__ = ["BatchSizeError", "ConfigError", "LLMWarmError", "LogFormatError", "StreamAbandoned"]


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


class BatchSizeError(LLMWarmError, ValueError):
    """The batched function returned a result list whose length is not the batch's.

    .. versionadded:: 0.1.0
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
