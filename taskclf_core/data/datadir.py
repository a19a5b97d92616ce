"""Read, validate and write a taskclf data directory, one (day) partition at a time.

Layout (taskclf's ``data/processed``)::

    <data_dir>/features_<version>/date=YYYY-MM-DD/features.parquet   one file per UTC day
    <data_dir>/labels_v1/labels.parquet                               all label spans
    <data_dir>/labels.csv                                             CSV export of the spans

:func:`read_feature_file` turns one day file into a validated feature frame (the
in-memory convention of ``docs/ARCHITECTURE.md``); :func:`load_data_dir` maps it over the
days of a range and concatenates, so a Dask step can map the same function over
partitions. Validation is vectorised and collects every problem of a file into one
:class:`~taskclf_core.errors.DataError` (one line per problem, at most ten).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from taskclf_core.data import schema
from taskclf_core.data.labels import (
    STRING_DTYPE,
    TIMESTAMP_DTYPE,
    ProblemCollector,
    RowLocator,
    is_text_column,
    non_text_mask,
    read_labels,
    show_value,
    spans_to_frame,
    validate_span_frame,
    write_labels_csv,
    write_labels_parquet,
)
from taskclf_core.errors import DataError
from taskclf_core.fs.atomic import write_bytes_atomic

#: Versions in the order a day's files are tried: newest first.
VERSION_PREFERENCE: Final[tuple[str, ...]] = ("v3", "v2", "v1")
FEATURE_FILE_NAME: Final = "features.parquet"
LABELS_PARQUET: Final = Path("labels_v1") / "labels.parquet"
LABELS_CSV: Final = Path("labels.csv")

_TIMESTAMP_COLUMNS: Final = ("bucket_start_ts", "bucket_end_ts")
_REQUIRED_TEXT: Final = ("user_id", "schema_version", "app_id", "app_category", "domain_category")
_OPTIONAL_TEXT: Final = ("device_id", "session_id", "schema_hash", "window_title_hash")
_TEXT_COLUMNS: Final = _REQUIRED_TEXT + _OPTIONAL_TEXT
_LIST_COLUMNS: Final = ("source_ids",)
_BOOL_COLUMNS: Final = schema.BOOL_FEATURES
_INT_COLUMNS: Final = schema.INT_FEATURES + schema.TITLE_INT_FEATURES
_NULLABLE_COLUMNS: Final = frozenset(schema.NULLABLE_FEATURES)
_NON_FLOAT: Final = frozenset(
    _TIMESTAMP_COLUMNS + _TEXT_COLUMNS + _LIST_COLUMNS + _BOOL_COLUMNS + _INT_COLUMNS
)
_FLOAT_COLUMNS: Final = tuple(c for c in schema.COLUMNS["v3"] if c not in _NON_FLOAT)
_NUMERIC_COLUMNS: Final = _BOOL_COLUMNS + _INT_COLUMNS + _FLOAT_COLUMNS
_CATEGORY_DOMAINS: Final[dict[str, tuple[str, ...]]] = {
    "app_category": schema.APP_CATEGORIES,
    "domain_category": schema.DOMAIN_CATEGORIES,
}
_RANGES: Final[dict[str, tuple[float | None, float | None]]] = {
    **{c: (0.0, 1.0) for c in schema.TITLE_SKETCH_FEATURES},
    **schema.VALUE_RANGES,
}
_DATE_DIR: Final = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
_BUCKET: Final = pd.Timedelta(seconds=schema.BUCKET_SECONDS)


@dataclass(frozen=True)
class LoadedData:
    """Features and spans of one date range of a taskclf data directory.

    Attributes:
        features: Feature frame (in-memory convention), rows in day-file order.
        spans: Span frame, restricted to spans overlapping the range (and the user).
        schema_version: The one schema version of every loaded day file.
        days_loaded: Days with a feature file, ascending.
        days_missing: Days of the range without a feature file, ascending.
        files: The feature files read, one per loaded day.
        labels_file: The label file read, or ``None`` when the directory has none.
    """

    features: pd.DataFrame
    spans: pd.DataFrame
    schema_version: str
    days_loaded: list[date]
    days_missing: list[date]
    files: list[Path]
    labels_file: Path | None = None


def memory_columns(version: str) -> tuple[str, ...]:
    """Columns of an in-memory feature frame of ``version`` (``user_id`` always included)."""
    return schema.COLUMNS["v3"] if version == "v3" else schema.COLUMNS["v1"]


def feature_file_path(data_dir: Path | str, day: date, version: str) -> Path:
    """Path of one day file: ``<data_dir>/features_<version>/date=YYYY-MM-DD/features.parquet``."""
    return Path(data_dir) / f"features_{version}" / f"date={day.isoformat()}" / FEATURE_FILE_NAME


# --------------------------------------------------------------------------- version


def _names(columns: Iterable[str], limit: int = 8) -> str:
    names = list(columns)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _version_from_columns(columns: Iterable[str]) -> str:
    present = set(columns)
    if present & set(schema.V3_TITLE_FEATURES):
        return "v3"
    return "v1" if "user_id" in present else "v2"


def detect_schema_version(df: pd.DataFrame, problems: ProblemCollector | None = None) -> str:
    """Schema version of a feature frame: its ``schema_version`` values, else its columns.

    Args:
        df: A feature frame as read from a file.
        problems: Where to record mixed or unknown ``schema_version`` values.

    Returns:
        ``"v1"``, ``"v2"`` or ``"v3"`` (a best guess when the values are mixed or unknown).
    """
    problems = problems if problems is not None else ProblemCollector("frame")
    guess = _version_from_columns(map(str, df.columns))
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


# --------------------------------------------------------------------------- validation


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
            f"missing column(s) {_names(missing)} (expected the {len(expected)} columns "
            f"of schema {version}{note})"
        )
    if extra:
        problems.add(
            f"unexpected column(s) {_names(extra)} (not part of schema {version}; "
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
    for column in _TIMESTAMP_COLUMNS:
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
                f"{show_value(series.iloc[0]) if len(series) else 'none'} "
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
    for column in _TEXT_COLUMNS:
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
        if column in _REQUIRED_TEXT:
            empty = (series.isna() | (series.astype(STRING_DTYPE) == "")).to_numpy(dtype=bool)
            problems.add_missing(column, empty, "a non-empty string")
        domain = _CATEGORY_DOMAINS.get(column)
        if domain is not None:
            unknown = (series.notna() & ~series.isin(domain)).to_numpy(dtype=bool)
            kind = column.replace("_", " ")
            problems.add_rows(
                column,
                unknown,
                series,
                f"is not a known {kind} (expected one of {', '.join(domain)})",
            )


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
    return (0.0, 1.0) if column in _BOOL_COLUMNS else _RANGES.get(column, (None, None))


def _looks_wrong(column: str, values: np.ndarray) -> bool:
    """Cheap screen (two reductions): could this column hold a bad value?"""
    if values.size == 0:
        return False
    low, high = values.min(), values.max()
    if values.dtype.kind == "f":
        # NaN propagates through min/max, so a null or infinite value shows here.
        if not (np.isfinite(low) and np.isfinite(high)):
            return True
        if (column in _INT_COLUMNS or column in _BOOL_COLUMNS) and not np.array_equal(
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
    if column in _BOOL_COLUMNS:
        problems.add_missing(column, nan, "True or False")
        problems.add_rows(
            column, finite & (f != 0) & (f != 1), raw, "is not a flag (expected True or False)"
        )
        return
    if column in _INT_COLUMNS:
        problems.add_missing(column, nan, "a whole number")
        problems.add_rows(
            column,
            finite & (f != np.floor(np.where(finite, f, 0.0))),
            raw,
            "is not a whole number (expected a count)",
        )
    elif column not in _NULLABLE_COLUMNS:
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
    for column in _NUMERIC_COLUMNS:
        if column not in df.columns:
            continue
        series = df[column]
        if column in _BOOL_COLUMNS and series.dtype == np.dtype(bool):
            continue  # nothing can be wrong with a non-null bool column
        values = _numeric_values(series, column, problems, is_flag=column in _BOOL_COLUMNS)
        if values is not None and _looks_wrong(column, values):
            _check_numeric_values(column, values, series, problems)


def _check_primary_key(df: pd.DataFrame, problems: ProblemCollector) -> None:
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
        shown=lambda i: f"({show_value(users.iloc[i])}, {starts.iloc[i]})",
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
        problems.add(f"duplicate column(s) {_names(duplicated)} (expected each column once)")
        return problems
    version = detect_schema_version(df, problems)
    _check_columns(df, version, problems)
    _check_timestamps(df, problems)
    _check_text(df, problems)
    _check_numeric(df, problems)
    _check_primary_key(df, problems)
    return problems


def validate_features(df: pd.DataFrame, *, source: str) -> None:
    """Check a feature frame against its schema version (vectorised).

    The version comes from the ``schema_version`` column (else the column set). Checked:
    missing / extra columns (``user_id`` is required for every version, as in memory),
    types (text, flags, whole-number counts, numbers), unknown ``app_category`` /
    ``domain_category`` values, values outside ``schema.VALUE_RANGES`` (title sketches
    in [0, 1]), nulls in non-nullable columns, infinities, missing or naive timestamps,
    ``bucket_end_ts != bucket_start_ts + 60 s``, duplicate (user_id, bucket_start_ts),
    mixed or unknown ``schema_version`` values.

    Args:
        df: A feature frame (one file or partition).
        source: The file (or partition) name used in messages.

    Raises:
        DataError: All problems found, one line each (at most ten shown), each naming
            ``source``, the row, the column, an example value and what is expected.
    """
    feature_problems(df, source=source).raise_if_any()


# --------------------------------------------------------------------------- reading


def _normalised_column(column: str, series: pd.Series) -> pd.Series | np.ndarray | None:
    """The column in its in-memory dtype, or None when it already has it."""
    dtype = series.dtype
    if column in _TIMESTAMP_COLUMNS:
        if dtype == TIMESTAMP_DTYPE:
            return None
        return series.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    if column in _TEXT_COLUMNS:
        return None if dtype == STRING_DTYPE else series.astype(STRING_DTYPE)
    if column in _LIST_COLUMNS:
        return None
    if column in _BOOL_COLUMNS:
        return None if dtype == np.dtype(bool) else series.to_numpy(dtype=np.float64) == 1.0
    if column in _INT_COLUMNS:
        return None if dtype == np.int64 else series.to_numpy(dtype=np.int64)
    if dtype == np.float64:
        return None
    if pd.api.types.is_object_dtype(dtype):
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _normalise_features(df: pd.DataFrame, version: str) -> pd.DataFrame:
    """Cast a validated frame to the in-memory dtypes, in ``memory_columns`` order."""
    frame = df[list(memory_columns(version))].reset_index(drop=True)
    for column in frame.columns:
        values = _normalised_column(column, frame[column])
        if values is not None:
            frame[column] = values
    return frame


def _prepare_table(table: pa.Table) -> pa.Table:
    """Arrow-level fixes before pandas: timestamps to us/UTC, dictionaries decoded."""
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if name in _TIMESTAMP_COLUMNS and pa.types.is_timestamp(column.type):
            # A naive Arrow timestamp keeps its wall-clock value: the cast labels it UTC.
            # An aware one is stored as UTC instants already; ns -> us truncates.
            column = pc.cast(column, pa.timestamp("us", tz="UTC"), safe=False)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _list_as_arrow(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    # List columns (source_ids) stay Arrow-backed: turning every cell into a numpy array
    # would cost more than the rest of the conversion together.
    # The types in the file decide, not the pandas metadata a writer left behind.
    return table.to_pandas(types_mapper=_list_as_arrow, ignore_metadata=True)


def _table_version(table: pa.Table) -> str | None:
    """The table's one known ``schema_version`` value (else by columns); None if unclear."""
    if "schema_version" in table.column_names and table.num_rows:
        column = table.column("schema_version")
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            return None
        values = pc.unique(column).drop_null().to_pylist()
        if len(values) != 1 or values[0] not in schema.SCHEMA_VERSIONS:
            return None
        return str(values[0])
    return _version_from_columns(table.column_names)


def _with_user(table: pa.Table, *, source: str, user_id: str | None) -> pa.Table:
    """Give a v2 table (no ``user_id`` column) the caller's user id, or refuse."""
    if "user_id" in table.column_names:
        return table
    if (_table_version(table) or _version_from_columns(table.column_names)) != "v2":
        return table  # validation reports the missing column
    if user_id is None:
        raise DataError(
            f"{source} is a schema v2 file, which has no user_id column: give the id of "
            "the user these rows belong to (user_id=..., or --user-id on the command line)"
        )
    users = pa.repeat(pa.scalar(user_id, pa.large_string()), table.num_rows)
    return table.add_column(0, "user_id", users)


def _read_table(path: Path) -> pa.Table:
    if not path.is_file():
        raise DataError(f"feature file {path} does not exist")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc


def _keep_user(frame: pd.DataFrame, user_id: str | None) -> pd.DataFrame:
    if user_id is None:
        return frame
    return frame.loc[(frame["user_id"] == user_id).to_numpy(dtype=bool)].reset_index(drop=True)


def features_from_table(
    table: pa.Table, *, source: str, user_id: str | None = None
) -> pd.DataFrame:
    """Validate and normalise one partition read as an Arrow table (see :func:`read_feature_file`).

    Args:
        table: The rows of one day file.
        source: File name used in messages.
        user_id: User of a v2 file (required for v2); for v1/v3 keep only this user's rows.

    Returns:
        A feature frame in the in-memory convention.

    Raises:
        DataError: A v2 file without ``user_id``, or any validation problem.
    """
    df = _to_pandas(_with_user(_prepare_table(table), source=source, user_id=user_id))
    version = detect_schema_version(df)
    feature_problems(df, source=source).raise_if_any()
    return _keep_user(_normalise_features(df, version), user_id)


def read_feature_file(path: Path | str, *, user_id: str | None = None) -> pd.DataFrame:
    """Read one taskclf day file, detect its schema version, validate and normalise it.

    Timestamps become ``datetime64[us, UTC]`` (naive read as UTC, other zones converted),
    text pandas ``str``, flags ``bool``, counts ``int64``, other numbers ``float64`` (NaN
    = null); ``source_ids`` stays an object column. Columns are in ``schema.COLUMNS``
    order with ``user_id`` first.

    Args:
        path: ``.../features_<v>/date=YYYY-MM-DD/features.parquet``.
        user_id: For a v2 file (no ``user_id`` column) the user the rows belong to; for
            v1/v3 files only this user's rows are kept.

    Returns:
        The validated feature frame.

    Raises:
        DataError: Missing or unreadable file, a v2 file without ``user_id``, or any
            validation problem (see :func:`validate_features`).
    """
    path = Path(path)
    return features_from_table(_read_table(path), source=str(path), user_id=user_id)


def _concat_same_schema(tables: list[pa.Table]) -> pa.Table | None:
    """One table from day tables of one version and one column set, else None."""
    versions = {_table_version(t) for t in tables}
    column_sets = {frozenset(t.column_names) for t in tables}
    if len(versions) != 1 or None in versions or len(column_sets) != 1:
        return None
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, ValueError, TypeError):
        return None


def read_feature_files(paths: Sequence[Path], *, user_id: str | None = None) -> pd.DataFrame:
    """Read several day files of one schema version into one validated feature frame.

    Files are read in parallel, concatenated as Arrow tables and converted to pandas
    once; validation runs once over all rows, each message naming the file and row of
    its example. Files whose schemas differ fall back to file-by-file reading, which
    gives each file's own messages.

    Args:
        paths: Day files, in the order their rows should appear.
        user_id: As for :func:`read_feature_file`.

    Returns:
        The concatenated feature frame (duplicate keys across files are refused too).

    Raises:
        DataError: As for :func:`read_feature_file`, plus (user_id, bucket_start_ts)
            pairs that appear in more than one file.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no feature files to read")
    with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
        raw = list(pool.map(_read_table, paths))
    sources = [str(p) for p in paths]
    tables = [
        _with_user(_prepare_table(t), source=src, user_id=user_id)
        for t, src in zip(raw, sources, strict=True)
    ]
    locator = RowLocator.from_lengths(sources, [t.num_rows for t in tables])
    combined = _concat_same_schema(tables)
    what = sources[0] if len(sources) == 1 else f"{paths[0].parent.parent} ({len(paths)} day files)"
    if combined is not None:
        df = _to_pandas(combined)
        version = detect_schema_version(df)
        feature_problems(df, source=what, locator=locator).raise_if_any()
        return _keep_user(_normalise_features(df, version), user_id)
    frames = [
        features_from_table(t, source=src, user_id=None)
        for t, src in zip(tables, sources, strict=True)
    ]
    features = pd.concat(frames, ignore_index=True)
    problems = ProblemCollector(what, locator)
    _check_primary_key(features, problems)
    problems.raise_if_any()
    return _keep_user(features, user_id)


def _day_runs(days: list[date], versions: list[str]) -> str:
    """'2025-07-01..2025-07-02 are v1, 2025-07-03 is v3' over consecutive same-version days."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(days) + 1):
        if i == len(days) or versions[i] != versions[start]:
            first, last = days[start], days[i - 1]
            if first == last:
                parts.append(f"{first} is {versions[start]}")
            else:
                parts.append(f"{first}..{last} are {versions[start]}")
            start = i
    return ", ".join(parts)


def _find_day_files(data_dir: Path, days: list[date]) -> dict[date, tuple[str, Path]]:
    listed: dict[str, set[str]] = {}
    for version in VERSION_PREFERENCE:
        root = data_dir / f"features_{version}"
        listed[version] = {e.name for e in os.scandir(root)} if root.is_dir() else set()
    found: dict[date, tuple[str, Path]] = {}
    for day in days:
        name = f"date={day.isoformat()}"
        for version in VERSION_PREFERENCE:
            path = data_dir / f"features_{version}" / name / FEATURE_FILE_NAME
            if name in listed[version] and path.is_file():
                found[day] = (version, path)
                break
    return found


def _available_days_text(data_dir: Path) -> str:
    seen: dict[str, list[str]] = {}
    for version in VERSION_PREFERENCE:
        root = data_dir / f"features_{version}"
        if root.is_dir():
            days = sorted(m.group(1) for e in os.scandir(root) if (m := _DATE_DIR.match(e.name)))
            if days:
                seen[version] = days
    if not seen:
        return "the directory has no feature files at all"
    return "the directory has " + "; ".join(
        f"{v} files for {len(d)} day(s) from {d[0]} to {d[-1]}" for v, d in seen.items()
    )


def _filter_spans(
    spans: pd.DataFrame, date_from: date, date_to: date, user_id: str | None
) -> pd.DataFrame:
    begin = pd.Timestamp(date_from, tz="UTC")
    end = pd.Timestamp(date_to + timedelta(days=1), tz="UTC")
    starts, ends = spans["start_ts"], spans["end_ts"]
    keep = (starts < end) & ((ends > begin) | ((ends == starts) & (starts >= begin)))
    if user_id is not None:
        keep &= spans["user_id"].isna() | (spans["user_id"] == user_id)
    return spans.loc[keep].reset_index(drop=True)


def load_data_dir(
    data_dir: Path | str, date_from: date, date_to: date, *, user_id: str | None = None
) -> LoadedData:
    """Load the feature days of ``[date_from, date_to]`` and the label spans of a data dir.

    Each day takes the newest schema version that has a file for it (v3, then v2, then
    v1). Days without a file are listed in ``days_missing``. Spans come from
    ``labels_v1/labels.parquet``, else the top-level ``labels.csv``, else none (an empty
    span frame); only spans overlapping the range (and matching ``user_id`` when given)
    are kept.

    Args:
        data_dir: A taskclf processed-data directory.
        date_from: First UTC day, inclusive.
        date_to: Last UTC day, inclusive.
        user_id: User of v2 files (required when a v2 file is loaded); for v1/v3 files
            only this user's rows (and spans without a user or of this user) are kept.

    Returns:
        The loaded features, spans and what was read.

    Raises:
        DataError: Missing data dir, reversed range, no feature file in the range, day
            files of several schema versions, a v2 file without ``user_id``, no rows for
            ``user_id``, or any validation problem of a file.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            f"data directory {data_dir} does not exist (expected a taskclf processed-data "
            "directory with features_<version>/date=YYYY-MM-DD/features.parquet)"
        )
    if date_from > date_to:
        raise DataError(f"date range {date_from}..{date_to} is empty: date_from is after date_to")
    days = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    found = _find_day_files(data_dir, days)
    if not found:
        raise DataError(
            f"no feature files in {data_dir} for {date_from}..{date_to} (looked for "
            f"features_{{v3,v2,v1}}/date=YYYY-MM-DD/{FEATURE_FILE_NAME}); "
            f"{_available_days_text(data_dir)}"
        )
    loaded = sorted(found)
    versions = [found[d][0] for d in loaded]
    if len(set(versions)) > 1:
        raise DataError(
            f"{_day_runs(loaded, versions)}: mixed schema versions in one range "
            f"({date_from}..{date_to} in {data_dir}); choose a range with one version"
        )
    files = [found[d][1] for d in loaded]
    features = read_feature_files(files, user_id=user_id)
    if user_id is not None and len(features) == 0:
        raise DataError(
            f"no feature rows for user {user_id!r} in {data_dir} for {date_from}..{date_to} "
            f"({len(files)} day file(s) read)"
        )

    labels_file: Path | None = None
    for candidate in (data_dir / LABELS_PARQUET, data_dir / LABELS_CSV):
        if candidate.is_file():
            labels_file = candidate
            break
    if labels_file is None:
        spans = spans_to_frame([])
    else:
        spans = _filter_spans(read_labels(labels_file), date_from, date_to, user_id)
    return LoadedData(
        features=features,
        spans=spans,
        schema_version=versions[0],
        days_loaded=loaded,
        days_missing=[d for d in days if d not in found],
        files=files,
        labels_file=labels_file,
    )


# --------------------------------------------------------------------------- writing


def _arrow_type(column: str) -> pa.DataType:
    if column in _TIMESTAMP_COLUMNS:
        return pa.timestamp("us", tz="UTC")
    if column in _LIST_COLUMNS:
        return pa.list_(pa.string())
    if column in _TEXT_COLUMNS:
        return pa.large_string()
    if column in _BOOL_COLUMNS:
        return pa.bool_()
    if column in _INT_COLUMNS:
        return pa.int64()
    return pa.float64()


def _check_version_values(df: pd.DataFrame, version: str, source: str) -> None:
    if version not in schema.SCHEMA_VERSIONS:
        raise DataError(
            f"schema version {version!r} is unknown (expected one of "
            f"{', '.join(schema.SCHEMA_VERSIONS)})"
        )
    if "schema_version" in df.columns and len(df):
        other = df["schema_version"].astype(STRING_DTYPE) != version
        if other.any():
            value = df["schema_version"].iloc[int(np.argmax(other.to_numpy(dtype=bool)))]
            raise DataError(
                f"{source}: rows have schema_version {show_value(value)} but version={version!r} "
                "was asked (set the schema_version column, and the columns, to that version)"
            )


def write_features_day(data_dir: Path | str, day: date, df: pd.DataFrame, *, version: str) -> Path:
    """Write one UTC day of features as ``features_<version>/date=<day>/features.parquet``.

    The frame is validated first; columns are written in ``schema.COLUMNS[version]``
    order with taskclf's types (``timestamp[us, tz=UTC]``, ``large_string``, ``bool``
    flags, ``int64`` counts, ``double``). A v2 file gets no ``user_id`` column. The write
    is atomic.

    Args:
        data_dir: The data directory (created if needed).
        day: The UTC day every row's ``bucket_start_ts`` falls on.
        df: Feature frame (in-memory convention) of that day.
        version: ``"v1"``, ``"v2"`` or ``"v3"``; must match the ``schema_version`` column.

    Returns:
        The path written.

    Raises:
        DataError: Invalid frame, version mismatch, rows of another day, or (v2) rows of
            more than one user.
    """
    source = f"features for {day}"
    _check_version_values(df, version, source)
    validate_features(df, source=source)
    frame = _normalise_features(df, version)
    day_start = pd.Timestamp(day, tz="UTC")
    other_day = (frame["bucket_start_ts"].dt.floor("D") != day_start).to_numpy(dtype=bool)
    if other_day.any():
        first = int(np.argmax(other_day))
        raise DataError(
            f"{source} row {first + 1}, column bucket_start_ts: "
            f"{frame['bucket_start_ts'].iloc[first]} is not on {day} (expected every row of "
            f"the day file on that UTC day; {int(other_day.sum())} rows are not)"
        )
    _check_one_user(frame, version, source)
    return _write_day(Path(data_dir), day, frame, version)


def _check_one_user(frame: pd.DataFrame, version: str, source: str) -> None:
    if version != "v2":
        return
    users = frame["user_id"].unique()
    if len(users) > 1:
        raise DataError(
            f"{source}: schema v2 files hold one user and have no user_id column, but the "
            f"rows have {len(users)} users ({_names(map(str, users), 3)}); write v1 or v3"
        )


def _write_day(data_dir: Path, day: date, frame: pd.DataFrame, version: str) -> Path:
    """Write an already validated and normalised day frame."""
    columns = schema.COLUMNS[version]
    arrow_schema = pa.schema([(c, _arrow_type(c)) for c in columns])
    try:
        table = pa.Table.from_pandas(
            frame[list(columns)], schema=arrow_schema, preserve_index=False
        )
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(
            f"features for {day}: cannot convert to taskclf's parquet types ({exc})"
        ) from exc
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    path = feature_file_path(data_dir, day, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, sink.getvalue().to_pybytes())
    return path


def write_data_dir(
    data_dir: Path | str,
    features_df: pd.DataFrame,
    spans_frame: pd.DataFrame,
    *,
    version: str = "v1",
) -> list[Path]:
    """Write features (one file per UTC day) and spans in taskclf's data-dir layout.

    Everything is validated before the first file is written. Writes
    ``features_<version>/date=YYYY-MM-DD/features.parquet`` per day of
    ``bucket_start_ts``, ``labels_v1/labels.parquet`` and ``labels.csv``, each atomically.
    Existing day files of other days are left alone.

    Args:
        data_dir: Target directory (created if needed).
        features_df: Feature frame (in-memory convention) whose ``schema_version`` is
            ``version``.
        spans_frame: Span frame.
        version: Schema version to write.

    Returns:
        The files written: day files in day order, then the labels parquet and CSV.

    Raises:
        DataError: Invalid features or spans, version mismatch, or (v2) several users.
    """
    data_dir = Path(data_dir)
    source = "features frame"
    _check_version_values(features_df, version, source)
    validate_features(features_df, source=source)
    spans = validate_span_frame(spans_frame, source="span frame")
    frame = _normalise_features(features_df, version)
    _check_one_user(frame, version, source)
    days = frame["bucket_start_ts"].dt.floor("D")
    written = [
        _write_day(data_dir, day_ts.date(), part, version)
        for day_ts, part in frame.groupby(days, sort=True)
    ]
    labels_parquet = data_dir / LABELS_PARQUET
    labels_csv = data_dir / LABELS_CSV
    write_labels_parquet(labels_parquet, spans)
    write_labels_csv(labels_csv, spans)
    return [*written, labels_parquet, labels_csv]
