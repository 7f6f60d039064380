"""A model that is not ready yet: recognise the answer, and wait it out once.

Providers that scale to zero do not always hold the request while the model loads:

- Hugging Face Inference Endpoints / TGI answer ``503`` with
  ``{"error": "Model <m> is currently loading", "estimated_time": 20.0}`` (kind
  ``loading-503``);
- serverless endpoints answer ``503`` or ``429`` saying the model is *not ready*, with
  ``Retry-After``, until a replica is up (Bedrock's ``ModelNotReadyException``; kind
  ``not-ready``).

:func:`recognise` reads either from any SDK's exception without importing one: openai's
``APIStatusError`` (its ``response``), ollama's ``ResponseError`` (whose HTTP error is its
``__context__``), ``httpx.HTTPStatusError``, botocore's ``ClientError`` (its ``response``
dict). A plain ``429`` rate limit or ``503`` overload is *not* recognised: only an answer
that says the model is loading or not ready.

:func:`until_ready` is the generator ``@warm``'s flow delegates to (``yield from``): it
runs the call, and while the answer is "not ready" waits as advised (``estimated_time``,
``Retry-After``; else a growing poll) and runs it again, within a bound: the call's own
``timeout`` argument when it passes a number, else :data:`DEFAULT_MAX_WAIT`. Under
``@routed`` with another tier to try, it does not wait: the router goes there at once.
:func:`patient` does the same for a callable run outside a stack (``@warm``'s adapter
pings go through the stack, so through :func:`until_ready`, once).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from llmwarm._core import runtime as _runtime
from llmwarm._core.background import is_async_callable
from llmwarm._core.call import Call, CallRecord
from llmwarm._core.driver import Flow, Offload, Step, Work, run_steps_async, run_steps_sync
from llmwarm._core.failures import retry_after, status_of
from llmwarm._core.log import logger

__all__ = [
    "DEFAULT_MAX_WAIT",
    "KINDS",
    "NotReady",
    "Patience",
    "Pause",
    "advised_wait",
    "classify",
    "kind_of",
    "mark_fallback",
    "patient",
    "recognise",
    "until_ready",
]

KINDS = ("loading-503", "not-ready")
"""The kinds of "not ready" answers recognised (the simulator's styles of the same names)."""
DEFAULT_MAX_WAIT = 120.0
"""The longest a call waits for a loading model when it passes no ``timeout`` (seconds)."""
_FIRST_POLL = 1.0  # an answer with no advised time: poll after 1 s, then 2, 4... up to 15
_POLL_CAP = 15.0
_MIN_DELAY = 0.05  # an advised 0 s ("any moment now"): not a busy loop
_MAX_ATTEMPTS = 100  # against an endpoint that advises 0 s forever

_LOADING = re.compile(r"currently loading|is loading|model.{0,40}\bloading\b", re.IGNORECASE)
_NOT_READY = re.compile(
    r"not[ _-]?ready|scal(?:ing|ed)(?: up)? (?:from|to) zero|warming up", re.IGNORECASE
)


@dataclass(frozen=True)
class NotReady:
    """A provider's answer that the model is not ready yet.

    .. versionadded:: 0.2.0
    """

    kind: str
    """``loading-503`` or ``not-ready`` (see :data:`KINDS`)."""
    retry_in: float | None
    """Seconds the provider advised to wait (``estimated_time``, ``Retry-After``), if any."""
    status: int | None
    """The HTTP status of the answer, when known."""


def classify(
    status: int | None, headers: Any, text: str | None, *, names: tuple[str, ...] = ()
) -> NotReady | None:
    """Classify one HTTP answer (status, headers with ``.get``, body text) as not ready.

    ``names`` are extra words to match (an exception's class names, an error code).
    """
    if status is not None and status not in (503, 429):
        return None
    body = _json(text)
    words = [*names, *_strings(body)]
    if not body and text:
        words.append(text[:500])
    estimate = body.get("estimated_time") if isinstance(body, dict) else None
    has_estimate = isinstance(estimate, (int, float)) and not isinstance(estimate, bool)
    loading = status != 429 and (has_estimate or any(_LOADING.search(w) for w in words))
    not_ready = any(_NOT_READY.search(w) or "NotReady" in w for w in words)
    if not (loading or not_ready):
        return None
    advised = _header_seconds(headers)
    if loading and has_estimate:
        advised = max(0.0, float(estimate))  # type: ignore[arg-type]
    return NotReady("loading-503" if loading else "not-ready", advised, status)


def recognise(exc: BaseException) -> NotReady | None:
    """Return what ``exc`` says of a model not ready, or None when it says nothing of it.

    .. versionadded:: 0.2.0
    """
    if not isinstance(exc, Exception):
        return None
    found: list[NotReady] = []
    for error in _chain(exc):
        seen = _recognise_one(error)
        if seen is not None:
            if seen.retry_in is not None:
                return seen
            found.append(seen)
    # ollama's error has the words; its context, the HTTP error, may have the advised time
    return found[0] if found else None


def _recognise_one(error: BaseException) -> NotReady | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):  # botocore's ClientError
        return _botocore(response)
    status = status_of(error)
    names = (*(k.__name__ for k in type(error).__mro__), str(error)[:500])
    message = getattr(error, "error", None)  # ollama's ResponseError
    if isinstance(message, str):
        names += (message,)
    if response is None and status is None:  # an SDK's own class, e.g. ModelNotReadyException
        return NotReady("not-ready", None, None) if any("NotReady" in n for n in names) else None
    return classify(status, getattr(response, "headers", None), _text(response), names=names)


def advised_wait(exc: BaseException) -> float | None:
    """Return the seconds a "not ready" answer advised waiting, else None (``@routed``).

    .. versionadded:: 0.2.0
    """
    seen = recognise(exc)
    return None if seen is None else seen.retry_in


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 4:
        error = todo.pop(0)
        if error is None or any(error is s for s in seen):
            continue
        seen.append(error)
        yield error
        todo += [error.__cause__, error.__context__]


def _botocore(response: dict[str, Any]) -> NotReady | None:
    error = response.get("Error") or {}
    code = str(error.get("Code", ""))
    meta = response.get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    return classify(
        status if isinstance(status, int) else None,
        meta.get("HTTPHeaders") or {},
        None,
        names=(code, str(error.get("Message", ""))),
    )


def _text(response: Any) -> str | None:
    try:
        text = getattr(response, "text", None)
    except Exception:  # a streamed response not read: no body to look at
        return None
    return text if isinstance(text, str) else None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _strings(body: Any) -> list[str]:
    """Return the error words of a JSON body: ``error`` (a string or OpenAI's object)..."""
    if not isinstance(body, dict):
        return []
    found: list[str] = []
    for key in ("error", "message", "code", "type", "__type"):
        value = body.get(key)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            found += _strings(value)
    return found


def _header_seconds(headers: Any) -> float | None:
    if headers is None or not hasattr(headers, "get"):
        return None
    carrier = SimpleNamespace(response=SimpleNamespace(headers=headers))  # as retry_after reads
    return retry_after(carrier)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the record's facts


def kind_of(record: CallRecord) -> str | None:
    """Return how the call's cold start showed (``llmwarm.cold_start.kind``), if it was cold.

    The kind of "not ready" answer it met and waited out (``loading-503``, ``not-ready``),
    else ``blocking`` for a call tagged cold that met none (it waited in line, or a vLLM
    server woke from sleep: a client cannot tell those apart), else None.

    .. versionadded:: 0.2.0
    """
    kind = record.cold_start_kind
    if kind is not None:
        return kind
    return "blocking" if record.cold_start and not record.cache_hit else None


def mark_fallback(record: CallRecord, ready: bool) -> None:
    """Say whether ``@routed`` has another tier for this attempt (then nobody waits).

    .. versionadded:: 0.2.0
    """
    record.fallback_ready = ready


# ---------------------------------------------------------------------------- the wait


class Patience:
    """How long one call has waited for its model, and how long it may still wait.

    .. versionadded:: 0.2.0
    """

    def __init__(self, bound: float = DEFAULT_MAX_WAIT) -> None:
        self.bound = bound
        self.waited = 0.0
        self.attempts = 0
        self.kind: str | None = None

    def delay_after(self, exc: BaseException) -> float | None:
        """Return the seconds to wait before trying again after ``exc``, or None to give up."""
        seen = recognise(exc)
        if seen is None or self.attempts >= _MAX_ATTEMPTS:
            return None
        self.kind = seen.kind
        poll = min(_POLL_CAP, _FIRST_POLL * 2**self.attempts)
        delay = poll if seen.retry_in is None else max(_MIN_DELAY, seen.retry_in)
        if self.waited + delay > self.bound:
            logger.info(
                "llmwarm: the model is not ready (%s) and would take %.1f s more than the "
                "%.1f s bound; the error goes to the caller",
                seen.kind,
                delay,
                self.bound,
            )
            return None
        self.attempts += 1
        self.waited += delay
        logger.debug("llmwarm: model not ready (%s): trying again in %.2f s", seen.kind, delay)
        return delay


class Pause(Step):
    """Wait ``seconds`` on the runtime clock: a sleep on the sync path, an async one on the other.

    ``sleep`` and ``asleep`` replace them (a fake clock; ``@routed``'s cool-down waits);
    a ``sleep`` given alone serves both paths.

    .. versionadded:: 0.2.0
    """

    __slots__ = ("asleep", "seconds", "sleep")

    def __init__(
        self,
        seconds: float,
        sleep: Callable[[float], None] | None = None,
        asleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.seconds = seconds
        self.sleep = sleep
        self.asleep = asleep

    def run_sync(self, proceed: Callable[[Call], Any]) -> Any:
        """Sleep on this thread."""
        (self.sleep or _runtime.sleep)(self.seconds)

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        """Sleep on the running loop."""
        if self.asleep is not None:
            await self.asleep(self.seconds)
        elif self.sleep is not None:
            self.sleep(self.seconds)
            await asyncio.sleep(0)
        else:
            await _runtime.asleep(self.seconds)


def _bound(call: Call) -> float:
    timeout = call.get("timeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    return DEFAULT_MAX_WAIT


def until_ready(
    call: Call,
    *,
    sleep: Callable[[float], None] | None = None,
    asleep: Callable[[float], Awaitable[None]] | None = None,
    failed: Exception | None = None,
) -> Flow:
    """Run ``call``; while its model answers "not ready", wait as advised and run it again.

    ``sleep`` and ``asleep`` are the waits of the caller's clock (see :class:`Pause`).
    ``failed``: the caller ran ``call`` once already and it raised this (a flow that runs
    its first attempt itself, and comes here only when it fails, saves a generator on
    every call that succeeds).

    The call is tagged cold with the answer's kind. Under ``@routed`` with another tier
    ready, the error goes up at once (the router moves the call there).

    .. versionadded:: 0.2.0
    """
    record = call.record
    patience: Patience | None = None  # made on the first failure: a call that succeeds
    error = failed  # pays for nothing but this generator
    while True:
        if error is None:
            try:
                return (yield call)
            except Exception as exc:
                error = exc
        if record.fallback_ready:
            raise error
        if patience is None:
            patience = Patience(_bound(call))
        delay = patience.delay_after(error)
        if patience.kind is not None:  # it met a cold start, waited out or not
            record.cold_start = True
            record.cold_start_kind = patience.kind
        if delay is None:
            raise error
        error = None
        yield Pause(delay, sleep, asleep)


def patient(
    ping: Callable[[str], Any], sleep: Callable[[float], None] | None = None
) -> Callable[[str], Any]:
    """Wrap a ``ping=`` callable: a "not ready" answer is waited out, not a failure.

    A keep-warm ping that meets a loading model is a cold start in progress: it waits for
    the model (within :data:`DEFAULT_MAX_WAIT`) rather than failing and backing off. The
    wait is background work like any other, driven by the one engine
    (:func:`~llmwarm._core.driver.run_steps_sync` / ``run_steps_async``).

    .. versionadded:: 0.2.0
    """
    if is_async_callable(ping):

        @functools.wraps(ping)
        async def apatient(model: str) -> Any:
            return await run_steps_async(_waiting_out(_Send(ping, model), sleep))

        return apatient

    @functools.wraps(ping)
    def spatient(model: str) -> Any:
        return run_steps_sync(_waiting_out(_Send(ping, model), sleep))

    return spatient


class _Send(Offload):
    """Call ``function(*args)``: here on the sync path, awaiting what it returns on the other."""

    __slots__ = ()

    async def run_async(self, proceed: Callable[[Call], Awaitable[Any]]) -> Any:
        """Call the function and await its answer on the running loop."""
        return await self.function(*self.args)


def _waiting_out(send: Step, sleep: Callable[[float], None] | None) -> Work[Any]:
    """Send; while the answer is "not ready", wait as advised and send again (a bound)."""
    patience = Patience()
    while True:
        try:
            return (yield send)
        except Exception as exc:
            delay = patience.delay_after(exc)
            if delay is None:
                raise
        yield Pause(delay, sleep)
