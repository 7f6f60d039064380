"""The cache hit path's shortcuts never serve a wrong hit nor keep a credential in a key."""

from __future__ import annotations

import time
from typing import Any

import httpx

from llmwarm import Tier, cached, routed, traced
from llmwarm.cache import keys
from llmwarm.cache.backends import MemoryBackend


def test_mutating_an_argument_between_calls_changes_the_key() -> None:
    calls: list[str] = []

    @cached
    def complete(messages: list[dict[str, str]], *, model: str = "m") -> str:
        calls.append(messages[-1]["content"])
        return messages[-1]["content"]

    messages = [{"role": "user", "content": "first"}]
    assert complete(messages) == "first"
    assert complete(messages) == "first"  # a hit: the same object, unchanged
    messages[0]["content"] = "second"  # the same list object, mutated in place
    assert complete(messages) == "second"
    messages.append({"role": "user", "content": "third"})
    assert complete(messages) == "third"
    assert calls == ["first", "second", "third"]


def test_special_names_are_those_the_function_can_receive() -> None:
    assert keys.special_names(("messages", "model"), var_keyword=False) == ()
    assert keys.special_names(("messages", "client"), var_keyword=False) == ("client",)
    every = keys.special_names((), var_keyword=True)
    assert {"client", "http_client", "api_key", "headers", "extra_headers"} <= set(every)


def test_a_credential_in_extra_keywords_is_still_fingerprinted() -> None:
    def complete(prompt: str, **options: Any) -> str:
        return prompt

    fn = cached(complete)
    plain = fn.cache_key("hi")
    alice = fn.cache_key("hi", api_key="sk-alice")
    bob = fn.cache_key("hi", api_key="sk-bob")
    assert len({plain, alice, bob}) == 3
    policy = fn.llmwarm_policies[0]
    material = policy.key_of(("hi",), {"api_key": "sk-alice"}, hashed=False)
    assert "sk-alice" not in material


def test_a_declared_client_argument_is_left_out_of_the_key_and_fingerprinted() -> None:
    class Client:
        def __init__(self, key: str) -> None:
            self.api_key = key
            self.base_url = "https://api.openai.com/v1"

    def complete(prompt: str, *, client: Any = None) -> str:
        return prompt

    fn = cached(complete)
    policy = fn.llmwarm_policies[0]
    assert policy.specials == ("client",)
    alice = policy.key_of(("hi",), {"client": Client("sk-alice")}, hashed=False)
    bob = policy.key_of(("hi",), {"client": Client("sk-bob")}, hashed=False)
    assert alice != bob
    assert "sk-alice" not in alice
    assert policy.key_of(("hi",), {}, hashed=False) == policy.key_of(
        ("hi",), {"client": None}, hashed=False
    )


def test_a_hit_is_served_and_a_miss_calls_once() -> None:
    calls: list[str] = []

    @cached
    def complete(prompt: str) -> str:
        calls.append(prompt)
        return prompt.upper()

    for _ in range(3):
        assert complete("a") == "A"
    assert complete("b") == "B"
    assert calls == ["a", "b"]


def test_a_fallback_under_routed_never_reads_an_entry_that_expired_since_the_call_began() -> None:
    # @routed sends the same call (the same record) again after a slow failure: the entry
    # must be checked against the time of that second pass, not the call's start.
    calls: list[str] = []

    # Tier and model names of this test alone: cool-downs are process-wide.
    @routed([Tier("hit-path-small", "hp-s"), Tier("hit-path-medium", "hp-m")])
    @cached(backend=MemoryBackend(ttl=0.2))
    def complete(messages: Any, *, model: str = "x") -> str:
        calls.append(model)
        if model == "hp-s":
            time.sleep(0.3)  # a slow failure: the entry for "m" expires meanwhile
            raise httpx.ConnectError("down")
        return f"{model} answer {len(calls)}"

    short = [{"role": "user", "content": "hi"}]
    assert complete(short, model="hp-m") == "hp-m answer 1"  # fills the entry
    assert complete(short) == "hp-m answer 3"  # small fails, falls back: computed afresh
    assert calls == ["hp-m", "hp-s", "hp-m"]


def test_a_traced_stack_still_reads_entries_at_the_call_start() -> None:
    # @traced passes each call on once, at once: the fast read stays on.
    @traced
    @cached(backend=MemoryBackend(ttl=60))
    def complete(prompt: str) -> str:
        return prompt

    assert complete.cache._policy._read_at is not None
