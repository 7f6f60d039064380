"""Cache keys: canonical JSON of a call, hashed; credentials replaced by a keyed fingerprint.

What is hashed (format ``KEY_FORMAT``), as one JSON array encoded by ``orjson`` with sorted
keys and no whitespace::

    ["llmwarm-cache-2", "<module>:<qualname>", {<bound arguments>}, <scope value>, <fingerprint>]

* bound arguments: by name, defaults applied, extra ``**kwargs`` merged flat (so ``f(x)``
  and ``f(prompt=x)`` agree), without ``self``/``cls``, the injected ``client`` and
  ``http_client``, and without credentials (``api_key``, a string or a callable whose
  value counts; ``Authorization``, ``api-key`` and ``x-api-key`` in
  ``headers``/``extra_headers``);
* tuples are lists, sets are sorted lists, dict keys are sorted (non-string keys become
  strings), pydantic models are ``model_dump(mode="json")``, dataclasses their fields,
  bytes ``{"__bytes__": "<hex>"}``; anything else makes the call uncacheable;
* fingerprint: ``None`` without credentials, else the hex HMAC-SHA256 of the credentials
  under the cache secret. The credentials are those of the arguments above, every
  credential channel of an injected or passed ``client``/``http_client`` (read by
  :mod:`llmwarm.cache.tenant`: keys, organization, project, Azure settings, headers,
  query, cookies, httpx ``auth=``, class and ``base_url``), and for methods those of the
  instance (``self.client``, ``self.http_client``, ``self._client``, ``self.api_key``).
  Nothing else of the instance is in the key. A credential that cannot be read raises
  :class:`UnknownTenant` (the call is not cached) unless ``scope=`` names the tenant.

The digest is the first 32 hex characters (128 bits) of its SHA-256. The stored key is
``"<module>:<qualname>:<digest>"``, so a back end can clear one function's entries; the
in-process memory back end stores the canonical JSON itself in place of the digest.
(Format 1 joined module and qualname with a dot, which made ``"a.b" + "c"`` and
``"a" + "b.c"`` the same name; format 2 fingerprinted only keys, auth headers, class and
``base_url``.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from llmwarm.cache.tenant import (
    Uncacheable,
    UnknownTenant,
    client_credentials,
    held_clients,
    secret_value,
)

__all__ = [
    "CANONICAL_OPTIONS",
    "CREDENTIAL_HEADERS",
    "ENV_SECRET",
    "INJECTED",
    "KEY_FORMAT",
    "Fingerprinter",
    "Uncacheable",
    "UnknownTenant",
    "canonical",
    "canonical_default",
    "digest",
    "instance_credentials",
    "special_names",
]

KEY_FORMAT = "llmwarm-cache-3"
"""Version of what is hashed; changes whenever a key for the same data would change."""

ENV_SECRET = "LLMWARM_CACHE_SECRET"
"""Environment variable holding the cache secret shared by every process of a back end.

It keys credential fingerprints and signs persistent rows (:mod:`llmwarm.cache.codec`).
"""

INJECTED = ("client", "http_client")
"""Arguments ``@pooled`` injects: never part of a key (their credential is fingerprinted)."""

INSTANCE_CLIENTS = ("client", "http_client", "_client")
"""Attributes of a method's instance whose clients' credentials are fingerprinted."""

CREDENTIAL_ARGS = ("api_key",)
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "ocp-apim-subscription-key",
        "cookie",
        "openai-organization",
        "openai-project",
    }
)
"""Headers of a call's ``headers``/``extra_headers`` kept out of the key, fingerprinted."""
HEADER_ARGS = ("extra_headers", "headers")

_SPECIAL = (*INJECTED, *CREDENTIAL_ARGS, *HEADER_ARGS)

# Public, fixed, and documented: without a secret, fingerprints are an HMAC under this
# constant, which still never reveals a credential but lets someone who can read the back
# end *confirm a guess* of a low-entropy credential. Set LLMWARM_CACHE_SECRET to avoid that.
_DEFAULT_SECRET = b"llmwarm-cache-fingerprint-v1:set LLMWARM_CACHE_SECRET for shared back ends"

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
CANONICAL_OPTIONS = _OPTIONS
"""The ``orjson`` options of :func:`canonical` (for callers that inline it on a hot path)."""


def canonical_default(value: Any) -> Any:
    """Encode what ``orjson`` does not: models, sets, bytes, dataclasses (see :func:`canonical`)."""
    dump = getattr(value, "model_dump", None)
    if dump is not None and not isinstance(value, type):
        return dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=lambda item: orjson.dumps(item, default=_default, option=_OPTIONS))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__bytes__": bytes(value).hex()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__qualname__} is not JSON serializable")


_default = canonical_default


def canonical(value: Any) -> bytes:
    """Return the canonical JSON bytes of ``value`` (raises :class:`Uncacheable`)."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise Uncacheable(str(exc)) from None


def digest(data: bytes) -> str:
    """Return the first 32 hex characters (128 bits) of the SHA-256 of ``data``.

    SHA-256 rather than BLAKE2b: with the SHA extensions of current x86 and ARM CPUs it
    hashes an 8 KB prompt about twice as fast, and is as fast on a short chat.
    """
    return hashlib.sha256(data).hexdigest()[:32]


def secret_from(fingerprint_key: str | bytes | None) -> bytes:
    """Return the fingerprint secret: the option, ``$LLMWARM_CACHE_SECRET``, or a constant."""
    if fingerprint_key is None:
        fingerprint_key = os.environ.get(ENV_SECRET) or None
    if fingerprint_key is None:
        return _DEFAULT_SECRET
    return fingerprint_key.encode() if isinstance(fingerprint_key, str) else fingerprint_key


def is_default_secret(secret: bytes) -> bool:
    """Whether ``secret`` is the public constant used when no secret is configured."""
    return secret == _DEFAULT_SECRET


class Fingerprinter:
    """Separates a call's credentials from its key: strips them, and fingerprints them.

    ``strict``: raise :class:`UnknownTenant` for a credential that cannot be read (false
    when ``scope=`` names the tenant; then an unreadable channel is left out).
    """

    __slots__ = ("_memo", "secret", "strict")

    def __init__(self, secret: bytes, *, strict: bool = True) -> None:
        self.secret = secret
        self.strict = strict
        self._memo: dict[tuple[str, ...], str] = {}

    def fingerprint(self, credentials: tuple[str, ...]) -> str:
        """Return the keyed one-way fingerprint of some credentials (memoized, bounded)."""
        found = self._memo.get(credentials)
        if found is None:
            message = "\x00".join(credentials).encode()
            found = hmac.new(self.secret, message, hashlib.sha256).hexdigest()
            if len(self._memo) >= 256:
                self._memo.clear()
            self._memo[credentials] = found
        return found

    def split(
        self,
        arguments: Mapping[str, Any],
        extra: Sequence[str] = (),
        names: Sequence[str] = _SPECIAL,
    ) -> tuple[Mapping[str, Any], str | None]:
        """Return the arguments without injected objects and credentials, and the fingerprint.

        ``extra``: credentials found elsewhere (a method's instance), fingerprinted too.
        ``names``: the injected and credential names the arguments can hold at all (see
        :func:`special_names`); the rest are not looked up on the common path.
        """
        if not extra:
            for name in names:
                # `is not None`, not `in`: a function that declares `client=None` for @pooled
                # to fill in has it in every call's arguments, and None holds no credential.
                if arguments.get(name) is not None:
                    break
            else:  # the common case: nothing to strip, no copy
                return arguments, None
        strict = self.strict
        kept = dict(arguments)
        credentials: list[str] = list(extra)
        for name in INJECTED:
            injected = kept.pop(name, None)
            if injected is not None:
                credentials.extend(client_credentials(name, injected, strict=strict))
        for name in CREDENTIAL_ARGS:
            secret = kept.pop(name, None)
            if secret is not None:
                try:  # a callable api_key: the value it returns is the tenant
                    value = secret_value(secret, name)
                except UnknownTenant:
                    if strict:
                        raise
                    value = "<unreadable>"
                credentials.append(f"{name}={value}")
        for name in HEADER_ARGS:
            headers = kept.get(name)
            if not headers:  # ABC checks cost: test falsy first
                continue
            pairs = _header_pairs(headers)
            if pairs is None:
                continue  # neither a mapping nor (name, value) pairs: not HTTP headers
            plain = []
            for header, value in pairs:
                lowered = _text(header).lower()
                if lowered in CREDENTIAL_HEADERS:
                    credentials.append(f"{name}:{lowered}={_text(value)}")
                else:
                    plain.append((header, value))
            kept[name] = dict(plain) if isinstance(headers, Mapping) else [list(p) for p in plain]
        if not credentials:
            return kept, None
        return kept, self.fingerprint(tuple(sorted(credentials)))


def special_names(parameters: Sequence[str], var_keyword: bool) -> tuple[str, ...]:
    """Return the injected and credential names a function's bound arguments can hold.

    With ``**kwargs`` (or no known signature) any name can arrive, so all of them; else
    only those among its ``parameters``. A keyword the function does not declare makes
    its real call fail, so such a call is never stored. Checking two names rather than
    seven on every call is a tenth of a microsecond off every cache hit.
    """
    if var_keyword:
        return _SPECIAL
    return tuple(name for name in _SPECIAL if name in parameters)


def _text(value: Any) -> str:
    """Return a header name or value as text: httpx takes bytes too (latin-1, as on the wire)."""
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def _header_pairs(headers: Any) -> list[tuple[Any, Any]] | None:
    """Return headers as (name, value) pairs, in every form httpx accepts, else ``None``.

    A mapping, ``httpx.Headers`` (every value of a repeated header), or a list/tuple of
    pairs (``[("Authorization", "Bearer ...")]``): each form's credential headers must be
    fingerprinted, or a secret given as pairs would stay in the key as plain text.
    """
    multi_items = getattr(headers, "multi_items", None)
    if callable(multi_items):
        return list(multi_items())
    if isinstance(headers, Mapping):
        return list(headers.items())
    if isinstance(headers, (list, tuple)) and all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in headers
    ):
        return [(pair[0], pair[1]) for pair in headers]
    return None


def instance_credentials(instance: Any, *, strict: bool = True) -> list[str]:
    """Return the credentials a method's instance holds (its clients' and its ``api_key``).

    Its clients: ``client``/``http_client``/``_client``, and any other attribute holding a
    client (or a list, tuple or dict of them), whatever its name.
    """
    found: list[str] = []
    for attribute in INSTANCE_CLIENTS:
        held = getattr(instance, attribute, None)
        if held is not None:
            found.extend(client_credentials(f"self.{attribute}", held, strict=strict))
    # A client kept under any other name (self.llm = OpenAI(...)) is the tenant too.
    for attribute, value in getattr(instance, "__dict__", {}).items():
        if attribute not in INSTANCE_CLIENTS:
            for where, client in held_clients(attribute, value):
                found.extend(client_credentials(f"self.{where}", client, strict=strict))
    api_key = getattr(instance, "api_key", None)
    if api_key is not None:
        try:
            value = secret_value(api_key, "self.api_key")
        except UnknownTenant:
            if strict:
                raise
            value = "<unreadable>"
        if value is not None:
            found.append(f"self.api_key={value}")
    return found
