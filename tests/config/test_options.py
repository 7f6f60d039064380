"""Options in one place: YAML takes both spellings through one table; unknown names get a
"did you mean"; one duration parser."""

from __future__ import annotations

import datetime
import inspect
from typing import Any

import httpx
import pytest

import llmwarm
from llmwarm._core import SECTIONS
from llmwarm.config._schema import parse_config, parse_duration

DECORATORS = {
    "pooled": llmwarm.pooled,
    "warm": llmwarm.warm,
    "cached": llmwarm.cached,
    "routed": llmwarm.routed,
    "traced": llmwarm.traced,
}
TIERS = [{"name": "small", "model": "m-small"}]
# One valid value per YAML key of each section (durations and counts chosen to agree).
VALUES: dict[str, Any] = {
    "max_connections": 50,
    "max_keepalive_connections": 10,
    "keepalive_expiry": "2m",
    "http2": True,
    "timeout_seconds": "30s",
    "model": "m-large",
    "interval_seconds": "4m",
    "cold_start_budget": 0.05,
    "keep_alive": "10m",
    "backend": "redis://127.0.0.1:6390/0",
    "max_size": 7,
    "ttl_seconds": "2h",
    "tiers": [*TIERS, {"name": "large", "model": "m-large"}],
    "prefer_warm": True,
    "hedge_after_seconds": 2,
    "fallback": False,
    "cooldown_seconds": 45,
    "capture_content": True,
}


def parsed(section: str, options: dict[str, Any]) -> Any:
    stack = parse_config({"llm": {"openai": {section: options}}})["openai"]
    attribute = {"connection_pooling": "pooling"}.get(section, section)
    return getattr(stack, attribute)


SPELLINGS = [
    (section, yaml_key, keyword)
    for section, table in SECTIONS.values()
    for yaml_key, keyword in table.items()
]


@pytest.mark.parametrize(("section", "yaml_key", "keyword"), SPELLINGS)
def test_yaml_takes_the_keyword_spelling_of_every_key_as_the_guides_spelling(
    section: str, yaml_key: str, keyword: str
) -> None:
    # What the section needs besides the key under test.
    base: dict[str, Any] = {"routing": {"tiers": TIERS}, "warmup": {"model": "m-small"}}.get(
        section, {}
    )
    as_guides = parsed(section, {**base, yaml_key: VALUES[yaml_key]})
    as_keyword = parsed(section, {**base, keyword: VALUES[yaml_key]})
    assert as_keyword == as_guides
    assert as_guides != parsed(section, base)  # the key did set something


def test_every_keyword_of_the_table_is_an_option_of_its_decorator() -> None:
    limits = set(inspect.signature(httpx.Limits).parameters)
    for decorator, (_, table) in SECTIONS.items():
        accepted = set(inspect.signature(DECORATORS[decorator]).parameters)
        for keyword in table.values():
            assert keyword in accepted or (decorator == "pooled" and keyword in limits), keyword


def test_a_stack_built_from_keyword_spellings_has_those_options() -> None:
    config = {
        "llm": {
            "openai": {
                "api_key": "sk-test",
                "cache": {"ttl": "10m", "maxsize": 3},
                "warmup": {"model": "m-small", "interval": 60, "keep_alive": "5m"},
                "connection_pooling": {"timeout": 5},
            }
        }
    }

    @llmwarm.from_config(config)
    def complete(messages: Any, *, model: Any = None, max_tokens: Any = None, client: Any = None):
        return messages

    assert complete.cache.info()["ttl"] == 600.0
    assert complete.warmer.interval("m-small") == 60.0
    assert complete.warmer.keep_alive == 300.0


def test_both_spellings_of_one_option_are_refused() -> None:
    with pytest.raises(llmwarm.ConfigError) as caught:
        parse_config({"llm": {"openai": {"cache": {"ttl_seconds": 60, "ttl": 30}}}})
    assert str(caught.value) == (
        "llm.openai.cache.ttl sets the same option as llm.openai.cache.ttl_seconds; "
        "keep one of them"
    )


def test_errors_name_the_key_as_it_was_written() -> None:
    with pytest.raises(llmwarm.ConfigError, match=r"^llm\.openai\.cache\.ttl must be > 0"):
        parse_config({"llm": {"openai": {"cache": {"ttl": -1}}}})


@pytest.mark.parametrize(
    ("path", "written", "hint"),
    [
        ("cache", "ttl_second", "ttl_seconds"),
        ("cache", "max_szie", "max_size"),
        ("cache", "size", "max_size"),
        ("warmup", "intervall", "interval_seconds"),
        ("routing", "hedge_after_second", "hedge_after_seconds"),
        ("tracing", "capture", "capture_content"),
    ],
)
def test_an_unknown_yaml_key_gets_did_you_mean(path: str, written: str, hint: str) -> None:
    with pytest.raises(llmwarm.UnknownOptionError) as caught:
        parse_config({"llm": {"openai": {path: {written: 1}}}})
    assert str(caught.value).startswith(
        f"llm.openai.{path}.{written} is not a known key (did you mean {hint!r}?); "
        f"llm.openai.{path} accepts: "
    )


def test_the_accepted_list_shows_both_spellings_and_a_far_key_gets_no_guess() -> None:
    with pytest.raises(llmwarm.UnknownOptionError) as caught:
        parse_config({"llm": {"openai": {"cache": {"colour": "blue"}}}})
    assert str(caught.value) == (
        "llm.openai.cache.colour is not a known key; llm.openai.cache accepts: backend, "
        "enabled, max_size (or maxsize), ttl_seconds (or ttl)"
    )


def test_an_unknown_provider_gets_did_you_mean() -> None:
    with pytest.raises(llmwarm.UnknownOptionError, match=r"did you mean 'openai'\?"):
        parse_config({"llm": {"opneai": {}}})


@pytest.mark.parametrize(
    ("configure", "message"),
    [
        (lambda: llmwarm.cached(ttl_seconds=60), "@cached(ttl_seconds=60) is not an option of "
         "@cached (did you mean 'ttl'?); it accepts: backend, cacheable, fingerprint_key, key, "
         "maxsize, scope, ttl."),
        (lambda: llmwarm.cached(max_size=5), "(did you mean 'maxsize'?)"),
        (lambda: llmwarm.warm("m", interval_seconds=60), "(did you mean 'interval'?)"),
        (lambda: llmwarm.warm("m", keepalive=60), "(did you mean 'keep_alive'?)"),
        (lambda: llmwarm.routed([llmwarm.Tier("a", "m")], cooldown_seconds=5),
         "(did you mean 'cooldown'?)"),
        (lambda: llmwarm.routed([llmwarm.Tier("a", "m")], hedge_after_seconds=1),
         "(did you mean 'hedge_after'?)"),
        (lambda: llmwarm.traced(capture=True), "(did you mean 'capture_content'?)"),
        (lambda: llmwarm.batched(max_wiat=0.1), "(did you mean 'max_wait'?)"),
        (lambda: llmwarm.cached(colour="blue"), "@cached(colour='blue') is not an option of "
         "@cached; it accepts: "),
    ],
)  # fmt: skip
def test_an_unknown_decorator_keyword_gets_did_you_mean(configure: Any, message: str) -> None:
    with pytest.raises(llmwarm.UnknownOptionError) as caught:
        configure()  # at configuration: no function is needed to be told
    assert message in str(caught.value)
    assert isinstance(caught.value, TypeError)  # what Python itself raised before


def test_pooled_passes_other_keywords_to_its_factory() -> None:
    # @pooled's **client_kwargs are the SDK's options: not checked against @pooled's own.
    seen: dict[str, Any] = {}

    def factory(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return object()

    @llmwarm.pooled(factory, organization="org-1")
    def call(*, client: Any) -> Any:
        return client

    call()
    assert seen["organization"] == "org-1"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1.5, 1.5),
        (90, 90.0),
        (datetime.timedelta(minutes=5), 300.0),
        ("300s", 300.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
    ],
)
def test_one_duration_parser_reads_numbers_timedeltas_and_units(value: Any, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", [True, "", "5 parsecs", float("nan"), float("inf"), [5]])
def test_the_duration_parser_refuses_what_is_not_a_duration(value: Any) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


def test_a_mapping_config_takes_timedeltas() -> None:
    cache = parsed("cache", {"ttl": datetime.timedelta(minutes=2)})
    assert cache.ttl_seconds == 120.0
