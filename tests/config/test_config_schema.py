"""Parsing and validation of llmwarm configurations: every section, env, each error."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmwarm.config import load_config
from llmwarm.config._schema import (
    CacheConfig,
    ConfigError,
    PoolingConfig,
    RoutingConfig,
    TierConfig,
    TracingConfig,
    WarmupConfig,
    parse_config,
    parse_duration,
    substitute,
)

FULL: dict[str, Any] = {
    "llm": {
        "openai": {
            "api_key": "${OPENAI_API_KEY}",
            "api_base": "http://127.0.0.1:9/v1",
            "default_model": "gpt-4o-mini",
            "connection_pooling": {
                "max_connections": 100,
                "max_keepalive_connections": 20,
                "keepalive_expiry": 300,
                "http2": False,
                "timeout_seconds": "2m",
            },
            "warmup": {
                "enabled": True,
                "interval_seconds": 240,
                "model": "gpt-4o-mini",
                "backend": "redis://localhost:6379/0",
            },
            "cache": {
                "enabled": True,
                "max_size": 1000,
                "ttl_seconds": 3600,
                "backend": "sqlite:///tmp/llm.db",
            },
            "routing": {
                "tiers": [
                    {"name": "small", "model": "gpt-4o-mini", "max_tokens": 256},
                    {"name": "large", "model": "gpt-4o"},
                ],
                "prefer_warm": True,
                "hedge_after_seconds": "1.5s",
                "fallback": False,
                "cooldown_seconds": 10,
            },
            "tracing": {"enabled": True, "capture_content": True},
        },
        "ollama": {
            "api_base": "http://localhost:11434",
            "default_model": "llama3.2",
            "warmup": {"enabled": True, "interval_seconds": 240, "keep_alive": "10m"},
        },
    }
}
ENV = {"OPENAI_API_KEY": "sk-test-0123456789abcdef"}


def test_every_section_parses_to_its_frozen_description() -> None:
    stacks = parse_config(FULL, ENV)
    openai = stacks["openai"]
    assert openai.api_key == ENV["OPENAI_API_KEY"]
    assert openai.api_base == "http://127.0.0.1:9/v1"
    assert openai.default_model == "gpt-4o-mini"
    assert openai.pooling == PoolingConfig(True, 100, 20, 300.0, False, 120.0)
    assert openai.warmup == WarmupConfig(
        True, "gpt-4o-mini", 240.0, None, "redis://localhost:6379/0"
    )
    assert openai.cache == CacheConfig(True, 1000, 3600.0, "sqlite:///tmp/llm.db")
    assert openai.routing == RoutingConfig(
        tiers=(
            TierConfig("small", "gpt-4o-mini", {"max_tokens": 256}),
            TierConfig("large", "gpt-4o", {}),
        ),
        prefer_warm=True,
        hedge_after_seconds=1.5,
        fallback=False,
        cooldown_seconds=10.0,
    )
    assert openai.tracing == TracingConfig(True, True)
    ollama = stacks["ollama"]
    assert ollama.warmup == WarmupConfig(True, "llama3.2", 240.0, 600.0, None)
    assert ollama.pooling == PoolingConfig()  # on by default: it hands out the client
    assert (ollama.cache, ollama.routing, ollama.tracing) == (None, None, None)
    with pytest.raises(AttributeError):
        openai.api_key = "changed"  # type: ignore[misc]


def test_warmup_model_defaults_to_default_model_and_disabled_sections_are_none() -> None:
    data = {
        "llm": {
            "openai": {
                "default_model": "m1",
                "warmup": {"interval_seconds": "4m"},
                "cache": {"enabled": False, "ttl_seconds": -1},
                "connection_pooling": {"enabled": False},
                "tracing": {"enabled": False},
                "routing": {"enabled": False},
            }
        }
    }
    stack = parse_config(data, {})["openai"]
    assert stack.warmup == WarmupConfig(True, "m1", 240.0, None, None)
    assert (stack.cache, stack.pooling, stack.tracing, stack.routing) == (None,) * 4


def test_other_top_level_keys_belong_to_the_application() -> None:
    stacks = parse_config({"database": {"url": "x"}, "llm": {"ollama": {}}}, {})
    assert list(stacks) == ["ollama"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(300, 300.0), (1.5, 1.5), ("300", 300.0), ("300s", 300.0), ("10m", 600.0),
     ("1h30m", 5400.0), ("250ms", 0.25), ("1d", 86400.0), (" 2m 30s ", 150.0)],
)  # fmt: skip
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", [True, "", "10x", "m", "1h-", None, [1], "nan", "inf"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(bad)


# ---------------------------------------------------------------------- environment


def test_env_set_default_and_literal_dollar() -> None:
    data = {
        "a": "${A}",
        "b": "${B:-fallback}",
        "c": "x-${A}-y",
        "n": "${N:-42}",
        "f": "${F:-0.5}",
        "t": "${T:-true}",
        "lit": "$${A}",
        "list": ["${A}"],
    }
    out = substitute(data, {"A": "alpha", "B": ""}, "root")
    assert out == {
        "a": "alpha",
        "b": "",  # set (even empty) wins over the default
        "c": "x-alpha-y",
        "n": 42,
        "f": 0.5,
        "t": True,
        "lit": "${A}",
        "list": ["alpha"],
    }


def test_env_missing_names_variable_and_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(FULL, {})
    assert info.value.path == "llm.openai.api_key"
    assert str(info.value) == (
        "llm.openai.api_key refers to the environment variable OPENAI_API_KEY, which is not set"
    )


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMWARM_TEST_SIZE", "7")
    stack = parse_config({"llm": {"openai": {"cache": {"max_size": "${LLMWARM_TEST_SIZE}"}}}})[
        "openai"
    ]
    assert stack.cache is not None
    assert stack.cache.max_size == 7


# --------------------------------------------------------------------------- errors


def _with(path: str, value: Any) -> dict[str, Any]:
    """FULL with the value at dotted ``path`` replaced (``...`` deletes it)."""
    data = copy.deepcopy(FULL)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


BAD = [
    # unknown keys, at each level
    ("llm.openai.colour", "blue", "llm.openai.colour is not a known key; llm.openai accepts:"),
    ("llm.openai.cache.size", 5, "llm.openai.cache.size is not a known key"),
    ("llm.openai.warmup.every", 5, "llm.openai.warmup.every is not a known key"),
    ("llm.openai.connection_pooling.max", 5, "llm.openai.connection_pooling.max is not a known"),
    ("llm.openai.routing.tier", [], "llm.openai.routing.tier is not a known key"),
    ("llm.openai.tracing.content", True, "llm.openai.tracing.content is not a known key"),
    ("llm.azure", {}, "llm.azure is not a known provider; known providers are: ollama, openai"),
    # wrong types
    ("llm.openai.cache", 5, "llm.openai.cache must be a mapping, got int 5"),
    ("llm.openai", [], "llm.openai must be a mapping, got list []"),
    ("llm", [], "llm must be a mapping of providers, got list []"),
    ("llm.openai.cache.enabled", "yes", "llm.openai.cache.enabled must be true or false"),
    ("llm.openai.cache.max_size", "big", "llm.openai.cache.max_size must be an integer, got str"),
    ("llm.openai.cache.max_size", 1.5, "llm.openai.cache.max_size must be an integer"),
    ("llm.openai.cache.max_size", True, "llm.openai.cache.max_size must be an integer"),
    ("llm.openai.default_model", 3, "llm.openai.default_model must be a non-empty string"),
    ("llm.openai.default_model", "", "llm.openai.default_model must be a non-empty string"),
    ("llm.openai.tracing.capture_content", "no", "capture_content must be true or false"),
    ("llm.openai.warmup.interval_seconds", "soon", "interval_seconds must be a duration"),
    # zero and negative values
    ("llm.openai.cache.ttl_seconds", -1, "llm.openai.cache.ttl_seconds must be > 0, got -1"),
    ("llm.openai.cache.ttl_seconds", 0, "llm.openai.cache.ttl_seconds must be > 0, got 0"),
    ("llm.openai.cache.max_size", 0, "llm.openai.cache.max_size must be >= 1, got 0"),
    ("llm.openai.warmup.interval_seconds", -5, "interval_seconds must be > 0, got -5"),
    ("llm.openai.warmup.interval_seconds", 0.5, "interval_seconds must be >= 1 s"),
    ("llm.openai.connection_pooling.max_connections", 0, "max_connections must be >= 1, got 0"),
    ("llm.openai.connection_pooling.max_keepalive_connections", -1, "must be >= 0, got -1"),
    ("llm.openai.connection_pooling.max_keepalive_connections", 500,
     "max_keepalive_connections must be <= max_connections (100), got 500"),
    ("llm.openai.connection_pooling.keepalive_expiry", 0, "keepalive_expiry must be > 0"),
    ("llm.openai.routing.hedge_after_seconds", -2, "hedge_after_seconds must be > 0, got -2"),
    # interval >= keep_alive
    ("llm.ollama.warmup.keep_alive", "4m",
     "llm.ollama.warmup.interval_seconds must be < keep_alive (240 s), got 240"),
    ("llm.ollama.warmup.keep_alive", "1m", "must be < keep_alive (60 s), got 240"),
    # backends and URLs
    ("llm.openai.cache.backend", "mysql://x/y", "llm.openai.cache.backend must be a URL with a "
     "scheme among memory, sqlite, redis, rediss, got 'mysql://x/y'"),
    ("llm.openai.cache.backend", "redis://", "llm.openai.cache.backend must name a host"),
    ("llm.openai.cache.backend", "sqlite://", "must name a file (sqlite:///path/cache.db)"),
    ("llm.openai.warmup.backend", "sqlite:///a.db", "llm.openai.warmup.backend must be a URL "
     "with a scheme among redis, rediss"),
    ("llm.openai.api_base", "localhost:8000", "llm.openai.api_base must be a URL with a scheme"),
    # routing tiers
    ("llm.openai.routing.tiers", [], "llm.openai.routing.tiers must be a non-empty list"),
    ("llm.openai.routing.tiers", ..., "llm.openai.routing.tiers is required"),
    ("llm.openai.routing.tiers.0", "small", "llm.openai.routing.tiers[0] must be a mapping"),
    ("llm.openai.routing.tiers.1.model", ..., "llm.openai.routing.tiers[1].model is required"),
    ("llm.openai.routing.tiers.1.name", "small", "tiers[1].name repeats the tier name 'small'"),
    # required warm-up model
    ("llm.openai.default_model", ..., None),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_each_error_names_its_path(path: str, value: Any, message: str | None) -> None:
    data = _with(path, value)
    if message is None:  # warmup.model falls back to default_model: now neither exists
        del data["llm"]["openai"]["warmup"]["model"]
        message = "llm.openai.warmup.model is required when the provider has no default_model"
    with pytest.raises(ConfigError) as info:
        parse_config(data, ENV)
    assert message in str(info.value)
    assert str(info.value).startswith(info.value.path)


def test_top_level_errors() -> None:
    with pytest.raises(ConfigError, match=r"^llm is required"):
        parse_config({"openai": {}}, {})
    with pytest.raises(ConfigError, match=r"^\(top level\) must be a mapping"):
        parse_config(["llm"], {})


# ---------------------------------------------------------------------- YAML files


def test_yaml_file_and_mapping_give_the_same_stacks(tmp_path: Path) -> None:
    path = tmp_path / "llmwarm.yaml"
    path.write_text(
        textwrap.dedent(
            """
            llm:
              openai:
                api_key: ${OPENAI_API_KEY}
                default_model: gpt-4o-mini
                connection_pooling:
                  {max_connections: 100, max_keepalive_connections: 20, keepalive_expiry: 300}
                warmup: {enabled: true, interval_seconds: 240, model: gpt-4o-mini}
                cache: {enabled: true, max_size: 1000, ttl_seconds: 3600}
              ollama:
                api_base: http://localhost:11434
                default_model: llama3.2
                warmup: {enabled: true, interval_seconds: 240, keep_alive: 10m}
            """
        )
    )
    from_file = load_config(path, ENV)
    from_str = load_config(str(path), ENV)
    import yaml

    from_mapping = load_config(yaml.safe_load(path.read_text()), ENV)
    assert from_file == from_str == from_mapping
    assert from_file["openai"].cache == CacheConfig(True, 1000, 3600.0, None)
    assert from_file["ollama"].warmup == WarmupConfig(True, "llama3.2", 240.0, 600.0, None)


def test_yaml_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("llm: {openai: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(broken, {})
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.yaml", {})
    with pytest.raises(TypeError, match="a YAML file path or a mapping"):
        load_config(42, {})  # type: ignore[arg-type]


def test_example_file_is_valid() -> None:
    example = Path(__file__).parents[2] / "examples" / "llmwarm.yaml"
    stacks = load_config(example, ENV)
    assert set(stacks) == {"openai", "ollama"}
    assert stacks["ollama"].routing is not None


def test_warmup_interval_auto_and_the_ollama_keep_alive_default() -> None:
    data = {
        "llm": {
            "ollama": {"default_model": "llama3.2", "warmup": {"interval_seconds": "auto"}},
            "openai": {"default_model": "m", "warmup": {"interval_seconds": "20m"}},
        }
    }
    stacks = parse_config(data, {})
    # Ollama pings ask for 10 minutes unless told otherwise; OpenAI's window is unknown.
    assert stacks["ollama"].warmup == WarmupConfig(True, "llama3.2", "auto", 600.0, None)
    assert stacks["openai"].warmup == WarmupConfig(True, "m", 1200.0, None, None)
    data["llm"]["ollama"]["warmup"] = {"interval_seconds": "15m"}
    with pytest.raises(ConfigError) as info:
        parse_config(data, {})
    assert str(info.value).startswith(
        "llm.ollama.warmup.interval_seconds must be < keep_alive (600 s), got 900"
    )


# -------------------------------------------------------------------- check-config


def _check(path: Path) -> int:
    import argparse

    from llmwarm.config import _from_config as config

    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    return config.run(parser.parse_args([str(path)]))


def test_check_config_prints_the_stacks_and_masks_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-0123456789")
    example = Path(__file__).parents[2] / "examples" / "llmwarm.yaml"
    assert _check(example) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "OK (2 providers)" in out
    assert "sk-very-secret-0123456789" not in out
    assert "api_key sk-…6789" in out
    lines = out.splitlines()
    openai_at = lines.index(next(x for x in lines if x.startswith("provider openai")))
    decorators = [x.split("(")[0].strip() for x in lines[openai_at + 1 : openai_at + 5]]
    assert decorators == ["@traced", "@cached", "@warm", "@pooled"]  # outermost first
    assert "@warm('llama3.2', keep_alive=600)" in out  # no interval: the warming policy


def test_check_config_reports_the_error_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-0123456789")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "llm:\n  openai:\n    api_key: ${OPENAI_API_KEY}\n    cache: {ttl_seconds: -1}\n"
    )
    assert _check(bad) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "llmwarm check-config: error: llm.openai.cache.ttl_seconds must be > 0, got -1\n"
    )
    monkeypatch.delenv("OPENAI_API_KEY")
    assert _check(bad) == 2
    assert "environment variable OPENAI_API_KEY, which is not set" in capsys.readouterr().err
    assert _check(tmp_path / "missing.yaml") == 2
    assert "cannot be read" in capsys.readouterr().err


def test_env_values_become_numbers_only_as_yaml_would_read_them() -> None:
    out = substitute(
        {"a": "${A}", "b": "${B}", "c": "${C}", "d": "${D}", "e": "${E}"},
        {"A": "nan", "B": "inf", "C": "1_000", "D": "-12", "E": "1e3"},
    )
    assert out == {"a": "nan", "b": "inf", "c": "1_000", "d": -12, "e": 1000.0}


@pytest.mark.parametrize("spelling", ["auto", "Auto", " AUTO "])
def test_warmup_interval_auto_in_any_case(spelling: str) -> None:
    data = copy.deepcopy(FULL)
    data["llm"]["openai"]["warmup"]["interval_seconds"] = spelling
    assert parse_config(data, {"OPENAI_API_KEY": "k"})["openai"].warmup.interval_seconds == "auto"


def test_a_bad_warmup_interval_names_auto_among_the_accepted_values() -> None:
    data = copy.deepcopy(FULL)
    data["llm"]["openai"]["warmup"]["interval_seconds"] = "soon"
    with pytest.raises(ConfigError, match=r'or "auto", got str'):
        parse_config(data, {"OPENAI_API_KEY": "k"})
