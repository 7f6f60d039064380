"""Which HTTP library an SDK is built on, and how ``@pooled`` hands it a pooled connection.

An SDK client is only as fast as the transport under it. ``openai`` 3.x is built on
``httpx2`` (whose ``httpcore2`` pool stays cheap under concurrency) and refuses nothing
else silently: handing it a plain ``httpx`` client drops it onto the slower ``httpcore``
pool path. Ollama's SDK takes no ``http_client`` at all, only ``httpx`` keyword arguments.
So each factory gets an :class:`Adapter`, chosen once at decoration time from the
factory's own signature and module, never from a class name:

- the factory names an ``http_client`` parameter: build a client of the library its
  annotation (or its module) names, and pass it as ``http_client=`` (openai, Stainless SDKs);
- it takes only ``**kwargs`` (ollama): build one shared *transport* and pass it as
  ``transport=``, with the pool's timeout unless the user gave one;
- no factory: a plain ``httpx`` client, injected as ``http_client``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import httpx

from llmwarm._core import ConfigError

__all__ = ["Adapter", "adapter_for", "http_library"]

_LIBRARIES = ("httpx2", "httpx")


class Adapter:
    """How to build the pooled client of one factory, and the SDK client around it."""

    __slots__ = ("library", "via_transport")

    def __init__(self, library: str, via_transport: bool) -> None:
        self.library = library  # "httpx" or "httpx2": the module the SDK is built on
        self.via_transport = via_transport  # inject transport= (ollama) or http_client=

    @property
    def module(self) -> ModuleType:
        """The HTTP library itself (imported on first use, never at llmwarm's import)."""
        return importlib.import_module(self.library)

    def build_http(
        self,
        is_async: bool,
        http2: bool,
        limits: httpx.Limits,
        timeout: httpx.Timeout,
        options: Mapping[str, Any],
    ) -> Any:
        """Build the pooled client (for a transport adapter: a client around the transport).

        Either way the pool owns one client, which is what ``pool.http_client()`` returns,
        what ``prewarm`` uses, and what closing the pool closes (its transport with it).
        """
        lib = self.module
        lib_limits = lib.Limits(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )
        lib_timeout = lib.Timeout(**timeout.as_dict())
        if not self.via_transport:
            cls = lib.AsyncClient if is_async else lib.Client
            return cls(http2=http2, limits=lib_limits, timeout=lib_timeout, **options)
        transport_cls = lib.AsyncHTTPTransport if is_async else lib.HTTPTransport
        transport = transport_cls(http2=http2, limits=lib_limits, **options)
        cls = lib.AsyncClient if is_async else lib.Client
        return cls(transport=transport, timeout=lib_timeout)

    def build_sdk(
        self, factory: Callable[..., Any], http_client: Any, kwargs: Mapping[str, Any]
    ) -> Any:
        """Build the SDK client around the pooled client (or its transport)."""
        if not self.via_transport:
            return factory(http_client=http_client, **kwargs)
        extra = {} if "timeout" in kwargs else {"timeout": http_client.timeout}
        return factory(transport=http_client._transport, **extra, **kwargs)

    def transport_options(self) -> set[str]:
        """Return the ``http_options`` keys the transport accepts (its own parameters)."""
        parameters = inspect.signature(self.module.HTTPTransport).parameters
        return set(parameters) - {"http1", "http2", "limits"}


def _library_named(text: str) -> str | None:
    return next((name for name in _LIBRARIES if name in text), None)


def _library_of_module(factory: Callable[..., Any]) -> str:
    """Return the httpx library the factory's module (or a base's) imports; else httpx."""
    owners = factory.__mro__ if isinstance(factory, type) else (factory,)
    for owner in owners:
        module = sys.modules.get(getattr(owner, "__module__", "") or "")
        if module is None:
            continue
        for name in _LIBRARIES:
            value = getattr(module, name, None)
            if isinstance(value, ModuleType) and value.__name__ == name:
                return name
    return "httpx"


def adapter_for(factory: Callable[..., Any] | None) -> Adapter:
    """Choose the adapter of ``factory`` from its signature (decoration time).

    Raises :class:`~llmwarm.ConfigError` when the factory takes neither ``http_client``
    nor httpx keyword arguments: there is no way to give it a pooled connection.
    """
    if factory is None:
        return Adapter("httpx", via_transport=False)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to read: assume the common convention
        return Adapter(_library_of_module(factory), via_transport=False)
    http_client = parameters.get("http_client")
    if http_client is not None:
        annotation = http_client.annotation
        named = None if annotation is inspect.Parameter.empty else _library_named(str(annotation))
        return Adapter(named or _library_of_module(factory), via_transport=False)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return Adapter(_library_of_module(factory), via_transport=True)
    raise ConfigError(
        "@pooled:",
        f"factory={factory!r} accepts neither an `http_client` argument nor httpx "
        "keyword arguments (**kwargs, as ollama.Client does), so it cannot be given a pooled "
        "connection; pass a factory that takes http_client=..., or wrap yours in one.",
    )


def http_library(factory: Callable[..., Any] | None) -> str:
    """Return the HTTP library ``@pooled`` builds ``factory``'s pooled client on.

    ``"httpx2"`` for an SDK built on it (openai 3.x: its ``http_client`` annotation says
    so), else ``"httpx"`` (ollama, a factory whose module imports nothing else, or no
    factory at all). A transport or ``mounts`` handed to ``@pooled`` through
    ``http_options`` must be of this library: an ``httpx`` transport inside an ``httpx2``
    client fails at the first request.

    Raises :class:`~llmwarm.ConfigError` for a factory ``@pooled`` cannot give a pooled
    connection (it takes neither ``http_client`` nor httpx keyword arguments).

    .. versionadded:: 0.2.0
    """
    return adapter_for(factory).library
