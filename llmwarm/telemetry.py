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
``OTEL_TRACES_EXPORTER=none`` or ``OTEL_METRICS_EXPORTER=none`` turns one signal off (Jaeger
takes traces only).

The SDK is imported inside :func:`setup` only, never at ``import llmwarm``.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["EXPORTERS", "Telemetry", "setup"]

EXPORTERS = ("otlp", "console")
"""Accepted names for ``exporter=`` (``None`` means ``otlp``)."""


class Telemetry:
    """The SDK providers :func:`setup` installed; :meth:`shutdown` flushes and stops them.

    .. versionadded:: 0.1.0
    """

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        self.tracer_provider = tracer_provider
        """The SDK ``TracerProvider`` (``None`` when traces are off)."""
        self.meter_provider = meter_provider
        """The SDK ``MeterProvider`` (``None`` when metrics are off)."""

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

    tracer_provider = meter_provider = None
    if _enabled("TRACES"):
        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        trace.set_tracer_provider(tracer_provider)
    if _enabled("METRICS"):
        reader = PeriodicExportingMetricReader(metric_exporter)
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider)
