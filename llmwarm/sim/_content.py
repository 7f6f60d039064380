"""Deterministic fake content: token counts, generated text and embedding vectors."""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import struct
from collections.abc import Iterable

__all__ = ["count_tokens", "embed", "encode_base64", "generate_tokens", "text_of"]

_WORDS = (
    "the quick brown fox jumps over a lazy dog while cold models warm up slowly",
    "and every request waits for weights to load before the first token arrives",
)
_VOCAB = tuple(word for line in _WORDS for word in line.split())
_TOKEN = re.compile(r"\w+|[^\w\s]")


def text_of(value: object) -> str:
    """Flatten a prompt, a message list or OpenAI content parts into plain text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(text_of(value.get(k)) for k in ("content", "text") if k in value)
    if isinstance(value, Iterable):
        return " ".join(text_of(v) for v in value)
    return ""


def count_tokens(text: str) -> int:
    """Estimate the number of tokens of ``text`` (words and punctuation marks)."""
    return len(_TOKEN.findall(text))


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def generate_tokens(prompt: str, n: int) -> list[str]:
    """Return ``n`` tokens of text chosen deterministically from ``prompt``."""
    rng = random.Random(_seed(prompt))
    words = [rng.choice(_VOCAB) for _ in range(n)]
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def embed(text: str, dimensions: int) -> list[float]:
    """Return a unit vector of ``dimensions`` floats derived from a hash of ``text``."""
    rng = random.Random(_seed(text))
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def encode_base64(vector: list[float]) -> str:
    """Encode ``vector`` as OpenAI's ``encoding_format="base64"`` does (float32, LE)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
