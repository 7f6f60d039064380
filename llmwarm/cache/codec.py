"""How persistent back ends store values: JSON with type tags, never pickle.

A pydantic model is stored as its class's import path and ``model_dump(mode="json")`` and
comes back as an instance of the same class (an OpenAI ``ChatCompletion`` stays a
``ChatCompletion``); a dataclass as its path and fields. On load only classes that are
pydantic models or dataclasses are accepted, and only from packages the process has
already imported, so a tampered back end cannot make the process import arbitrary code.
Tuples, bytes and dicts with non-string keys keep their type; recorded streams keep their
chunks in order.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import sys
from typing import Any

import orjson

__all__ = ["CodecError", "RecordedStream", "decode", "encode"]

_TAG = "__llmwarm__"
_VERSION = 1


class CodecError(ValueError):
    """A value that cannot be stored, or stored bytes that cannot be loaded."""


class RecordedStream:
    """The chunks of a stream that completed, in order: what a cache stores for a stream."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: tuple[Any, ...]) -> None:
        self.chunks = chunks

    def __repr__(self) -> str:
        return f"RecordedStream({len(self.chunks)} chunks)"


def _path(kind: type) -> str:
    return f"{kind.__module__}:{kind.__qualname__}"


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
    if hasattr(kind, "model_dump") and hasattr(kind, "model_validate"):
        return {_TAG: "pydantic", "type": _path(kind), "data": value.model_dump(mode="json")}
    if dataclasses.is_dataclass(value):
        fields = {f.name: _tag(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {_TAG: "dataclass", "type": _path(kind), "data": fields}
    raise CodecError(
        f"a {kind.__qualname__} cannot be stored by a persistent cache back end; results must "
        "be JSON data, tuples, bytes, pydantic models, dataclasses or streams of those"
    )


def _load_class(path: str) -> type:
    module_name, _, qualname = path.partition(":")
    if module_name.partition(".")[0] not in sys.modules:
        raise CodecError(f"refusing to import {module_name!r}: its package is not imported")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    is_model = isinstance(target, type) and hasattr(target, "model_validate")
    if is_model:
        from pydantic import BaseModel  # pydantic is what model_validate means here

        is_model = issubclass(target, BaseModel)
    if not (is_model or (isinstance(target, type) and dataclasses.is_dataclass(target))):
        raise CodecError(f"{path} is neither a pydantic model nor a dataclass")
    return target  # type: ignore[no-any-return]


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
        return base64.b64decode(value["b64"])
    if tag == "stream":
        return RecordedStream(tuple(_untag(chunk) for chunk in value["chunks"]))
    if tag == "pydantic":
        return _load_class(value["type"]).model_validate(value["data"])  # type: ignore[attr-defined]
    if tag == "dataclass":
        kind = _load_class(value["type"])
        fields = {k: _untag(v) for k, v in value["data"].items()}
        init = {f.name for f in dataclasses.fields(kind) if f.init}
        instance = kind(**{k: v for k, v in fields.items() if k in init})
        for name, field_value in fields.items():
            if name not in init:
                object.__setattr__(instance, name, field_value)
        return instance
    raise CodecError(f"unknown type tag {tag!r}")


def encode(value: Any) -> bytes:
    """Encode a result for a persistent back end (raises :class:`CodecError`)."""
    try:
        return orjson.dumps({"v": _VERSION, "value": _tag(value)})
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CodecError):
            raise
        raise CodecError(str(exc)) from None


def decode(data: bytes) -> Any:
    """Decode bytes written by :func:`encode` (raises :class:`CodecError` when corrupt)."""
    try:
        document = orjson.loads(data)
        if type(document) is not dict or document.get("v") != _VERSION:
            raise CodecError("not an llmwarm cache value of a known version")
        return _untag(document["value"])
    except CodecError:
        raise
    except Exception as exc:  # a corrupt row or a class whose fields changed
        raise CodecError(f"cannot decode a cached value: {exc}") from None
