"""Validate a feature frame against its schema version (vectorised).

Every problem of a file is collected into one :class:`~taskclf_core.errors.DataError`
(one line per problem, at most ten): missing or extra columns, wrong types, unknown
categories, values outside their range, nulls, bad timestamps and duplicate keys.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from taskclf_core.data import schema
from taskclf_core.data.columns import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    NON_EMPTY_TEXT,
    NULLABLE_COLUMNS,
    NUMERIC_COLUMNS,
    REQUIRED_TEXT,
    STRING_DTYPE,
    TEXT_COLUMNS,
    TIMESTAMP_COLUMNS,
    UPSTREAM_RANGES,
    is_text_column,
    memory_columns,
    name_list,
    non_text_mask,
    version_from_columns,
)
from taskclf_core.data.problems import ProblemCollector, RowLocator, show_cell

_BUCKET: Final = pd.Timedelta(seconds=schema.BUCKET_SECONDS)


# --------------------------------------------------------------------------- version


def detect_schema_version(df: pd.DataFrame, problems: ProblemCollector | None = None) -> str:
    """Schema version of a feature frame: its ``schema_version`` values, else its columns.

    Args:
        df: A feature frame as read from a file.
        problems: Where to record mixed or unknown ``schema_version`` values.

    Returns:
        ``"v1"``, ``"v2"`` or ``"v3"`` (a best guess when the values are mixed or unknown).
    """
    problems = problems if problems is not None else ProblemCollector("frame")
    guess = version_from_columns(map(str, df.columns))
    if "schema_version" not in df.columns or len(df) == 0:
        return guess
    values = df["schema_version"]
    if not is_text_column(values):
        return guess
    counts = values.value_counts(dropna=True)
    known = [v for v in counts.index if v in schema.SCHEMA_VERSIONS]
    unknown = values.notna() & ~values.isin(schema.SCHEMA_VERSIONS)
    problems.add_rows(
        "schema_version",
        unknown.to_numpy(dtype=bool),
        values,
        f"is not a known schema version (expected one of {', '.join(schema.SCHEMA_VERSIONS)})",
    )
    if len(known) > 1:
        mixed = ", ".join(
            f"{v} ({counts[v]} row{'s' if counts[v] > 1 else ''})" for v in sorted(known)
        )
        problems.add(
            f"column schema_version: mixed schema versions {mixed} in one file "
            "(expected one version per file)"
        )
    if not known:
        return guess
    return str(known[0])


# --------------------------------------------------------------------------- checks


def _check_columns(df: pd.DataFrame, version: str, problems: ProblemCollector) -> None:
    expected = memory_columns(version)
    present = [str(c) for c in df.columns]
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in expected]
    if missing:
        note = ""
        if missing == ["user_id"] and version == "v2":
            note = "; v2 files have none: read them with a user id"
        problems.add(
            f"missing column(s) {name_list(missing)} (expected the {len(expected)} columns "
            f"of schema {version}{note})"
        )
    if extra:
        problems.add(
            f"unexpected column(s) {name_list(extra)} (not part of schema {version}; "
            "check the file's schema_version)"
        )


def _add_type_problem(
    problems: ProblemCollector,
    column: str,
    bad: np.ndarray,
    values: pd.Series,
    what: str,
) -> None:
    """Record that a column has the wrong type, from its type rather than its rows.

    The example is the first ``bad`` row, else the first row (an empty value); a column
    with no rows at all (an empty day file) is still reported, as a whole-file problem.
    """
    if not bad.any():
        bad = np.ones(len(values), dtype=bool)
    if bad.any():
        problems.add_rows(column, bad, values, what)
    else:
        problems.add(f"column {column}: no rows to show, but the column {what}")


def _check_timestamps(df: pd.DataFrame, problems: ProblemCollector) -> None:
    parsed: dict[str, pd.Series] = {}
    for column in TIMESTAMP_COLUMNS:
        if column not in df.columns:
            continue
        series = df[column]
        dtype = series.dtype
        if isinstance(dtype, pd.DatetimeTZDtype):
            parsed[column] = series.dt.tz_convert("UTC")
            problems.add_missing(column, series.isna().to_numpy(dtype=bool), "a UTC timestamp")
        elif pd.api.types.is_datetime64_dtype(dtype):
            problems.add(
                f"column {column}: naive timestamps (no time zone), e.g. "
                f"{show_cell(series.iloc[0]) if len(series) else 'none'} "
                "(expected aware UTC; read_feature_file reads naive file timestamps as UTC)"
            )
        else:
            _add_type_problem(
                problems,
                column,
                series.notna().to_numpy(dtype=bool),
                series,
                f"is not a timestamp (column type {dtype}; expected timestamp[us, tz=UTC])",
            )
    if len(parsed) == 2:
        start, end = parsed["bucket_start_ts"], parsed["bucket_end_ts"]
        wrong = (start.notna() & end.notna() & (end - start != _BUCKET)).to_numpy(dtype=bool)
        if wrong.any():
            first = start.iloc[int(np.argmax(wrong))]
            problems.add_rows(
                "bucket_end_ts",
                wrong,
                end,
                f"is not bucket_start_ts + 60 s (bucket_start_ts is {first}; "
                f"expected {first + _BUCKET})",
            )


def _check_text(df: pd.DataFrame, problems: ProblemCollector) -> None:
    for column in TEXT_COLUMNS:
        if column not in df.columns:
            continue
        series = df[column]
        if not is_text_column(series):
            _add_type_problem(
                problems,
                column,
                non_text_mask(series),
                series,
                f"is not text (column type {series.dtype}; expected text)",
            )
            continue
        # Unknown categories are not refused (taskclf accepts any text): see quality.py.
        if column in NON_EMPTY_TEXT:
            empty = (series.isna() | (series.astype(STRING_DTYPE) == "")).to_numpy(dtype=bool)
            problems.add_missing(column, empty, "a non-empty string")
        elif column in REQUIRED_TEXT:
            problems.add_missing(column, series.isna().to_numpy(dtype=bool), "a string")


def _numeric_values(
    series: pd.Series, column: str, problems: ProblemCollector, *, is_flag: bool
) -> np.ndarray | None:
    """Numeric values of a column (a view when possible), or None (problem recorded)."""
    dtype = series.dtype
    expected = "True or False" if is_flag else "a number"
    if pd.api.types.is_bool_dtype(dtype):
        if is_flag:
            return series.to_numpy(dtype=np.float64, na_value=np.nan)
        _add_type_problem(
            problems,
            column,
            np.ones(len(series), dtype=bool),
            series,
            "is a flag (True/False) (expected a number)",
        )
        return None
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return series.to_numpy()  # a view: no copy for int64 / float64 columns
    if pd.api.types.is_numeric_dtype(dtype):  # nullable extension types (Int64, ...)
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if series.isna().all():  # e.g. an Arrow null-typed column: null on every row
        return np.full(len(series), np.nan)
    if is_text_column(series):
        # Numbers stored as text: show a value that does not even parse, if there is one.
        parsed = pd.to_numeric(series, errors="coerce")
        bad = (series.notna() & parsed.isna()).to_numpy(dtype=bool)
        if not bad.any():
            bad = series.notna().to_numpy(dtype=bool)
        kind_wanted = "bool" if is_flag else "numeric"
        what = f"is text, not {expected} (column type {dtype}; expected a {kind_wanted} column)"
    elif pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(series, skipna=True)
        if kind in ("integer", "floating", "mixed-integer-float", "decimal") or (
            is_flag and kind == "boolean"
        ):
            return pd.to_numeric(series, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        # Error path only: find the values that are not numbers, to show one.
        is_number = series.map(
            lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool)
        )
        bad = (series.notna() & ~is_number.astype(bool)).to_numpy(dtype=bool)
        what = f"is not {expected} (column type {dtype}; expected {expected})"
    else:
        bad = series.notna().to_numpy(dtype=bool)
        what = f"is not {expected} (column type {dtype}; expected {expected})"
    _add_type_problem(problems, column, bad, series, what)
    return None


def _range_text(low: float | None, high: float | None) -> str:
    def num(x: float) -> str:
        return f"{x:g}"

    if low is not None and high is not None:
        return f"is outside [{num(low)}, {num(high)}] (expected a value from {num(low)} to {num(high)})"
    if low is not None:
        return f"is below {num(low)} (expected >= {num(low)})"
    assert high is not None
    return f"is above {num(high)} (expected <= {num(high)})"


def _bounds(column: str) -> tuple[float | None, float | None]:
    return (0.0, 1.0) if column in BOOL_COLUMNS else UPSTREAM_RANGES.get(column, (None, None))


def _looks_wrong(column: str, values: np.ndarray) -> bool:
    """Cheap screen (two reductions): could this column hold a bad value?"""
    if values.size == 0:
        return False
    low, high = values.min(), values.max()
    if values.dtype.kind == "f":
        # NaN propagates through min/max, so a null or infinite value shows here.
        if not (np.isfinite(low) and np.isfinite(high)):
            return True
        if (column in INT_COLUMNS or column in BOOL_COLUMNS) and not np.array_equal(
            values, np.floor(values)
        ):
            return True
    lo, hi = _bounds(column)
    return (lo is not None and low < lo) or (hi is not None and high > hi)


def _check_numeric_values(
    column: str, values: np.ndarray, raw: pd.Series, problems: ProblemCollector
) -> None:
    """Report the bad values of one numeric column (only run when it looks wrong)."""
    f = values.astype(np.float64, copy=False)
    nan = np.isnan(f)
    finite = np.isfinite(f)
    if column in BOOL_COLUMNS:
        problems.add_missing(column, nan, "True or False")
        problems.add_rows(
            column, finite & (f != 0) & (f != 1), raw, "is not a flag (expected True or False)"
        )
        return
    if column in INT_COLUMNS:
        problems.add_missing(column, nan, "a whole number")
        problems.add_rows(
            column,
            finite & (f != np.floor(np.where(finite, f, 0.0))),
            raw,
            "is not a whole number (expected a count)",
        )
    elif column not in NULLABLE_COLUMNS:
        problems.add_missing(column, nan, "a number; this column is never null")
    problems.add_rows(column, np.isinf(f), raw, "is not a finite number")
    low, high = _bounds(column)
    outside = np.zeros(len(f), dtype=bool)
    if low is not None:
        outside |= finite & (f < low)
    if high is not None:
        outside |= finite & (f > high)
    if low is not None or high is not None:
        problems.add_rows(column, outside, raw, _range_text(low, high))


def _check_numeric(df: pd.DataFrame, problems: ProblemCollector) -> None:
    # Per column: two reductions screen it; only a column that looks wrong gets the
    # element-wise checks that find and show a bad row.
    for column in NUMERIC_COLUMNS:
        if column not in df.columns:
            continue
        series = df[column]
        if column in BOOL_COLUMNS and series.dtype == np.dtype(bool):
            continue  # nothing can be wrong with a non-null bool column
        values = _numeric_values(series, column, problems, is_flag=column in BOOL_COLUMNS)
        if values is not None and _looks_wrong(column, values):
            _check_numeric_values(column, values, series, problems)


def check_primary_key(df: pd.DataFrame, problems: ProblemCollector) -> None:
    if not all(c in df.columns for c in schema.PRIMARY_KEY):
        return
    users, starts = df["user_id"], df["bucket_start_ts"]
    if not is_text_column(users) or not pd.api.types.is_datetime64_any_dtype(starts.dtype):
        # Wrong key types (e.g. lists, which cannot be compared for duplicates) are
        # already reported by _check_text / _check_timestamps.
        return
    duplicated = df.duplicated(list(schema.PRIMARY_KEY), keep=False).to_numpy(dtype=bool)
    problems.add_rows(
        "user_id, bucket_start_ts",
        duplicated,
        starts,
        "appears more than once (expected one row per user and minute)",
        shown=lambda i: f"({show_cell(users.iloc[i])}, {starts.iloc[i]})",
    )


def feature_problems(
    df: pd.DataFrame, *, source: str, locator: RowLocator | None = None
) -> ProblemCollector:
    """Every problem of a feature frame, collected but not raised (see :func:`validate_features`).

    Args:
        df: The frame.
        source: Name used in messages (and for whole-frame problems).
        locator: When ``df`` is several files concatenated, maps rows back to files.
    """
    problems = ProblemCollector(source, locator)
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if duplicated:
        problems.add(f"duplicate column(s) {name_list(duplicated)} (expected each column once)")
        return problems
    version = detect_schema_version(df, problems)
    _check_columns(df, version, problems)
    _check_timestamps(df, problems)
    _check_text(df, problems)
    _check_numeric(df, problems)
    check_primary_key(df, problems)
    return problems


def validate_features(df: pd.DataFrame, *, source: str) -> None:
    """Check a feature frame against its schema version (vectorised).

    The version comes from the ``schema_version`` column (else the column set). Checked:
    missing / extra columns (``user_id`` is required for every version, as in memory),
    types (text, flags, whole-number counts, numbers), values outside the bounds
    taskclf itself enforces (``columns.UPSTREAM_RANGES``), nulls in non-nullable
    columns, infinities, missing or naive timestamps, ``bucket_end_ts !=
    bucket_start_ts + 60 s``, duplicate (user_id, bucket_start_ts), mixed or unknown
    ``schema_version`` values. Nothing taskclf accepts is refused: values outside the
    documented physical range and unknown categories are data warnings
    (:func:`taskclf_core.data.quality.data_warnings`), not errors.

    Args:
        df: A feature frame (one file or partition).
        source: The file (or partition) name used in messages.

    Raises:
        DataError: All problems found, one line each (at most ten shown), each naming
            ``source``, the row, the column, an example value and what is expected.
    """
    feature_problems(df, source=source).raise_if_any()
