"""Options in one place: the YAML spelling of each decorator keyword, and "did you mean".

:data:`SECTIONS` is the one table of option names: for each decorator, its section of the
YAML configuration and, for each YAML key, the keyword it sets. The configuration accepts
either spelling (``ttl_seconds`` as guides write it, ``ttl`` as the decorator does); an
unknown YAML key or decorator keyword is answered with the closest known name
(:func:`did_you_mean`), the YAML spelling of a keyword pointing to the keyword and back.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from llmwarm._core.errors import UnknownOptionError

__all__ = ["SECTIONS", "check_keywords", "did_you_mean", "section_keys"]

C = TypeVar("C", bound=Callable[..., Any])

#: decorator -> (its YAML section, {YAML key: keyword}). The pooling limits are
#: ``httpx.Limits`` keywords (``limits=httpx.Limits(max_connections=...)``).
SECTIONS: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "pooled": (
        "connection_pooling",
        {
            "max_connections": "max_connections",
            "max_keepalive_connections": "max_keepalive_connections",
            "keepalive_expiry": "keepalive_expiry",
            "http2": "http2",
            "timeout_seconds": "timeout",
        },
    ),
    "warm": (
        "warmup",
        {
            "model": "model",
            "interval_seconds": "interval",
            "cold_start_budget": "cold_start_budget",
            "keep_alive": "keep_alive",
            "backend": "backend",
        },
    ),
    "cached": (
        "cache",
        {"max_size": "maxsize", "ttl_seconds": "ttl", "backend": "backend"},
    ),
    "routed": (
        "routing",
        {
            "tiers": "tiers",
            "prefer_warm": "prefer_warm",
            "hedge_after_seconds": "hedge_after",
            "fallback": "fallback",
            "cooldown_seconds": "cooldown",
        },
    ),
    "traced": ("tracing", {"capture_content": "capture_content"}),
}


def section_keys(section: str) -> Mapping[str, str]:
    """Return ``{YAML key: keyword}`` of the YAML ``section`` (``"cache"``, ``"warmup"``...)."""
    for name, keys in SECTIONS.values():
        if name == section:
            return keys
    raise KeyError(section)


def did_you_mean(name: str, known: Iterable[str], aliases: Mapping[str, str] | None = None) -> str:
    """Return ``" (did you mean 'x'?)"`` for the known name closest to ``name``, or ``""``.

    ``aliases`` maps other spellings to known names: a name that is an alias suggests the
    name it stands for, however different it looks (``ttl_seconds`` -> ``ttl``).
    """
    aliases = aliases or {}
    if name in aliases:
        return f" (did you mean {aliases[name]!r}?)"
    choices = sorted(set(known) | set(aliases))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {aliases.get(close[0], close[0])!r}?)"


def check_keywords(decorator: C) -> C:
    """Answer an unknown keyword given to ``decorator`` with the closest option's name.

    Raises :class:`~llmwarm.UnknownOptionError` (a ``ConfigError`` and a ``TypeError``, the
    error Python itself raises) naming the keyword, its value and the accepted options. The
    check runs when the decorator is configured (``@cached(...)``), never on a call.
    """
    name = decorator.__name__
    parameters = inspect.signature(decorator).parameters.values()
    accepted = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    public = sorted(n for n in accepted if not n.startswith("_"))
    aliases = {k: v for k, v in SECTIONS[name][1].items() if k != v} if name in SECTIONS else {}

    @functools.wraps(decorator)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for key, value in kwargs.items():
            if key not in accepted:
                raise UnknownOptionError(
                    f"@{name}({key}={value!r})",
                    f"is not an option of @{name}{did_you_mean(key, public, aliases)}; "
                    f"it accepts: {', '.join(public)}.",
                )
        return decorator(*args, **kwargs)

    return cast(C, checked)
