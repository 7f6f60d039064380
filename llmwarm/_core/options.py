"""Numbers given to decorators, checked once, at decoration: durations and counts.

Every decorator checks its numbers here, so a NaN, an infinity, a negative or a too-small
value fails the same way everywhere, before any call: a :class:`~llmwarm.ConfigError`
(a ``ValueError``) that names the parameter, its value and the accepted range. A value of
the wrong type (a string, a bool) is a ``TypeError`` with the same message.
"""

from __future__ import annotations

import math
from datetime import timedelta

from llmwarm._core.errors import ConfigError

__all__ = ["count", "seconds", "seconds_or_none"]


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


def count(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``, or raise naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, f"must be an int >= {minimum}; got {value!r}.")
    return value
