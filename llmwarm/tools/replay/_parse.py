"""Read a request log: request times from CSV, JSON lines or an OTLP/JSON span export.

Every format gives the same thing, :class:`RequestLog`: the request times in seconds,
sorted, counted from the midnight (UTC) before the first request, so that a policy that
learns the time of day sees the log's own clock.

Timestamps are ISO 8601 (``2026-03-02T09:15:00Z``, ``2026-03-02 09:15:00+01:00``; without
an offset, UTC) or epoch numbers: seconds, or milliseconds, microseconds or nanoseconds
when the number is too large to be seconds (above 10^11, 10^14 and 10^17: year 5138 in
seconds). Out-of-order timestamps (logs merged from several workers) are sorted, and the
log says how many were out of order and where the first one was; ``strict=True`` makes
that an error instead.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from llmwarm._core import LogFormatError

__all__ = ["TIMESTAMP_NAMES", "RequestLog", "parse_timestamp", "read_log"]

#: Column or key names taken as the timestamp, in this order, case-insensitively.
TIMESTAMP_NAMES = (
    "timestamp",
    "@timestamp",
    "time",
    "ts",
    "datetime",
    "date",
    "start_time",
    "starttime",
    "start",
    "started_at",
    "created_at",
    "created",
    "request_time",
    "requested_at",
    "time_unix",
    "startTimeUnixNano",
)

_DAY = 86_400.0


@dataclass(frozen=True)
class RequestLog:
    """The request times of a log, and how they were read.

    .. versionadded:: 0.2.0
    """

    times: list[float]
    """Seconds since :attr:`origin`, sorted."""
    origin: dt.datetime
    """Time 0: midnight UTC of the first request's day."""
    source: str
    """The file read."""
    format: str
    """``"csv"``, ``"jsonl"``, ``"json"`` or ``"otlp"``."""
    column: str
    """The column or key the times came from (``startTimeUnixNano`` for OTLP)."""
    out_of_order: int = 0
    """How many timestamps came earlier than the one before them (then sorted)."""
    first_out_of_order: int | None = None
    """The line (or item) of the first of them."""

    @property
    def span_s(self) -> float:
        """Seconds from the first request to the last."""
        return self.times[-1] - self.times[0]


def parse_timestamp(value: object) -> float:
    """Return ``value`` (ISO 8601 text or an epoch number) as Unix seconds.

    Raises :class:`ValueError` saying what is accepted.

    .. versionadded:: 0.2.0
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    number: float | None = None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return _iso(text)
    else:
        raise ValueError(f"{value!r} is not a timestamp")
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a timestamp")
    # Seconds until year 5138; beyond, the unit is finer (ms, µs, ns exports are common).
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if number >= limit:
            return number / scale
    return number


def _iso(text: str) -> float:
    if not text:
        raise ValueError("an empty value is not a timestamp")
    # Python 3.10's fromisoformat knows neither "Z" nor fractions of other than 3 or 6
    # digits; normalise both.
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(_six_digit_fraction(text))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a timestamp: expected ISO 8601 (2026-03-02T09:15:00Z) "
            "or epoch seconds (1772442900)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _six_digit_fraction(text: str) -> str:
    dot = text.find(".", 10)
    if dot < 0:
        return text
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    digits = text[dot + 1 : end][:6].ljust(6, "0")
    return f"{text[:dot]}.{digits}{text[end:]}"


def read_log(path: str | Path, *, column: str | None = None, strict: bool = False) -> RequestLog:
    """Read the request times of a CSV, JSON lines, JSON array or OTLP/JSON file.

    ``column`` names the timestamp column or key; by default the first of
    :data:`TIMESTAMP_NAMES` present, else the first column whose first value is a
    timestamp. Raises :class:`~llmwarm.LogFormatError` naming the line on an empty log,
    a malformed timestamp, a missing value, or (with ``strict``) an out-of-order one.

    .. versionadded:: 0.2.0
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LogFormatError(name, None, f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise LogFormatError(name, None, "not UTF-8 text") from None
    stripped = text.lstrip()
    if not stripped:
        raise LogFormatError(name, None, "empty: no request to replay")
    if stripped[0] in "{[":
        fmt, key, rows = _json_rows(name, text, column)
    else:
        fmt, key, rows = _csv_rows(name, text, column)
    stamps: list[tuple[float, int]] = []
    for line, value in rows:
        if value is None or value == "":
            raise LogFormatError(name, line, f"no {key!r} value")
        try:
            stamps.append((parse_timestamp(value), line))
        except ValueError as exc:
            raise LogFormatError(name, line, f"column {key!r}: {exc}") from None
    if not stamps:
        raise LogFormatError(name, None, "no request in it (a header or spans, but no rows)")
    return _log(name, fmt, key, stamps, strict)


def _log(
    name: str, fmt: str, key: str, stamps: list[tuple[float, int]], strict: bool
) -> RequestLog:
    late = [line for (a, _), (b, line) in itertools.pairwise(stamps) if b < a]
    if late and strict:
        raise LogFormatError(
            name,
            late[0],
            "earlier than the line before it; --strict needs a sorted log "
            "(without it, llmwarm replay sorts the timestamps)",
        )
    ordered = sorted(t for t, _ in stamps)
    origin = dt.datetime.fromtimestamp(ordered[0], dt.timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    zero = origin.timestamp()
    return RequestLog(
        times=[t - zero for t in ordered],
        origin=origin,
        source=name,
        format=fmt,
        column=key,
        out_of_order=len(late),
        first_out_of_order=late[0] if late else None,
    )


def _pick(name: str, keys: Sequence[str], first: Mapping[str, Any], column: str | None) -> str:
    if column is not None:
        if column not in keys:
            raise LogFormatError(
                name, None, f"no column {column!r}; the columns are {', '.join(map(repr, keys))}"
            )
        return column
    lowered = {k.lower(): k for k in keys}
    for candidate in TIMESTAMP_NAMES:
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    for key in keys:  # no usual name: the first column that holds a timestamp
        value = first.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            try:
                parse_timestamp(value)
            except ValueError:
                continue
            return key
    raise LogFormatError(
        name,
        None,
        f"no timestamp column among {', '.join(map(repr, keys))}; name it with --column",
    )


def _csv_rows(
    name: str, text: str, column: str | None
) -> tuple[str, str, Iterator[tuple[int, Any]]]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise LogFormatError(name, 1, "no header row (CSV needs column names)")
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        if any(cell.strip() for cell in row):  # blank lines are skipped
            rows.append((reader.line_num, row))
    first = dict(zip(header, rows[0][1], strict=False)) if rows else {}
    key = _pick(name, header, first, column)
    index = header.index(key)
    return "csv", key, ((line, row[index] if index < len(row) else None) for line, row in rows)


def _json_rows(
    name: str, text: str, column: str | None
) -> tuple[str, str, Iterator[tuple[int, Any]]]:
    try:
        whole: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        whole = None  # JSON lines (or a broken file: each line says where)
    if isinstance(whole, dict) and _is_otlp(whole):
        return "otlp", "startTimeUnixNano", _otlp_rows([(1, whole)])
    if isinstance(whole, list):
        items = list(enumerate(whole, start=1))
        fmt = "json"
    else:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append((number, orjson.loads(line)))
            except orjson.JSONDecodeError as exc:
                raise LogFormatError(name, number, f"not JSON ({exc})") from None
        fmt = "jsonl"
    if items and all(isinstance(o, dict) and _is_otlp(o) for _, o in items):
        return "otlp", "startTimeUnixNano", _otlp_rows(items)
    for number, item in items:
        if not isinstance(item, dict):
            raise LogFormatError(name, number, f"not a JSON object: {item!r:.60}")
    if not items:
        raise LogFormatError(name, None, "no request in it")
    key = _pick(name, list(items[0][1]), items[0][1], column)
    return fmt, key, ((n, o.get(key)) for n, o in items)


def _is_otlp(document: Mapping[str, Any]) -> bool:
    return "resourceSpans" in document or "resource_spans" in document


def _otlp_rows(documents: list[tuple[int, Mapping[str, Any]]]) -> Iterator[tuple[int, Any]]:
    """Start times of the LLM calls of OTLP/JSON exports (one document per line).

    Spans with GenAI attributes are the calls (their HTTP child spans are not); llmwarm's
    own warm-up spans are pings, not requests. An export with no GenAI span at all
    falls back to root spans.
    """
    calls: list[tuple[int, Any]] = []
    roots: list[tuple[int, Any]] = []
    for line, document in documents:
        for resource in document.get("resourceSpans") or document.get("resource_spans") or []:
            scopes = (
                resource.get("scopeSpans")
                or resource.get("scope_spans")
                or resource.get("instrumentationLibrarySpans")
                or []
            )
            for scope in scopes:
                for span in scope.get("spans") or []:
                    attributes = {
                        a.get("key"): a.get("value") for a in span.get("attributes") or []
                    }
                    start = span.get("startTimeUnixNano", span.get("start_time_unix_nano"))
                    if _truthy(attributes.get("llmwarm.warmup")):
                        continue
                    if any(str(k).startswith("gen_ai.") for k in attributes):
                        calls.append((line, start))
                    elif not span.get("parentSpanId") and not span.get("parent_span_id"):
                        roots.append((line, start))
    yield from calls or roots


def _truthy(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("boolValue") is True
