"""Stored rows are data, never code, and only rows signed under the cache secret are served.

Hostile inputs, each written straight into a real SQLite file or a real redis-server, as
someone who can write the store but does not hold ``LLMWARM_CACHE_SECRET`` would:

* a row naming ``pygments.__main__:main`` (pygments is imported by httpx): the old codec
  imported it and ran pygments' command line;
* a forged answer in the current format, signed with another secret or unsigned;
* a genuine row copied under another key (another prompt's answer);
* a row of the old unsigned format, garbage bytes, a row naming a type off the allow-list.

Every one is a miss, is deleted, counts in ``corrupt_rows`` (``fn.cache.stats`` and
``llmwarm.stats()``), and is reported at WARNING at most once per interval.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import redis
from openai.types.chat import ChatCompletion

import llmwarm
from llmwarm import cached
from llmwarm.cache import codec, keys, register_type
from llmwarm.cache.backends import MISSING, RedisBackend, SQLiteBackend

SECRET = "the-right-secret-0123456789"

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "The genuine answer."},
        }
    ],
}


def _payload(value: Any) -> bytes:
    return json.dumps({"v": 2, "value": value}).encode()


def _forged_answer(text: str) -> Any:
    data = json.loads(json.dumps(COMPLETION))
    data["choices"][0]["message"]["content"] = text
    return {"__llmwarm__": "pydantic", "type": "openai:ChatCompletion", "data": data}


# (name, row maker given the stored key): what an attacker without the secret can write.
HOSTILE_ROWS: list[tuple[str, Callable[[str], bytes]]] = [
    (
        "old-format row naming pygments.__main__",
        lambda key: json.dumps(
            {"v": 1, "value": {"__llmwarm__": "pydantic", "type": "pygments.__main__:main"}}
        ).encode(),
    ),
    (
        "signed with another secret, naming pygments.__main__",
        lambda key: codec.sign(
            b"a guessed secret",
            key,
            _payload({"__llmwarm__": "dataclass", "type": "pygments.__main__:main", "data": {}}),
        ),
    ),
    (
        "forged answer signed with the public default",
        lambda key: codec.sign(keys._DEFAULT_SECRET, key, _payload(_forged_answer("FORGED"))),
    ),
    (
        "forged answer signed with another secret",
        lambda key: codec.sign(b"not the secret", key, _payload(_forged_answer("FORGED"))),
    ),
    ("forged answer without a signature", lambda key: _payload(_forged_answer("FORGED"))),
    ("magic and a zero signature", lambda key: codec.MAGIC + bytes(32) + _payload("FORGED")),
    ("garbage bytes", lambda key: b"\x00\xffnot a row"),
    ("empty value", lambda key: b""),
]


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LLMWARM_CACHE_SECRET", SECRET)
    llmwarm.reset_stats()
    yield
    llmwarm.reset_stats()


class Store:
    """Read and write raw rows of a back end, as someone with access to the store can."""

    def __init__(self, kind: str, tmp_path: Path, server: Any) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = tmp_path / "cache.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.url = server.url
            self.client = redis.Redis.from_url(server.url)

    def stored_key(self, key: str) -> str:
        return key if self.kind == "sqlite" else "llmwarm:cache:" + key

    def write(self, key: str, row: bytes) -> None:
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as db:
                db.execute(
                    "INSERT OR REPLACE INTO llmwarm_cache (key, value, expires) VALUES (?, ?, ?)",
                    (key, row, None),
                )
        else:
            self.client.set(self.stored_key(key), row)

    def read(self, key: str) -> bytes | None:
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as db:
                found = db.execute(
                    "SELECT value FROM llmwarm_cache WHERE key = ?", (key,)
                ).fetchone()
            return None if found is None else bytes(found[0])
        data = self.client.get(self.stored_key(key))
        return None if data is None else bytes(data)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    server = request.getfixturevalue("redis_server") if request.param == "redis" else None
    return Store(request.param, tmp_path, server)


def _complete_fn(url: str, upstream: list[str]) -> Any:
    @cached(ttl=600, backend=url)
    def complete(prompt: str) -> ChatCompletion:
        upstream.append(prompt)
        data = json.loads(json.dumps(COMPLETION))
        data["choices"][0]["message"]["content"] = f"genuine: {prompt}"
        return ChatCompletion.model_validate(data)

    return complete


@pytest.mark.parametrize(("name", "make_row"), HOSTILE_ROWS, ids=[n for n, _ in HOSTILE_ROWS])
def test_a_hostile_row_is_never_served_and_is_deleted_and_counted(
    store: Store, name: str, make_row: Callable[[str], bytes]
) -> None:
    upstream: list[str] = []
    complete = _complete_fn(store.url, upstream)
    complete("warm the table")  # creates the SQLite table / proves Redis works
    key = complete.cache_key("hi")
    store.write(key, make_row(store.stored_key(key)))
    modules_before = set(sys.modules)

    answer = complete("hi")

    assert answer.choices[0].message.content == "genuine: hi"  # never "FORGED"
    assert upstream == ["warm the table", "hi"]
    assert "pygments.__main__" not in set(sys.modules) - modules_before
    stats = complete.cache.stats
    assert (stats.cache_corrupt_rows, stats.cache_errors, stats.cache_bypassed) == (1, 0, 0)
    assert llmwarm.stats()["corrupt_rows"] == 1
    assert complete.cache.breaker.backoff == 0  # the back end itself is fine
    # The hostile row was deleted, and the genuine answer stored and signed in its place.
    row = store.read(key)
    assert row is not None
    assert row.startswith(codec.MAGIC)
    assert complete("hi").choices[0].message.content == "genuine: hi"
    assert upstream == ["warm the table", "hi"]


def test_a_genuine_row_moved_to_another_key_is_refused(store: Store) -> None:
    upstream: list[str] = []
    complete = _complete_fn(store.url, upstream)
    complete("What is 2+2?")
    genuine = store.read(complete.cache_key("What is 2+2?"))
    assert genuine is not None
    store.write(complete.cache_key("Is this safe?"), genuine)  # the answer to another prompt

    assert complete("Is this safe?").choices[0].message.content == "genuine: Is this safe?"
    assert complete.cache.stats.cache_corrupt_rows == 1


def test_rows_written_under_another_secret_are_not_served(store: Store) -> None:
    upstream: list[str] = []
    writer = cached(ttl=600, backend=store.url, fingerprint_key="the attacker's secret")(
        lambda prompt: "FORGED"
    )
    one = _complete_fn(store.url, upstream)
    # The writer signs its own key; copy its row under the victim's key.
    writer("hi")
    policy = writer.llmwarm_policies[0]
    forged = store.read(policy.key_of(("hi",), {}, hashed=True))
    assert forged is not None
    store.write(one.cache_key("hi"), forged)
    assert one("hi").choices[0].message.content == "genuine: hi"
    assert one.cache.stats.cache_corrupt_rows == 1


def test_corrupt_rows_are_logged_at_warning_once_per_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store("sqlite", tmp_path, None)
    upstream: list[str] = []
    complete = _complete_fn(store.url, upstream)
    complete("warm")
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        for i in range(20):
            key = complete.cache_key(f"p{i}")
            store.write(key, _payload(_forged_answer("FORGED")))
            assert complete(f"p{i}").choices[0].message.content == f"genuine: p{i}"
    lines = [r for r in caplog.records if "corrupt row" in r.getMessage()]
    assert len(lines) == 1  # 20 refused rows, one line
    assert lines[0].levelno == logging.WARNING
    assert complete.cache.stats.cache_corrupt_rows == 20
    assert llmwarm.stats()["corrupt_rows"] == 20


def test_the_codec_checks_the_signature_before_parsing_and_names_before_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    imported: list[str] = []
    real_import = __import__

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real_import(name, *args, **kwargs)

    row = codec.sign(
        b"s",
        "k",
        _payload({"__llmwarm__": "pydantic", "type": "pygments.__main__:main", "data": {}}),
    )
    monkeypatch.setattr("builtins.__import__", spy)
    with pytest.raises(codec.CorruptCacheRow, match="not an allowed"):
        codec.decode(row, key="k", secret=b"s", now=0.0)
    with pytest.raises(codec.CorruptCacheRow, match="bad signature"):
        codec.decode(row, key="k", secret=b"other", now=0.0)
    with pytest.raises(codec.CorruptCacheRow, match="bad signature"):
        codec.decode(row, key="other key", secret=b"s", now=0.0)
    monkeypatch.undo()
    assert not [name for name in imported if name.startswith("pygments")]


class Verdict(pydantic.BaseModel):
    label: str
    score: float


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_user_types_are_stored_only_once_registered(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "c.db", secret=SECRET)
    with pytest.raises(codec.CodecError, match="register_type"):
        backend.set("k", Verdict(label="ok", score=0.5), None)
    register_type(Verdict)
    register_type(Point, name="tests.Point")
    backend.set("k", {"v": Verdict(label="ok", score=0.5), "p": Point(1, 2)}, None)
    back = backend.get("k")
    assert back == {"v": Verdict(label="ok", score=0.5), "p": Point(1, 2)}
    assert type(back["v"]) is Verdict
    with pytest.raises(llmwarm.ConfigError, match="already taken"):
        register_type(Verdict, name="tests.Point")
    with pytest.raises(llmwarm.ConfigError, match="pydantic model class or a dataclass"):
        register_type(dict)  # type: ignore[type-var]
    backend.close()


def test_sdk_response_models_round_trip_through_a_signed_row(tmp_path: Path) -> None:
    import ollama
    from openai.types import CreateEmbeddingResponse

    backend = SQLiteBackend(tmp_path / "c.db", secret=SECRET)
    values = [
        ChatCompletion.model_validate(COMPLETION),
        CreateEmbeddingResponse.model_validate(
            {
                "object": "list",
                "model": "m",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        ),
        ollama.ChatResponse(model="m", message=ollama.Message(role="assistant", content="x")),
        ollama.EmbedResponse(model="m", embeddings=[[0.5]]),
    ]
    for i, value in enumerate(values):
        backend.set(f"k{i}", value, None)
        back = backend.get(f"k{i}")
        assert type(back) is type(value)
        assert back == value
    backend.close()


def test_the_redis_namespace_is_signed_too(redis_server: Any) -> None:
    one = RedisBackend(redis_server.url, namespace="app1:", secret=SECRET)
    two = RedisBackend(redis_server.url, namespace="app2:", secret=SECRET)
    one.set("k", "app1's answer", None)
    one.client.copy("app1:k", "app2:k")
    with pytest.raises(codec.CorruptCacheRow):
        two.get("k")
    assert two.client.exists("app2:k") == 0  # deleted
    assert one.get("k") == "app1's answer"


NO_SECRET = textwrap.dedent(
    """
    import logging, os, sys
    os.environ.pop("LLMWARM_CACHE_SECRET", None)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from llmwarm import cached

    @cached(backend=sys.argv[1])
    def one(prompt):
        return prompt

    @cached(backend=sys.argv[1])
    def two(prompt):
        return prompt

    @cached
    def three(prompt):
        return prompt

    print(one("a"), one("a"), two("b"), three("c"), one.cache.stats.cache_hits)
    """
)


def test_without_a_secret_a_persistent_back_end_warns_once_and_still_works(
    tmp_path: Path,
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", NO_SECRET, f"sqlite:///{tmp_path}/c.db"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == ["a", "a", "b", "c", "1"]
    warnings = [line for line in out.stderr.splitlines() if "without a cache secret" in line]
    assert len(warnings) == 1
    assert "LLMWARM_CACHE_SECRET" in warnings[0]


def test_the_memory_back_end_needs_no_signature() -> None:
    backend = llmwarm.cache._cached.MemoryBackend()
    value = object()
    backend.set("k", value, None)
    assert backend.get("k") is value  # the very object: no encoding, no HMAC
    assert backend.get("other") is MISSING


LAZY = textwrap.dedent(
    """
    import sys
    import llmwarm
    from llmwarm.cache import codec
    assert "openai" not in sys.modules and "ollama" not in sys.modules
    row = codec.encode({"plain": [1, "json"]}, key="k", secret=b"s")
    assert codec.decode(row, key="k", secret=b"s", now=0.0) == {"plain": [1, "json"]}
    assert "openai" not in sys.modules and "ollama" not in sys.modules
    payload = sys.argv[1].encode()
    value = codec.decode(codec.sign(b"s", "k", payload), key="k", secret=b"s", now=0.0)
    print(type(value).__module__, type(value).__name__, "openai" in sys.modules)
    """
)


def test_sdk_types_are_registered_lazily_never_at_import() -> None:
    payload = json.dumps(
        {
            "v": 2,
            "value": {
                "__llmwarm__": "pydantic",
                "type": "openai:ChatCompletion",
                "data": COMPLETION,
            },
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", LAZY, payload],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.split() == ["openai.types.chat.chat_completion", "ChatCompletion", "True"]


def test_a_genuine_row_kept_alive_past_its_expiry_is_not_replayed(
    tmp_path: Path, redis_server: Any
) -> None:
    now = [1_000_000.0]
    sqlite_backend = SQLiteBackend(tmp_path / "c.db", secret=SECRET, timer=lambda: now[0])
    redis_backend = RedisBackend(redis_server.url, secret=SECRET, timer=lambda: now[0])
    for backend in (sqlite_backend, redis_backend):
        backend.set("k", "yesterday's answer", 60)
        assert backend.get("k") == "yesterday's answer"
    # Someone with write access keeps the rows alive: the column cleared, PERSIST in Redis.
    with sqlite3.connect(tmp_path / "c.db") as db:
        db.execute("UPDATE llmwarm_cache SET expires = NULL")
    assert redis_backend.client.persist("llmwarm:cache:k")
    now[0] += 120
    for backend in (sqlite_backend, redis_backend):
        assert backend.get("k") is MISSING  # the signed expiry has passed: never served
    assert redis_backend.client.exists("llmwarm:cache:k") == 0
    with sqlite3.connect(tmp_path / "c.db") as db:
        assert db.execute("SELECT COUNT(*) FROM llmwarm_cache").fetchone() == (0,)
    sqlite_backend.close()


def _backend_object(kind: str, tmp_path: Path, server_url: str, secret: str | None) -> Any:
    if kind == "sqlite":
        return SQLiteBackend(tmp_path / "object.db", secret=secret)
    return RedisBackend(server_url, secret=secret)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_fingerprint_key_with_a_backend_object_signing_otherwise_is_refused(
    kind: str, tmp_path: Path, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: @cached(backend=SQLiteBackend(p), fingerprint_key="s") without
    # LLMWARM_CACHE_SECRET wrote rows that verify under the public default secret.
    monkeypatch.delenv("LLMWARM_CACHE_SECRET")
    unsigned = _backend_object(kind, tmp_path, redis_server.url, None)
    with pytest.raises(llmwarm.ConfigError, match=r"secret=") as raised:
        cached(backend=unsigned, fingerprint_key="s-0123456789")
    assert type(unsigned).__name__ in str(raised.value)
    with pytest.raises(llmwarm.ConfigError):
        cached(
            backend=_backend_object(kind, tmp_path, redis_server.url, "other"),
            fingerprint_key="s-0123456789",
        )
    # The fix the message names: the back end signs with the secret given to it.
    signed = _backend_object(kind, tmp_path, redis_server.url, "s-0123456789")

    @cached(backend=signed, fingerprint_key="s-0123456789")
    def complete(prompt: str) -> str:
        return prompt.upper()

    assert complete("hi") == "HI"
    stored = complete.cache_key("hi")
    if kind == "sqlite":
        with sqlite3.connect(tmp_path / "object.db") as db:
            (row,) = db.execute(
                "SELECT value FROM llmwarm_cache WHERE key = ?", (stored,)
            ).fetchone()
        name = stored
    else:
        name = "llmwarm:cache:" + stored
        row = signed.client.get(name)
    codec.verify(b"s-0123456789", name, row)
    with pytest.raises(codec.CorruptCacheRow):
        codec.verify(keys._DEFAULT_SECRET, name, row)


def test_the_no_secret_warning_names_secret_on_the_back_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("LLMWARM_CACHE_SECRET")
    monkeypatch.setattr(llmwarm.cache.backends, "_warned_unsigned", False)
    with caplog.at_level(logging.WARNING, logger="llmwarm"):
        SQLiteBackend(tmp_path / "c.db")
    (line,) = [r.getMessage() for r in caplog.records if "without a cache secret" in r.getMessage()]
    assert "Pass secret= to the back end or set LLMWARM_CACHE_SECRET" in line


@dataclasses.dataclass
class Labelled:
    label: str
    hidden: int = dataclasses.field(default=0, init=False)


@pytest.mark.parametrize(
    "data",
    [
        {"label": "ok", "__class__": "x"},
        {"label": "ok", "__dict__": {"label": "forged"}},
        {"label": "ok", "__eq__": "not a method"},
        {"label": "ok", "is_admin": True},
    ],
    ids=["__class__", "__dict__", "__eq__", "is_admin"],
)
def test_a_dataclass_row_setting_a_name_that_is_not_a_field_is_corrupt(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    # Regression: names outside __init__ were set with object.__setattr__, whatever they
    # were -- a row (signed: a holder of the secret, or an old version) set any attribute.
    register_type(Labelled, name="tests.Labelled")
    backend = SQLiteBackend(tmp_path / "c.db", secret=SECRET)
    row = {"__llmwarm__": "dataclass", "type": "tests.Labelled", "data": data}
    backend.set("k", "a genuine answer", None)  # creates the table; then overwritten
    with sqlite3.connect(tmp_path / "c.db") as db:
        db.execute(
            "INSERT OR REPLACE INTO llmwarm_cache (key, value, expires) VALUES (?, ?, ?)",
            ("k", codec.sign(SECRET.encode(), "k", _payload(row)), None),
        )
    with pytest.raises(codec.CorruptCacheRow, match="not fields of Labelled"):
        backend.get("k")
    # A genuine row, with a field outside __init__, still round-trips.
    genuine = Labelled("ok")
    genuine.hidden = 7
    backend.set("g", genuine, None)
    back = backend.get("g")
    assert back == genuine
    assert back.hidden == 7
    backend.close()
