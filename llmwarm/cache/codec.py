"""How persistent back ends store values: signed JSON rows with type tags, never pickle.

A row is ``MAGIC + HMAC + payload``. The payload is JSON (``orjson``) holding the value and
its expiry; the HMAC-SHA256, under the cache secret, covers the row's key and its payload,
so a row written without the secret, altered, copied under another key, or kept alive
past its signed expiry is refused. The payload is verified before it
is parsed, and the type a row names is looked up in :mod:`llmwarm.cache.allowlist` before
anything is imported: a row is data, never code.

A pydantic model is stored as its allowed name and ``model_dump(mode="json")`` and comes
back as an instance of the same class (an OpenAI ``ChatCompletion`` stays a
``ChatCompletion``); a registered dataclass as its name and fields. Tuples, bytes and dicts
with non-string keys keep their type; recorded streams keep their chunks in order.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from typing import Any

import orjson

from llmwarm._core import CorruptCacheRow
from llmwarm.cache import allowlist

__all__ = [
    "CodecError",
    "CorruptCacheRow",
    "ExpiredRow",
    "RecordedStream",
    "decode",
    "encode",
    "sign",
    "verify",
]

_TAG = "__llmwarm__"
_VERSION = 2
MAGIC = b"llmwarm\x02"
"""First bytes of every row (format 2: signed); rows of format 1 are refused."""
_MAC_SIZE = 32


class CodecError(ValueError):
    """A value that cannot be stored, or stored bytes that cannot be loaded."""


class ExpiredRow(Exception):
    """A genuine row whose signed expiry has passed: a miss, deleted, not corrupt."""


class RecordedStream:
    """The chunks of a stream that completed, in order: what a cache stores for a stream."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: tuple[Any, ...]) -> None:
        self.chunks = chunks

    def __repr__(self) -> str:
        return f"RecordedStream({len(self.chunks)} chunks)"


def _tag(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if kind is list:
        return [_tag(item) for item in value]
    if kind is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: _tag(v) for k, v in value.items()}
        return {_TAG: "dict", "items": [[_tag(k), _tag(v)] for k, v in value.items()]}
    if kind is tuple:
        return {_TAG: "tuple", "items": [_tag(item) for item in value]}
    if kind is bytes:
        return {_TAG: "bytes", "b64": base64.b64encode(value).decode()}
    if kind is RecordedStream:
        return {_TAG: "stream", "chunks": [_tag(chunk) for chunk in value.chunks]}
    name = allowlist.name_of(kind)
    if name is not None:
        if allowlist.kind_of(kind) == "pydantic":
            return {_TAG: "pydantic", "type": name, "data": value.model_dump(mode="json")}
        fields = {f.name: _tag(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "type": name, "data": fields}
    if hasattr(kind, "model_dump") or dataclasses.is_dataclass(value):
        raise CodecError(
            f"{kind.__module__}.{kind.__qualname__} is not on the cache's allow-list of "
            "types; register it with llmwarm.cache.register_type() to store it"
        )
    raise CodecError(
        f"a {kind.__qualname__} cannot be stored by a persistent cache back end; results must "
        "be JSON data, tuples, bytes, streams, or registered pydantic models or dataclasses"
    )


def _allowed(value: Any, tag: str) -> type:
    cls = allowlist.resolve(value.get("type"))
    if cls is None or allowlist.kind_of(cls) != tag:
        raise CorruptCacheRow(f"the row names {value.get('type')!r}, which is not an allowed {tag}")
    return cls


def _untag(value: Any) -> Any:
    if type(value) is list:
        return [_untag(item) for item in value]
    if type(value) is not dict:
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: _untag(v) for k, v in value.items()}
    if tag == "tuple":
        return tuple(_untag(item) for item in value["items"])
    if tag == "dict":
        return {_untag(k): _untag(v) for k, v in value["items"]}
    if tag == "bytes":
        return base64.b64decode(value["b64"], validate=True)
    if tag == "stream":
        return RecordedStream(tuple(_untag(chunk) for chunk in value["chunks"]))
    if tag == "pydantic":
        return _allowed(value, "pydantic").model_validate(value["data"])  # type: ignore[attr-defined]
    if tag == "dataclass":
        cls = _allowed(value, "dataclass")
        declared = dataclasses.fields(cls)
        unknown = set(value["data"]) - {f.name for f in declared}
        if unknown:  # only declared fields: never __class__, __dict__ or a method's name
            raise CorruptCacheRow(
                f"the row sets {len(unknown)} name(s) that are not fields of {cls.__qualname__}"
            )
        fields = {k: _untag(v) for k, v in value["data"].items()}
        init = {f.name for f in declared if f.init}
        instance = cls(**{k: v for k, v in fields.items() if k in init})
        for name, field_value in fields.items():
            if name not in init:
                object.__setattr__(instance, name, field_value)
        return instance
    raise CorruptCacheRow(f"unknown type tag {tag!r}")


def _mac(secret: bytes, key: str, payload: bytes | memoryview) -> bytes:
    # The key is length-prefixed, so no (key, payload) pair can pass for another.
    encoded = key.encode()
    mac = hmac.new(secret, b"%d:" % len(encoded), hashlib.sha256)
    mac.update(encoded)
    mac.update(payload)  # fed in place: no copy of a row that may be large
    return mac.digest()


def sign(secret: bytes, key: str, payload: bytes) -> bytes:
    """Return the row for ``payload`` stored under ``key``: magic, HMAC, payload."""
    return MAGIC + _mac(secret, key, payload) + payload


def verify(secret: bytes, key: str, row: bytes) -> memoryview:
    """Return the payload of a row stored under ``key`` (raises :class:`CorruptCacheRow`)."""
    if not isinstance(row, (bytes, bytearray, memoryview)):
        raise CorruptCacheRow(f"a row of type {type(row).__qualname__}, not bytes")
    view = memoryview(row)
    start = len(MAGIC) + _MAC_SIZE
    if len(view) < start or view[: len(MAGIC)] != MAGIC:
        raise CorruptCacheRow("not a signed llmwarm row (another format, or not llmwarm's)")
    payload = view[start:]
    if not hmac.compare_digest(view[len(MAGIC) : start], _mac(secret, key, payload)):
        raise CorruptCacheRow(
            "bad signature: written without this cache secret, altered, or moved from another key"
        )
    return payload


def encode(value: Any, *, key: str, secret: bytes, expires: float | None = None) -> bytes:
    """Encode and sign a result stored under ``key`` (raises :class:`CodecError`).

    ``expires`` (wall-clock seconds, ``None``: never) is signed with the value, so that
    extending a row's life in the store (SQLite's column, a Redis ``PERSIST``) cannot
    replay a stale answer.
    """
    try:
        payload = orjson.dumps({"v": _VERSION, "e": expires, "value": _tag(value)})
    except CodecError:
        raise
    except (TypeError, ValueError) as exc:
        raise CodecError(str(exc)) from None
    return sign(secret, key, payload)


def decode(row: bytes, *, key: str, secret: bytes, now: float) -> Any:
    """Verify and decode a row read under ``key`` at wall-clock time ``now``.

    Raises :class:`CorruptCacheRow`, or :class:`ExpiredRow` when the expiry signed in
    the row has passed (whatever the store says).
    """
    payload = verify(secret, key, row)
    try:
        document = orjson.loads(payload)
        if type(document) is not dict or document.get("v") != _VERSION:
            raise CorruptCacheRow("not an llmwarm cache value of a known version")
        expires = document.get("e")
        if expires is not None and expires <= now:
            raise ExpiredRow(key)
        return _untag(document["value"])
    except (CorruptCacheRow, ExpiredRow):
        raise
    except Exception as exc:  # signed by us, yet unloadable: a class whose fields changed
        # Only the error's type: its text (a pydantic ValidationError) quotes the value.
        raise CorruptCacheRow(f"cannot decode a cached value ({type(exc).__name__})") from None
