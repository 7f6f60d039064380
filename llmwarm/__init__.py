"""llmwarm: composable decorators that remove cold-start latency from LLM API calls."""

from llmwarm._version import __version__

__all__ = ["__version__"]
