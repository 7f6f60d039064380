"""Names from the OpenTelemetry GenAI semantic conventions that ``@traced`` emits.

llmwarm emits the GenAI conventions of semantic-conventions **v1.41.0** (the last release of
them in ``open-telemetry/semantic-conventions``) by default. Setting
``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` switches the *metrics* to the
newer names of ``open-telemetry/semantic-conventions-genai`` (its migration guide):
``gen_ai.client.inference.duration`` and ``gen_ai.client.inference.time_to_first_chunk``
replace the ``gen_ai.client.operation.*`` ones, and ``gen_ai.client.token.usage`` (with
``gen_ai.token.type``) is replaced by two histograms, ``gen_ai.client.inference.operation.
input_tokens`` and ``...output_tokens``. The span attributes llmwarm sets are the same in both.
"""

from __future__ import annotations

import os
from typing import Final

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.41.0"
"""The semantic-conventions schema the default names belong to."""

SCOPE_NAME: Final = "llmwarm"

# -- span attributes (the same in v1.41 and in the latest experimental conventions)
OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_STREAM: Final = "gen_ai.request.stream"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
TOKEN_TYPE: Final = "gen_ai.token.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"

# -- llmwarm's own attributes
COLD_START: Final = "llmwarm.cold_start"
COLD_START_KIND: Final = "llmwarm.cold_start.kind"
IDLE_S: Final = "llmwarm.idle_s"
CACHE_HIT: Final = "llmwarm.cache.hit"
ROUTE_TIER: Final = "llmwarm.route.tier"
ROUTE_REASON: Final = "llmwarm.route.reason"
WARMUP: Final = "llmwarm.warmup"
CONNECTION_REUSED: Final = "llmwarm.connection.reused"

# -- metrics, v1.41 names
OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
TOKEN_USAGE: Final = "gen_ai.client.token.usage"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
# -- metrics, latest experimental names (semantic-conventions-genai)
INFERENCE_DURATION: Final = "gen_ai.client.inference.duration"
INFERENCE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.inference.time_to_first_chunk"
INFERENCE_INPUT_TOKENS: Final = "gen_ai.client.inference.operation.input_tokens"
INFERENCE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.operation.output_tokens"
# -- llmwarm counters
COLDSTARTS: Final = "llmwarm.coldstarts"
WARMUP_PINGS: Final = "llmwarm.warmup.pings"
CACHE_LOOKUPS: Final = "llmwarm.cache.lookups"

DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""Bucket advice for ``gen_ai.client.operation.duration`` and ``...time_to_first_chunk``."""

TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
"""Bucket advice for ``gen_ai.client.token.usage``."""

OPT_IN_ENV: Final = "OTEL_SEMCONV_STABILITY_OPT_IN"
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def latest_experimental() -> bool:
    """Whether ``OTEL_SEMCONV_STABILITY_OPT_IN`` asks for ``gen_ai_latest_experimental``."""
    values = os.environ.get(OPT_IN_ENV, "")
    return "gen_ai_latest_experimental" in (v.strip() for v in values.split(","))


def capture_content_from_env() -> bool:
    """Whether ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``true``."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
