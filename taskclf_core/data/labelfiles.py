"""taskclf's label files: ``labels_v1/labels.parquet`` and the ``labels.csv`` export.

Both readers validate with :func:`~taskclf_core.data.labelcheck.validate_span_frame`;
both writers validate first and write atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from taskclf_core.data import schema
from taskclf_core.data.labelcheck import time_zone_warning, validate_span_frame
from taskclf_core.data.quality import DataWarning
from taskclf_core.errors import DataError
from taskclf_core.fs.atomic import write_bytes_atomic, write_text_atomic

_SPAN_ARROW_SCHEMA: Final = pa.schema(
    [
        ("start_ts", pa.timestamp("us", tz="UTC")),
        ("end_ts", pa.timestamp("us", tz="UTC")),
        ("label", pa.large_string()),
        ("provenance", pa.large_string()),
        ("user_id", pa.large_string()),
        ("confidence", pa.float64()),
        ("extend_forward", pa.bool_()),
    ]
)


# --------------------------------------------------------------------------- reading


def _raw_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(
            f"labels file {path} does not exist (expected a parquet file of label spans)"
        )
    try:
        table = pq.read_table(path)
        # The types in the file decide, not the pandas metadata a writer left behind.
        frame = table.to_pandas(ignore_metadata=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
    return frame


def _raw_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"labels file {path} does not exist (expected a CSV of label spans)")
    expected = ",".join(schema.SPAN_COLUMNS)
    try:
        raw = pd.read_csv(
            path,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty (expected a header line {expected})") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path}: not a readable CSV file ({reason}); expected a header line {expected} "
            "and one span per line"
        ) from exc
    header = [str(c).strip() for c in raw.iloc[0].fillna("").tolist()]
    frame = raw.iloc[1:].reset_index(drop=True)
    frame.columns = pd.Index(header)
    return frame


def read_labels(path: Path | str) -> pd.DataFrame:
    """Read a label file, choosing the reader by suffix (``.parquet`` or ``.csv``).

    Args:
        path: The label file.

    Returns:
        A validated span frame.

    Raises:
        DataError: Unknown suffix, or the reader's errors.
    """
    return read_labels_with_warnings(path)[0]


def read_labels_with_warnings(path: Path | str) -> tuple[pd.DataFrame, list[DataWarning]]:
    """Read a label file like :func:`read_labels`, with the data warnings of the file.

    The one warning so far: timestamps with and without a UTC offset in one file (the
    naive ones are read as UTC, which shifts them if they were meant as local time).

    Args:
        path: The label file (``.parquet`` or ``.csv``).

    Returns:
        The validated span frame and its warnings (empty when there are none).

    Raises:
        DataError: Unknown suffix, or the reader's errors.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        raw = _raw_parquet(path)
    elif suffix == ".csv":
        raw = _raw_csv(path)
    else:
        raise DataError(
            f"{path}: unknown label file type {suffix or '(no suffix)'!r} "
            "(expected .parquet or .csv)"
        )
    spans = validate_span_frame(raw, source=str(path))
    warning = time_zone_warning(raw, source=str(path))
    return spans, [] if warning is None else [warning]


# --------------------------------------------------------------------------- writing


def write_labels_parquet(path: Path | str, frame: pd.DataFrame) -> None:
    """Write a span frame as taskclf's labels parquet, atomically.

    Types: ``timestamp[us, tz=UTC]`` times, ``large_string`` text, ``double``
    confidence, ``bool`` extend_forward; the parent folder is created if needed.

    Args:
        path: Target file.
        frame: A span frame (validated before writing).

    Raises:
        DataError: The frame is not a valid span frame.
    """
    path = Path(path)
    spans = validate_span_frame(frame, source="span frame")
    table = pa.Table.from_pandas(spans, schema=_SPAN_ARROW_SCHEMA, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, sink.getvalue().to_pybytes())


def format_timestamps(series: pd.Series) -> pd.Series:
    """Render UTC timestamps like Python ``str(datetime)`` (``2025-07-01 09:00:00+00:00``).

    Microseconds appear only when non-zero, as in taskclf's CSV export.
    """
    values = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    text = pd.Series(np.datetime_as_string(values, unit="us"), index=series.index, dtype=object)
    text = text.str.replace("T", " ", regex=False).str.removesuffix(".000000") + "+00:00"
    return text.where(series.notna(), "")


def write_labels_csv(path: Path | str, frame: pd.DataFrame) -> None:
    """Write a span frame as taskclf's label CSV export, atomically.

    Header ``start_ts,end_ts,label,provenance,user_id,confidence,extend_forward``, CRLF line ends;
    timestamps like ``str(datetime)``, missing values as empty fields, flags
    ``True``/``False``. Arguments and errors as for :func:`write_labels_parquet`.
    """
    path = Path(path)
    spans = validate_span_frame(frame, source="span frame")
    out = pd.DataFrame(
        {
            "start_ts": format_timestamps(spans["start_ts"]),
            "end_ts": format_timestamps(spans["end_ts"]),
            "label": spans["label"].astype(object),
            "provenance": spans["provenance"].astype(object),
            "user_id": spans["user_id"].astype(object),
            "confidence": spans["confidence"],
            "extend_forward": spans["extend_forward"],
        }
    )
    # taskclf exports with the csv module, whose lines end in CRLF.
    text = out.to_csv(index=False, na_rep="", lineterminator="\r\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
