"""``llmwarm.telemetry.setup()``: the one-line OpenTelemetry SDK set-up.

The code lives in ``llmwarm.trace.telemetry``; this path stays for users.
"""

from llmwarm.trace.telemetry import EXPORTERS, REFUSED_METRICS_STATUSES, Telemetry, setup

__all__ = [
    "EXPORTERS",
    "REFUSED_METRICS_STATUSES",
    "Telemetry",
    "setup",
]
