"""One-line OpenTelemetry SDK set-up for applications and the CLI (the ``otel`` extra).

Libraries never call this: ``@traced`` only uses the OpenTelemetry API. An application
that has no SDK set-up of its own calls :func:`setup` once at start-up::

    import llmwarm.telemetry

    handle = llmwarm.telemetry.setup("checkout-api")
    ...
    handle.shutdown()  # flushes what is buffered (also done at interpreter exit)

The OTLP/HTTP (protobuf) exporters read the standard variables themselves:
``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces`` and ``/v1/metrics`` are appended),
``OTEL_EXPORTER_OTLP_HEADERS``, the per-signal ``OTEL_EXPORTER_OTLP_TRACES_*`` /
``OTEL_EXPORTER_OTLP_METRICS_*`` variants, and ``OTEL_METRIC_EXPORT_INTERVAL``. The
resource reads ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``.
``OTEL_TRACES_EXPORTER=none`` or ``OTEL_METRICS_EXPORTER=none`` turns one signal off.

A traces-only receiver (Jaeger, Arize Phoenix) refuses ``/v1/metrics`` (``404``/``405``):
the first refusal turns metrics export off with one warning on logger ``llmwarm``, instead
of the SDK's error on every export; traces go on. Set ``OTEL_METRICS_EXPORTER=none`` to
skip even that first try.

The SDK is imported inside :func:`setup` only, never at ``import llmwarm``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from llmwarm._core import logger
from llmwarm._core import runtime as _runtime

__all__ = ["EXPORTERS", "REFUSED_METRICS_STATUSES", "Telemetry", "setup"]

EXPORTERS = ("otlp", "console")
"""Accepted names for ``exporter=`` (``None`` means ``otlp``)."""
REFUSED_METRICS_STATUSES = frozenset({404, 405, 501})
"""Answers to ``/v1/metrics`` that mean "this receiver takes no metrics" (turn them off).

.. versionadded:: 0.2.0
"""
# The OTLP/HTTP metric exporter logs each failed export here, with the HTTP status.
_METRIC_EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http.metric_exporter"


class Telemetry:
    """The SDK providers :func:`setup` installed; :meth:`shutdown` flushes and stops them.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, tracer_provider: Any, meter_provider: Any, gate: _MetricsGate | None = None
    ) -> None:
        self.tracer_provider = tracer_provider
        """The SDK ``TracerProvider`` (``None`` when traces are off)."""
        self.meter_provider = meter_provider
        """The SDK ``MeterProvider`` (``None`` when metrics are off)."""
        self._gate = gate

    @property
    def metrics_refused(self) -> bool:
        """Whether the receiver refused metrics, so their export was turned off.

        .. versionadded:: 0.2.0
        """
        return self._gate is not None and self._gate.refused

    def force_flush(self) -> None:
        """Export what is buffered now, keeping the providers running."""
        if self.tracer_provider is not None:
            self.tracer_provider.force_flush()
        if self.meter_provider is not None:
            self.meter_provider.force_flush()

    def shutdown(self) -> None:
        """Flush what is buffered, then stop the exporters (idempotent)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
            self.tracer_provider = None
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
            self.meter_provider = None
        if self._gate is not None:
            self._gate.detach()


class _MetricsGate(logging.Filter):
    """Turns metrics export off the first time the receiver refuses it (404/405/501).

    It watches the OTLP metric exporter's log record of a failed export (which carries the
    status), drops that record, and warns once on ``llmwarm`` instead; the exporter it
    wraps (:func:`_gated`) then exports nothing. Traces are not affected.
    """

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.refused = False
        self._lock = threading.Lock()
        logging.getLogger(_METRIC_EXPORTER_LOGGER).addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop the exporter's error for a refused export, warning once instead."""
        args = record.args if isinstance(record.args, tuple) else ()
        status = args[1] if len(args) >= 2 and args[0] == "metrics" else None
        if status not in REFUSED_METRICS_STATUSES:
            return True
        with self._lock:
            first, self.refused = not self.refused, True
        if first:
            logger.warning(
                "llmwarm: the OTLP receiver at %s refused metrics (HTTP %s): it takes traces "
                "only (Jaeger, Arize Phoenix...). Metrics export is now off; traces go on. "
                "Set OTEL_METRICS_EXPORTER=none to not try, or point "
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT at a receiver that takes metrics.",
                self.endpoint,
                status,
            )
        return False

    def detach(self) -> None:
        logging.getLogger(_METRIC_EXPORTER_LOGGER).removeFilter(self)


def _gated(exporter: Any, gate: _MetricsGate) -> Any:
    """Wrap an SDK metric exporter so that it exports nothing once ``gate`` is refused."""
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult

    class GatedMetricExporter(MetricExporter):
        def __init__(self) -> None:
            super().__init__(
                preferred_temporality=exporter._preferred_temporality,
                preferred_aggregation=exporter._preferred_aggregation,
            )

        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kw: Any) -> Any:
            if gate.refused:
                return MetricExportResult.SUCCESS  # dropped on purpose: nothing to retry
            return exporter.export(metrics_data, timeout_millis=timeout_millis, **kw)

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return bool(exporter.force_flush(timeout_millis=timeout_millis))

        def shutdown(self, timeout_millis: float = 30_000, **kw: Any) -> None:
            exporter.shutdown(timeout_millis=timeout_millis, **kw)

    return GatedMetricExporter()


def _enabled(signal: str) -> bool:
    return os.environ.get(f"OTEL_{signal}_EXPORTER", "").strip().lower() != "none"


def setup(service_name: str | None = None, *, exporter: str | None = None) -> Telemetry:
    """Install SDK tracer and meter providers that export over OTLP/HTTP (or to the console).

    Args:
        service_name: the ``service.name`` resource attribute; by default
            ``OTEL_SERVICE_NAME``, else the SDK's ``unknown_service``.
        exporter: ``"otlp"`` (the default: OTLP/HTTP protobuf configured by the
            ``OTEL_EXPORTER_OTLP_*`` variables) or ``"console"`` (stdout, for trying it out).

    Returns:
        A :class:`Telemetry` handle whose ``shutdown()`` flushes and stops both providers.

    Raises:
        ValueError: ``exporter`` is not one of :data:`EXPORTERS`.
        ImportError: the ``otel`` extra is not installed.

    The providers become the global ones, once per process (OpenTelemetry refuses to
    replace a global provider; a second call logs the SDK's warning and changes nothing).

    .. versionadded:: 0.1.0
    """
    kind = "otlp" if exporter is None else exporter
    if kind not in EXPORTERS:
        raise ValueError(
            f"exporter must be None, 'otlp' or 'console'; got {exporter!r}. "
            "Configure OTLP with the OTEL_EXPORTER_OTLP_* environment variables."
        )
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            MetricExporter,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "llmwarm.telemetry.setup() needs the OpenTelemetry SDK: pip install 'llmwarm[otel]'"
        ) from exc

    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    span_exporter: SpanExporter
    metric_exporter: MetricExporter
    if kind == "console":
        span_exporter, metric_exporter = ConsoleSpanExporter(), ConsoleMetricExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter, metric_exporter = OTLPSpanExporter(), OTLPMetricExporter()

    gate = None
    tracer_provider = meter_provider = None
    if _enabled("TRACES"):
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        trace.set_tracer_provider(tracer_provider)
    if _enabled("METRICS"):
        if kind == "otlp":
            gate = _MetricsGate(getattr(metric_exporter, "_endpoint", "(OTLP endpoint)"))
            metric_exporter = _gated(metric_exporter, gate)
        reader = PeriodicExportingMetricReader(metric_exporter)
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(meter_provider)
    from llmwarm.trace._traced import forget_providers

    forget_providers()  # traced calls see the new providers from the next one on
    handle = Telemetry(tracer_provider, meter_provider, gate)
    _set_up().append(handle)
    return handle


def _set_up() -> list[Telemetry]:
    """Return what setup() installed in this process (the runtime's ``"telemetry"`` part).

    ``llmwarm.close()`` flushes it; a reset or a forked child keeps it, as the global
    providers it installed stay.
    """
    return _runtime.runtime.part(
        "telemetry",
        list,
        stage=_runtime.TELEMETRY,
        close=_flush,
        aclose=_aflush,
        after_fork=_keep,
        reset=_keep,
    )


def _keep(handles: list[Telemetry]) -> list[Telemetry]:
    return handles


def _flush(handles: list[Telemetry]) -> None:
    for handle in handles:
        handle.force_flush()


async def _aflush(handles: list[Telemetry]) -> None:
    # An exporter's flush is network I/O (seconds, when the collector is slow): never on
    # the event loop that called llmwarm.aclose(), nor in the loop's default executor.
    from llmwarm._core.scheduler import in_own_thread

    await in_own_thread(_flush, handles)
