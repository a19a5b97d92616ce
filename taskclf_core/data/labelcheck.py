"""Validate span frames read from label files (vectorised, every problem collected).

Files are validated column by column; every problem becomes one line of a
:class:`~taskclf_core.errors.DataError` that names the file, the row, the column, an
example value and what was expected. Row numbers are 1-based and count data rows only
(the CSV header is not a row).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd

from taskclf_core.data import schema
from taskclf_core.data.columns import STRING_DTYPE, TIMESTAMP_DTYPE, is_text_column, non_text_mask
from taskclf_core.data.problems import ProblemCollector, show_cell
from taskclf_core.data.quality import DataWarning

TIMESTAMP_EXAMPLE: Final = "2025-07-01 09:00:00+00:00"
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)

# A Python datetime holds years 1 to 9999; a span must convert to one (frame_to_spans).
_MIN_MICROS: Final = (datetime.min.replace(tzinfo=UTC) - EPOCH) // MICROSECOND

_MAX_MICROS: Final = (datetime.max.replace(tzinfo=UTC) - EPOCH) // MICROSECOND
#: What text timestamps must look like before pandas parses them (pandas alone would
#: also take words such as "now" and "today").
_ISO_8601: Final = (
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
#: An ISO 8601 timestamp that names its UTC offset (``Z`` or ``+hh:mm``).
_ISO_WITH_OFFSET: Final = (
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)"
)

_TRUE_WORDS: Final = frozenset({"true", "1"})
_FALSE_WORDS: Final = frozenset({"false", "0", ""})


def _names_text(values: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(show_cell(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def allowed_labels_text() -> str:
    return ", ".join(schema.LABELS)


def unknown_label_text(value: object) -> str:
    if value == schema.REJECT_LABEL:
        return f"is the reject label, not a span label (expected one of {allowed_labels_text()})"
    return f"is not a known label (expected one of {allowed_labels_text()})"


# --------------------------------------------------------------------------- timestamps


def parse_timestamp_column(
    series: pd.Series, column: str, problems: ProblemCollector, *, required: bool = True
) -> pd.Series | None:
    """Normalise one timestamp column to ``datetime64[us, UTC]``.

    Aware values are converted to UTC, naive ones are read as UTC, text is parsed as ISO
    8601 (leniently: space or ``T``, optional seconds, fraction and offset; words such
    as ``now`` are refused). Unparseable values, values outside years 1-9999 UTC, empty
    values (when ``required``) and wrong types are recorded in ``problems``.

    Returns:
        The normalised column (NaT where empty or bad), or ``None`` when the column's
        type is wrong.
    """
    dtype = series.dtype
    expected = f"(expected e.g. {TIMESTAMP_EXAMPLE})"
    parsed: pd.Series | None = None
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = series.dt.tz_convert("UTC").dt.as_unit("us")
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = series.dt.tz_localize("UTC").dt.as_unit("us")
    elif is_text_column(series):
        text = series.astype(STRING_DTYPE).str.strip()
        text = text.mask(text == "")
        iso = text.str.fullmatch(_ISO_8601).fillna(False).astype(bool)
        try:
            values = pd.to_datetime(text.where(iso), format="ISO8601", utc=True, errors="coerce")
        except (ValueError, OverflowError, TypeError) as exc:  # defensive: coerce should not raise
            problems.add(f"column {column}: timestamps could not be parsed ({exc}) {expected}")
            return None
        parsed = pd.Series(values, index=series.index).dt.as_unit("us")
        problems.add_rows(
            column,
            (parsed.isna() & text.notna()).to_numpy(dtype=bool),
            series,
            f"is not an ISO 8601 timestamp {expected}",
        )
        if required:
            problems.add_missing(
                column, text.isna().to_numpy(dtype=bool), f"e.g. {TIMESTAMP_EXAMPLE}"
            )
        return _within_python_range(parsed, series, column, problems)
    elif pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) in (
        "datetime",
        "datetime64",
    ):
        try:
            parsed = pd.Series(pd.to_datetime(series, utc=True), index=series.index).dt.as_unit(
                "us"
            )
        except (ValueError, OverflowError, TypeError):
            parsed = None
    if parsed is None:
        non_null = series.notna().to_numpy(dtype=bool)
        if non_null.any():
            problems.add_rows(
                column, non_null, series, f"is not a timestamp (column type {dtype}) {expected}"
            )
        else:
            problems.add(f"column {column} has type {dtype}, not a timestamp {expected}")
        return None
    if required:
        problems.add_missing(
            column, parsed.isna().to_numpy(dtype=bool), f"e.g. {TIMESTAMP_EXAMPLE}"
        )
    return _within_python_range(parsed, series, column, problems)


def _within_python_range(
    parsed: pd.Series, raw: pd.Series, column: str, problems: ProblemCollector
) -> pd.Series:
    """NaT (and a problem) for instants a Python ``datetime`` cannot hold."""
    micros = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]").view(np.int64)
    outside = parsed.notna().to_numpy(dtype=bool) & (
        (micros < _MIN_MICROS) | (micros > _MAX_MICROS)
    )
    if not outside.any():
        return parsed
    problems.add_rows(
        column,
        outside,
        raw,
        f"is outside years 1 to 9999 in UTC (expected e.g. {TIMESTAMP_EXAMPLE})",
    )
    return parsed.mask(outside)


def time_zone_warning(df: pd.DataFrame, *, source: str) -> DataWarning | None:
    """A warning when a raw span frame mixes timestamps with and without a UTC offset.

    Naive timestamps are read as UTC; next to offset ones they were most likely written
    in local time, so their spans are shifted by the offset. The file is still accepted.

    Args:
        df: The raw frame as read from the file (text timestamps), before validation.
        source: The file, named in the warning.

    Returns:
        The warning (``rows`` = the naive timestamps), or ``None`` when the file uses one
        kind only or its timestamps are not text.
    """
    naive: list[pd.Series] = []
    offset: list[pd.Series] = []
    for column in ("start_ts", "end_ts"):
        if column not in df.columns or not is_text_column(df[column]):
            continue
        text = df[column].astype(STRING_DTYPE).str.strip()
        iso = text.str.fullmatch(_ISO_8601).fillna(False).astype(bool)
        aware = text.str.fullmatch(_ISO_WITH_OFFSET).fillna(False).astype(bool)
        naive.append(text[iso & ~aware])
        offset.append(text[aware])
    n_naive = sum(len(s) for s in naive)
    n_offset = sum(len(s) for s in offset)
    if not n_naive or not n_offset:
        return None
    first_naive = next(str(s.iloc[0]) for s in naive if len(s))
    first_offset = next(str(s.iloc[0]) for s in offset if len(s))
    return DataWarning(
        kind="mixed_time_zones",
        column="start_ts, end_ts",
        rows=n_naive,
        allowed="one kind of timestamp per file: all with a UTC offset, or all without",
        examples=(first_naive, first_offset),
        source=source,
        detail=(
            f"{n_naive} timestamp{'s' if n_naive != 1 else ''} without a UTC offset "
            f"(e.g. {first_naive!r}) and {n_offset} with one (e.g. {first_offset!r}) in the "
            "same file; the ones without were read as UTC, so if they are local time their "
            "spans are shifted: give every timestamp an offset"
        ),
    )


# --------------------------------------------------------------------------- columns


def _text_column(
    df: pd.DataFrame, column: str, problems: ProblemCollector, *, required: bool, what: str
) -> pd.Series | None:
    series = df[column]
    if not is_text_column(series):
        problems.add_rows(column, non_text_mask(series), series, f"is not text (expected {what})")
        return None
    text = series.astype(STRING_DTYPE).str.strip()
    text = text.mask(text == "")
    if required:
        problems.add_missing(column, text.isna().to_numpy(dtype=bool), what)
    return text


def _confidence_column(series: pd.Series, problems: ProblemCollector) -> pd.Series | None:
    what = "(expected a number from 0 to 1, or empty)"
    if pd.api.types.is_bool_dtype(series.dtype):
        problems.add_rows(
            "confidence", np.ones(len(series), bool), series, f"is not a number {what}"
        )
        return None
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
    elif is_text_column(series):
        text = series.astype(STRING_DTYPE).str.strip()
        text = text.mask(text == "")
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        problems.add_rows(
            "confidence",
            (values.isna() & text.notna() & (text.str.lower() != "nan")).to_numpy(dtype=bool),
            series,
            f"is not a number {what}",
        )
    else:
        problems.add_rows(
            "confidence", series.notna().to_numpy(bool), series, f"is not a number {what}"
        )
        return None
    problems.add_rows(
        "confidence",
        (values.notna() & ~values.between(0.0, 1.0)).to_numpy(dtype=bool),
        series,
        f"is outside [0, 1] {what}",
    )
    return values


def _extend_forward_column(series: pd.Series, problems: ProblemCollector) -> pd.Series | None:
    what = "(expected True, False, 1, 0 or empty)"
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
        bad = values.notna() & ~values.isin([0.0, 1.0])
        problems.add_rows(
            "extend_forward", bad.to_numpy(dtype=bool), series, f"is not a flag {what}"
        )
        return values.fillna(0.0).eq(1.0)
    if is_text_column(series) or pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        # An object column of Python bools (and None) renders as "True"/"False".
        words = series.astype(STRING_DTYPE).str.strip().str.lower().fillna("")
        is_true = words.isin(_TRUE_WORDS)
        bad = ~is_true & ~words.isin(_FALSE_WORDS)
        problems.add_rows(
            "extend_forward", bad.to_numpy(dtype=bool), series, f"is not a flag {what}"
        )
        return is_true.astype(bool)
    problems.add_rows(
        "extend_forward", series.notna().to_numpy(bool), series, f"is not a flag {what}"
    )
    return None


def validate_span_frame(df: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """Validate and normalise a span frame read from a file (vectorised).

    Timestamps become ``datetime64[us, UTC]`` (naive read as UTC, text parsed as ISO
    8601), text columns pandas ``str`` with empty = missing, ``confidence`` ``float64``
    (NaN = missing), ``extend_forward`` ``bool`` (missing = False). Optional columns that
    are absent are added; columns outside ``schema.SPAN_COLUMNS`` are dropped.

    Args:
        df: The raw frame (any dtypes, e.g. all text from a CSV).
        source: Name of the file (or object) the frame came from, used in messages.

    Returns:
        A new span frame with the columns of ``schema.SPAN_COLUMNS`` and a RangeIndex.

    Raises:
        DataError: Every problem found (missing columns, unknown labels, bad timestamps,
            ``end_ts`` not after ``start_ts``, confidence outside [0, 1], wrong types),
            one line each, naming ``source``, row, column, an example value and what is
            expected.
    """
    problems = ProblemCollector(source)
    df = df.reset_index(drop=True)
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if duplicated:
        problems.add(f"duplicate column(s) {', '.join(duplicated)} (expected each column once)")
        problems.raise_if_any()
    missing = [c for c in schema.SPAN_REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        problems.add(
            f"missing column(s) {', '.join(missing)} (expected columns "
            f"{','.join(schema.SPAN_REQUIRED_COLUMNS)} and optionally "
            f"{','.join(schema.SPAN_OPTIONAL_COLUMNS)}; found {','.join(map(str, df.columns)) or 'none'})"
        )
        problems.raise_if_any()
    n = len(df)

    start = parse_timestamp_column(df["start_ts"], "start_ts", problems)
    end = parse_timestamp_column(df["end_ts"], "end_ts", problems)

    label = _text_column(
        df, "label", problems, required=True, what="one of " + allowed_labels_text()
    )
    if label is not None:
        unknown = (label.notna() & ~label.isin(schema.LABELS)).to_numpy(dtype=bool)
        if unknown.any():
            values = label[unknown].unique().tolist()
            others = ""
            if len(values) > 1:
                others = f" (unknown labels here: {_names_text(values)})"
            problems.add_rows("label", unknown, label, unknown_label_text(values[0]) + others)
    provenance = _text_column(
        df, "provenance", problems, required=True, what="e.g. manual, weak:app_rule, synthetic"
    )

    user: pd.Series | None = pd.Series(np.nan, index=df.index, dtype=STRING_DTYPE)
    if "user_id" in df.columns:
        user = _text_column(df, "user_id", problems, required=False, what="a user id or empty")
    confidence: pd.Series | None = pd.Series(np.nan, index=df.index, dtype="float64")
    if "confidence" in df.columns:
        confidence = _confidence_column(df["confidence"], problems)
    forward: pd.Series | None = pd.Series(np.zeros(n, dtype=bool), index=df.index)
    if "extend_forward" in df.columns:
        forward = _extend_forward_column(df["extend_forward"], problems)

    if start is not None and end is not None and forward is not None:
        both = (start.notna() & end.notna()).to_numpy(dtype=bool)
        s_ns = start.to_numpy(dtype="datetime64[us]")
        e_ns = end.to_numpy(dtype="datetime64[us]")
        with np.errstate(invalid="ignore"):
            before = both & (e_ns < s_ns)
            equal = both & (e_ns == s_ns) & ~forward.to_numpy(dtype=bool)
        if before.any():
            first = start.iloc[int(np.argmax(before))]
            problems.add_rows(
                "end_ts",
                before,
                end,
                f"is before start_ts {first} (expected end_ts after start_ts)",
            )
        if equal.any():
            problems.add_rows(
                "end_ts",
                equal,
                end,
                "equals start_ts (expected end_ts after start_ts; a zero-length span "
                "needs extend_forward=True)",
            )

    problems.raise_if_any()
    assert start is not None and end is not None and label is not None
    assert provenance is not None and user is not None and confidence is not None
    assert forward is not None
    return pd.DataFrame(
        {
            "start_ts": start.astype(TIMESTAMP_DTYPE),
            "end_ts": end.astype(TIMESTAMP_DTYPE),
            "label": label.astype(STRING_DTYPE),
            "provenance": provenance.astype(STRING_DTYPE),
            "user_id": user.astype(STRING_DTYPE),
            "confidence": confidence.astype("float64"),
            "extend_forward": forward.astype(bool),
        }
    ).reset_index(drop=True)
