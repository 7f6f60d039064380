"""Reading request logs: every format, every timestamp style, and bad input by line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmwarm import LogFormatError
from llmwarm.tools.replay import parse_timestamp, read_log

MONDAY = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)  # 1772409600


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-02T09:15:00Z", MONDAY.timestamp() + 9 * 3600 + 900),
        ("2026-03-02T10:15:00+01:00", MONDAY.timestamp() + 9 * 3600 + 900),
        ("2026-03-02 09:15:00", MONDAY.timestamp() + 9 * 3600 + 900),  # naive: UTC
        ("2026-03-02T09:15:00.5Z", MONDAY.timestamp() + 9 * 3600 + 900.5),
        ("2026-03-02T09:15:00.123456789Z", MONDAY.timestamp() + 9 * 3600 + 900.123456),
        ("1772442900", 1772442900.0),
        (1772442900.25, 1772442900.25),
        ("1772442900250", 1772442900.25),  # milliseconds
        (1772442900250000, 1772442900.25),  # microseconds
        ("1772442900250000000", 1772442900.25),  # nanoseconds (OTLP)
    ],
)
def test_timestamps_in_every_usual_form(value: object, expected: float) -> None:
    assert parse_timestamp(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", ["yesterday", "", "2026-13-40T00:00:00Z", -5, True, None, "nan"])
def test_what_is_not_a_timestamp_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(value)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_epoch_seconds_and_iso_agree(seconds: float) -> None:
    iso = dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()
    assert parse_timestamp(iso) == pytest.approx(seconds, abs=1e-5)
    assert parse_timestamp(str(seconds)) == pytest.approx(seconds)


def test_csv_with_a_detected_column_counts_from_the_first_days_midnight(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "log.csv",
        "model,created_at,tokens\n"
        "gpt,2026-03-02T09:00:00Z,10\n"
        "\n"  # blank lines are skipped
        "gpt,2026-03-02T09:05:30Z,12\n"
        "gpt,2026-03-03T10:00:00Z,12\n",
    )
    log = read_log(path)
    assert (log.format, log.column) == ("csv", "created_at")
    assert log.origin == MONDAY
    assert log.times == [9 * 3600, 9 * 3600 + 330, 86400 + 10 * 3600]
    assert log.span_s == 86400 + 3600


def test_csv_column_found_by_content_when_no_usual_name(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "who,when\nann,1772442900\nbob,1772443000\n")
    log = read_log(path)
    assert log.column == "when"
    assert log.times[1] - log.times[0] == 100


def test_column_option_picks_among_several(tmp_path: Path) -> None:
    path = write(
        tmp_path, "log.csv", "time,finished\n1772442900,1772443900\n1772443000,1772444000\n"
    )
    assert read_log(path).column == "time"
    assert read_log(path, column="finished").times[0] == 1772443900 - MONDAY.timestamp()
    with pytest.raises(
        LogFormatError, match="no column 'ended'; the columns are 'time', 'finished'"
    ):
        read_log(path, column="ended")


def test_json_lines_and_json_array(tmp_path: Path) -> None:
    lines = write(
        tmp_path,
        "log.jsonl",
        '{"ts": "2026-03-02T09:00:00Z", "model": "a"}\n\n{"ts": 1772442000, "model": "b"}\n',
    )
    log = read_log(lines)
    assert (log.format, log.column, len(log.times)) == ("jsonl", "ts", 2)
    array = write(tmp_path, "log.json", json.dumps([{"time": 1772442000}, {"time": 1772442060}]))
    assert read_log(array).times == [32400.0, 32460.0]


def _span(start_ns: int, *, parent: str = "", attributes: list | None = None) -> dict:
    return {
        "traceId": "ab" * 16,
        "spanId": "cd" * 8,
        "parentSpanId": parent,
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 10**9),
        "attributes": attributes or [],
    }


def _export(spans: list[dict]) -> dict:
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": spans}]}]}


def test_otlp_export_uses_llm_call_start_times_and_skips_pings(tmp_path: Path) -> None:
    gen_ai = [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]
    ping = [*gen_ai, {"key": "llmwarm.warmup", "value": {"boolValue": True}}]
    t0 = 1772442900 * 10**9
    spans = [
        _span(t0, attributes=gen_ai),
        _span(t0 + 5 * 10**8, parent="ef" * 8),  # the HTTP child span of that call
        _span(t0 + 60 * 10**9, attributes=ping),  # a warm-up ping: not a request
        _span(t0 + 120 * 10**9, attributes=gen_ai),
    ]
    path = write(tmp_path, "spans.json", json.dumps(_export(spans), indent=2))
    log = read_log(path)
    assert (log.format, len(log.times)) == ("otlp", 2)
    assert log.times[1] - log.times[0] == pytest.approx(120)
    # The file exporter writes one export per line: the same, across lines.
    lines = "\n".join(json.dumps(_export([s])) for s in spans)
    assert read_log(write(tmp_path, "spans.jsonl", lines)).times == log.times


def test_otlp_without_genai_attributes_falls_back_to_root_spans(tmp_path: Path) -> None:
    t0 = 1772442900 * 10**9
    spans = [_span(t0), _span(t0 + 10**9, parent="ef" * 8), _span(t0 + 30 * 10**9)]
    log = read_log(write(tmp_path, "spans.json", json.dumps(_export(spans))))
    assert len(log.times) == 2


def test_out_of_order_timestamps_are_sorted_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "log.csv", "ts\n1772442900\n1772443000\n1772442950\n1772443100\n")
    log = read_log(path)
    assert log.times == sorted(log.times)
    assert (log.out_of_order, log.first_out_of_order) == (1, 4)
    with pytest.raises(LogFormatError, match=r"log\.csv, line 4: earlier than the line before"):
        read_log(path, strict=True)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.csv", "", r"empty\.csv: empty: no request to replay"),
        ("blank.csv", "\n  \n", r"blank\.csv: empty"),
        ("header.csv", "timestamp,model\n", r"header\.csv: no request in it"),
        (
            "bad.csv",
            "ts\n1772442900\nlunchtime\n",
            r"bad\.csv, line 3: column 'ts': 'lunchtime' is not",
        ),
        ("hole.csv", "ts,model\n1772442900,a\n,b\n", r"hole\.csv, line 3: no 'ts' value"),
        ("short.csv", "model,ts\na,1772442900\nb\n", r"short\.csv, line 3: no 'ts' value"),
        (
            "nots.csv",
            "model,tokens\na,x\n",
            r"nots\.csv: no timestamp column among 'model', 'tokens'",
        ),
        ("bad.jsonl", '{"ts": 1772442900}\n{"ts": 17724\n', r"bad\.jsonl, line 2: not JSON"),
        ("list.jsonl", '{"ts": 1772442900}\n[1, 2]\n', r"list\.jsonl, line 2: not a JSON object"),
        (
            "iso.jsonl",
            '{"ts": "2026-03-02T25:00:00Z"}\n',
            r"iso\.jsonl, line 1: column 'ts': .*ISO 8601",
        ),
    ],
)
def test_bad_logs_name_the_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(LogFormatError, match=message) as raised:
        read_log(write(tmp_path, name, text))
    assert raised.value.path.endswith(name)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="cannot be read"):
        read_log(tmp_path / "nope.csv")
