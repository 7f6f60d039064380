"""Who a call is made as: every credential channel of a client object, read without an SDK.

Two calls share a cache entry only if they reach the same provider as the same tenant, so
everything that reaches the provider and could tell tenants apart is read here and goes
into the key's keyed fingerprint (never into the key in clear):

* the client's class and ``base_url`` (two OpenAI-compatible servers never share);
* ``api_key`` -- a string, or a callable (the value it returns now; the OpenAI SDK keeps
  it as ``_api_key_provider``), ``admin_api_key``, ``organization``, ``project``;
* Azure OpenAI: ``api_version``, the deployment and endpoint, the AD token or the value
  of its token provider;
* headers the client sends on every call (OpenAI ``default_headers``, ``ollama.Client(
  headers=...)``, an httpx client's ``headers``): all of them, except a few that never
  carry identity (``accept``, ``user-agent``, ...); query parameters (``default_query``,
  httpx ``params``) and cookies;
* an httpx / httpx2 client's ``auth=``: basic and digest credentials are read; and the
  same channels of the HTTP client inside an SDK client (``client._client``);
* a wrapper object (an unknown class holding a client): every attribute that holds an
  httpx client or any object carrying ``_client`` (OpenAI, Azure, Ollama clients, other
  wrappers), or a list, tuple or dict of them, is read as above, whatever the attribute's
  name, to a
  depth of :data:`MAX_DEPTH` nested clients.

A channel that holds something llmwarm cannot read -- an httpx ``auth=`` function or
custom ``Auth`` class, an OpenAI ``provider=``/``workload_identity=``, a token provider
that raises or is async, an unknown client holding an auth object, clients nested deeper
than :data:`MAX_DEPTH` -- raises
:class:`UnknownTenant`: the call is not cached unless ``@cached(scope=...)`` names the
tenant. Values are read on every call, never memoized, because clients can be changed in
place (``client.api_key = ...``, ``http_client.headers["Authorization"] = ...``).

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = [
    "BENIGN_HEADERS",
    "MAX_DEPTH",
    "Uncacheable",
    "UnknownTenant",
    "client_credentials",
    "held_clients",
    "secret_value",
]


class Uncacheable(Exception):
    """A call whose arguments (or scope) cannot be turned into a key."""


class UnknownTenant(Uncacheable):
    """A client carries credentials llmwarm cannot read: the tenant of the call is unknown.

    .. versionadded:: 0.2.0
    """


BENIGN_HEADERS = frozenset(
    {"accept", "accept-encoding", "connection", "content-type", "content-length", "user-agent"}
)
"""Headers that never carry identity (``x-stainless-*`` SDK telemetry headers neither)."""

_FAMILIES = ("openai", "ollama", "httpx", "httpx2")
# Plain values: each one separates tenants (or deployments, API versions, regions).
_VALUES = (
    "api_key",
    "admin_api_key",
    "organization",
    "project",
    "_api_version",
    "_azure_deployment",
    "_azure_endpoint",
    "_azure_ad_token",
    "_data_residency",
)
# Callables the SDK calls before each request: the value they return is the credential.
_PROVIDERS = ("_api_key_provider", "_azure_ad_token_provider")
# Set only when authentication is delegated to an object llmwarm cannot read.
_OPAQUE = ("_provider", "_provider_runtime", "workload_identity", "_workload_identity_auth")
_HEADERS = ("_custom_headers", "headers")
_QUERIES = ("_custom_query", "params")
# Attribute names that, on an unknown client, hint at a credential.
_HINTS = ("key", "token", "auth", "secret", "password", "credential", "cookie")

MAX_DEPTH = 4
"""How deep nested clients are followed (a wrapper's client's HTTP client is depth 2).

Deeper than this the tenant is unknown (:class:`UnknownTenant`): stopping silently would
leave the inner credential out of the key and merge tenants.

.. versionadded:: 0.2.0
"""

_family_of: dict[type, str | None] = {}


def _family(obj: Any) -> str | None:
    kind = type(obj)
    found = _family_of.get(kind, "?")
    if found == "?":
        found = None
        for base in kind.__mro__:
            top = (getattr(base, "__module__", "") or "").partition(".")[0]
            if top in ("httpx", "httpx2"):  # an SDK's subclass of an HTTP client is one
                found = top
                break
            if top in _FAMILIES and found is None:
                found = top
        if len(_family_of) < 1024:
            _family_of[kind] = found
    return found


def secret_value(value: Any, where: str) -> str | None:
    """Return the credential a value stands for: itself, or what a callable returns now."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, bytes, int, float)) or type(value).__name__ == "URL":
        return str(value)  # an httpx/httpx2 URL (Azure's endpoint) reads as its text
    if callable(value):
        try:
            result = value()
        except Exception as exc:
            raise UnknownTenant(f"{where} is a callable that raised {exc!r}") from None
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: close it to avoid a "never awaited" warning
            raise UnknownTenant(f"{where} is an async callable, which a cache key cannot await")
        return None if result is None else str(result)
    raise UnknownTenant(f"{where} is a {type(value).__qualname__}, which llmwarm cannot read")


def _items(mapping: Any, where: str) -> list[tuple[str, Any]]:
    if mapping is None:
        return []
    items = getattr(mapping, "items", None)
    if items is None:
        raise UnknownTenant(f"{where} is a {type(mapping).__qualname__}, not a mapping")
    try:
        return [(str(k), v) for k, v in items()]
    except Exception as exc:
        raise UnknownTenant(f"{where} cannot be read ({exc!r})") from None


def _auth(auth: Any, where: str, found: list[str]) -> None:
    """Read an httpx/httpx2 ``auth=``: basic and digest; anything else is opaque."""
    if auth is None:
        return
    header = getattr(auth, "_auth_header", None)  # BasicAuth
    if isinstance(header, (str, bytes)):
        found.append(f"{where}={header!r}")
        return
    username, password = getattr(auth, "_username", None), getattr(auth, "_password", None)
    if isinstance(username, (str, bytes)) and isinstance(password, (str, bytes)):  # Digest
        found.append(f"{where}={username!r}:{password!r}")
        return
    raise UnknownTenant(
        f"{where} is a {type(auth).__qualname__}, whose credential llmwarm cannot read"
    )


def _base_url(held: Any) -> Any:
    try:
        return getattr(held, "base_url", None)
    except Exception:  # a property that raises: the class still counts
        return None


def _attribute(held: Any, state: dict[str, Any], public: str) -> Any:
    """Return the private ``_<public>`` an httpx client stores, else its public property.

    The private slot skips a property call; the fallback keeps a future httpx that renames
    it from silently dropping a channel (which would merge tenants).
    """
    private = "_" + public
    return state[private] if private in state else getattr(held, public, None)


def _headers(name: str, headers: Any, found: list[str]) -> None:
    if not headers:
        return
    if not hasattr(headers, "items"):
        raise UnknownTenant(f"{name} headers are a {type(headers).__qualname__}, not a mapping")
    for header, value in headers.items():
        lowered = str(header).lower()
        if lowered in BENIGN_HEADERS or lowered.startswith("x-stainless-"):
            continue
        found.append(f"{name}.header:{lowered}={value}")


def _pairs(name: str, channel: str, mapping: Any, found: list[str]) -> None:
    if not mapping:
        return
    for key, value in _items(mapping, f"{name}.{channel}"):
        found.append(f"{name}.{channel}:{key}={value}")


def _values(name: str, get: Any, found: list[str]) -> None:
    for attribute in _VALUES:
        value = get(attribute, None)
        if value is not None and value != "":
            secret = secret_value(value, f"{name}.{attribute}")
            if secret is not None:
                found.append(f"{name}.{attribute}={secret}")


def client_credentials(name: str, held: Any, *, strict: bool = True) -> list[str]:
    """Every credential channel of a client object, as ``"name.channel=value"`` strings.

    Raises :class:`UnknownTenant` when one of them cannot be read, unless ``strict`` is
    false (``scope=`` names the tenant): then the unreadable channel is left out.
    """
    found: list[str] = []
    try:
        _read(name, held, found, 0)
    except UnknownTenant:
        if strict:
            raise
        found.append(f"{name}=<unreadable; the tenant is named by scope=>")
    return found


def _read(name: str, held: Any, found: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise UnknownTenant(
            f"{name} nests clients deeper than {MAX_DEPTH} levels; llmwarm stops reading there"
        )
    kind = type(held)
    found.append(f"{name}.class={kind.__module__}.{kind.__qualname__}")
    base_url = _base_url(held)
    if base_url is not None:
        found.append(f"{name}.base_url={base_url}")
    family = _family(held)
    # Known families: read the attributes each keeps (a dict lookup is far cheaper than
    # getattr on a missing name, and this runs on every cached call that carries a client).
    if family in ("httpx", "httpx2"):
        state = getattr(held, "__dict__", {})  # a slotted httpx value (URL, ...): properties
        _auth(_attribute(held, state, "auth"), f"{name}.auth", found)
        _headers(name, _attribute(held, state, "headers"), found)
        _pairs(name, "query", _attribute(held, state, "params"), found)
        _pairs(name, "cookie", _attribute(held, state, "cookies"), found)
        return
    if family == "openai":
        state = getattr(held, "__dict__", {})
        _values(name, state.get, found)
        for attribute in _PROVIDERS:
            value = state.get(attribute)
            if value is not None:
                found.append(f"{name}.{attribute}={secret_value(value, f'{name}.{attribute}')}")
        for attribute in _OPAQUE:
            if state.get(attribute) is not None:
                raise UnknownTenant(
                    f"{name}.{attribute} delegates authentication to an object llmwarm cannot read"
                )
        _headers(name, state.get("_custom_headers"), found)
        _pairs(name, "query", state.get("_custom_query"), found)
    elif family is None:
        _values(name, lambda attribute, default: getattr(held, attribute, default), found)
        _unknown(name, held, found, depth)
        _headers(name, getattr(held, "headers", None), found)
        _pairs(name, "query", getattr(held, "params", None), found)
    # ollama.Client keeps everything (host, headers) on its httpx client, `_client`.
    inner = getattr(held, "_client", None)
    if inner is not None:  # an SDK client's HTTP client, a wrapper's client: read it all
        _read(f"{name}._client", inner, found, depth + 1)


def _is_client(value: Any) -> bool:
    """Whether a value is read as a client: an httpx client, or any object with ``_client``.

    SDK clients (OpenAI, Azure, Ollama) all keep their HTTP client as ``_client``; other
    objects of a known family (an httpx ``Auth``, ``URL``, ``Timeout``) are not clients.
    """
    if isinstance(value, (str, bytes, int, float, bool, type)) or value is None:
        return False
    if _family(value) in ("httpx", "httpx2") and any(
        base.__name__ == "BaseClient" for base in type(value).__mro__
    ):
        return True
    try:
        return getattr(value, "_client", None) is not None
    except Exception:  # a property that raises: not a client we can follow
        return False


def held_clients(attribute: str, value: Any) -> list[tuple[str, Any]]:
    """Return the clients an attribute's value holds: itself, or those in a list/tuple/dict.

    Each comes with the name it is read under (``llm``, ``clients[0]``, ``by_region['eu']``).

    .. versionadded:: 0.2.0
    """
    if _is_client(value):
        return [(attribute, value)]
    if isinstance(value, (list, tuple)):
        return [(f"{attribute}[{i}]", item) for i, item in enumerate(value) if _is_client(item)]
    if isinstance(value, dict):
        return [(f"{attribute}[{k!r}]", item) for k, item in value.items() if _is_client(item)]
    return []


def _unknown(name: str, held: Any, found: list[str], depth: int) -> None:
    """Read what looks like a credential on an unknown object; refuse what is opaque.

    Whatever attribute holds a client (``self.llm = OpenAI(...)``) is read as a client,
    whatever its name: a wrapper's credentials live in the client it wraps.
    """
    try:
        attributes: dict[str, Any] = vars(held)
    except TypeError:  # no __dict__ (object(), slotted classes): nothing more to read
        return
    for attribute, value in attributes.items():
        lowered = attribute.lower()
        if attribute in _VALUES or attribute in _HEADERS or attribute in _QUERIES:
            continue  # read above / below
        if attribute == "_client":
            continue  # read by the caller
        clients = held_clients(attribute, value)
        for where, client in clients:
            _read(f"{name}.{where}", client, found, depth + 1)
        if clients:
            continue
        if not any(hint in lowered for hint in _HINTS) or value is None:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (str, bytes, int, float)):
            found.append(f"{name}.{attribute}={value!r}")
            continue
        if hasattr(value, "items") and not callable(value):
            for item, item_value in _items(value, f"{name}.{attribute}"):
                found.append(f"{name}.{attribute}:{item}={secret_value(item_value, attribute)}")
            continue
        raise UnknownTenant(
            f"{name}.{attribute} is a {type(value).__qualname__}, whose credential llmwarm "
            "cannot read"
        )
