"""``@traced``: OpenTelemetry GenAI spans and metrics that tag every call cold or warm.

Only the OpenTelemetry *API* is used: the tracer and meter come from the global providers
(or the ones passed), the instrumentation scope is ``llmwarm`` with its version and the
semantic-conventions schema URL, and llmwarm never sets a global provider (applications
do, or call :func:`llmwarm.telemetry.setup`).

Cost: with no SDK installed (the global providers are the API's proxies), ``@traced`` starts
no span at all and only lets the call through. With an SDK, the attributes known at the
start are built once and passed to ``start_span`` (samplers see them); the span is made
current only while it is recording; the facts other policies wrote (cold start, cache,
route, warm-up, connection) are read from the call record when the call ends.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import metrics
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmwarm._core import (
    Call,
    Flow,
    FunctionSpec,
    Policy,
    StreamAbandoned,
    apply,
    check_keywords,
    is_stream,
    logger,
    predict,
    safely,
)
from llmwarm._core import observe_stream as _observe_stream
from llmwarm._version import __version__
from llmwarm.trace import _semconv as sc
from llmwarm.trace._responses import (
    NO_ENDPOINT,
    ResponseFacts,
    endpoint_of,
    facts_of,
    messages_json,
    output_json,
    provider_of_result,
)

__all__ = ["DEFAULT_OPERATION", "TracedPolicy", "traced"]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_OPERATION = "chat"
"""The ``gen_ai.operation.name`` of a traced call unless ``operation=`` says otherwise."""

_INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
_PARAMS = (
    ("max_tokens", sc.REQUEST_MAX_TOKENS),
    ("max_completion_tokens", sc.REQUEST_MAX_TOKENS),
    ("max_output_tokens", sc.REQUEST_MAX_TOKENS),
    ("temperature", sc.REQUEST_TEMPERATURE),
    ("top_p", sc.REQUEST_TOP_P),
)
_OLLAMA_PARAMS = (
    ("num_predict", sc.REQUEST_MAX_TOKENS),
    ("temperature", sc.REQUEST_TEMPERATURE),
    ("top_p", sc.REQUEST_TOP_P),
)
_NOOP_METER_PROVIDERS = ("NoOpMeterProvider", "_ProxyMeterProvider")


class _Telemetry:
    """The tracer and instruments of one (tracer provider, meter provider) pair."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        self.tracing = _traces(tracer_provider)
        self.metering = _meters(meter_provider)
        self.tracer = tracer_provider.get_tracer(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
        meter = meter_provider.get_meter(sc.SCOPE_NAME, __version__, sc.SCHEMA_URL)
        self.latest = sc.latest_experimental()
        hist = meter.create_histogram
        self.duration = hist(
            sc.OPERATION_DURATION, "s", "GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )  # fmt: skip
        self.ttfc = hist(
            sc.TIME_TO_FIRST_CHUNK, "s", "Time to receive the first chunk of a stream.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )  # fmt: skip
        self.tokens = hist(
            sc.TOKEN_USAGE, "{token}", "Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
        )  # fmt: skip
        if self.latest:
            self.inference_duration = hist(
                sc.INFERENCE_DURATION, "s", "GenAI inference duration.",
                explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
            )  # fmt: skip
            self.inference_ttfc = hist(
                sc.INFERENCE_TIME_TO_FIRST_CHUNK, "s", "Time to the first chunk of a stream.",
                explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
            )  # fmt: skip
            self.input_tokens = hist(
                sc.INFERENCE_INPUT_TOKENS, "{token}", "Input tokens of one operation.",
                explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
            )  # fmt: skip
            self.output_tokens = hist(
                sc.INFERENCE_OUTPUT_TOKENS, "{token}", "Output tokens of one operation.",
                explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
            )  # fmt: skip
        self.coldstarts = meter.create_counter(sc.COLDSTARTS, "{call}", "Calls predicted cold.")
        self.pings = meter.create_counter(sc.WARMUP_PINGS, "{ping}", "Keep-warm pings sent.")
        self.lookups = meter.create_counter(sc.CACHE_LOOKUPS, "{lookup}", "Cache lookups.")


_bundles: dict[tuple[Any, Any], _Telemetry | None] = {}


def _telemetry(tracer_provider: Any, meter_provider: Any) -> _Telemetry | None:
    key = (tracer_provider, meter_provider)
    try:
        return _bundles[key]
    except KeyError:
        pass
    bundle: _Telemetry | None = _Telemetry(tracer_provider, meter_provider)
    if bundle is not None and not (bundle.tracing or bundle.metering):
        bundle = None  # nothing can observe a span or a measurement: let calls through
    if len(_bundles) > 32:
        _bundles.clear()
    _bundles[key] = bundle
    return bundle


#: Seconds the API's answer "no global provider" is trusted before its getters are asked
#: again. ``get_tracer_provider()`` and ``get_meter_provider()`` look for
#: ``OTEL_PYTHON_*_PROVIDER`` in ``os.environ`` on every call until a provider is set (about
#: as much as all of ``@traced``'s own cost without an SDK), and the public API has no way to
#: learn that one was set but to ask. ``telemetry.setup()`` ends the wait at once.
RECHECK_PROVIDERS = 0.1

_NEVER = float("-inf")
# The getters' last answers: (tracer provider, meter provider, whether neither records),
# trusted until the perf_counter() time `_quiet_until`. A real provider is set once and
# never replaced (the API refuses a second), so two real ones are trusted for good.
_globals: tuple[Any, Any, bool] = (None, None, True)
_quiet_until = _NEVER


def forget_providers() -> None:
    """Ask the OpenTelemetry API for its global providers on the next traced call.

    ``telemetry.setup()`` calls it after setting them; a provider set otherwise is seen
    within :data:`RECHECK_PROVIDERS` seconds.
    """
    global _quiet_until
    _quiet_until = _NEVER


def _global_providers(now: float) -> tuple[Any, Any, bool]:
    """Return the API's global (tracer provider, meter provider, whether neither records).

    ``now`` is the call's ``perf_counter()`` start: the answer is asked of the public
    getters at most once per :data:`RECHECK_PROVIDERS` while a provider is missing.
    """
    global _globals, _quiet_until
    if now < _quiet_until:
        return _globals
    tp = otel_trace.get_tracer_provider()
    mp = metrics.get_meter_provider()
    traces, meters = _traces(tp), _meters(mp)
    _globals = (tp, mp, not (traces or meters))
    _quiet_until = float("inf") if traces and meters else now + RECHECK_PROVIDERS
    return _globals


def _traces(tracer_provider: Any) -> bool:
    """Whether a span made with this provider can be observed."""
    return not isinstance(
        tracer_provider, (otel_trace.ProxyTracerProvider, otel_trace.NoOpTracerProvider)
    )


def _meters(meter_provider: Any) -> bool:
    # The API's stand-in before a provider is set is not public (the proxy class is private
    # in opentelemetry.metrics): recognised by its name, which never reaches into it.
    return not isinstance(meter_provider, metrics.NoOpMeterProvider) and (
        type(meter_provider).__name__ not in _NOOP_METER_PROVIDERS
    )


def _error_type(error: BaseException) -> str:
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


_NUMBERS = (int, float)
#: Bound once: a module attribute lookup less on every traced call's path.
_perf_counter = time.perf_counter


#: ``finish()`` of a call that ended with an error or a stream: no value to read.
_NO_RESULT: Any = object()
#: A policy's telemetry not resolved yet (``None`` means "nothing observes").
_UNRESOLVED = object()
#: Result types known not to be streams: ``type(result) in`` this set answers
#: ``is_stream()`` with no call (bounded: classes made per call stay out).
_value_types: set[type] = set()
_MAX_VALUE_TYPES = 256


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Span:
    """One traced call in flight: what was known at its start, finished exactly once.

    A whole traced call runs through the OpenTelemetry SDK's large code path (span,
    attribute validation, histograms), so every extra function or object of llmwarm's on
    it evicts some of the SDK's code and data from the first-level caches: the end of a
    call is one function (:meth:`finish`), which reads the response, ends the span and
    records the metric points from values it reads once. Only a stream gets an object to
    collect its chunks' facts in (:attr:`facts`).
    """

    __slots__ = (
        "asked", "call", "common", "content", "facts", "learnt", "policy", "provider", "span",
        "start", "tel", "token", "ttfc",
    )  # fmt: skip

    def __init__(
        self, policy: TracedPolicy, tel: _Telemetry, call: Call, model: str | None,
        provider: str | None, common: dict[str, Any], span: Any, start: float, token: Any,
        content: bool,
    ) -> None:  # fmt: skip
        self.policy = policy
        self.tel = tel
        self.call = call
        self.asked = model  # the request's model (the response's is read when it ends)
        #: The provider known at the start (passed to @traced, or the client's); None when
        #: it is learnt from the response, into :attr:`learnt`.
        self.provider = provider
        self.learnt: str | None = None
        #: The attributes the span starts with and every metric point carries (operation,
        #: provider, request model, server address and port), built once by _open().
        self.common = common
        self.span = span
        self.start = start
        #: The context token of the span made current (None when it does not record).
        self.token = token
        self.content = content
        #: A stream's facts, merged chunk by chunk (made when the first chunk arrives).
        self.facts: ResponseFacts | None = None
        self.ttfc: float | None = None

    # -- stream observer
    def on_chunk(self, chunk: Any) -> None:
        facts = self.facts
        if facts is None:
            self.ttfc = _perf_counter() - self.start
            facts = self.facts = ResponseFacts()
        facts.read(chunk, chunk=True, content=self.content)
        if self.provider is None and self.learnt is None:
            self.learnt = provider_of_result(chunk)

    def on_end(self, error: BaseException | None, completed: bool) -> None:
        self.finish(error)

    def finish(self, error: BaseException | None, result: Any = _NO_RESULT) -> None:
        """End the span and record the metric points, once.

        ``result`` is the value a call returned (not a stream): it is read here, so the
        common path is this one function.
        """
        duration = _perf_counter() - self.start
        provider = self.provider
        late_provider = None  # learnt from the response (nothing said it at the start)
        if result is not _NO_RESULT:
            response_model, rid, reasons, tin, tout, text = facts_of(result, self.content)
            if provider is None:
                late_provider = provider_of_result(result)
        else:
            facts = self.facts
            if facts is None:  # an error, or a stream that ended before its first chunk
                response_model = rid = tin = tout = None
                reasons = []
                text = None
            else:
                response_model, rid, reasons, tin, tout, text = facts.facts()
            if provider is None:
                late_provider = self.learnt
        call, tel, span = self.call, self.tel, self.span
        record = call.record
        asked = self.asked
        model = record.model or asked
        predict(record, call, model)
        # Every fact is read once, for the span and the metric points alike.
        hit = record.cache_hit
        cold = record.cold_start
        warmup = record.warmup
        # What loading.kind_of() answers, inline (a function less on every call's path).
        cold_kind = record.cold_start_kind
        if cold_kind is None and cold and not hit:
            cold_kind = "blocking"
        routed = model if model and model != asked else None  # routed to another model
        ttfc = self.ttfc
        if hit:  # a cache hit used no tokens
            tin = tout = None
        if error is None:
            error_type = None
        elif isinstance(error, StreamAbandoned):
            error_type = sc.ERROR_TYPE_OTHER
        else:
            error_type = _error_type(error)
        op = self.policy.operation
        if span is not None:
            attrs: dict[str, Any] = {}
            if routed:
                span.update_name(f"{op} {routed}")
                attrs[sc.REQUEST_MODEL] = routed
            if late_provider:
                attrs[sc.PROVIDER_NAME] = late_provider
            if response_model:
                attrs[sc.RESPONSE_MODEL] = response_model
            if rid:
                attrs[sc.RESPONSE_ID] = rid
            if reasons:
                attrs[sc.RESPONSE_FINISH_REASONS] = reasons
            if tin is not None:
                attrs[sc.USAGE_INPUT_TOKENS] = tin
            if tout is not None:
                attrs[sc.USAGE_OUTPUT_TOKENS] = tout
            if ttfc is not None:
                attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
            if text:
                attrs[sc.OUTPUT_MESSAGES] = output_json(text, reasons)
            if warmup:
                attrs[sc.WARMUP] = True
            if cold is not None:
                attrs[sc.COLD_START] = cold
            if cold_kind:  # the provider said "loading"/"not ready", or it waited in line
                attrs[sc.COLD_START_KIND] = cold_kind
            idle = record.idle_s
            if idle is not None:
                attrs[sc.IDLE_S] = idle if type(idle) is float else float(idle)
            if hit is not None:
                attrs[sc.CACHE_HIT] = hit
            if record.tier is not None:
                attrs[sc.ROUTE_TIER] = record.tier
            if record.route_reason is not None:
                attrs[sc.ROUTE_REASON] = record.route_reason
            if record.connection_reused is not None:
                attrs[sc.CONNECTION_REUSED] = record.connection_reused
            if error_type is not None:
                attrs[sc.ERROR_TYPE] = error_type
                span.set_status(Status(StatusCode.ERROR))
                if error is not None and error_type != sc.ERROR_TYPE_OTHER:
                    span.record_exception(error)
            span.set_attributes(attrs)
            span.end()
        if not tel.metering:
            return
        # The span's start attributes (a dict copy in C), then what the call's end taught;
        # the same dict goes to every point that carries no attribute of its own (the SDK
        # only reads it).
        point = self.common.copy()
        point[sc.WARMUP] = warmup
        if late_provider:
            point[sc.PROVIDER_NAME] = late_provider
        if routed:
            point[sc.REQUEST_MODEL] = routed
        if response_model:
            point[sc.RESPONSE_MODEL] = response_model
        if cold is not None:
            point[sc.COLD_START] = cold
        if cold_kind:
            point[sc.COLD_START_KIND] = cold_kind
        if hit is not None:
            point[sc.CACHE_HIT] = hit
        inference = tel.latest and op in _INFERENCE_OPERATIONS
        (tel.inference_duration if inference else tel.duration).record(
            duration, point if error_type is None else {**point, sc.ERROR_TYPE: error_type}
        )
        if ttfc is not None:
            (tel.inference_ttfc if inference else tel.ttfc).record(ttfc, point)
        if inference:
            if tin is not None:
                tel.input_tokens.record(tin, point)
            if tout is not None:
                tel.output_tokens.record(tout, point)
        else:
            if tin is not None:
                tel.tokens.record(tin, {**point, sc.TOKEN_TYPE: "input"})
            if tout is not None:
                tel.tokens.record(tout, {**point, sc.TOKEN_TYPE: "output"})
        if cold or warmup or hit is not None:
            small = {sc.OPERATION_NAME: op}
            if model:
                small[sc.REQUEST_MODEL] = model
            if cold:
                tel.coldstarts.add(
                    1, {**small, sc.COLD_START_KIND: cold_kind} if cold_kind else small
                )
            if warmup:
                tel.pings.add(1, small)
            if hit is not None:
                tel.lookups.add(1, {**small, sc.CACHE_HIT: hit})


class TracedPolicy(Policy):
    """The policy behind :func:`traced` (one per decorated function).

    .. versionadded:: 0.1.0
    """

    passes_once: ClassVar[bool] = True  # one span around one pass of the call
    reads: ClassVar[frozenset[str]] = frozenset(
        {
            "started", "model", "warmup", "cold_start", "cold_start_kind", "idle_s", "cache_hit",
            "tier", "route_reason", "connection_reused",
        }
    )  # fmt: skip
    # Its own prediction (stats' `predict`) when no `@warm` said whether the call was cold.
    writes: ClassVar[frozenset[str]] = frozenset({"cold_start", "idle_s"})

    def __init__(
        self,
        *,
        operation: str,
        provider: str | None,
        capture_content: bool | None,
        tracer_provider: Any,
        meter_provider: Any,
    ) -> None:
        self.operation = operation
        self.provider = provider
        self._capture = capture_content
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._last: tuple[Any, Any, _Telemetry | None] = (None, None, None)
        #: With both providers passed, the telemetry they give never changes: resolved at
        #: the first call, then read by skips() and flow() without asking again.
        self._fixed: _Telemetry | object | None = _UNRESOLVED
        # Which arguments to look at (bind() narrows them to what the function accepts).
        self._params: tuple[tuple[str, str], ...] = _PARAMS
        self._clients: tuple[str, ...] = ("client", "http_client")
        self._options = True
        self._stream = True

    @property
    def content(self) -> bool:
        """Whether prompt and answer text are recorded (opt-in)."""
        if self._capture is None:
            self._capture = sc.capture_content_from_env()
        return self._capture

    def bind(self, spec: FunctionSpec) -> None:
        """Note which request parameters the function can receive (any function is traced)."""
        # Read, never passed: a positional-only `client` counts as much as a keyword one.
        self._params = tuple((n, k) for n, k in _PARAMS if spec.receives(n))
        self._clients = tuple(n for n in ("client", "http_client") if spec.receives(n))
        self._options = spec.receives("options")
        self._stream = spec.receives("stream")

    may_skip = True

    def skips(self, call: Call) -> bool:
        """Let the call through untouched when nothing could observe a span or a metric."""
        # Asked on every call of every traced stack: the no-SDK answer comes first, from
        # the last time the API's public getters were asked (what _resolve does, inline).
        if (
            call.record.started < _quiet_until
            and _globals[2]
            and self.tracer_provider is None
            and self.meter_provider is None
        ):
            return True
        fixed = self._fixed
        if fixed is not _UNRESOLVED:
            return fixed is None
        return self._resolve(call.record.started) is None

    def _resolve(self, now: float) -> _Telemetry | None:
        tp = self.tracer_provider
        mp = self.meter_provider
        if tp is None or mp is None:
            global_tp, global_mp, silent = _global_providers(now)
            if silent and tp is None and mp is None:
                return None
            tp = global_tp if tp is None else tp
            mp = global_mp if mp is None else mp
        last = self._last
        if last[0] is tp and last[1] is mp:
            return last[2]
        tel = _telemetry(tp, mp)
        self._last = (tp, mp, tel)
        if self.tracer_provider is not None and self.meter_provider is not None:
            self._fixed = tel
        return tel

    def flow(self, call: Call) -> Flow:
        """Open a span (when something can observe it) around the rest of the stack.

        Tracing never breaks the call it traces: if opening the span fails the call goes
        on untraced, and a failure to read the result or end the span is logged.
        """
        # skips() has just resolved the providers: with both passed to @traced, that answer
        # is fixed (what _resolve() returns, without a frame per call).
        tel: Any = self._fixed
        if tel is _UNRESOLVED:
            tel = self._resolve(call.record.started)
        if tel is None:
            return (yield call)
        try:
            state = self._open(call, tel)
        except Exception:
            logger.exception("llmwarm: @traced could not start a span; the call goes on")
            return (yield call)
        try:
            result = yield call
        except BaseException as exc:
            if state.token is not None:
                otel_context.detach(state.token)
            safely("@traced (ending an error span)", state.finish, exc)
            raise
        if state.token is not None:
            otel_context.detach(state.token)
        kind = type(result)
        if kind not in _value_types:  # is_stream(), asked once per result type
            if is_stream(result):
                return _observe_stream(result, state)
            if len(_value_types) < _MAX_VALUE_TYPES:
                _value_types.add(kind)
        try:  # what safely() does, inline: this is every traced call's path
            state.finish(None, result)
        except Exception:
            logger.exception("llmwarm: @traced (reading the response) failed; the call goes on")
        return result

    def _open(self, call: Call, tel: _Telemetry) -> _Span:
        """Start the span with the attributes known before the call; make it current."""
        start = _perf_counter()
        content = self._capture
        if content is None:  # the environment, read at the first call
            content = self.content
        arguments = call.arguments
        model = arguments.get("model")
        model = model if isinstance(model, str) else None
        provider = self.provider
        op = self.operation
        # Built once: the span's first attributes and every metric point's (see _Span.common).
        common: dict[str, Any] = {sc.OPERATION_NAME: op}
        endpoint = NO_ENDPOINT
        for name in self._clients:  # the first of `client`, `http_client` passed
            client = arguments.get(name)
            if client is not None:
                endpoint = endpoint_of(client)
                if provider is None:
                    provider = endpoint.provider
                break
        if provider:
            common[sc.PROVIDER_NAME] = provider
        if model:
            common[sc.REQUEST_MODEL] = model
        if endpoint.address:
            common[sc.SERVER_ADDRESS] = endpoint.address
            if endpoint.port is not None:
                common[sc.SERVER_PORT] = endpoint.port
        if not tel.tracing:
            return _Span(self, tel, call, model, provider, common, None, start, None, content)
        attrs = common.copy()
        for name, key in self._params:
            value = arguments.get(name)
            if value is not None and type(value) is not bool and isinstance(value, _NUMBERS):
                attrs[key] = value
        if self._options:
            options = arguments.get("options")
            if isinstance(options, dict):
                for name, key in _OLLAMA_PARAMS:
                    value = options.get(name)
                    if _number(value):
                        attrs[key] = value
        if self._stream:
            stream = arguments.get("stream")
            if isinstance(stream, bool):
                attrs[sc.REQUEST_STREAM] = stream
        if content:
            text = messages_json(arguments.get("messages", arguments.get("prompt")))
            if text is not None:
                attrs[sc.INPUT_MESSAGES] = text
        span = tel.tracer.start_span(
            f"{op} {model}" if model else op, kind=SpanKind.CLIENT, attributes=attrs
        )
        if not span.is_recording():
            return _Span(self, tel, call, model, provider, common, None, start, None, content)
        token = otel_context.attach(otel_trace.set_span_in_context(span))
        return _Span(self, tel, call, model, provider, common, span, start, token, content)


@overload
def traced(fn: F, /) -> F: ...


@overload
def traced(
    *,
    operation: str = DEFAULT_OPERATION,
    provider: str | None = None,
    capture_content: bool | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> Callable[[F], F]: ...


@check_keywords
def traced(
    fn: Any = None,
    /,
    *,
    operation: str = DEFAULT_OPERATION,
    provider: str | None = None,
    capture_content: bool | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> Any:
    """Trace each call with an OpenTelemetry GenAI span and metrics, tagged cold or warm.

    Use bare (``@traced``) or called (``@traced(operation="embeddings")``).

    Args:
        fn: the function to decorate (bare form).
        operation: ``gen_ai.operation.name`` (``chat``, ``text_completion``,
            ``embeddings``, ...).
        provider: ``gen_ai.provider.name``; by default inferred from the ``client``
            argument (its class and ``base_url``) or from the response's type.
        capture_content: record prompts and answers as ``gen_ai.input.messages`` /
            ``gen_ai.output.messages``; ``None`` follows
            ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (off unless ``true``).
        tracer_provider: use this instead of the global tracer provider.
        meter_provider: use this instead of the global meter provider.

    .. versionadded:: 0.1.0
    """
    if not isinstance(operation, str) or not operation:
        raise ValueError(
            f"operation must be a non-empty string such as 'chat' or 'embeddings'; "
            f"got {operation!r}"
        )
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise ValueError(
            f"provider must be None (inferred) or a non-empty string such as 'openai'; "
            f"got {provider!r}"
        )
    if capture_content is not None and not isinstance(capture_content, bool):
        raise TypeError(
            f"capture_content must be True, False or None (follow the environment); "
            f"got {capture_content!r}"
        )
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
        raise TypeError(
            f"tracer_provider must be an OpenTelemetry TracerProvider or None (the global "
            f"one); got {type(tracer_provider).__name__}"
        )
    if meter_provider is not None and not callable(getattr(meter_provider, "get_meter", None)):
        raise TypeError(
            f"meter_provider must be an OpenTelemetry MeterProvider or None (the global "
            f"one); got {type(meter_provider).__name__}"
        )

    def decorate(target: F) -> F:
        policy = TracedPolicy(
            operation=operation,
            provider=provider,
            capture_content=capture_content,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
        return apply(target, policy)

    if fn is not None:
        return decorate(fn)
    return decorate
