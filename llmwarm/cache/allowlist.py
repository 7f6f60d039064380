"""The types a persistent cache row may name: an allow-list, checked before any import.

A stored row names the type of a pydantic model or dataclass it holds. Before this
allow-list, that name was a module path the codec imported: a tampered row naming
``pygments.__main__:X`` ran code. Now the name is only ever looked up in this table; the
module behind a built-in name is fixed here, in code, and imported only when a row of that
type is read (never when ``llmwarm`` is imported).

Built in, registered lazily by name: the OpenAI ``ChatCompletion``,
``ChatCompletionChunk``, ``Completion``, ``CreateEmbeddingResponse`` and Responses API
``Response``; the Ollama ``ChatResponse``, ``GenerateResponse``, ``EmbedResponse`` and
``EmbeddingsResponse``. Anything else (an application's own pydantic model or dataclass)
is stored only after :func:`register_type`.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import threading
from typing import Any, TypeVar

from llmwarm._core import runtime as _runtime

__all__ = ["BUILTIN_TYPES", "kind_of", "name_of", "register_type", "resolve"]

T = TypeVar("T", bound=type)

BUILTIN_TYPES: dict[str, tuple[str, str]] = {
    "openai:ChatCompletion": ("openai.types.chat", "ChatCompletion"),
    "openai:ChatCompletionChunk": ("openai.types.chat", "ChatCompletionChunk"),
    "openai:Completion": ("openai.types", "Completion"),
    "openai:CreateEmbeddingResponse": ("openai.types", "CreateEmbeddingResponse"),
    "openai:Response": ("openai.types.responses", "Response"),
    "ollama:ChatResponse": ("ollama", "ChatResponse"),
    "ollama:GenerateResponse": ("ollama", "GenerateResponse"),
    "ollama:EmbedResponse": ("ollama", "EmbedResponse"),
    "ollama:EmbeddingsResponse": ("ollama", "EmbeddingsResponse"),
}
"""Stored name -> (module, attribute) of the SDK response models allowed by default."""


def _lock() -> threading.Lock:
    # A runtime part: a forked child gets a new lock (the parent's may be held by a thread
    # the child does not have); a reset keeps it (the registrations are the user's).
    return _runtime.runtime.part("allow-list lock", threading.Lock, reset=lambda lock: lock)


_by_name: dict[str, type] = {}
_by_class: dict[type, str] = {}
_loaded_packages: set[str] = set()


def kind_of(cls: type) -> str | None:
    """Return ``"pydantic"`` or ``"dataclass"`` for a storable class, else ``None``."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and issubclass(cls, pydantic.BaseModel):
        return "pydantic"
    if dataclasses.is_dataclass(cls):
        return "dataclass"
    return None


def register_type(cls: T, *, name: str | None = None) -> T:
    """Allow persistent cache back ends to store and load instances of ``cls``.

    ``cls`` is a pydantic model or a dataclass; ``name`` (default ``"module:qualname"``)
    is what rows store, so keep it stable across releases of your code. Usable as a class
    decorator. Registering the same class again is harmless; another class under a taken
    name is an error. Only registered types (and the built-in SDK responses) are ever
    loaded from a row: a row naming anything else is treated as corrupt.

    .. versionadded:: 0.2.0
    """
    from llmwarm._core import ConfigError

    if not isinstance(cls, type) or kind_of(cls) is None:
        raise ConfigError(
            f"register_type({cls!r})",
            "accepts a pydantic model class or a dataclass; other results are stored as "
            "plain JSON (dict, list, str, numbers, tuples, bytes) without registering.",
        )
    if name is None:
        name = f"{cls.__module__}:{cls.__qualname__}"
    if not isinstance(name, str) or not name:
        raise ConfigError(f"register_type(name={name!r})", "must be a non-empty string.")
    with _lock():
        taken = _by_name.get(name)
        if taken is not None and taken is not cls:
            raise ConfigError(
                f"register_type(name={name!r})",
                f"is already taken by {taken.__module__}.{taken.__qualname__}; pass another name=.",
            )
        if name in BUILTIN_TYPES and taken is None:
            raise ConfigError(f"register_type(name={name!r})", "is a built-in type's name.")
        _by_name[name] = cls
        _by_class.setdefault(cls, name)
    return cls


def _load_builtin(name: str) -> type | None:
    module_name, attribute = BUILTIN_TYPES[name]
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):  # the SDK is absent, or this version lacks it
        return None
    with _lock():
        _by_name.setdefault(name, cls)
        _by_class.setdefault(cls, name)
    return cls  # type: ignore[no-any-return]


def name_of(cls: type) -> str | None:
    """Return the stored name of an allowed class (exact class, not a subclass), or None."""
    found = _by_class.get(cls)
    if found is not None:
        return found
    package = cls.__module__.partition(".")[0]
    if package in ("openai", "ollama") and package not in _loaded_packages:
        # The SDK is imported already (``cls`` comes from it): resolve its built-ins once.
        for name, (module_name, _) in BUILTIN_TYPES.items():
            if module_name.partition(".")[0] == package:
                _load_builtin(name)
        _loaded_packages.add(package)
        return _by_class.get(cls)
    return None


def resolve(name: Any) -> type | None:
    """Return the allowed class stored as ``name``, or ``None`` (never imports otherwise)."""
    if not isinstance(name, str):
        return None
    found = _by_name.get(name)
    if found is not None:
        return found
    if name in BUILTIN_TYPES:  # a fixed module from the table above, not from the row
        return _load_builtin(name)
    return None
