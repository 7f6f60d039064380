"""The configuration schema: ``${VAR}`` substitution, durations, and the frozen stack description.

Parsing is pure (no decorator is imported): :func:`parse_config` turns a mapping into a
:class:`StackConfig` per provider, or raises :class:`ConfigError` naming the full path of
the first bad value (``llm.openai.cache.ttl_seconds must be > 0, got -1``).
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from llmwarm._core import ConfigError, UnknownOptionError, did_you_mean, section_keys
from llmwarm._core.options import fraction, parse_duration
from llmwarm.warm import MIN_INTERVAL

__all__ = [
    "PROVIDERS",
    "CacheConfig",
    "ConfigError",
    "PoolingConfig",
    "RoutingConfig",
    "StackConfig",
    "TierConfig",
    "TracingConfig",
    "WarmupConfig",
    "parse_config",
    "parse_duration",
    "substitute",
]

PROVIDERS = ("ollama", "openai")
"""The provider sections ``llm:`` accepts."""

T = TypeVar("T")


# ---------------------------------------------------------------------- substitution

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_YAML_INT = re.compile(r"[-+]?[0-9]+")
_YAML_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?")
_WHOLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}")


def _scalar(text: str) -> Any:
    """Read a substituted value that was a whole ``${VAR}`` as YAML would read a scalar."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    # Only what YAML itself reads as a number: Python's int()/float() would also take
    # "nan", "inf" and "1_000", turning a model name or a key into a float.
    if _YAML_INT.fullmatch(stripped):
        return int(stripped)
    if _YAML_FLOAT.fullmatch(stripped):
        return float(stripped)
    return text


def substitute(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of ``value``.

    ``$$`` is a literal ``$``. A value that is one whole reference is read as a number or
    a boolean when it looks like one (``max_size: ${CACHE_SIZE:-1000}`` is an int). A
    variable that is unset and has no default raises :class:`ConfigError` naming it.

    .. versionadded:: 0.1.0
    """
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            found = environ.get(name)
            if found is None:
                if default is None:
                    raise ConfigError(
                        path, f"refers to the environment variable {name}, which is not set"
                    )
                return default
            return found

        result = _REFERENCE.sub(replace, value)
        return _scalar(result) if _WHOLE.fullmatch(value) else result
    if isinstance(value, Mapping):
        return {
            k: substitute(v, environ, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


# ------------------------------------------------------------------------- durations

# parse_duration is the core's (one duration reader for YAML, decorators and the simulator);
# it stays importable from here.

# ---------------------------------------------------------------------- description


@dataclass(frozen=True)
class PoolingConfig:
    """``connection_pooling``: the pooled client's limits (httpx names)."""

    enabled: bool = True
    max_connections: int | None = None
    max_keepalive_connections: int | None = None
    keepalive_expiry: float | None = None
    http2: bool = False
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class WarmupConfig:
    """``warmup``: the ``@warm`` model, interval or budget, keep-alive and shared backend."""

    enabled: bool = True
    model: str = ""
    interval_seconds: float | Literal["auto"] | None = None
    """Seconds between pings at most, ``"auto"`` (the window learnt by ``@warm``), or
    ``None``: the warming policy decides (``@warm``'s default)."""
    keep_alive: float | None = None
    backend: str | None = None
    cold_start_budget: float | None = None
    """The warming policy's share of calls that may find the model cold; ``None``: ``@warm``'s
    default (1%)."""


@dataclass(frozen=True)
class CacheConfig:
    """``cache``: the ``@cached`` size, time to live and back end URL."""

    enabled: bool = True
    max_size: int = 1000
    ttl_seconds: float = 3600.0
    backend: str | None = None


@dataclass(frozen=True)
class TierConfig:
    """One ``routing.tiers`` entry: a name, a model and call overrides."""

    name: str
    model: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingConfig:
    """``routing``: the ``@routed`` tiers and options."""

    enabled: bool = True
    tiers: tuple[TierConfig, ...] = ()
    prefer_warm: bool = False
    hedge_after_seconds: float | None = None
    fallback: bool = True
    cooldown_seconds: float | None = None


@dataclass(frozen=True)
class TracingConfig:
    """``tracing``: whether ``@traced`` runs and captures prompts and completions."""

    enabled: bool = True
    capture_content: bool | None = None


@dataclass(frozen=True)
class StackConfig:
    """One provider's section, validated: what ``from_config`` builds for it.

    A section that is absent or ``enabled: false`` is ``None`` (pooling is on by default:
    it is what hands the function its client).
    """

    provider: str
    api_key: str | None = None
    api_base: str | None = None
    default_model: str | None = None
    pooling: PoolingConfig | None = PoolingConfig()
    warmup: WarmupConfig | None = None
    cache: CacheConfig | None = None
    routing: RoutingConfig | None = None
    tracing: TracingConfig | None = None

    def summary(self) -> list[str]:
        """Describe the stack, outermost decorator first (the API key is masked)."""
        lines = [
            f"provider {self.provider}: model {self.default_model or '(caller chooses)'}"
            + (f", api_base {self.api_base}" if self.api_base else "")
            + (f", api_key {mask(self.api_key)}" if self.api_key else "")
        ]
        if self.tracing:
            lines.append(f"  @traced(capture_content={self.tracing.capture_content})")
        if self.cache:
            c = self.cache
            lines.append(
                f"  @cached(ttl={c.ttl_seconds:g}, maxsize={c.max_size}, "
                f"backend={_mask_url(c.backend) if c.backend else 'memory'})"
            )
        if self.routing:
            r = self.routing
            tiers = ", ".join(f"{t.name}={t.model}" for t in r.tiers)
            lines.append(
                f"  @routed([{tiers}], prefer_warm={r.prefer_warm}, "
                f"hedge_after={r.hedge_after_seconds}, fallback={r.fallback})"
            )
        if self.warmup:
            w = self.warmup
            extra = ""  # no interval: the warming policy (@warm's default)
            if w.interval_seconds == "auto":
                extra += ", interval='auto'"
            elif w.interval_seconds is not None:
                extra += f", interval={w.interval_seconds:g}"
            if w.cold_start_budget is not None:
                extra += f", cold_start_budget={w.cold_start_budget:g}"
            extra += f", keep_alive={w.keep_alive:g}" if w.keep_alive is not None else ""
            extra += f", backend={_mask_url(w.backend)}" if w.backend else ""
            lines.append(f"  @warm({w.model!r}{extra})")
        if self.pooling:
            p = self.pooling
            limits = {
                "max_connections": p.max_connections,
                "max_keepalive_connections": p.max_keepalive_connections,
                "keepalive_expiry": p.keepalive_expiry,
                "timeout": p.timeout_seconds,
            }
            shown = ", ".join(f"{k}={v:g}" for k, v in limits.items() if v is not None)
            lines.append(f"  @pooled({shown + ', ' if shown else ''}http2={p.http2})")
        return lines


def mask(secret: str) -> str:
    """Mask a secret for display: ``sk-…xyz9`` style, never the whole value."""
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) >= 12 else "****"


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":****@")
    return url


# ------------------------------------------------------------------------- checkers


def _keys(section: str) -> tuple[str, ...]:
    """Return the YAML keys of a decorator's section: ``enabled`` and the one table's."""
    return ("enabled", *section_keys(section))


class _Section:
    """A mapping at ``path``: typed getters that name the full path, and unknown-key checks.

    A decorator's section (``section``) also takes each key in the decorator keyword's
    spelling (``ttl`` for ``ttl_seconds``, from :data:`llmwarm._core.option_names.SECTIONS`); it is
    read under the YAML key, and errors name the key as it was written.
    """

    def __init__(
        self, path: str, value: Any, allowed: tuple[str, ...], section: str | None = None
    ) -> None:
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"must be a mapping, got {_kind(value)}")
        table = section_keys(section) if section is not None else {}
        aliases = {keyword: key for key, keyword in table.items() if keyword != key}
        self.path = path
        self.value: dict[Any, Any] = {}
        self.spelled: dict[str, str] = {}
        for written, item in value.items():
            key = aliases.get(written, written)
            if key not in allowed:
                accepted = ", ".join(
                    f"{k} (or {table[k]})" if k in aliases.values() else k for k in sorted(allowed)
                )
                raise UnknownOptionError(
                    f"{path}.{written}",
                    f"is not a known key{did_you_mean(str(written), allowed, aliases)}; "
                    f"{path} accepts: {accepted}",
                )
            if key in self.value:
                raise ConfigError(
                    f"{path}.{written}",
                    f"sets the same option as {path}.{self.spelled[key]}; keep one of them",
                )
            self.value[key] = item
            self.spelled[key] = str(written)

    def has(self, key: str) -> bool:
        return key in self.value and self.value[key] is not None

    def at(self, key: str) -> str:
        return f"{self.path}.{self.spelled.get(key, key)}"

    def get(self, key: str, check: Callable[[str, Any], T], default: T) -> T:
        if not self.has(key):
            return default
        return check(self.at(key), self.value[key])


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(path, f"must be true or false, got {_kind(value)}")
    return value


def _text(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"must be a non-empty string, got {_kind(value)}")
    return value


def _count(minimum: int) -> Callable[[str, Any], int]:
    def check(path: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"must be an integer, got {_kind(value)}")
        if value < minimum:
            raise ConfigError(path, f"must be >= {minimum}, got {value}")
        return value

    return check


def _seconds(path: str, value: Any) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ConfigError(
            path,
            f'must be a duration (seconds, "300s", "10m", "1h30m" or a timedelta), '
            f"got {_kind(value)}",
        ) from None
    if seconds <= 0:
        raise ConfigError(path, f"must be > 0, got {value}")
    return seconds


def _url(schemes: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(path: str, value: Any) -> str:
        text = _text(path, value)
        if text == "memory" and "memory" in schemes:
            return text
        parts = urlsplit(text)
        if parts.scheme not in schemes:
            raise ConfigError(
                path, f"must be a URL with a scheme among {', '.join(schemes)}, got {text!r}"
            )
        if parts.scheme.startswith(("redis", "http")) and not parts.hostname:
            raise ConfigError(path, f"must name a host ({parts.scheme}://HOST:PORT), got {text!r}")
        if parts.scheme == "sqlite" and not parts.path.strip("/"):
            raise ConfigError(path, f"must name a file (sqlite:///path/cache.db), got {text!r}")
        return text

    return check


# ---------------------------------------------------------------------------- parse


def _pooling(path: str, value: Any) -> PoolingConfig | None:
    s = _Section(path, value, _keys("connection_pooling"), "connection_pooling")
    if not s.get("enabled", _bool, True):
        return None
    config = PoolingConfig(
        max_connections=s.get("max_connections", _count(1), None),
        max_keepalive_connections=s.get("max_keepalive_connections", _count(0), None),
        keepalive_expiry=s.get("keepalive_expiry", _seconds, None),
        http2=s.get("http2", _bool, False),
        timeout_seconds=s.get("timeout_seconds", _seconds, None),
    )
    most, kept = config.max_connections, config.max_keepalive_connections
    if most is not None and kept is not None and kept > most:
        raise ConfigError(
            s.at("max_keepalive_connections"), f"must be <= max_connections ({most}), got {kept}"
        )
    return config


OLLAMA_KEEP_ALIVE = 600.0
"""The keep-alive Ollama warm-up pings ask for when ``warmup.keep_alive`` is not set (10m)."""


def _interval(path: str, value: Any) -> float | Literal["auto"]:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        seconds = _seconds(path, value)
    except ConfigError as exc:
        if "must be a duration" not in exc.message:
            raise
        raise ConfigError(
            path,
            f'must be a duration (seconds, "300s", "10m", "1h30m") or "auto", got {_kind(value)}',
        ) from None
    if seconds < MIN_INTERVAL:
        raise ConfigError(path, f"must be >= {MIN_INTERVAL:g} s (the shortest), got {value}")
    return seconds


def _warmup(path: str, value: Any, default_model: str | None, provider: str) -> WarmupConfig | None:
    s = _Section(path, value, _keys("warmup"), "warmup")
    if not s.get("enabled", _bool, True):
        return None
    model = s.get("model", _text, default_model or "")
    if not model:
        raise ConfigError(s.at("model"), "is required when the provider has no default_model")
    # No interval: the warming policy decides when to ping (@warm's default).
    interval: float | Literal["auto"] | None = None
    if s.has("interval_seconds"):
        interval = _interval(s.at("interval_seconds"), s.value["interval_seconds"])
    budget = s.get("cold_start_budget", _budget, None)
    default_keep_alive = OLLAMA_KEEP_ALIVE if provider == "ollama" else None
    keep_alive = s.get("keep_alive", _seconds, default_keep_alive)
    seconds = interval if isinstance(interval, float) else None
    if keep_alive is not None and seconds is not None and seconds >= keep_alive:
        raise ConfigError(
            s.at("interval_seconds"),
            f"must be < keep_alive ({keep_alive:g} s), got {seconds:g}: a ping as late as "
            "the keep-alive finds the model already unloaded",
        )
    backend = s.get("backend", _url(("redis", "rediss")), None)
    return WarmupConfig(True, model, interval, keep_alive, backend, budget)


def _budget(path: str, value: Any) -> float:
    return fraction(path, value, what="a fraction of calls", example=", e.g. 0.01")


def _cache(path: str, value: Any) -> CacheConfig | None:
    s = _Section(path, value, _keys("cache"), "cache")
    if not s.get("enabled", _bool, True):
        return None
    return CacheConfig(
        max_size=s.get("max_size", _count(1), 1000),
        ttl_seconds=s.get("ttl_seconds", _seconds, 3600.0),
        backend=s.get("backend", _url(("memory", "sqlite", "redis", "rediss")), None),
    )


def _tiers(path: str, value: Any) -> tuple[TierConfig, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(path, f"must be a non-empty list of tiers, got {_kind(value)}")
    tiers: list[TierConfig] = []
    for i, item in enumerate(value):
        at = f"{path}[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(at, f"must be a mapping with name and model, got {_kind(item)}")
        for key in ("name", "model"):
            if key not in item:
                raise ConfigError(f"{at}.{key}", "is required")
        name = _text(f"{at}.name", item["name"])
        if any(t.name == name for t in tiers):
            raise ConfigError(f"{at}.name", f"repeats the tier name {name!r}")
        overrides = {str(k): v for k, v in item.items() if k not in ("name", "model")}
        tiers.append(
            TierConfig(name, _text(f"{at}.model", item["model"]), types.MappingProxyType(overrides))
        )
    return tuple(tiers)


def _routing(path: str, value: Any) -> RoutingConfig | None:
    s = _Section(path, value, _keys("routing"), "routing")
    if not s.get("enabled", _bool, True):
        return None
    if not s.has("tiers"):
        raise ConfigError(s.at("tiers"), "is required (a list of {name, model, ...})")
    return RoutingConfig(
        tiers=_tiers(s.at("tiers"), s.value["tiers"]),
        prefer_warm=s.get("prefer_warm", _bool, False),
        hedge_after_seconds=s.get("hedge_after_seconds", _seconds, None),
        fallback=s.get("fallback", _bool, True),
        cooldown_seconds=s.get("cooldown_seconds", _seconds, None),
    )


def _tracing(path: str, value: Any) -> TracingConfig | None:
    s = _Section(path, value, _keys("tracing"), "tracing")
    if not s.get("enabled", _bool, True):
        return None
    return TracingConfig(capture_content=s.get("capture_content", _bool, None))


_PROVIDER_KEYS = (
    "api_key",
    "api_base",
    "default_model",
    "connection_pooling",
    "warmup",
    "cache",
    "routing",
    "tracing",
)


def _provider(name: str, value: Any) -> StackConfig:
    s = _Section(f"llm.{name}", value, _PROVIDER_KEYS)
    default_model = s.get("default_model", _text, None)
    pooling: PoolingConfig | None = PoolingConfig()
    if s.has("connection_pooling"):
        pooling = _pooling(s.at("connection_pooling"), s.value["connection_pooling"])
    warmup = None
    if s.has("warmup"):
        warmup = _warmup(s.at("warmup"), s.value["warmup"], default_model, name)
    return StackConfig(
        provider=name,
        api_key=s.get("api_key", _text, None),
        api_base=s.get("api_base", _url(("http", "https")), None),
        default_model=default_model,
        pooling=pooling,
        warmup=warmup,
        cache=s.get("cache", _cache, None),
        routing=s.get("routing", _routing, None),
        tracing=s.get("tracing", _tracing, None),
    )


def parse_config(data: Any, environ: Mapping[str, str] | None = None) -> Mapping[str, StackConfig]:
    """Validate a whole configuration (its ``llm:`` section); return a stack per provider.

    Other top-level keys belong to the application and are ignored. ``${VAR}`` references
    are substituted from ``environ`` (default: ``os.environ``) first.

    .. versionadded:: 0.1.0
    """
    if not isinstance(data, Mapping):
        raise ConfigError("(top level)", f"must be a mapping with an llm key, got {_kind(data)}")
    if "llm" not in data:
        raise ConfigError("llm", "is required (llm: {openai: {...}, ollama: {...}})")
    llm = substitute(data["llm"], os.environ if environ is None else environ, "llm")
    if not isinstance(llm, Mapping) or not llm:
        raise ConfigError("llm", f"must be a mapping of providers, got {_kind(llm)}")
    stacks: dict[str, StackConfig] = {}
    for name, section in llm.items():
        if name not in PROVIDERS:
            raise UnknownOptionError(
                f"llm.{name}",
                f"is not a known provider{did_you_mean(str(name), PROVIDERS)}; "
                f"known providers are: {', '.join(PROVIDERS)}",
            )
        stacks[name] = _provider(name, section)
    return types.MappingProxyType(stacks)
