"""Numbers given to decorators, checked once, at decoration: durations, fractions, counts.

Every decorator checks its numbers here, so a NaN, an infinity, a negative or a too-small
value fails the same way everywhere, before any call: a :class:`~llmwarm.ConfigError`
(a ``ValueError``) that names the parameter, its value and the accepted range. A value of
the wrong type (a string, a bool) is a ``TypeError`` with the same message.

:func:`parse_duration` is llmwarm's one duration reader (a number, a ``timedelta`` or a
string such as ``"5m"``): the YAML configuration and the simulator both read through it.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from llmwarm._core.errors import ConfigError

__all__ = ["count", "fraction", "parse_duration", "seconds", "seconds_or_none"]

# Go's duration units (what Ollama's keep_alive accepts) and days, for configuration files.
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h|d)")
DURATION_FORMS = 'seconds, "300ms", "10m", "1h30m" or a timedelta'
"""What :func:`parse_duration` accepts, for error messages."""


def parse_duration(value: object, *, negative_is_forever: bool = False) -> float:
    """Return seconds from a number, a ``timedelta``, or a string (``"5m"``, ``"1h30m"``).

    A string is a number of seconds or a sequence of ``<number><unit>`` parts (units
    ``ns``, ``us``, ``ms``, ``s``, ``m``, ``h``, ``d``; spaces between parts are ignored),
    optionally signed. A negative duration is returned as is, unless
    ``negative_is_forever``: then it (and an infinite one) means "forever", returned as
    ``math.inf``, as Ollama reads ``keep_alive``. Raises :class:`ValueError` for anything
    else (booleans, empty strings, unknown units, NaN, and infinities unless forever).
    The range is the caller's to check (:func:`seconds` names the parameter).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration ({DURATION_FORMS})")
    if isinstance(value, timedelta):
        number = value.total_seconds()
    elif isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            sign = -1.0 if text.startswith("-") else 1.0
            body = text.lstrip("+-").replace(" ", "")
            if not body or _PART.sub("", body):
                raise ValueError(f"{value!r} is not a duration ({DURATION_FORMS})") from None
            number = sign * sum(float(n) * _UNITS[u] for n, u in _PART.findall(body))
    else:
        raise ValueError(f"{value!r} is not a duration ({DURATION_FORMS})")
    if math.isnan(number):
        raise ValueError(f"{value!r} is not a duration ({DURATION_FORMS})")
    if negative_is_forever and number < 0:
        return math.inf
    if math.isinf(number) and not negative_is_forever:
        raise ValueError(f"{value!r} is not a duration ({DURATION_FORMS})")
    return number


def _accepted(minimum: float, inclusive: bool, maximum: float | None) -> str:
    low = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
    high = "" if maximum is None else f" and <= {maximum:g}"
    return f"a finite number of seconds {low}{high} (or a timedelta)"


def seconds(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    inclusive: bool = False,
    maximum: float | None = None,
    hint: str = "",
) -> float:
    """Return ``value`` as float seconds, or raise naming ``name`` and the accepted range.

    Accepted: an int, a float or a ``timedelta``, finite, above ``minimum`` (or equal to
    it when ``inclusive``) and at most ``maximum``. ``hint`` ends the message (the fix).
    """
    accepted = _accepted(minimum, inclusive, maximum)
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {accepted}; got {value!r}.{hint}")
    number = float(value)
    low_ok = number >= minimum if inclusive else number > minimum
    if not (math.isfinite(number) and low_ok and (maximum is None or number <= maximum)):
        raise ConfigError(name, f"must be {accepted}; got {value!r}.{hint}")
    return number


def seconds_or_none(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    inclusive: bool = False,
    none: str = "None",
) -> float | None:
    """Like :func:`seconds`, but None is accepted (and returned); ``none`` says what it means."""
    if value is None:
        return None
    return seconds(name, value, minimum=minimum, inclusive=inclusive, hint=f" Or {none}.")


def fraction(name: str, value: object, *, what: str = "a fraction", example: str = "") -> float:
    """Return ``value`` as a float in ``[0, 1)``, or raise a ConfigError naming ``name``.

    ``what`` says what the fraction counts (``"a fraction of calls"``) and ``example`` ends
    the accepted range (``", e.g. 0.01"``). A wrong type is a ConfigError too: a fraction
    given as ``"1%"`` is a configuration mistake like ``1.5``.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and 0 <= value < 1)
    ):
        raise ConfigError(name, f"must be {what} in [0, 1){example}, got {value!r}")
    return float(value)


def count(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``, or raise naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"must be an int >= {minimum}; got {value!r}.")
    return value
