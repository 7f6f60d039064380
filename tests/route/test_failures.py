"""Which errors are retryable, Retry-After parsing, and the process-wide cool-down registry."""

from __future__ import annotations

import email.utils

import httpx
import httpx2
import ollama
import openai
import pytest
from routing_helpers import FakeClock

from llmwarm._core import CoolDowns, attach_attempts, is_retryable, retry_after, status_of
from llmwarm._core import failures as _failures

URL = "http://127.0.0.1:1/v1/chat/completions"


def openai_status(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(status, headers=headers or {}, request=request)
    kinds = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        403: openai.PermissionDeniedError,
        404: openai.NotFoundError,
        422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }
    kind = kinds.get(status, openai.InternalServerError if status >= 500 else openai.APIStatusError)
    return kind(f"status {status}", response=response, body=None)


def httpx_status(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", URL)
    response = httpx.Response(status, headers=headers or {}, request=request)
    return httpx.HTTPStatusError(f"status {status}", request=request, response=response)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_from_every_sdk(status: int) -> None:
    assert is_retryable(openai_status(status))
    assert is_retryable(httpx_status(status))
    assert is_retryable(ollama.ResponseError("busy", status_code=status))
    assert status_of(openai_status(status)) == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retryable(status: int) -> None:
    assert not is_retryable(openai_status(status))
    assert not is_retryable(httpx_status(status))
    assert not is_retryable(ollama.ResponseError("bad", status_code=status))


def test_transport_errors_timeouts_and_builtins() -> None:
    request = httpx.Request("POST", URL)
    retryable = [
        httpx.ReadTimeout("slow", request=request),
        httpx.ConnectError("refused", request=request),
        httpx.RemoteProtocolError("hung up", request=request),
        httpx2.ReadTimeout("slow"),  # openai 3's transport: recognised by class name
        openai.APITimeoutError(request=httpx2.Request("POST", URL)),
        openai.APIConnectionError(request=httpx2.Request("POST", URL)),
        TimeoutError(),
        ConnectionResetError(),
    ]
    assert all(is_retryable(exc) for exc in retryable)
    not_retryable = [
        ValueError("bug"),
        KeyError("x"),
        httpx.UnsupportedProtocol("ftp://", request=request),
        ollama.ResponseError("no status"),  # status_code -1: unknown, not retried
    ]
    assert not any(is_retryable(exc) for exc in not_retryable)


def test_retry_after_in_seconds_milliseconds_and_http_date() -> None:
    assert retry_after(openai_status(429, {"retry-after": "7"})) == 7.0
    assert retry_after(openai_status(429, {"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after(httpx_status(503, {"retry-after": "2.5"})) == 2.5
    date = email.utils.formatdate(1_000_120.0, usegmt=True)
    assert retry_after(httpx_status(503, {"retry-after": date}), now=lambda: 1_000_000.0) == 120.0
    assert retry_after(openai_status(429)) is None
    assert retry_after(openai_status(429, {"retry-after": "soon"})) is None
    assert retry_after(TimeoutError()) is None


def test_cool_downs_extend_expire_and_report() -> None:
    clock = FakeClock()
    registry = CoolDowns(clock)
    registry.cool("a", 10)
    registry.cool("a", 5)  # never shortened
    assert registry.ends("a") == clock.now + 10
    assert registry.snapshot() == {"a": 10}
    clock.advance(9.9)
    assert registry.cooling("a")
    clock.advance(0.2)
    assert not registry.cooling("a")
    assert registry.snapshot() == {}


def test_shared_registry_is_reset_with_the_fixture_clock(clock: FakeClock) -> None:
    _failures.cooldowns.cool("m", 3)
    assert _failures.cooldowns.ends("m") == clock.now + 3


def test_attach_attempts_keeps_the_type_and_lists_the_others() -> None:
    first, last = TimeoutError("slow"), openai_status(503)
    attach_attempts(last, [("small", "a", first), ("large", "b", last)])
    assert last.llmwarm_attempts == [("small", "a", first), ("large", "b", last)]  # type: ignore[attr-defined]
    assert last.__notes__ == ["llmwarm: tier 'small' (model 'a') failed first: TimeoutError: slow"]


def test_none_cooling_drops_cool_downs_that_all_ended() -> None:
    # A model nobody asks about again (another router's tier) must not keep every
    # router off its fast path once its cool-down is over.
    clock = FakeClock()
    registry = CoolDowns(clock)
    assert registry.none_cooling()
    registry.cool("other-routers-model", 5)
    registry.cool("ours", 1)
    assert not registry.none_cooling()
    clock.advance(2)  # "ours" ended, the other still cools
    assert not registry.none_cooling()
    clock.advance(4)  # both ended, and nobody asked ends() for either
    assert registry.none_cooling()
    assert registry.snapshot() == {}
    registry.cool("ours", 1)  # a new cool-down counts again
    assert not registry.none_cooling()
