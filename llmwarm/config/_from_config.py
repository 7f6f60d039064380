"""``llmwarm.from_config``: a YAML file (or a mapping) -> one decorator applying the stack.

.. code-block:: yaml

    llm:
      openai:
        api_key: ${OPENAI_API_KEY}
        default_model: gpt-4o-mini
        warmup: {enabled: true, interval_seconds: 240}
        cache: {enabled: true, max_size: 1000, ttl_seconds: 3600}

Parsing (``llmwarm.config._schema``) is pure and names the full path of a bad value; this
module builds the decorators from the result, importing each one lazily. Applied to a
function, the decorator gives one fused stack, outermost first: the default model,
``@traced``, ``@cached``, ``@routed``, ``@warm``, ``@pooled`` (only the enabled sections).
``llmwarm check-config FILE`` validates a file and prints each provider's stack.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from llmwarm._core import Call, Flow, FunctionSpec, Policy, stack_state
from llmwarm._core import driver as _core
from llmwarm.config._schema import PROVIDERS, ConfigError, StackConfig, parse_config

__all__ = [
    "ConfigError",
    "DefaultModelPolicy",
    "StackConfig",
    "add_arguments",
    "from_config",
    "load_config",
    "run",
]

if TYPE_CHECKING:
    from llmwarm._handles import StackDecorator

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PROVIDER = "openai"
"""The provider section ``from_config`` builds when none is named."""


class DefaultModelPolicy(Policy):
    """Pass ``model=<default>`` when the caller passed no model (``default_model``).

    .. versionadded:: 0.1.0
    """

    def __init__(self, model: str) -> None:
        self.model = model

    def bind(self, spec: FunctionSpec) -> None:
        """Refuse a function that takes no ``model`` argument."""
        if not spec.accepts("model"):
            raise TypeError(
                f"default_model is {self.model!r}, but {spec.qualname}() has no `model` "
                "parameter to pass it to; add `model: str | None = None` to its signature."
            )

    def flow(self, call: Call) -> Flow:
        """Fill in the model when the caller left it out (or passed None)."""
        if call.get("model") is None:
            call = call.with_arguments(model=self.model)
        return (yield call)


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> Mapping[str, StackConfig]:
    """Read and validate a configuration: a YAML file path or an already parsed mapping.

    Returns one :class:`StackConfig` per provider; raises :class:`ConfigError` (a
    ``ValueError``) naming the full path of the first bad value.

    .. versionadded:: 0.1.0
    """
    if isinstance(source, Mapping):
        return parse_config(source, environ)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"from_config takes a YAML file path or a mapping, got {type(source).__name__}."
        )
    try:
        import yaml
    except ImportError:  # pragma: no cover - the dev environment has the cli extra
        raise ImportError(
            "Reading a YAML configuration needs PyYAML: pip install 'llmwarm[cli]' "
            "(or pass an already parsed mapping to from_config)."
        ) from None
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"is not valid YAML: {exc}") from None
    return parse_config(data, environ)


def from_config(
    source: str | os.PathLike[str] | Mapping[str, Any],
    provider: str = DEFAULT_PROVIDER,
    *,
    environ: Mapping[str, str] | None = None,
) -> StackDecorator:
    """Return one decorator applying the stack configured for ``provider``.

    ``source`` is a YAML file path or a mapping with an ``llm:`` section; ``${VAR}`` and
    ``${VAR:-default}`` are read from ``environ`` (default ``os.environ``) when this is
    called. The whole file is validated, now; a bad value raises :class:`ConfigError`.

    .. versionadded:: 0.1.0
    """
    stacks = load_config(source, environ)
    if provider not in stacks:
        known = ", ".join(stacks) or "none"
        hint = "" if provider in PROVIDERS else f" (known providers: {', '.join(PROVIDERS)})"
        raise ConfigError(
            f"llm.{provider}", f"is not configured; the configuration has: {known}{hint}"
        )
    stack = stacks[provider]

    def decorate(target: F) -> F:
        return build(stack, target)

    return cast("StackDecorator", decorate)


# -------------------------------------------------------------------------------- build


def _is_async(target: Any) -> bool:
    state = stack_state(target)
    return (state.spec if state is not None else FunctionSpec(target)).is_async


def build(stack: StackConfig, target: F) -> F:
    """Apply ``stack``'s decorators to ``target``, innermost first; return the fused stack.

    .. versionadded:: 0.1.0
    """
    decorated: Any = target
    for decorator in _decorators(stack, _is_async(target)):
        decorated = decorator(decorated)
    if stack.default_model and stack.routing is None:
        # Outermost, so the cache key, the trace and every policy see the model.
        decorated = _core.apply(decorated, DefaultModelPolicy(stack.default_model))
    return cast(F, decorated)


def _decorators(stack: StackConfig, is_async: bool) -> list[Callable[[Any], Any]]:
    """Return the stack's decorators, innermost (``@pooled``) first."""
    built: list[Callable[[Any], Any]] = []
    if stack.pooling is not None:
        built.append(_pooled(stack, is_async))
    if stack.warmup is not None:
        built.append(_warm(stack, is_async))
    if stack.routing is not None:
        built.append(_routed(stack))
    if stack.cache is not None:
        built.append(_cached(stack))
    if stack.tracing is not None:
        built.append(_traced(stack))
    return built


def _traced(stack: StackConfig) -> Callable[[Any], Any]:
    from llmwarm.trace import traced

    assert stack.tracing is not None
    return traced(provider=stack.provider, capture_content=stack.tracing.capture_content)


def _cached(stack: StackConfig) -> Callable[[Any], Any]:
    from llmwarm.cache import cached

    cache = stack.cache
    assert cache is not None
    backend = None if cache.backend in (None, "memory") else cache.backend
    decorator: Callable[[Any], Any] = cached(
        cache.ttl_seconds, maxsize=cache.max_size, backend=backend
    )
    return decorator


def _routed(stack: StackConfig) -> Callable[[Any], Any]:
    from llmwarm.route import DEFAULT_COOLDOWN, DEFAULT_MAX_COOLDOWN, Tier, routed

    routing = stack.routing
    assert routing is not None
    tiers = [Tier(t.name, t.model, **t.overrides) for t in routing.tiers]
    cooldown = _or(routing.cooldown_seconds, DEFAULT_COOLDOWN)
    return routed(
        tiers,
        fallback=routing.fallback,
        prefer_warm=routing.prefer_warm,
        hedge_after=routing.hedge_after_seconds,
        cooldown=cooldown,
        # A cooldown_seconds the schema accepted must not fail inside routed().
        max_cooldown=max(cooldown, DEFAULT_MAX_COOLDOWN),
    )


def _warm(stack: StackConfig, is_async: bool) -> Callable[[Any], Any]:
    from llmwarm.warm import pings, warm

    warmup = stack.warmup
    assert warmup is not None
    options: dict[str, Any] = {"keep_alive": warmup.keep_alive, "backend": warmup.backend}
    if stack.provider == "ollama":
        # The Ollama preload: the model name alone loads it for `keep_alive`.
        options["ping"] = pings.ollama_preload(
            stack.api_base or pings.DEFAULT_OLLAMA_URL,
            keep_alive=warmup.keep_alive or pings.DEFAULT_OLLAMA_KEEP_ALIVE,
            asynchronous=is_async,
        )
    if warmup.cold_start_budget is not None:
        options["cold_start_budget"] = warmup.cold_start_budget
    # None: the warming policy decides; "auto" or seconds: the interval override.
    decorator: Callable[[Any], Any] = warm(warmup.model, warmup.interval_seconds, **options)
    return decorator


def _pooled(stack: StackConfig, is_async: bool) -> Callable[[Any], Any]:
    import httpx

    from llmwarm.pool import DEFAULT_LIMITS, pooled

    pooling = stack.pooling
    assert pooling is not None
    limits = httpx.Limits(
        max_connections=_or(pooling.max_connections, DEFAULT_LIMITS.max_connections),
        max_keepalive_connections=_or(
            pooling.max_keepalive_connections, DEFAULT_LIMITS.max_keepalive_connections
        ),
        keepalive_expiry=_or(pooling.keepalive_expiry, DEFAULT_LIMITS.keepalive_expiry),
    )
    options: dict[str, Any] = {
        "http2": pooling.http2,
        "limits": limits,
        "timeout": pooling.timeout_seconds,
    }
    if stack.provider == "openai":
        import openai

        factory = openai.AsyncOpenAI if is_async else openai.OpenAI
        sdk: dict[str, Any] = {}
        if stack.api_key:
            sdk["api_key"] = stack.api_key
        if stack.api_base:
            sdk["base_url"] = stack.api_base
        return pooled(factory, **options, **sdk)
    # Ollama: its SDK client builds its own httpx client and cannot take a pooled one, so
    # the function gets the pooled `http_client`, whose base URL is the Ollama host.
    http: dict[str, Any] = {"base_url": stack.api_base or "http://localhost:11434"}
    if stack.api_key:
        http["headers"] = {"Authorization": f"Bearer {stack.api_key}"}
    return pooled(**options, http_options=http)


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


# ---------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``llmwarm check-config`` arguments to ``parser``."""
    parser.add_argument("file", metavar="FILE", help="the YAML configuration to validate")


def run(args: argparse.Namespace) -> int:
    """Validate ``args.file``: print each provider's stack (0), or the error (2)."""
    try:
        stacks = load_config(args.file)
    except (ConfigError, TypeError) as exc:
        print(f"llmwarm check-config: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: OK ({len(stacks)} provider{'s' if len(stacks) != 1 else ''})")
    for stack in stacks.values():
        for line in stack.summary():
            print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m llmwarm.config._from_config FILE``."""
    parser = argparse.ArgumentParser(prog="llmwarm check-config")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())


DefaultModel = DefaultModelPolicy  # rename_policies: keep
"""Deprecated: the former name of :class:`DefaultModelPolicy`."""
