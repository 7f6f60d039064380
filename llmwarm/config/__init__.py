"""``llmwarm.from_config``: a YAML file (or a mapping) -> one decorator for the stack."""

from llmwarm._core.errors import ConfigError
from llmwarm.config._from_config import (
    DefaultModel,
    DefaultModelPolicy,
    add_arguments,
    from_config,
    load_config,
    run,
)
from llmwarm.config._schema import StackConfig

__all__ = [
    "ConfigError",
    "DefaultModel",
    "DefaultModelPolicy",
    "StackConfig",
    "add_arguments",
    "from_config",
    "load_config",
    "run",
]
