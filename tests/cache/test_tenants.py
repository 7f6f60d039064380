"""Tenant isolation: clients that differ in one credential channel never share an entry.

The tenant matrix: real ``openai.OpenAI``/``AzureOpenAI``, ``ollama.Client`` and
``httpx.Client`` objects, built in pairs that differ in exactly one channel that reaches
the provider -- ``api_key`` (string or callable), ``organization``, ``project``, an auth
header in ``default_headers``/``headers``, ``default_query``, an httpx ``auth=``, Azure's
``api_version``, deployment, endpoint or AD token (provider), ``base_url``/``host``. A
pair must never see each other's entries; two identical clients (distinct objects) must.
A client whose credential llmwarm cannot read is not cached, unless ``scope=`` names the
tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import httpx2
import ollama
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmwarm import cached

Factory = Callable[[str], Any]


def _openai(**options: Any) -> Any:
    return openai.OpenAI(**{"api_key": "sk-base", "base_url": "http://127.0.0.1:9/v1", **options})


def _azure(**options: Any) -> Any:
    defaults = {
        "api_key": "azure-key",
        "api_version": "2024-06-01",
        "azure_endpoint": "https://one.openai.azure.com",
        "azure_deployment": "gpt-4o",
    }
    return openai.AzureOpenAI(**{**defaults, **options})


def _azure_ad(**options: Any) -> Any:
    defaults = {
        "api_version": "2024-06-01",
        "azure_endpoint": "https://one.openai.azure.com",
        "azure_deployment": "gpt-4o",
    }
    return openai.AzureOpenAI(**{**defaults, **options})


# channel -> a factory making the client for one value of that channel
CHANNELS: dict[str, Factory] = {
    "openai api_key": lambda v: _openai(api_key=f"sk-{v}"),
    "openai callable api_key": lambda v: _openai(api_key=lambda: f"sk-{v}"),
    "openai organization": lambda v: _openai(organization=f"org-{v}"),
    "openai project": lambda v: _openai(project=f"proj-{v}"),
    "openai base_url": lambda v: _openai(base_url=f"http://{v}.example:9/v1"),
    "openai default_headers Authorization": lambda v: _openai(
        default_headers={"Authorization": f"Bearer {v}"}
    ),
    "openai default_headers api-key": lambda v: _openai(default_headers={"api-key": v}),
    "openai default_headers x-api-key": lambda v: _openai(default_headers={"x-api-key": v}),
    "openai default_headers custom": lambda v: _openai(default_headers={"X-Tenant": v}),
    "openai default_query": lambda v: _openai(default_query={"key": v}),
    "openai http_client auth": lambda v: _openai(http_client=httpx2.Client(auth=("user", v))),
    "openai http_client headers": lambda v: _openai(
        http_client=httpx2.Client(headers={"Authorization": f"Bearer {v}"})
    ),
    "azure api_key": lambda v: _azure(api_key=v),
    "azure api_version": lambda v: _azure(api_version=f"2024-{v}"),
    "azure deployment": lambda v: _azure(azure_deployment=v),
    "azure endpoint": lambda v: _azure(azure_endpoint=f"https://{v}.openai.azure.com"),
    "azure ad token": lambda v: _azure_ad(azure_ad_token=v),
    "azure ad token provider": lambda v: _azure_ad(azure_ad_token_provider=lambda: v),
    "ollama host": lambda v: ollama.Client(host=f"http://{v}.example:11434"),
    "ollama headers Authorization": lambda v: ollama.Client(
        host="http://127.0.0.1:9", headers={"Authorization": f"Bearer {v}"}
    ),
    "httpx auth basic": lambda v: httpx.Client(auth=("user", v)),
    "httpx auth digest": lambda v: httpx.Client(auth=httpx.DigestAuth("user", v)),
    "httpx headers api-key": lambda v: httpx.Client(headers={"api-key": v}),
    "httpx params": lambda v: httpx.Client(params={"key": v}),
    "httpx base_url": lambda v: httpx.Client(base_url=f"http://{v}.example"),
    "httpx cookies": lambda v: httpx.Client(cookies={"session": v}),
}

values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)


def _fn() -> tuple[Any, list[str]]:
    upstream: list[str] = []

    @cached(ttl=600)
    def complete(
        prompt: str, *, client: Any = None, api_key: Any = None, headers: Any = None
    ) -> str:
        upstream.append(prompt)
        return f"answer #{len(upstream)}"

    return complete, upstream


@settings(max_examples=50, deadline=None)
@given(channel=st.sampled_from(sorted(CHANNELS)), a=values, b=values)
def test_clients_differing_in_one_channel_never_share_and_identical_ones_do(
    channel: str, a: str, b: str
) -> None:
    make = CHANNELS[channel]
    complete, upstream = _fn()
    first = complete("hi", client=make(a))
    again = complete("hi", client=make(a))  # another object, the same tenant
    assert again == first
    other = complete("hi", client=make(b))
    if a == b:
        assert other == first
        assert len(upstream) == 1
    else:
        assert other != first  # zero cross-tenant hits
        assert len(upstream) == 2
        assert complete("hi", client=make(b)) == other
    assert complete.cache.stats.cache_uncacheable == 0


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_every_channel_of_the_matrix_separates_tenants(channel: str) -> None:
    complete, upstream = _fn()
    make = CHANNELS[channel]
    answers = {complete("hi", client=make(v)) for v in ("one", "two", "one", "two")}
    assert len(answers) == 2
    assert len(upstream) == 2


def test_a_callable_api_key_hits_its_own_entries_and_follows_its_value() -> None:
    complete, upstream = _fn()
    current = ["sk-one"]
    client = _openai(api_key=lambda: current[0])
    assert complete("hi", client=client) == complete("hi", client=client)
    assert len(upstream) == 1
    current[0] = "sk-two"  # the provider now returns another tenant's key
    assert complete("hi", client=client) == "answer #2"
    assert complete("hi", api_key=lambda: "sk-three") == "answer #3"
    assert complete("hi", api_key=lambda: "sk-three") == "answer #3"


def test_a_client_changed_in_place_changes_tenant() -> None:
    complete, upstream = _fn()
    client = httpx.Client()
    complete("hi", client=client)
    client.headers["Authorization"] = "Bearer someone-else"
    complete("hi", client=client)
    assert len(upstream) == 2


class OpaqueAuth(httpx.Auth):
    """A custom httpx auth flow: llmwarm cannot tell whose credential it adds."""

    def __init__(self, token: Callable[[], str]) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = self.token()
        yield request


class InHouseClient:
    """An unknown client object carrying an auth object llmwarm cannot read."""

    def __init__(self, tenant: str) -> None:
        self.base_url = "https://llm.internal"
        self.auth = OpaqueAuth(lambda: tenant)


async def _async_token() -> str:
    return "sk-async"


@pytest.mark.parametrize(
    "client",
    [
        httpx.Client(auth=lambda request: request),
        httpx.Client(auth=OpaqueAuth(lambda: "t")),
        InHouseClient("a"),
        openai.AsyncOpenAI(api_key=_async_token, base_url="http://127.0.0.1:9/v1"),
    ],
    ids=["httpx function auth", "httpx custom Auth", "unknown client", "async api_key"],
)
def test_an_unknown_tenant_is_not_cached_and_warns_once_naming_scope(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    complete, upstream = _fn()
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        for _ in range(3):
            complete("hi", client=client)
    assert len(upstream) == 3  # never served from the cache
    assert complete.cache.stats.cache_uncacheable == 3
    lines = [r.getMessage() for r in caplog.records if "cannot tell which tenant" in r.getMessage()]
    assert len(lines) == 1
    assert "scope=" in lines[0]


def test_scope_names_the_tenant_of_an_opaque_client() -> None:
    tenant = ["a"]
    upstream: list[str] = []

    @cached(ttl=600, scope=lambda: tenant[0])
    def complete(prompt: str, *, client: Any = None) -> str:
        upstream.append(prompt)
        return f"answer #{len(upstream)}"

    complete("hi", client=InHouseClient("a"))
    complete("hi", client=InHouseClient("a"))
    tenant[0] = "b"
    complete("hi", client=InHouseClient("b"))
    assert len(upstream) == 2


def test_methods_read_their_instance_clients_too() -> None:
    class Assistant:
        def __init__(self, key: str) -> None:
            self.client = _openai(api_key=lambda: key)
            self.calls = 0

        @cached(ttl=600, key=lambda arguments: arguments["prompt"])
        def ask(self, prompt: str) -> str:
            self.calls += 1
            return f"{prompt} #{self.calls}"

    one, two = Assistant("sk-one"), Assistant("sk-two")
    assert one.ask("hi") == one.ask("hi") == "hi #1"
    assert two.ask("hi") == "hi #1"
    assert two.calls == 1


@pytest.mark.parametrize(
    "header",
    [
        "Authorization",
        "api-key",
        "x-api-key",
        "X-Goog-Api-Key",
        "Ocp-Apim-Subscription-Key",
        "Cookie",
        "OpenAI-Organization",
        "OpenAI-Project",
    ],
)
def test_per_call_credential_headers_separate_tenants_and_stay_out_of_the_key(
    header: str,
) -> None:
    complete, upstream = _fn()

    def call(value: str) -> str:
        return str(complete("hi", headers={header: value, "X-Request": "same"}))

    assert call("secret-one") == call("secret-one")
    assert call("secret-two") != call("secret-one")
    assert len(upstream) == 2
    policy = complete.llmwarm_policies[0]
    stored = policy.key_of(("hi",), {"headers": {header: "secret-one"}}, hashed=False)
    assert "secret-one" not in stored


class WrappedLLM:
    """A user's wrapper: the credential lives on a client held under an arbitrary name."""

    def __init__(self, key: str) -> None:
        self.llm = _openai(api_key=key)


class WrappedPrivateClient:
    """A wrapper whose ``_client`` is an SDK client whose HTTP client carries the key."""

    def __init__(self, key: str) -> None:
        self._client = openai.OpenAI(
            api_key="sk-shared",
            base_url="http://127.0.0.1:9/v1",
            http_client=httpx.Client(headers={"Authorization": key}),
        )


class WrappedTwice:
    """A wrapper of a wrapper, under a name with no credential hint."""

    def __init__(self, key: str) -> None:
        self.inner = WrappedPrivateClient(key)


class WrappedMany:
    """A wrapper keeping its clients in a list and a dict."""

    def __init__(self, key: str) -> None:
        self.clients = [_openai(api_key="sk-shared"), _openai(api_key=key)]
        self.by_region = {"eu": ollama.Client(host="http://127.0.0.1:9", headers={"X-K": key})}


WRAPPERS: dict[str, Factory] = {
    "self.llm = OpenAI(api_key=k)": WrappedLLM,
    "self.clients = [OpenAI, OpenAI(api_key=k)]; self.by_region = {eu: ollama}": WrappedMany,
    "self._client = OpenAI(http_client=httpx.Client(headers=Authorization: k))": (
        WrappedPrivateClient
    ),
    "self.inner._client = OpenAI(http_client=...Authorization: k)": WrappedTwice,
    "self.http = httpx.Client(auth=(user, k))": lambda k: type(
        "Wrapper", (), {"__init__": lambda self: setattr(self, "http", httpx.Client(auth=("u", k)))}
    )(),
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_every_wrapper_separates_tenants(wrapper: str) -> None:
    complete, upstream = _fn()
    make = WRAPPERS[wrapper]
    answers = {complete("hi", client=make(v)) for v in ("one", "two", "one", "two")}
    assert len(answers) == 2
    assert len(upstream) == 2


@settings(max_examples=40, deadline=None)
@given(wrapper=st.sampled_from(sorted(WRAPPERS)), a=values, b=values)
def test_wrapped_clients_never_share_across_tenants_and_identical_wrappers_hit(
    wrapper: str, a: str, b: str
) -> None:
    # Regression: a wrapper's nested client was read only through `_client`, one level, and
    # other attributes only when their name hinted at a credential: keys "a" and "b" got
    # one fingerprint. Identical wrappers (distinct objects) are cached and hit.
    make = WRAPPERS[wrapper]
    complete, upstream = _fn()
    first = complete("hi", client=make(a))
    assert complete("hi", client=make(a)) == first
    other = complete("hi", client=make(b))
    assert (other == first) == (a == b)  # zero cross-tenant hits
    assert len(upstream) == (1 if a == b else 2)
    assert complete.cache.stats.cache_uncacheable == 0


def test_methods_read_clients_their_instance_holds_under_any_name() -> None:
    # Regression: only self.client/http_client/_client were read, so two instances holding
    # OpenAI(api_key="a") and OpenAI(api_key="b") as self.llm shared entries.
    class Assistant:
        def __init__(self, key: str) -> None:
            self.llm = _openai(api_key=key)
            self.pool = [_openai(api_key=key)]
            self.calls = 0

        @cached(ttl=600, key=lambda arguments: arguments["prompt"])
        def ask(self, prompt: str) -> str:
            self.calls += 1
            return f"{prompt} #{self.calls}"

    one, two, same = Assistant("sk-one"), Assistant("sk-two"), Assistant("sk-one")
    assert one.ask("hi") == one.ask("hi") == "hi #1"
    assert two.ask("hi") == "hi #1"
    assert two.calls == 1  # not served one's answer
    assert same.ask("hi") == "hi #1"
    assert same.calls == 0  # an identical tenant hits


class Chain:
    """Clients nested deeper than llmwarm follows: each level holds the next as `_client`."""

    def __init__(self, levels: int, key: str) -> None:
        self._client: Any = _openai(api_key=key) if levels == 0 else Chain(levels - 1, key)


def test_clients_nested_past_the_depth_limit_are_an_unknown_tenant(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Regression: past the depth limit the inner key was silently left out (fail open).
    complete, upstream = _fn()
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        for key in ("a", "b", "a"):
            complete("hi", client=Chain(6, key))
    assert len(upstream) == 3
    assert complete.cache.stats.cache_uncacheable == 3
    lines = [r.getMessage() for r in caplog.records if "cannot tell which tenant" in r.getMessage()]
    assert len(lines) == 1
    assert "scope=" in lines[0]


@pytest.mark.parametrize(
    "form",
    ["list of pairs", "tuple of pairs", "bytes pairs", "httpx.Headers", "httpx2.Headers"],
)
def test_credential_headers_given_as_pairs_are_fingerprinted_not_kept_in_clear(
    form: str,
) -> None:
    # Regression: only a Mapping was inspected, so [("Authorization", "Bearer sk-secret")]
    # stayed in the key as plain text (and two tenants differed only by that text).
    def headers(value: str) -> Any:
        pairs = [("Authorization", f"Bearer {value}"), ("X-Request", "same")]
        if form == "tuple of pairs":
            return tuple(pairs)
        if form == "bytes pairs":
            return [(k.encode(), v.encode()) for k, v in pairs]
        if form == "httpx.Headers":
            return httpx.Headers(pairs)
        if form == "httpx2.Headers":
            return httpx2.Headers(pairs)
        return pairs

    complete, upstream = _fn()
    assert complete("hi", headers=headers("sk-secret")) == complete(
        "hi", headers=headers("sk-secret")
    )
    assert complete("hi", headers=headers("sk-other")) != complete(
        "hi", headers=headers("sk-secret")
    )
    assert len(upstream) == 2
    policy = complete.llmwarm_policies[0]
    stored = policy.key_of(("hi",), {"headers": headers("sk-secret")}, hashed=False)
    assert "sk-secret" not in stored
    assert b"sk-secret".hex() not in stored  # bytes are key material as hex
    # a header that carries no credential stays key material
    assert ("same" if form != "bytes pairs" else b"same".hex()) in stored
