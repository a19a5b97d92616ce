"""Read and write one day file of features (``features_<v>/date=YYYY-MM-DD/features.parquet``).

:func:`read_feature_file` turns one day file into a validated feature frame (the
in-memory convention of ``docs/ARCHITECTURE.md``); :func:`read_feature_files` reads
several days of one version at once; :func:`write_features_day` writes one day in
taskclf's parquet types, atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from taskclf_core.data import schema
from taskclf_core.data.columns import (
    BOOL_COLUMNS,
    INT_COLUMNS,
    LIST_COLUMNS,
    STRING_DTYPE,
    TEXT_COLUMNS,
    TIMESTAMP_COLUMNS,
    TIMESTAMP_DTYPE,
    memory_columns,
    name_list,
    version_from_columns,
)
from taskclf_core.data.featurecheck import (
    check_primary_key,
    detect_schema_version,
    feature_problems,
    validate_features,
)
from taskclf_core.data.hashing import PartitionDigest, partition_digests
from taskclf_core.data.problems import ProblemCollector, RowLocator, show_cell
from taskclf_core.errors import DataError
from taskclf_core.fs.atomic import write_bytes_atomic

FEATURE_FILE_NAME: Final = "features.parquet"


def feature_file_path(data_dir: Path | str, day: date, version: str) -> Path:
    """Path of one day file: ``<data_dir>/features_<version>/date=YYYY-MM-DD/features.parquet``."""
    return Path(data_dir) / f"features_{version}" / f"date={day.isoformat()}" / FEATURE_FILE_NAME


# --------------------------------------------------------------------------- reading


def _normalised_column(column: str, series: pd.Series) -> pd.Series | np.ndarray | None:
    """The column in its in-memory dtype, or None when it already has it."""
    dtype = series.dtype
    if column in TIMESTAMP_COLUMNS:
        if dtype == TIMESTAMP_DTYPE:
            return None
        return series.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    if column in TEXT_COLUMNS:
        return None if dtype == STRING_DTYPE else series.astype(STRING_DTYPE)
    if column in LIST_COLUMNS:
        return None
    if column in BOOL_COLUMNS:
        return None if dtype == np.dtype(bool) else series.to_numpy(dtype=np.float64) == 1.0
    if column in INT_COLUMNS:
        return None if dtype == np.int64 else series.to_numpy(dtype=np.int64)
    if dtype == np.float64:
        return None
    if pd.api.types.is_object_dtype(dtype):
        series = pd.to_numeric(series, errors="coerce")
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def normalise_features(df: pd.DataFrame, version: str) -> pd.DataFrame:
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
        if name in TIMESTAMP_COLUMNS and pa.types.is_timestamp(column.type):
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
    return version_from_columns(table.column_names)


def _with_user(table: pa.Table, *, source: str, user_id: str | None) -> pa.Table:
    """Give a v2 table (no ``user_id`` column) the caller's user id, or refuse."""
    if "user_id" in table.column_names:
        return table
    if (_table_version(table) or version_from_columns(table.column_names)) != "v2":
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
    return _keep_user(normalise_features(df, version), user_id)


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


@dataclass(frozen=True)
class ProjectedFeatures:
    """Rows of several day files, only some columns kept, and the digests of all of them.

    Attributes:
        features: The validated frame with the asked-for columns only.
        columns: Every column of the files (what the dataset hash covers).
        digests: The (user, day) partition digests over every column.
    """

    features: pd.DataFrame
    columns: list[str]
    digests: list[PartitionDigest]


def read_projected_files(
    paths: Sequence[Path], columns: Sequence[str], *, user_id: str | None = None
) -> ProjectedFeatures | None:
    """Read day files one at a time, hash each whole, keep only ``columns``.

    Each file is read, validated and normalised like :func:`read_feature_file`; its
    partition digests are taken over every column (so the dataset hash is the one of the
    whole files), then only ``columns`` are kept. Peak memory is one whole day plus the
    kept columns of all days: it does not grow with the columns a retrain never reads.

    Returns:
        The projected rows, or None when a (user, day) partition spans two files (its
        digest needs all its rows at once: read the whole files instead).

    Raises:
        DataError: As for :func:`read_feature_file`, plus keys found in two files.
    """
    frames: list[pd.DataFrame] = []
    digests: list[PartitionDigest] = []
    all_columns: list[str] = []
    seen: set[tuple[str, int]] = set()
    for path in paths:
        whole = read_feature_file(path, user_id=user_id)
        parts = partition_digests(whole)
        keys = {(p.user_id, p.day) for p in parts}
        if keys & seen:
            return None
        seen |= keys
        digests += parts
        all_columns = list(dict.fromkeys([*all_columns, *map(str, whole.columns)]))
        frames.append(whole[[c for c in columns if c in whole.columns]])
        del whole
    lengths = [len(f) for f in frames]
    features = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    del frames
    sources = [str(p) for p in paths]
    what = sources[0] if len(sources) == 1 else f"{Path(paths[0]).parent.parent} ({len(paths)} day files)"
    problems = ProblemCollector(what, RowLocator.from_lengths(sources, lengths))
    check_primary_key(features, problems)
    problems.raise_if_any()
    return ProjectedFeatures(features, all_columns, digests)


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
        return _keep_user(normalise_features(df, version), user_id)
    frames = [
        features_from_table(t, source=src, user_id=None)
        for t, src in zip(tables, sources, strict=True)
    ]
    features = pd.concat(frames, ignore_index=True)
    problems = ProblemCollector(what, locator)
    check_primary_key(features, problems)
    problems.raise_if_any()
    return _keep_user(features, user_id)


# --------------------------------------------------------------------------- writing


def _arrow_type(column: str) -> pa.DataType:
    if column in TIMESTAMP_COLUMNS:
        return pa.timestamp("us", tz="UTC")
    if column in LIST_COLUMNS:
        return pa.list_(pa.string())
    if column in TEXT_COLUMNS:
        return pa.large_string()
    if column in BOOL_COLUMNS:
        return pa.bool_()
    if column in INT_COLUMNS:
        return pa.int64()
    return pa.float64()


def check_version_values(df: pd.DataFrame, version: str, source: str) -> None:
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
                f"{source}: rows have schema_version {show_cell(value)} but version={version!r} "
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
    check_version_values(df, version, source)
    validate_features(df, source=source)
    frame = normalise_features(df, version)
    day_start = pd.Timestamp(day, tz="UTC")
    other_day = (frame["bucket_start_ts"].dt.floor("D") != day_start).to_numpy(dtype=bool)
    if other_day.any():
        first = int(np.argmax(other_day))
        raise DataError(
            f"{source} row {first + 1}, column bucket_start_ts: "
            f"{frame['bucket_start_ts'].iloc[first]} is not on {day} (expected every row of "
            f"the day file on that UTC day; {int(other_day.sum())} rows are not)"
        )
    check_one_user(frame, version, source)
    return write_day(Path(data_dir), day, frame, version)


def check_one_user(frame: pd.DataFrame, version: str, source: str) -> None:
    if version != "v2":
        return
    users = frame["user_id"].unique()
    if len(users) > 1:
        raise DataError(
            f"{source}: schema v2 files hold one user and have no user_id column, but the "
            f"rows have {len(users)} users ({name_list(map(str, users), 3)}); write v1 or v3"
        )


def write_day(data_dir: Path, day: date, frame: pd.DataFrame, version: str) -> Path:
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
