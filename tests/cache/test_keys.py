"""Key rules: what makes two calls one entry, and what never enters a key."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmwarm import cached
from llmwarm.cache import keys


def complete(prompt: Any, *, model: str = "m", temperature: float = 0.0, **kw: Any) -> Any:
    return prompt


fn = cached(complete)


class Message(pydantic.BaseModel):
    role: str
    content: str


@dataclasses.dataclass
class Options:
    top_p: float
    stop: list[str]


def test_positional_and_keyword_and_defaults_are_one_key() -> None:
    assert fn.cache_key("hi") == fn.cache_key(prompt="hi")
    assert fn.cache_key("hi") == fn.cache_key("hi", model="m", temperature=0.0)
    assert fn.cache_key("hi") != fn.cache_key("hi", model="other")
    assert fn.cache_key("hi") != fn.cache_key("hi", seed=1)  # extra kwargs count


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def _reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return tuple(_reorder(v) for v in value)
    return value


@given(value=json_values)
def test_dict_order_and_tuple_or_list_never_change_a_key(value: Any) -> None:
    assert fn.cache_key(value) == fn.cache_key(_reorder(value))


@given(a=json_values, b=json_values)
def test_different_json_values_make_different_keys(a: Any, b: Any) -> None:
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (fn.cache_key(a) == fn.cache_key(b)) == same


def test_pydantic_models_and_dataclasses_key_by_value() -> None:
    a = [Message(role="user", content="hi")]
    assert fn.cache_key(a) == fn.cache_key([Message(role="user", content="hi")])
    assert fn.cache_key(a) == fn.cache_key([{"role": "user", "content": "hi"}])
    assert fn.cache_key(a) != fn.cache_key([Message(role="user", content="ho")])
    assert fn.cache_key("p", options=Options(0.5, ["x"])) == fn.cache_key(
        "p", options=Options(0.5, ["x"])
    )
    assert fn.cache_key("p", options=Options(0.5, ["x"])) != fn.cache_key(
        "p", options=Options(0.9, ["x"])
    )
    assert fn.cache_key({1, 3, 2}) == fn.cache_key(frozenset({3, 2, 1}))


class FakeSDKClient:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key


def test_injected_clients_are_not_in_the_key_but_their_credential_separates() -> None:
    plain = fn.cache_key("hi", http_client=object())
    assert plain == fn.cache_key("hi", http_client=object())  # another object, same key
    one = fn.cache_key("hi", client=FakeSDKClient("sk-one"))
    assert one == fn.cache_key("hi", client=FakeSDKClient("sk-one"))  # another object, same key
    assert one != fn.cache_key("hi", client=FakeSDKClient("sk-two"))
    assert one != plain


@given(secret=st.text(min_size=8, max_size=40, alphabet="abcdefghijklmnopqrstuvwxyz0123456789-"))
def test_credentials_never_appear_in_key_material(secret: str) -> None:
    fingerprinter = keys.Fingerprinter(keys.secret_from(None))
    arguments = {
        "prompt": "hi",
        "api_key": f"sk-{secret}",
        "extra_headers": {"Authorization": f"Bearer {secret}", "X-Trace": "t"},
        "client": FakeSDKClient(f"sk-{secret}"),
    }
    kept, fingerprint = fingerprinter.split(arguments)
    material = keys.canonical([keys.KEY_FORMAT, "f", kept, None, fingerprint])
    # (the fixed format tag aside: hypothesis finds "llmwarm-" in it)
    assert secret.encode() not in material.replace(keys.KEY_FORMAT.encode(), b"")
    assert kept == {"prompt": "hi", "extra_headers": {"X-Trace": "t"}}
    assert fingerprint is not None
    assert secret not in fingerprint


def test_different_credentials_make_different_keys() -> None:
    assert fn.cache_key("hi", api_key="sk-a") != fn.cache_key("hi", api_key="sk-b")
    assert fn.cache_key("hi", api_key="sk-a") == fn.cache_key("hi", api_key="sk-a")
    assert fn.cache_key("hi", api_key="sk-a") != fn.cache_key("hi")
    headers_a = {"extra_headers": {"authorization": "Bearer a"}}
    headers_b = {"extra_headers": {"Authorization": "Bearer b"}}
    assert fn.cache_key("hi", **headers_a) != fn.cache_key("hi", **headers_b)
    assert fn.cache_key("hi", extra_headers={"api-key": "a"}) != fn.cache_key(
        "hi", extra_headers={"api-key": "b"}
    )


def test_the_fingerprint_secret_changes_fingerprints_not_plain_keys() -> None:
    other = cached(fingerprint_key="another secret")(complete)
    assert other.cache_key("hi") == fn.cache_key("hi")
    assert other.cache_key("hi", api_key="sk-a") != fn.cache_key("hi", api_key="sk-a")


def test_scope_value_and_function_name_are_part_of_the_key() -> None:
    tenant = ["a"]
    scoped = cached(scope=lambda: tenant[0])(complete)
    key_a = scoped.cache_key("hi")
    tenant[0] = "b"
    assert scoped.cache_key("hi") != key_a

    def complete_too(prompt: Any, *, model: str = "m", temperature: float = 0.0) -> Any:
        return prompt

    assert cached(complete_too).cache_key("hi") != fn.cache_key("hi")
    assert fn.cache_key("hi").startswith(f"{__name__}:complete:")


def test_key_function_replaces_the_arguments_and_sees_the_instance() -> None:
    class Bot:
        def __init__(self, persona: str) -> None:
            self.persona = persona

        @cached(key=lambda a: [a["self"].persona, a["prompt"]])
        def ask(self, prompt: str, verbose: bool = False) -> str:
            return f"{self.persona}: {prompt}"

    assert Bot.ask.cache_key(Bot("x"), "hi") == Bot.ask.cache_key(Bot("x"), "hi", verbose=True)
    assert Bot.ask.cache_key(Bot("x"), "hi") != Bot.ask.cache_key(Bot("y"), "hi")


def test_unserializable_arguments_cannot_make_a_key() -> None:
    with pytest.raises(ValueError, match="cannot make a cache key"):
        fn.cache_key(object())


STABILITY_SCRIPT = textwrap.dedent(
    """
    import dataclasses, sys
    import pydantic
    from llmwarm.cache import keys

    class Message(pydantic.BaseModel):
        role: str
        content: str

    @dataclasses.dataclass
    class Options:
        top_p: float

    fp = keys.Fingerprinter(keys.secret_from(None))
    kept, fingerprint = fp.split(
        {"prompt": [Message(role="user", content="h\\u00e9")], "options": Options(0.5),
         "tags": ("a", "b"), "api_key": "sk-x", "n": {2: 1.5, "1": None}}
    )
    data = keys.canonical([keys.KEY_FORMAT, "mod.fn", kept, "tenant", fingerprint])
    print(keys.digest(data))
    """
)


def _run(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    result = subprocess.run(
        [sys.executable, "-c", STABILITY_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return result.stdout.strip()


def test_keys_are_identical_in_other_processes() -> None:
    fingerprinter = keys.Fingerprinter(keys.secret_from(None))
    kept, fingerprint = fingerprinter.split(
        {
            "prompt": [Message(role="user", content="h\u00e9")],
            "options": {"top_p": 0.5},
            "tags": ["a", "b"],
            "api_key": "sk-x",
            "n": {"2": 1.5, "1": None},
        }
    )
    here = keys.digest(keys.canonical([keys.KEY_FORMAT, "mod.fn", kept, "tenant", fingerprint]))
    assert _run("1") == _run("12345") == here
    assert len(here) == 32
