"""Label spans: the record, span frames, and taskclf's label parquet and CSV files."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers_data import FIXTURES, USER_A, USER_B
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from taskclf_core.data import schema
from taskclf_core.data.columns import STRING_DTYPE, TIMESTAMP_DTYPE
from taskclf_core.data.labelcheck import validate_span_frame
from taskclf_core.data.labelfiles import (
    read_labels,
    write_labels_csv,
    write_labels_parquet,
)
from taskclf_core.data.labels import LabelSpan, frame_to_spans, spans_to_frame
from taskclf_core.errors import DataError

T0 = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
HEADER = "start_ts,end_ts,label,provenance,user_id,confidence,extend_forward\n"


def span(**overrides: object) -> LabelSpan:
    fields: dict[str, object] = {
        "start_ts": T0,
        "end_ts": T0 + timedelta(minutes=30),
        "label": "Build",
        "provenance": "manual",
    }
    fields.update(overrides)
    return LabelSpan.model_validate(fields)


def write_csv(tmp_path: Path, text: str, name: str = "labels.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_span_frame_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(schema.SPAN_COLUMNS)
    assert frame["start_ts"].dtype == TIMESTAMP_DTYPE
    assert frame["end_ts"].dtype == TIMESTAMP_DTYPE
    for column in ("label", "provenance", "user_id"):
        assert frame[column].dtype == STRING_DTYPE
    assert frame["confidence"].dtype == np.float64
    assert frame["extend_forward"].dtype == np.bool_


# --------------------------------------------------------------------------- LabelSpan


def test_label_span_reads_naive_datetimes_as_utc() -> None:
    s = span(start_ts=datetime(2025, 7, 1, 9, 0), end_ts="2025-07-01 09:30:00")
    assert s.start_ts == T0 and s.start_ts.tzinfo is UTC
    assert s.end_ts == T0 + timedelta(minutes=30) and s.end_ts.tzinfo is UTC


def test_label_span_converts_other_offsets_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    s = span(start_ts=datetime(2025, 7, 1, 11, 0, tzinfo=plus2), end_ts="2025-07-01T11:30:00+02:00")
    assert s.start_ts == T0 and s.start_ts.utcoffset() == timedelta(0)
    assert s.end_ts.hour == 9 and s.end_ts.tzinfo is UTC


def test_label_span_rejects_unknown_label_listing_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as info:
        span(label="Coding")
    message = str(info.value)
    assert "'Coding' is not a known label" in message
    assert "BreakIdle, Build, Communicate, Debug, Meet, ReadResearch, Review, Write" in message


def test_label_span_rejects_the_reject_label() -> None:
    with pytest.raises(ValidationError, match="reject label"):
        span(label=schema.REJECT_LABEL)


def test_label_span_end_must_be_after_start() -> None:
    with pytest.raises(ValidationError, match="end_ts .* is before start_ts"):
        span(end_ts=T0 - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="zero-length span needs extend_forward=True"):
        span(end_ts=T0)


def test_label_span_zero_length_allowed_with_extend_forward() -> None:
    s = span(end_ts=T0, extend_forward=True)
    assert s.start_ts == s.end_ts and s.extend_forward


def test_label_span_confidence_nan_is_none_and_range_is_checked() -> None:
    assert span(confidence=float("nan")).confidence is None
    assert span(confidence=np.float64("nan")).confidence is None
    assert span(confidence=0.0).confidence == 0.0
    with pytest.raises(ValidationError, match=r"1.5 is outside \[0, 1\]"):
        span(confidence=1.5)


def test_label_span_is_frozen_and_empty_user_is_none() -> None:
    s = span(user_id="")
    assert s.user_id is None
    with pytest.raises(ValidationError):
        s.label = "Debug"  # type: ignore[misc]


# --------------------------------------------------------------------------- span frames


def test_spans_to_frame_builds_the_span_frame_convention() -> None:
    spans = [
        span(user_id=USER_A, confidence=0.7),
        span(start_ts=T0 + timedelta(hours=1), end_ts=T0 + timedelta(hours=1), extend_forward=True),
    ]
    frame = spans_to_frame(spans)
    assert_span_frame_dtypes(frame)
    assert frame["user_id"].isna().tolist() == [False, True]
    assert math.isnan(frame["confidence"].iloc[1])
    assert frame["start_ts"].iloc[1] == pd.Timestamp("2025-07-01 10:00", tz="UTC")
    assert frame["extend_forward"].tolist() == [False, True]


def test_spans_to_frame_of_no_spans_is_an_empty_typed_frame() -> None:
    frame = spans_to_frame([])
    assert len(frame) == 0
    assert_span_frame_dtypes(frame)


def test_frame_to_spans_round_trips_the_fixture() -> None:
    frame = read_labels(FIXTURES / "v1" / "labels_v1" / "labels.parquet")
    spans = frame_to_spans(frame)
    assert len(spans) == 62
    assert all(isinstance(s, LabelSpan) for s in spans)
    assert spans[0] == span(
        end_ts=T0 + timedelta(minutes=35), label="Review", user_id=USER_B, confidence=0.7
    )
    pd.testing.assert_frame_equal(spans_to_frame(spans), frame)


def test_spans_to_frame_round_trips_microseconds_and_keeps_order() -> None:
    spans = [
        span(
            start_ts=T0 + timedelta(microseconds=i),
            end_ts=T0 + timedelta(minutes=1, microseconds=7),
        )
        for i in range(5)
    ][::-1]
    assert frame_to_spans(spans_to_frame(spans)) == spans


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize(("version", "count"), [("v1", 62), ("v2", 30), ("v3", 62)])
def test_read_labels_parquet_fixture(version: str, count: int) -> None:
    frame = read_labels(FIXTURES / version / "labels_v1" / "labels.parquet")
    assert len(frame) == count
    assert_span_frame_dtypes(frame)
    assert set(frame["label"]) == set(schema.LABELS)
    assert not frame["extend_forward"].any()


def test_read_labels_parquet_accepts_arrow_null_columns() -> None:
    path = FIXTURES / "v2" / "labels_v1" / "labels.parquet"
    assert pa.types.is_null(pq.read_schema(path).field("user_id").type)
    frame = read_labels(path)
    assert frame["user_id"].isna().all() and frame["confidence"].isna().all()
    assert (frame["provenance"] == "synthetic").all()


def test_v1_fixture_confidence_counts() -> None:
    frame = read_labels(FIXTURES / "v1" / "labels_v1" / "labels.parquet")
    confidence = frame["confidence"]
    assert (confidence == 0.7).sum() == 16
    assert (confidence == 1.0).sum() == 37
    assert confidence.isna().sum() == 9
    assert frame["user_id"].value_counts().to_dict() == {USER_B: 32, USER_A: 30}


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_read_labels_csv_fixture_equals_parquet(version: str) -> None:
    from_csv = read_labels(FIXTURES / version / "labels.csv")
    from_parquet = read_labels(FIXTURES / version / "labels_v1" / "labels.parquet")
    pd.testing.assert_frame_equal(from_csv, from_parquet)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_write_labels_csv_reproduces_taskclf_export_byte_for_byte(
    tmp_path: Path, version: str
) -> None:
    frame = read_labels(FIXTURES / version / "labels_v1" / "labels.parquet")
    write_labels_csv(tmp_path / "labels.csv", frame)
    assert (tmp_path / "labels.csv").read_bytes() == (
        FIXTURES / version / "labels.csv"
    ).read_bytes()


def test_labels_parquet_round_trip(tmp_path: Path) -> None:
    frame = read_labels(FIXTURES / "v1" / "labels_v1" / "labels.parquet")
    target = tmp_path / "nested" / "labels_v1" / "labels.parquet"
    write_labels_parquet(target, frame)
    pd.testing.assert_frame_equal(read_labels(target), frame)
    written = pq.read_schema(target)
    assert written.field("start_ts").type == pa.timestamp("us", tz="UTC")
    assert written.field("extend_forward").type == pa.bool_()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]


def test_labels_csv_round_trip_with_microseconds_and_extend_forward(tmp_path: Path) -> None:
    frame = spans_to_frame(
        [
            span(start_ts=T0 + timedelta(microseconds=250_000), user_id=USER_A, confidence=0.25),
            span(end_ts=T0, extend_forward=True),
        ]
    )
    path = tmp_path / "labels.csv"
    write_labels_csv(path, frame)
    lines = path.read_bytes().decode().split("\r\n")
    assert lines[1].startswith("2025-07-01 09:00:00.250000+00:00,2025-07-01 09:30:00+00:00,Build")
    assert lines[2] == "2025-07-01 09:00:00+00:00,2025-07-01 09:00:00+00:00,Build,manual,,,True"
    pd.testing.assert_frame_equal(read_labels(path), frame)


def test_read_labels_dispatches_on_suffix(tmp_path: Path) -> None:
    assert len(read_labels(FIXTURES / "v1" / "labels.csv")) == 62
    assert len(read_labels(FIXTURES / "v1" / "labels_v1" / "labels.parquet")) == 62
    with pytest.raises(DataError, match=r"labels\.json: unknown label file type '\.json'"):
        read_labels(tmp_path / "labels.json")


def test_read_labels_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"labels file .*nope\.csv does not exist"):
        read_labels(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- CSV leniency


def test_read_labels_csv_parses_iso_8601_leniently(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER
        + "2025-09-08 09:00:00+00:00,2025-09-08 09:00:00.250000+00:00,Build,manual,,,False\n"
        + "2025-09-08T09:00:00Z,2025-09-08T11:30:00+02:00,Debug,manual,u1,0.5,True\n"
        + "2025-09-08 09:00:00,2025-09-08 09:05,Write,manual,, ,false\n",
    )
    frame = read_labels(path)
    start = pd.Timestamp("2025-09-08 09:00", tz="UTC")
    assert frame["start_ts"].tolist() == [start] * 3
    assert frame["end_ts"].tolist() == [
        start + pd.Timedelta(milliseconds=250),
        start + pd.Timedelta(minutes=30),
        start + pd.Timedelta(minutes=5),
    ]
    assert frame["user_id"].isna().tolist() == [True, False, True]
    assert frame["confidence"].isna().tolist() == [True, False, True]
    assert frame["extend_forward"].tolist() == [False, True, False]
    assert_span_frame_dtypes(frame)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("False", False),
        ("True", True),
        ("false", False),
        ("TRUE", True),
        ("1", True),
        ("0", False),
        ("", False),
    ],
)
def test_read_labels_csv_extend_forward_words(tmp_path: Path, word: str, expected: bool) -> None:
    path = write_csv(
        tmp_path,
        HEADER + f"2025-07-01 09:00:00+00:00,2025-07-01 09:30:00+00:00,Build,manual,,,{word}\n",
    )
    assert read_labels(path)["extend_forward"].tolist() == [expected]


def test_read_labels_csv_required_columns_only(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "start_ts,end_ts,label,provenance\n2025-07-01 09:00,2025-07-01 09:30,Meet,manual\n",
    )
    frame = read_labels(path)
    assert_span_frame_dtypes(frame)
    assert frame["user_id"].isna().all() and not frame["extend_forward"].any()


def test_read_labels_csv_header_only_gives_empty_frame(tmp_path: Path) -> None:
    frame = read_labels(write_csv(tmp_path, HEADER))
    assert len(frame) == 0
    assert_span_frame_dtypes(frame)


# --------------------------------------------------------------------------- errors


def test_bad_timestamp_in_csv_names_file_row_column_and_value(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER
        + "2025-07-01 09:00:00+00:00,2025-07-01 09:30:00+00:00,Build,manual,,,False\n"
        + "2025-07-01 09:30:00+00:00,2025-07-01 10:00:00+00:00,Build,manual,,,False\n"
        + "2025-07-01 10:00:00+00:00,2025-13-01,Build,manual,,,False\n",
    )
    with pytest.raises(DataError) as info:
        read_labels(path)
    assert str(info.value) == (
        f"{path} row 3, column end_ts: '2025-13-01' is not an ISO 8601 timestamp "
        "(expected e.g. 2025-07-01 09:00:00+00:00)"
    )


@pytest.mark.parametrize("text", ["now", "today", "2025", "9999-12-31 23:59:59-14:00"])
def test_timestamps_that_are_not_iso_dates_in_range_are_refused(tmp_path: Path, text: str) -> None:
    path = write_csv(tmp_path, HEADER + f"2025-07-01 09:00,{text},Build,manual,,,True\n")
    with pytest.raises(
        DataError, match=rf"row 1, column end_ts: '{text}' is (not an ISO|outside years)"
    ):
        read_labels(path)


def test_unknown_label_names_file_row_value_and_allowed_labels(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER
        + "2025-07-01 09:00,2025-07-01 09:30,Build,manual,,,False\n"
        + "2025-07-01 09:30,2025-07-01 10:00,Coding,manual,,,False\n"
        + "2025-07-01 10:00,2025-07-01 10:30,Coding,manual,,,False\n",
    )
    with pytest.raises(DataError) as info:
        read_labels(path)
    assert str(info.value) == (
        f"{path} row 2, column label: 'Coding' is not a known label (expected one of "
        "BreakIdle, Build, Communicate, Debug, Meet, ReadResearch, Review, Write); "
        "1 more row like this"
    )


def test_reject_label_in_a_file_is_explained(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, HEADER + "2025-07-01 09:00,2025-07-01 09:30,Mixed/Unknown,manual,,,\n"
    )
    with pytest.raises(
        DataError, match=r"row 1, column label: 'Mixed/Unknown' is the reject label"
    ):
        read_labels(path)


def test_end_not_after_start_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER
        + "2025-07-01 09:00,2025-07-01 08:00,Build,manual,,,False\n"
        + "2025-07-01 09:00,2025-07-01 09:00,Build,manual,,,False\n"
        + "2025-07-01 09:00,2025-07-01 09:00,Build,manual,,,True\n",
    )
    with pytest.raises(DataError) as info:
        read_labels(path)
    message = str(info.value)
    assert f"{path}: 2 problems" in message
    assert (
        f"{path} row 1, column end_ts: 2025-07-01 08:00:00+00:00 is before start_ts "
        "2025-07-01 09:00:00+00:00 (expected end_ts after start_ts)"
    ) in message
    assert (
        f"{path} row 2, column end_ts: 2025-07-01 09:00:00+00:00 equals start_ts (expected end_ts "
        "after start_ts; a zero-length span needs extend_forward=True)"
    ) in message
    assert "row 3" not in message


def test_confidence_outside_unit_interval_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER
        + "2025-07-01 09:00,2025-07-01 09:30,Build,manual,,0.5,False\n"
        + "2025-07-01 09:30,2025-07-01 10:00,Build,manual,,1.5,False\n",
    )
    with pytest.raises(DataError) as info:
        read_labels(path)
    assert str(info.value) == (
        f"{path} row 2, column confidence: '1.5' is outside [0, 1] "
        "(expected a number from 0 to 1, or empty)"
    )


def test_confidence_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, HEADER + "2025-07-01 09:00,2025-07-01 09:30,Build,manual,,high,False\n"
    )
    with pytest.raises(DataError, match=r"row 1, column confidence: 'high' is not a number"):
        read_labels(path)


def test_extend_forward_that_is_not_a_flag_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + "2025-07-01 09:00,2025-07-01 09:30,Build,manual,,,maybe\n")
    with pytest.raises(DataError, match=r"row 1, column extend_forward: 'maybe' is not a flag"):
        read_labels(path)


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "start_ts,end_ts,label\n2025-07-01 09:00,2025-07-01 09:30,Build\n")
    with pytest.raises(DataError) as info:
        read_labels(path)
    assert str(info.value).startswith(
        f"{path}: missing column(s) provenance (expected columns start_ts,end_ts,label,provenance"
    )


def test_empty_required_value_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER + ",2025-07-01 09:30,Build,,,,False\n")
    with pytest.raises(DataError) as info:
        read_labels(path)
    message = str(info.value)
    assert (
        f"{path} row 1, column start_ts: missing value (expected e.g. 2025-07-01 09:00:00+00:00)"
        in message
    )
    assert f"{path} row 1, column provenance: missing value (expected e.g. manual" in message


def test_wrong_column_type_in_parquet_is_named(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    table = pq.read_table(FIXTURES / "v1" / "labels_v1" / "labels.parquet")
    table = table.set_column(2, "label", pa.array(range(table.num_rows), pa.int64()))
    pq.write_table(table, path)
    with pytest.raises(DataError) as info:
        read_labels(path)
    assert str(info.value) == (
        f"{path} row 1, column label: 0 is not text (expected one of BreakIdle, Build, "
        "Communicate, Debug, Meet, ReadResearch, Review, Write); 61 more rows like this"
    )


def test_naive_parquet_timestamps_are_read_as_utc(tmp_path: Path) -> None:
    source = FIXTURES / "v1" / "labels_v1" / "labels.parquet"
    table = pq.read_table(source)
    naive = table.set_column(0, "start_ts", table.column("start_ts").cast(pa.timestamp("us")))
    pq.write_table(naive, tmp_path / "labels.parquet")
    pd.testing.assert_frame_equal(
        read_labels(tmp_path / "labels.parquet"), read_labels(source)
    )


def test_all_problems_of_a_file_come_in_one_message(tmp_path: Path) -> None:
    rows = "".join(f"bad-{i},2025-07-01 09:30,Nope{i},manual,,{i + 2},x{i}\n" for i in range(12))
    path = write_csv(tmp_path, HEADER + rows)
    with pytest.raises(DataError) as info:
        read_labels(path)
    assert str(info.value).splitlines() == [
        f"{path}: 4 problems",
        f"{path} row 1, column start_ts: 'bad-0' is not an ISO 8601 timestamp "
        "(expected e.g. 2025-07-01 09:00:00+00:00); 11 more rows like this",
        f"{path} row 1, column label: 'Nope0' is not a known label (expected one of "
        "BreakIdle, Build, Communicate, Debug, Meet, ReadResearch, Review, Write) "
        "(unknown labels here: 'Nope0', 'Nope1', 'Nope2', 'Nope3', 'Nope4' and 7 more); "
        "11 more rows like this",
        f"{path} row 1, column confidence: '2' is outside [0, 1] "
        "(expected a number from 0 to 1, or empty); 11 more rows like this",
        f"{path} row 1, column extend_forward: 'x0' is not a flag "
        "(expected True, False, 1, 0 or empty); 11 more rows like this",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        (HEADER + "a,b\n" + "a,b,c,d,e,f,g,h,i\n", "not a readable CSV file"),
    ],
)
def test_unreadable_csv_is_a_data_error(tmp_path: Path, text: str, expected: str) -> None:
    path = write_csv(tmp_path, text)
    with pytest.raises(DataError, match=expected):
        read_labels(path)


def test_duplicate_csv_columns_are_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "start_ts,end_ts,label,provenance,label\n")
    with pytest.raises(DataError, match=r"duplicate column\(s\) label"):
        read_labels(path)


def test_validate_span_frame_names_the_source() -> None:
    frame = spans_to_frame([span()]).assign(label="Sleep")
    with pytest.raises(DataError, match=r"^my spans row 1, column label: 'Sleep'"):
        validate_span_frame(frame, source="my spans")


def test_span_frame_round_trip_at_50k_spans() -> None:
    n = 50_000
    rng = np.random.default_rng(7)
    start = pd.Timestamp("2025-07-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 10**12, n), unit="us"
    )
    frame = pd.DataFrame(
        {
            "start_ts": start,
            "end_ts": start + pd.to_timedelta(rng.integers(1, 10**9, n), unit="us"),
            "label": np.array(schema.LABELS, dtype=object)[rng.integers(0, 8, n)],
            "provenance": "manual",
            "user_id": np.where(rng.random(n) < 0.5, None, "u1"),
            "confidence": np.where(rng.random(n) < 0.5, np.nan, rng.random(n)),
            "extend_forward": rng.random(n) < 0.1,
        }
    )
    expected = validate_span_frame(frame, source="generated")
    spans = frame_to_spans(expected)
    assert len(spans) == n and spans[0].start_ts.tzinfo is UTC
    pd.testing.assert_frame_equal(spans_to_frame(spans), expected)


# --------------------------------------------------------------------------- property

_CELLS = st.one_of(
    st.sampled_from(
        [
            "2025-07-01 09:00:00+00:00",
            "2025-07-01 09:30:00.250000+00:00",
            "2025-07-01T10:00:00Z",
            "2025-07-01 09:00",
            "2025-13-01",
            "9999-12-31 23:59:59+14:00",
            "9999-12-31 23:59:59-14:00",
            "0001-01-01 00:00+01:00",
            "now",
            "0001-01-01",
            "",
            " ",
            "Build",
            "Debug",
            "Mixed/Unknown",
            "manual",
            "0.5",
            "1.5",
            "-0",
            "nan",
            "inf",
            "True",
            "false",
            "1",
            "0",
        ]
    ),
    st.text(max_size=12),
)
_HEADERS = st.one_of(
    st.just(list(schema.SPAN_COLUMNS)),
    st.just(list(schema.SPAN_REQUIRED_COLUMNS)),
    st.lists(st.sampled_from([*schema.SPAN_COLUMNS, "x", ""]), max_size=8),
)


@st.composite
def _csv_texts(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    header = draw(_HEADERS)
    width = len(header) if header and draw(st.booleans()) else draw(st.integers(0, 8))
    rows = draw(st.lists(st.lists(_CELLS, min_size=width, max_size=width), max_size=6))
    if draw(st.booleans()):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_csv_texts())
def test_read_labels_csv_returns_a_valid_frame_or_raises_data_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "labels.csv"
        path.write_text(text, encoding="utf-8")
        try:
            frame = read_labels(path)
        except DataError as exc:
            assert str(exc)
            return
    assert_span_frame_dtypes(frame)
    assert frame["start_ts"].notna().all() and frame["end_ts"].notna().all()
    assert frame["label"].isin(schema.LABELS).all()
    assert frame["provenance"].notna().all()
    conf = frame["confidence"]
    assert (conf.isna() | conf.between(0.0, 1.0)).all()
    longer = frame["end_ts"] > frame["start_ts"]
    zero = (frame["end_ts"] == frame["start_ts"]) & frame["extend_forward"]
    assert (longer | zero).all()
    assert len(frame_to_spans(frame)) == len(frame)
