"""Classifiers: pick a ``@routed`` tier from a request's bound arguments.

A classifier is a function ``classify(arguments) -> str | int`` given the call's bound
arguments by name (defaults applied). It returns a tier *name*, or a tier *index* in the
list of tiers ordered cheapest first (negative from the end; out of range is clamped).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_LONG",
    "DEFAULT_SHORT",
    "DEFAULT_WORDS",
    "Classifier",
    "default_classifier",
    "last_user_text",
]

Classifier = Callable[[Mapping[str, Any]], "str | int"]

#: A request under this many characters (without a hard word) goes to the first tier.
DEFAULT_SHORT = 50
#: A request under this many characters goes to the second tier; longer ones to the last.
DEFAULT_LONG = 200
#: Words that mark a request as needing more than the cheapest tier, however short.
DEFAULT_WORDS: tuple[str, ...] = (
    "explain",
    "analyze",
    "analyse",
    "compare",
    "why",
    "design",
    "prove",
)


def _field(message: Any, name: str) -> Any:
    if type(message) is dict:  # the usual message: no ABC check (a few hundred ns a call)
        return message.get(name)
    if isinstance(message, Mapping):
        return message.get(name)
    return getattr(message, name, None)


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable) and not isinstance(content, (bytes, Mapping)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            else:
                text = _field(part, "text")
                if isinstance(text, str):
                    parts.append(text)
        return "\n".join(parts)
    return None


def last_user_text(arguments: Mapping[str, Any]) -> str | None:
    """Return the text of the last user message (OpenAI-style ``messages``) or ``prompt``.

    A message is a dict (or an object) with ``role`` and ``content``; content is a string
    or a list of parts (``{"type": "text", "text": ...}``). Without a user message, the
    last message counts. Returns None when the arguments hold no text at all.
    """
    messages = arguments.get("messages")
    if isinstance(messages, (list, tuple)) and messages:
        # The last user message, looked for from the end (no list of them all).
        last = messages[-1]
        for message in reversed(messages):
            if _field(message, "role") == "user":
                last = message
                break
        text = _text_of(_field(last, "content"))
        if text is not None:
            return text
    prompt = arguments.get("prompt")
    return prompt if isinstance(prompt, str) else None


def default_classifier(
    *, short: int = DEFAULT_SHORT, long: int = DEFAULT_LONG, words: Iterable[str] = DEFAULT_WORDS
) -> Classifier:
    """Return the classifier ``@routed`` uses by default, with its thresholds and words.

    The last user message under ``short`` characters and without any of ``words`` (whole
    words, any case) goes to the first tier (index 0); under ``long`` characters to the
    second (index 1); otherwise, and when there is no text at all, to the last (index -1).
    With fewer tiers the index is clamped (two tiers: medium and complex share the second).

    .. versionadded:: 0.1.0
    """
    for name, value in (("short", short), ("long", long)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0 (characters), got {value!r}.")
    if long < short:
        raise ValueError(f"long ({long!r}) must be >= short ({short!r}).")
    if isinstance(words, str):
        raise TypeError(f"words must be a list of words, not the string {words!r}.")
    vocabulary = tuple(str(w).lower() for w in words)
    pattern = (
        re.compile(r"\b(?:" + "|".join(map(re.escape, vocabulary)) + r")\b", re.IGNORECASE)
        if vocabulary
        else None
    )

    def classify(arguments: Mapping[str, Any]) -> int:
        text = last_user_text(arguments)
        if text is None:
            return -1
        if len(text) < short and (pattern is None or pattern.search(text) is None):
            return 0
        if len(text) < long:
            return 1
        return -1

    return classify
